"""Average ranks with ties and standardised vectors, with torch, along the last axis.

The same semantics as :mod:`rsa_ray.ranks`: 1-based ranks, tied values get the
mean of their positions (``scipy.stats.rankdata(method="average")``); a
standardised vector is centred to zero mean and scaled to unit norm, so the dot
product of two standardised rank vectors is Spearman's r_s.

Agreement with numpy: average ranks are equal exactly (multiples of 0.5, exact in
any float dtype up to 2^24 values in float32 and 2^53 in float64); standardised
vectors within 1e-12 absolute in float64.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from rsa_ray.errors import DegenerateInputError, model_label


def _as_rows(vectors: torch.Tensor, what: str) -> torch.Tensor:
    rows = vectors.unsqueeze(0) if vectors.ndim == 1 else vectors
    if rows.ndim != 2:
        raise ValueError(f"{what}: expected one vector (L,) or stacked vectors (N, L), got shape {tuple(vectors.shape)}")
    if rows.shape[0] == 0:
        raise ValueError(f"{what}: got no vectors")
    if rows.dtype == torch.bool or rows.is_complex():
        raise ValueError(f"{what}: vectors must be real numbers, got dtype {rows.dtype}")
    return rows


def _check_finite(rows: torch.Tensor, names: Sequence[str] | None, what: str) -> None:
    finite = torch.isfinite(rows).all(dim=1)
    if not bool(finite.all()):
        raise DegenerateInputError(model_label(names, int(torch.nonzero(~finite)[0, 0])), f"{what} holds NaN or Inf")


def _average_ranks(rows: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """(N, L) 1-based average ranks of each row: one sort, then each run of ties gets its mean position."""
    n_rows, length = rows.shape
    sorted_values, order = torch.sort(rows, dim=1, stable=True)
    starts_run = torch.ones_like(sorted_values, dtype=torch.bool)
    starts_run[:, 1:] = sorted_values[:, 1:] != sorted_values[:, :-1]
    run_ids = torch.cumsum(starts_run.reshape(-1), dim=0) - 1  # runs numbered across rows: a row always starts one
    positions = torch.arange(length, device=rows.device).repeat(n_rows)
    n_runs = int(run_ids[-1]) + 1
    first = torch.full((n_runs,), length, device=rows.device, dtype=positions.dtype).scatter_reduce(0, run_ids, positions, "amin")
    last = torch.zeros(n_runs, device=rows.device, dtype=positions.dtype).scatter_reduce(0, run_ids, positions, "amax")
    run_ranks = (first + last).to(dtype) / 2.0 + 1.0
    ranks = torch.empty((n_rows, length), dtype=dtype, device=rows.device)
    ranks.scatter_(1, order, run_ranks[run_ids].reshape(n_rows, length))
    return ranks


def torch_average_ranks(values: torch.Tensor, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Average ranks (1-based, ties get the mean of their positions) along the last axis.

    Equal exactly to :func:`rsa_ray.rank_transform` and ``scipy.stats.rankdata(values, axis=-1)``.

    Args:
        values: (L,) or (N, L) tensor of real numbers, on any device.
        dtype: The rank dtype (float64 default; float32 is exact up to L = 2^24).

    Returns:
        Tensor of ``values``' shape and ``dtype`` on its device.

    Raises:
        ValueError: ``values`` holds NaN, or has the wrong shape.

    Example:
        >>> torch_average_ranks(torch.tensor([0.3, 0.1, 0.3, 0.2])).tolist()
        [3.5, 1.0, 3.5, 2.0]
    """
    rows = _as_rows(values, "torch_average_ranks")
    if bool(torch.isnan(rows).any()):
        raise ValueError("torch_average_ranks: values hold NaN")
    return _average_ranks(rows, dtype).reshape(values.shape)


def _unit_norm_centred(rows: torch.Tensor, names: Sequence[str] | None, what: str, tolerance: float) -> torch.Tensor:
    scale = rows.abs().amax(dim=1).clamp_min(torch.finfo(rows.dtype).tiny)
    centred = rows - rows.mean(dim=1, keepdim=True)
    norms = torch.linalg.vector_norm(centred, dim=1)
    constant = norms <= tolerance * scale * rows.shape[1] ** 0.5
    if bool(constant.any()):
        index = int(torch.nonzero(constant)[0, 0])
        raise DegenerateInputError(model_label(names, index), f"{what} is constant, so its correlation is undefined")
    return centred / norms.unsqueeze(1)


def torch_standardize(vectors: torch.Tensor, names: Sequence[str] | None = None) -> torch.Tensor:
    """Rows centred to zero mean and scaled to unit norm in float64, as :func:`rsa_ray.standardize`.

    Args:
        vectors: (L,) or (N, L) tensor.
        names: Model names for error messages (default: ``#index``).

    Returns:
        float64 (N, L) on the vectors' device; within 1e-12 of numpy.

    Raises:
        DegenerateInputError: A vector is constant or holds NaN/Inf (names the model).

    Example:
        >>> unit = torch_standardize(torch.tensor([1.0, 2.0, 4.0]))
        >>> round(float(unit @ unit.T), 12)
        1.0
    """
    rows = _as_rows(vectors, "torch_standardize").to(torch.float64)
    _check_finite(rows, names, "the vector")
    return _unit_norm_centred(rows, names, "the vector", 1e-12)


def torch_standardized_ranks(vectors: torch.Tensor, names: Sequence[str] | None = None) -> torch.Tensor:
    """Standardised rank vectors (average ranks, centred, unit norm) in float64, as :func:`rsa_ray.standardized_ranks`.

    Takes (L,) or (N, L) condensed RDMs and returns float64 (N, L) on their device, within
    1e-12 of numpy; arguments and errors as :func:`torch_standardize`. The centred ranks are
    multiples of 0.5, exact, so a constant RDM is exactly zero and raises as numpy does.

    Example:
        >>> a = torch_standardized_ranks(torch.tensor([[1.0, 5.0, 2.0, 8.0], [2.0, 9.0, 3.0, 7.0]]))
        >>> round(float(a[0] @ a[1]), 6)
        0.8
    """
    rows = _as_rows(vectors, "torch_standardized_ranks")
    finite = torch.isfinite(rows).all(dim=1)
    if not bool(finite.all()):
        raise DegenerateInputError(model_label(names, int(torch.nonzero(~finite)[0, 0])), "the RDM holds NaN or Inf")
    centred = _average_ranks(rows, torch.float64) - (rows.shape[1] + 1) / 2.0
    norms = torch.linalg.vector_norm(centred, dim=1)
    constant = norms == 0.0
    if bool(constant.any()):
        raise DegenerateInputError(model_label(names, int(torch.nonzero(constant)[0, 0])), "the RDM is constant, so its correlation is undefined")
    return centred / norms.unsqueeze(1)
