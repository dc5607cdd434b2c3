"""Models checked before they are registered, for ``models add`` and ``rerank --models-from``.

Each new model's weights are fetched and their sha256 checked, the model is built once, every
role's module is looked up and one probe image is run through it
(:mod:`rsa_ray.models.admission`). A model that fails any of it is refused with one line naming it
and the problem; the others are admitted with each role's output shape and reduced width, which
the registry keeps beside their entries. ``Store.register_models`` itself runs none of this, so
library callers (and tests) may register entries that were never built.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from storage import Store

if TYPE_CHECKING:
    import numpy as np

    from rsa_ray.model_entry import ModelEntry


@dataclass(frozen=True)
class Refusal:
    """A model that was not admitted.

    Attributes:
        model_id: The model.
        problem: What is wrong with it, one line.
    """

    model_id: str
    problem: str

    @property
    def line(self) -> str:
        """The refusal in one line naming the model.

        Example:
            >>> Refusal("m1", "weights /zoo/m1.safetensors do not exist").line
            "model 'm1' refused: weights /zoo/m1.safetensors do not exist"
        """
        return f"model {self.model_id!r} refused: {self.problem}"


@dataclass(frozen=True)
class Admission:
    """What checking a list of models found.

    Attributes:
        admitted: The models that passed, in the order given.
        layer_shapes: Per admitted model id, ``{role: {"shape": [...], "width": N}}``.
        refused: The models that did not, each with its problem.
    """

    admitted: tuple[ModelEntry, ...] = ()
    layer_shapes: dict[str, dict[str, Any]] = field(default_factory=dict)
    refused: tuple[Refusal, ...] = ()


def store_probe_images(store: Store) -> np.ndarray | None:
    """The first image of the store's probe set when it holds exactly one, else None (a grey image is used).

    Example:
        >>> store_probe_images(Store.open("memory://admission-no-probes")) is None
        True
    """
    probe_ids = store.probe_set_ids()
    return store.read_probe_images(probe_ids[0], [0]) if len(probe_ids) == 1 else None


def _local_weights(store: Store, entry: ModelEntry, cache_dir: str | None, stack: ExitStack) -> str | None:
    """A verified local copy of the entry's weights for ``stack``'s block (None without weights).

    A failure refuses the model; so does a failure later in the block, and then a downloaded copy is
    not kept in the cache.
    """
    from rsa_ray.models.admission import AdmissionError, one_line

    if entry.weights is None:
        return None
    try:
        return stack.enter_context(store.provisional_weights_at(entry.weights.path, entry.weights.sha256, cache_dir,
                                                                      size=entry.weights.size))
    except (ValueError, OSError) as error:  # a source not allowed, too large, a sha256 mismatch, no file, a network failure
        raise AdmissionError(entry.model_id, one_line(error)) from error


def admit_models(store: Store, entries: Sequence[ModelEntry], cache_dir: str | None = None) -> Admission:
    """Checks each model (weights, build, role modules, one probe image); returns who passed and who did not.

    Args:
        store: The store the models are for: its TorchScript setting, its storage options for
            weights on its protocol, and its probe set (the first image, when it holds exactly one).
        entries: The models to check (ones already registered identically need no check).
        cache_dir: Download cache for remote weights (default ``$RSA_RAY_CACHE`` or ``~/.cache``).

    Returns:
        The admitted entries with their layer shapes, and the refusals, each one line.

    Example:
        >>> admission = admit_models(store, load_manifest("zoo/manifest.yaml"))  # doctest: +SKIP
        >>> [refusal.line for refusal in admission.refused]  # doctest: +SKIP
        ["model 'm2' refused: weights /zoo/m2.safetensors: sha256 mismatch: expected 5f1c..., which the file's bytes do not match"]
    """
    from rsa_ray.models.admission import AdmissionError, check_model, layer_shapes_document, probe_image

    if not entries:
        return Admission()
    allow_torchscript = store.settings().allow_torchscript
    images = store_probe_images(store)
    admitted, layer_shapes, refused = [], {}, []
    for entry in entries:
        try:
            with ExitStack() as stack:
                weights_path = _local_weights(store, entry, cache_dir, stack)
                shapes = check_model(entry, weights_path, probe_image(entry.preprocessing, images), allow_torchscript)
        except AdmissionError as error:
            refused.append(Refusal(entry.model_id, error.problem))
            continue
        admitted.append(entry)
        layer_shapes[entry.model_id] = layer_shapes_document(shapes)
    return Admission(tuple(admitted), layer_shapes, tuple(refused))
