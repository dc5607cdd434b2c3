"""Checking a model before it is registered: it builds, every role's module exists, one probe image passes.

What a bad model would otherwise show only in the middle of a run (weights that do not fit the
architecture, a role naming a module the model lacks, a forward pass that fails, a reduction that
does not fit a module's output) is found here, on one image, and said in one line that names the
model. What an admitted model records is each role's output shape and reduced width
(:class:`LayerShape`), kept beside its registry entry.

>>> import numpy as np
>>> from rsa_ray.models.manifest import example_entry
>>> shapes = check_model(example_entry(), None, probe_image(example_entry().preprocessing))  # doctest: +SKIP
>>> shapes["encoder.output"].width  # doctest: +SKIP
128
"""

from __future__ import annotations

import contextlib
import difflib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from rsa_ray.models.builders import build_model
from rsa_ray.models.entry import LayerSpec, ModelEntry
from rsa_ray.models.layers import capture_layers, layer_names
from rsa_ray.models.preprocessing import PreprocessingSpec, preprocess_images
from rsa_ray.models.reductions import reduce_activation

# The side of the grey probe image for a model whose preprocessing neither resizes nor crops.
DEFAULT_PROBE_SIDE = 64
_MID_GREY = 128


class AdmissionError(ValueError):
    """A model refused at registration; its message is one line naming the model and the problem.

    Attributes:
        model_id: The refused model.
        problem: What is wrong with it, one line.
    """

    def __init__(self, model_id: str, problem: str):
        self.model_id = model_id
        self.problem = problem
        super().__init__(f"model {model_id!r} refused: {problem}")


@dataclass(frozen=True)
class LayerShape:
    """What one role of a model gives for one image.

    Attributes:
        shape: The module's output for one image, before reduction (the batch dimension left out).
        width: The number of values per image after the role's reduction (D of its ``[M, D]``).

    Example:
        >>> LayerShape((32, 8, 8), 32).to_dict()
        {'shape': [32, 8, 8], 'width': 32}
    """

    shape: tuple[int, ...]
    width: int

    def to_dict(self) -> dict[str, Any]:
        """The JSON form kept in the registry: ``{"shape": [...], "width": N}``."""
        return {"shape": list(self.shape), "width": self.width}


def layer_shapes_document(shapes: Mapping[str, LayerShape]) -> dict[str, dict[str, Any]]:
    """The registry form of every role's shape: ``{role: {"shape": [...], "width": N}}``.

    Example:
        >>> layer_shapes_document({"output": LayerShape((1280,), 1280)})
        {'output': {'shape': [1280], 'width': 1280}}
    """
    return {role: shape.to_dict() for role, shape in shapes.items()}


def one_line(error: BaseException) -> str:
    """The first non-empty line of an error's message (its type name if it has none).

    Example:
        >>> one_line(RuntimeError("size mismatch\\n  and more torch output"))
        'size mismatch'
    """
    text = str(error.args[0] if isinstance(error, KeyError) and error.args else error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _without_model_name(problem: str, model_id: str) -> str:
    """The problem without the model's name where the refusal line names it already."""
    return problem.replace(f" of model {model_id!r}", "").replace(f"model {model_id!r}: ", "")


def probe_image(preprocessing: PreprocessingSpec, images: np.ndarray | None = None) -> np.ndarray:
    """The one image a model is checked on: the first of ``images``, else mid-grey at the model's input size.

    Args:
        preprocessing: The model's input spec; its crop (else resize) side sizes the grey image.
        images: uint8 probe images ``[M, H, W, 3]`` (the store's probe set), or None.

    Returns:
        uint8 ``[1, H, W, 3]``.

    Example:
        >>> probe_image(PreprocessingSpec(resize=256, crop=224)).shape
        (1, 224, 224, 3)
    """
    if images is not None and len(images):
        return np.asarray(images[:1], dtype=np.uint8)
    side = preprocessing.crop or preprocessing.resize or DEFAULT_PROBE_SIDE
    return np.full((1, side, side, 3), _MID_GREY, np.uint8)


def _missing_module_problem(model: nn.Module, layers: Sequence[LayerSpec]) -> str | None:
    """The first role whose module is not in the model, with the nearest module names; None if all exist."""
    names = layer_names(model)
    missing = [spec for spec in layers if spec.module not in set(names)]
    if not missing:
        return None
    spec = missing[0]
    nearest = (difflib.get_close_matches(spec.module, names, n=3)
               or difflib.get_close_matches(spec.module, names, n=3, cutoff=0.0))
    more = f" (and {len(missing) - 1} more roles)" if len(missing) > 1 else ""
    return (f"role {spec.role!r} reads module {spec.module!r}, which is not in the model "
            f"({type(model).__name__}, {len(names)} modules); nearest: {', '.join(nearest) or 'none'}{more}")


def _probe_shapes(model: nn.Module, entry: ModelEntry, layers: Sequence[LayerSpec],
                  image: np.ndarray) -> dict[str, LayerShape]:
    """Runs ``image`` through the model once; each role's output shape and reduced width."""
    modules = list(dict.fromkeys(spec.module for spec in layers))
    size = "x".join(str(side) for side in image.shape[1:3])
    with contextlib.ExitStack() as hooks:
        try:
            captured = hooks.enter_context(capture_layers(model, modules))
        except RuntimeError as error:  # e.g. a TorchScript archive: its modules take no forward hooks
            raise AdmissionError(entry.model_id, f"its modules' outputs cannot be read: {one_line(error)}") from error
        try:
            with torch.inference_mode():
                model(preprocess_images(image, entry.preprocessing))
        except Exception as error:  # any failure of untrusted code is a refusal, said in one line
            raise AdmissionError(entry.model_id, f"a {size} probe image does not pass through it: "
                                                 f"{one_line(error)}") from error
    shapes = {}
    for spec in layers:
        if spec.module not in captured:
            raise AdmissionError(entry.model_id, f"role {spec.role!r}: module {spec.module!r} does not run "
                                                 "in the model's forward pass")
        output = captured[spec.module]
        try:
            reduced = reduce_activation(output, spec.reduce)
        except ValueError as error:
            raise AdmissionError(entry.model_id, f"role {spec.role!r}: reduction {spec.reduce!r} does not fit "
                                                 f"the output {list(output.shape[1:])} of module {spec.module!r}: "
                                                 f"{one_line(error)}") from error
        shapes[spec.role] = LayerShape(tuple(int(side) for side in output.shape[1:]), int(reduced.shape[1]))
    return shapes


def check_model(entry: ModelEntry, weights_path: str | os.PathLike | None, images: np.ndarray,
                allow_torchscript: bool = False) -> dict[str, LayerShape]:
    """Builds a model once, checks every role's module, and runs one probe image through it.

    Args:
        entry: The model to admit.
        weights_path: A local, sha256-verified copy of its weights (None for a model without weights).
        images: The probe image(s) to run, uint8 ``[1, H, W, 3]`` (see :func:`probe_image`).
        allow_torchscript: Whether a TorchScript archive may be loaded (the store's setting).

    Returns:
        Role → its output shape and reduced width, in the entry's layer order.

    Raises:
        AdmissionError: One line naming the model and the problem: it does not build (weights that do
            not fit, a refused architecture, a missing seed...), a role's module is missing (nearest
            names listed), the forward pass fails, or a reduction does not fit a module's output.

    Example:
        >>> from rsa_ray.models.manifest import example_entry
        >>> entry = example_entry()
        >>> check_model(entry, "depth-small.safetensors", probe_image(entry.preprocessing))  # doctest: +SKIP
        {'encoder.output': LayerShape(shape=(128, 4, 4), width=2048)}
    """
    try:
        model = build_model(entry, weights_path=weights_path, allow_torchscript=allow_torchscript)
    except Exception as error:  # untrusted data and code: every failure to build is a refusal
        raise AdmissionError(entry.model_id, f"does not build: {_without_model_name(one_line(error), entry.model_id)}") from error
    layers = [entry.layer(role) for role in entry.layers]
    problem = _missing_module_problem(model, layers)
    if problem is not None:
        raise AdmissionError(entry.model_id, problem)
    return _probe_shapes(model.eval(), entry, layers, images)
