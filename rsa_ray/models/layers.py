"""Reading the outputs of named modules with forward hooks that are always removed.

>>> import torch
>>> model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU())
>>> with capture_layers(model, ["0", "1"]) as captured:
...     _ = model(torch.ones(2, 4))
>>> sorted(captured), captured["0"].shape
(['0', '1'], torch.Size([2, 3]))
"""

from __future__ import annotations

import contextlib
import difflib
from collections.abc import Iterator, Sequence

import torch
from torch import nn


class LayerNotFoundError(ValueError):
    """A requested layer is not a module of the model; the message lists the nearest names."""


def layer_names(model: nn.Module) -> tuple[str, ...]:
    """Every named submodule of ``model`` (the valid layer names), in definition order.

    Example:
        >>> layer_names(torch.nn.Sequential(torch.nn.Linear(1, 1)))
        ('0',)
    """
    return tuple(name for name, _ in model.named_modules() if name)


def resolve_layers(model: nn.Module, names: Sequence[str]) -> dict[str, nn.Module]:
    """Maps each requested layer name to its module.

    Raises:
        LayerNotFoundError: For the first missing name, listing up to 5 nearest valid names.
        ValueError: If ``names`` is empty or repeats a name.

    Example:
        >>> resolve_layers(torch.nn.Sequential(torch.nn.ReLU()), ["0"])["0"]
        ReLU()
    """
    if not names:
        raise ValueError("at least one layer name is needed")
    if len(set(names)) != len(names):
        raise ValueError(f"layer names repeat: {list(names)}")
    modules = dict(model.named_modules())
    resolved = {}
    for name in names:
        if not name or name not in modules:
            valid = layer_names(model)
            nearest = difflib.get_close_matches(name, valid, n=5, cutoff=0.0)
            raise LayerNotFoundError(
                f"layer {name!r} is not in the model ({type(model).__name__}, {len(valid)} layers); nearest: {nearest}"
            )
        resolved[name] = modules[name]
    return resolved


def _first_tensor(output: object, name: str) -> torch.Tensor:
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
        return output[0]
    raise ValueError(f"layer {name!r} returns {type(output).__name__}, not a tensor; pick a module that returns one")


class ForwardStopped(Exception):
    """Raised by :func:`capture_layers` hooks (with ``stop_early``) once every asked-for module has run."""


@contextlib.contextmanager
def capture_layers(model: nn.Module, names: Sequence[str], stop_early: bool = False) -> Iterator[dict[str, torch.Tensor]]:
    """Registers forward hooks that store each named module's output; removes them on exit, always.

    The yielded dict is filled during the forward passes made inside the block
    (the last pass wins). Outputs are detached; for modules returning a tuple the
    first tensor is kept.

    With ``stop_early`` the pass ends, by :class:`ForwardStopped` (the caller catches it),
    as soon as every named module has produced its output in this pass: the rest of the
    network never runs, so reading early layers neither computes nor holds the later ones.
    A module run twice in one pass is then read at its first run.

    Args:
        model: The model.
        names: Module names, as in ``model.named_modules()``.
        stop_early: End each pass once every named module has run.

    Yields:
        A dict that maps each name to its latest output.

    Raises:
        LayerNotFoundError: If a name is not a module of ``model``.
    """
    modules = resolve_layers(model, names)
    captured: dict[str, torch.Tensor] = {}
    seen_this_pass: set[str] = set()
    handles = []

    def hook_for(name: str):
        def hook(module: nn.Module, inputs: object, output: object) -> None:
            # clone: an in-place op later in the forward pass (ReLU(inplace=True)) must not change it
            captured[name] = _first_tensor(output, name).detach().clone()
            seen_this_pass.add(name)
            if stop_early and len(seen_this_pass) == len(modules):
                seen_this_pass.clear()
                raise ForwardStopped

        return hook

    def start_pass(module: nn.Module, inputs: object) -> None:
        seen_this_pass.clear()

    try:
        handles.append(model.register_forward_pre_hook(start_pass))
        for name, module in modules.items():
            handles.append(module.register_forward_hook(hook_for(name)))
        yield captured
    finally:
        for handle in handles:
            handle.remove()


def flatten_per_image(activation: torch.Tensor) -> torch.Tensor:
    """Flattens ``[M, ...]`` to ``[M, D]`` (C-order, so channel-major for conv maps).

    Example:
        >>> flatten_per_image(torch.zeros(2, 8, 4, 4)).shape
        torch.Size([2, 128])
    """
    return activation.reshape(activation.shape[0], -1)
