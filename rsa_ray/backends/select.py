"""Choosing the backend that runs the math: numpy (the reference) or torch.

``"auto"`` picks torch on the first GPU where ``torch.cuda.is_available()``, numpy
otherwise. torch is imported only when it is asked for or probed.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

BACKENDS: tuple[str, ...] = ("auto", "numpy", "torch")


@dataclass(frozen=True)
class BackendChoice:
    """Where the math runs.

    Attributes:
        name: ``"numpy"`` or ``"torch"``.
        device: The torch device (``"cuda"``, ``"cuda:1"``, ``"cpu"``); ``"cpu"`` for numpy.
    """

    name: str
    device: str = "cpu"


def _gpu_present() -> bool:
    if importlib.util.find_spec("torch") is None:
        return False
    import torch

    return bool(torch.cuda.is_available())


def select_backend(requested: str = "auto", device: str | None = None) -> BackendChoice:
    """The backend for ``requested``, resolving ``"auto"`` by whether a GPU is present.

    Args:
        requested: ``"auto"``, ``"numpy"`` or ``"torch"``.
        device: The torch device for ``"torch"`` (default: ``"cuda"`` where a GPU is
            present, else ``"cpu"``); ignored for numpy.

    Returns:
        The choice, with a concrete name and device.

    Raises:
        ValueError: An unknown backend name.
        ImportError: ``"torch"`` asked for where torch is not installed.

    Example:
        >>> select_backend("numpy")
        BackendChoice(name='numpy', device='cpu')
        >>> select_backend("torch", device="cpu")
        BackendChoice(name='torch', device='cpu')
    """
    if requested not in BACKENDS:
        raise ValueError(f"unknown backend {requested!r}; valid: {', '.join(BACKENDS)}")
    if requested == "numpy" or (requested == "auto" and not _gpu_present()):
        return BackendChoice("numpy")
    if importlib.util.find_spec("torch") is None:
        raise ImportError("the torch backend needs torch installed")
    if device is None:
        device = "cuda" if _gpu_present() else "cpu"
    return BackendChoice("torch", device)
