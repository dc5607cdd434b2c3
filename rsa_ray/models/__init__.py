"""Models: registry entries, the architecture registry, safe weight loading, builders, layer extraction, preprocessing,
batched inference, the paper's small encoder-decoder, and the shipped demo zoo.

Uses torch; timm and torchvision are imported only inside their loaders.
"""

from rsa_ray.models.architecture_kwargs import ArchitectureError, UnknownArchitectureError
from rsa_ray.models.architectures import (
    BUILTIN_ARCHITECTURES,
    ENTRY_POINT_GROUP,
    ArchitectureBuilder,
    build_architecture,
    check_architecture,
    find_architecture,
    registered_architecture_names,
)
from rsa_ray.models.builders import build_model, build_untrained, instantiate_architecture, load_weights_into, read_weights
from rsa_ray.models.encoder_decoder import ENCODER_LAYERS, EncoderDecoder, build_encoder_decoder
from rsa_ray.errors import ManifestError
from rsa_ray.models.entry import (
    DEFAULT_ROLE,
    ArchitectureSpec,
    LayerSpec,
    MissingRoleError,
    ModelEntry,
    ModelSource,
    TrainingRecord,
    WeightsRef,
)
from rsa_ray.models.hub import build_timm_model, build_torchvision_model
from rsa_ray.models.inference import (
    ComputeDtype,
    InferenceOptions,
    extract_features,
    extract_layer_features,
    forward_batches,
    forward_precision,
    predict,
    reading_layers,
)
from rsa_ray.models.layers import LayerNotFoundError, capture_layers, flatten_per_image, layer_names, resolve_layers
from rsa_ray.models.manifest import (
    MANIFEST_FORMAT,
    MANIFEST_NAME,
    ZooManifest,
    entry_from_dict,
    entry_to_dict,
    final_models,
    read_manifest,
    write_manifest,
)
from rsa_ray.models.manifest_entry import parse_entry
from rsa_ray.models.preprocessing import ChannelOrder, PreprocessingSpec, preprocess_images
from rsa_ray.models.reductions import REDUCTIONS, check_reduction, reduce_activation, reduced_width
from rsa_ray.models.resident import ProbeBatches, ResidentModels
from rsa_ray.models.torchscript import TORCHSCRIPT_ENV_VAR, TorchScriptDisabledError, torchscript_allowed
from rsa_ray.models.weights import (
    UnsafeCheckpointError,
    WeightsIntegrityError,
    load_safetensors,
    load_state_dict,
    load_torch_weights_only,
    sha256_of_file,
    verify_sha256,
)
from rsa_ray.models.zoo import build_zoo_model, read_shipped_zoo, shipped_zoo_dir

__all__ = [
    "BUILTIN_ARCHITECTURES",
    "DEFAULT_ROLE",
    "REDUCTIONS",
    "LayerSpec",
    "ManifestError",
    "MissingRoleError",
    "check_reduction",
    "extract_layer_features",
    "parse_entry",
    "reduce_activation",
    "reduced_width",
    "ENCODER_LAYERS",
    "ENTRY_POINT_GROUP",
    "MANIFEST_FORMAT",
    "MANIFEST_NAME",
    "TORCHSCRIPT_ENV_VAR",
    "ArchitectureBuilder",
    "ArchitectureError",
    "ArchitectureSpec",
    "ChannelOrder",
    "ComputeDtype",
    "EncoderDecoder",
    "InferenceOptions",
    "LayerNotFoundError",
    "ModelEntry",
    "ModelSource",
    "PreprocessingSpec",
    "ProbeBatches",
    "ResidentModels",
    "TorchScriptDisabledError",
    "TrainingRecord",
    "UnknownArchitectureError",
    "UnsafeCheckpointError",
    "WeightsIntegrityError",
    "WeightsRef",
    "ZooManifest",
    "build_architecture",
    "build_encoder_decoder",
    "build_model",
    "build_untrained",
    "build_timm_model",
    "build_torchvision_model",
    "build_zoo_model",
    "capture_layers",
    "check_architecture",
    "entry_from_dict",
    "entry_to_dict",
    "extract_features",
    "final_models",
    "find_architecture",
    "flatten_per_image",
    "forward_batches",
    "forward_precision",
    "instantiate_architecture",
    "layer_names",
    "load_safetensors",
    "load_state_dict",
    "load_torch_weights_only",
    "load_weights_into",
    "predict",
    "preprocess_images",
    "read_manifest",
    "read_shipped_zoo",
    "read_weights",
    "reading_layers",
    "registered_architecture_names",
    "resolve_layers",
    "sha256_of_file",
    "shipped_zoo_dir",
    "torchscript_allowed",
    "verify_sha256",
    "write_manifest",
]
