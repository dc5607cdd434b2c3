"""Registry entries, as the models see them: the specs of :mod:`rsa_ray.model_entry.specs` (plain data, no torch)."""

from rsa_ray.model_entry.specs import (
    DEFAULT_ROLE,
    LIBRARY_SOURCES,
    ArchitectureSpec,
    LayerSpec,
    MissingRoleError,
    ModelEntry,
    ModelSource,
    TrainingRecord,
    WeightsRef,
)

__all__ = ["DEFAULT_ROLE", "LIBRARY_SOURCES", "ArchitectureSpec", "LayerSpec", "MissingRoleError", "ModelEntry",
           "ModelSource", "TrainingRecord", "WeightsRef"]
