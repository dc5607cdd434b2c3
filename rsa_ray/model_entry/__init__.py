"""The model entry, as plain data: its specs, its one reader, its stored form and its field checks. No torch.

What a manifest lists and the store's registry keeps is read here, so reading a registry or a
manifest loads no deep-learning library. Building a model from an entry is
:mod:`rsa_ray.models` (torch); the architecture registry is asked there, when a model is
admitted and built.
"""

from rsa_ray.errors import ManifestError
from rsa_ray.model_entry.document import (
    MANIFEST_FORMAT,
    MANIFEST_NAME,
    ZooManifest,
    check_unique_ids,
    final_models,
    parse_manifest,
    read_manifest,
    write_manifest,
)
from rsa_ray.model_entry.document_text import MAX_DEPTH, ManifestDocumentError, load_document
from rsa_ray.model_entry.entry_reader import entry_from_dict, entry_to_dict, layers_to_plain, parse_entry
from rsa_ray.model_entry.fields import TASK_TYPES, fail
from rsa_ray.model_entry.paths import PathOutsideFolderError, is_location_independent, manifest_folder, resolve_path
from rsa_ray.model_entry.preprocessing_spec import ChannelOrder, PreprocessingSpec
from rsa_ray.model_entry.specs import (
    DEFAULT_ROLE,
    LIBRARY_SOURCES,
    ArchitectureSpec,
    LayerSpec,
    MissingRoleError,
    MissingSeedError,
    ModelEntry,
    ModelSource,
    TrainingRecord,
    WeightsRef,
    check_seed,
)
from rsa_ray.model_entry.torchscript_gate import TORCHSCRIPT_ENV_VAR, TorchScriptDisabledError, torchscript_allowed

__all__ = [
    "DEFAULT_ROLE", "LIBRARY_SOURCES", "MANIFEST_FORMAT", "MANIFEST_NAME", "MAX_DEPTH", "TASK_TYPES",
    "TORCHSCRIPT_ENV_VAR", "ArchitectureSpec", "ChannelOrder", "LayerSpec", "ManifestDocumentError", "ManifestError",
    "MissingRoleError", "MissingSeedError", "ModelEntry", "ModelSource", "PathOutsideFolderError", "PreprocessingSpec",
    "TorchScriptDisabledError", "TrainingRecord", "WeightsRef", "ZooManifest", "check_seed", "check_unique_ids",
    "entry_from_dict", "entry_to_dict", "fail", "final_models", "is_location_independent", "layers_to_plain",
    "load_document", "manifest_folder", "parse_entry", "parse_manifest", "read_manifest", "resolve_path",
    "torchscript_allowed", "write_manifest",
]
