"""Condensed RDMs computed with torch, the Gram matrix on the tensors' device.

The same distances and semantics as :func:`rsa_ray.compute_rdm`: ``correlation``
(1 − Pearson between image vectors, each feature's mean over the images removed
first when ``center_features``), ``cosine`` and ``euclidean``, in
``scipy.spatial.distance.squareform`` order. Rows are centred and scaled on the
(M, D) features before one Gram product, so no Gram-side centring is needed. Many
models with the same feature size run as one batched product.

Agreement with the numpy kernel: in float64 (the default) within 1e-10 absolute;
with ``dtype=torch.float32`` within 1e-5 for correlation/cosine distances, and 1e-5
relative for euclidean (float32 round-off of a Gram over D ≤ 4096 terms).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from rsa_ray.errors import DegenerateInputError, model_label
from rsa_ray.rdm import DISTANCES

# As in rsa_ray.rdm: a row whose norm is below this fraction of the largest is treated as zero.
_ZERO_NORM_RELATIVE = 1e-10


def _image_matrices(features: torch.Tensor, names: Sequence[str] | None) -> torch.Tensor:
    """(N, M, ...) features as (N, M, D), checked as the numpy kernel checks them."""
    first = model_label(names, 0)
    if features.ndim < 3:
        raise ValueError(f"model {first!r}: features must be (images, ...) with at least 2 dims, got shape {tuple(features.shape[1:])}")
    if features.shape[1] < 2:
        raise ValueError(f"model {first!r}: an RDM needs at least 2 images, got {features.shape[1]}")
    matrices = features.reshape(features.shape[0], features.shape[1], -1)
    if matrices.shape[2] == 0:
        raise ValueError(f"model {first!r}: features have no values per image (shape {tuple(features.shape[1:])})")
    if matrices.dtype == torch.bool or matrices.is_complex():
        raise ValueError(f"model {first!r}: features must be real numbers, got dtype {matrices.dtype}")
    if matrices.is_floating_point():
        finite = torch.isfinite(matrices).all(dim=2)
        if not bool(finite.all()):
            model = int(torch.nonzero(~finite.all(dim=1))[0, 0])
            bad = torch.nonzero(~finite[model]).flatten().tolist()
            raise DegenerateInputError(model_label(names, model), "features hold NaN or Inf", bad)
    return matrices


def _unit_rows(values: torch.Tensor, names: Sequence[str] | None, what: str) -> torch.Tensor:
    norms = torch.linalg.vector_norm(values, dim=2)
    floor = torch.finfo(values.dtype).tiny
    zero = norms <= _ZERO_NORM_RELATIVE * norms.amax(dim=1, keepdim=True).clamp_min(floor)
    if bool(zero.any()):
        model = int(torch.nonzero(zero.any(dim=1))[0, 0])
        images = torch.nonzero(zero[model]).flatten().tolist()
        raise DegenerateInputError(
            model_label(names, model), f"{what} is undefined for images with a constant feature vector", images
        )
    return values / norms.unsqueeze(2)


def _condense(square: torch.Tensor) -> torch.Tensor:
    n_images = square.shape[-1]
    rows, cols = torch.triu_indices(n_images, n_images, 1, device=square.device)
    return square[:, rows, cols]


def _correlation(values: torch.Tensor, names, center_features: bool) -> torch.Tensor:
    if center_features:
        values = values - values.mean(dim=1, keepdim=True)
    unit = _unit_rows(values - values.mean(dim=2, keepdim=True), names, "the correlation distance")
    return 1.0 - _condense(unit @ unit.transpose(1, 2))


def _cosine(values: torch.Tensor, names, center_features: bool) -> torch.Tensor:
    unit = _unit_rows(values, names, "the cosine distance")
    return 1.0 - _condense(unit @ unit.transpose(1, 2))


def _euclidean(values: torch.Tensor, names, center_features: bool) -> torch.Tensor:
    values = values - values.mean(dim=1, keepdim=True)  # shift-free; keeps the Gram identity well conditioned
    gram = values @ values.transpose(1, 2)
    squared_norms = torch.diagonal(gram, dim1=1, dim2=2)
    squared = squared_norms.unsqueeze(2) + squared_norms.unsqueeze(1) - 2.0 * gram
    return torch.sqrt(_condense(squared).clamp_min(0.0))


_KERNELS = {"correlation": _correlation, "cosine": _cosine, "euclidean": _euclidean}


def _kernel(distance: str):
    try:
        return _KERNELS[distance]
    except KeyError:
        raise ValueError(f"unknown distance {distance!r}; valid: {', '.join(DISTANCES)}") from None


def torch_rdms(
    features: torch.Tensor | Sequence[torch.Tensor],
    distance: str = "correlation",
    center_features: bool = True,
    names: Sequence[str] | None = None,
    dtype: torch.dtype = torch.float64,
) -> torch.Tensor:
    """Condensed RDMs of N models, as :func:`rsa_ray.compute_rdms` computes them, on the tensors' device.

    Args:
        features: A stacked tensor (N, M, ...) or a sequence of N tensors (M, ...) on one
            device; the feature size may differ between models (one product per model
            then), M may not.
        distance: ``"correlation"``, ``"cosine"`` or ``"euclidean"``.
        center_features: As in :func:`rsa_ray.compute_rdm`.
        names: Model names for error messages (default: ``#index``).
        dtype: The precision of the Gram product: float64 (default) matches numpy to
            1e-10; float32 to 1e-5 (keep TF32 off, the torch default, for that bound).

    Returns:
        (N, M(M−1)/2) tensor of ``dtype`` on the features' device.

    Raises:
        ValueError: Unknown distance, fewer than 2 images, mismatched image counts.
        DegenerateInputError: NaN/Inf features or constant image vectors, naming the model and images.

    Example:
        >>> torch_rdms(torch.randn(3, 5, 8, generator=torch.Generator().manual_seed(0))).shape
        torch.Size([3, 10])
    """
    kernel = _kernel(distance)
    if isinstance(features, torch.Tensor):
        return kernel(_image_matrices(features, names).to(dtype), names, center_features)
    models = list(features)
    if not models:
        raise ValueError("torch_rdms needs at least one model's features")
    if names is not None and len(names) != len(models):
        raise ValueError(f"got {len(names)} names for {len(models)} models")
    n_images = models[0].shape[0] if models[0].ndim else 0
    rdms = []
    for index, model_features in enumerate(models):
        label = model_label(names, index)
        if model_features.ndim == 0 or model_features.shape[0] != n_images:
            raise ValueError(f"model {label!r}: features have {tuple(model_features.shape[:1])} images, expected {n_images} like the first model")
        rdms.append(kernel(_image_matrices(model_features.unsqueeze(0), [label]).to(dtype), [label], center_features)[0])
    return torch.stack(rdms)


def torch_rdm(
    features: torch.Tensor,
    distance: str = "correlation",
    center_features: bool = True,
    name: str = "#0",
    dtype: torch.dtype = torch.float64,
) -> torch.Tensor:
    """The condensed RDM of one model's features (M, ...), as :func:`rsa_ray.compute_rdm` computes it.

    Args:
        features: (M, ...) tensor, one row per probe image, on any device.
        distance: See :func:`torch_rdms`.
        center_features: See :func:`rsa_ray.compute_rdm`.
        name: The model's name, for error messages.
        dtype: See :func:`torch_rdms`.

    Returns:
        (M(M−1)/2,) tensor in ``squareform`` order.

    Raises:
        ValueError, DegenerateInputError: As :func:`torch_rdms`.

    Example:
        >>> torch_rdm(torch.tensor([[0.0, 1.0, 2.0], [2.0, 1.0, 0.0], [0.0, 2.0, 1.0]]), center_features=False)
        tensor([2.0000, 0.5000, 1.5000], dtype=torch.float64)
    """
    if features.ndim < 1:
        raise ValueError(f"model {name!r}: features must be (images, ...) with at least 2 dims, got shape {tuple(features.shape)}")
    return torch_rdms(features.unsqueeze(0), distance, center_features, [name], dtype)[0]
