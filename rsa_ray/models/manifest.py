"""Zoo manifests, as the models see them: :mod:`rsa_ray.model_entry.document` (the one reader), and an example entry.

Format and rules: :mod:`rsa_ray.model_entry.document`. Weight paths are relative to the manifest's folder.
"""

from __future__ import annotations

from rsa_ray.model_entry.document import (
    MANIFEST_FORMAT,
    MANIFEST_NAME,
    ZooManifest,
    final_models,
    read_manifest,
    write_manifest,
)
from rsa_ray.model_entry.entry_reader import entry_from_dict, entry_to_dict
from rsa_ray.model_entry.preprocessing_spec import PreprocessingSpec
from rsa_ray.model_entry.specs import ArchitectureSpec, ModelEntry, WeightsRef
from rsa_ray.models.encoder_decoder import ENCODER_LAYERS

__all__ = ["MANIFEST_FORMAT", "MANIFEST_NAME", "ZooManifest", "entry_from_dict", "entry_to_dict", "example_entry",
           "final_models", "read_manifest", "write_manifest"]


def example_entry() -> ModelEntry:
    """A small example entry (a depth model of the demo zoo), for docs and tests.

    Example:
        >>> example_entry().default_layer
        'encoder.output'
    """
    return ModelEntry(
        model_id="depth-small",
        source="safetensors",
        architecture=ArchitectureSpec(
            "rsa_ray.models.encoder_decoder:build_encoder_decoder", {"out_channels": 1, "head": "dense", "width": 1}
        ),
        weights=WeightsRef("depth-small.safetensors", "0" * 64),
        layers=ENCODER_LAYERS,
        default_layer="encoder.output",
        preprocessing=PreprocessingSpec(resize=64, crop=64),
        task="depth",
        task_type="3d",
    )
