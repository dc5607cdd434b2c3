"""Pipeline steps on the chosen backend, numpy arrays (or tensors) in, numpy arrays out.

These are the calls a pipeline task makes: one model's RDM and rank vector, and one
block of the similarity product. With ``BackendChoice("numpy")`` they are the numpy
kernels exactly; with ``BackendChoice("torch", device)`` the arithmetic runs on the
device and only the results come back to the host (within the tolerances of
:mod:`rsa_ray.backends.torch_rdm`, :mod:`~rsa_ray.backends.torch_ranks` and
:mod:`~rsa_ray.backends.torch_products`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from rsa_ray.backends.select import BackendChoice

NUMPY = BackendChoice("numpy")


def _is_tensor(value: Any) -> bool:
    return type(value).__module__.startswith("torch")


def _to_numpy(value: Any) -> np.ndarray:
    return value.detach().cpu().numpy() if _is_tensor(value) else np.asarray(value)


def _to_device(value: Any, device: str):
    import torch

    return value.to(device) if _is_tensor(value) else torch.as_tensor(np.asarray(value), device=device)


def rdm_and_rank_vector(
    features: Any,
    distance: str = "correlation",
    center_features: bool = True,
    name: str = "#0",
    backend: BackendChoice = NUMPY,
) -> tuple[np.ndarray, np.ndarray]:
    """One model's condensed RDM and its standardised rank vector, both float64 on the host.

    The rank vector is computed from the float64 RDM (before any float32 storage), as the
    numpy pipeline does.

    Args:
        features: (M, ...) numpy array or torch tensor (on any device) of one model.
        distance: See :func:`rsa_ray.compute_rdm`.
        center_features: See :func:`rsa_ray.compute_rdm`.
        name: The model's name, for error messages.
        backend: Where to compute (from :func:`rsa_ray.backends.select_backend`).

    Returns:
        ``(condensed_rdm, rank_vector)``, float64 arrays of length M(M−1)/2.

    Raises:
        ValueError, DegenerateInputError: As :func:`rsa_ray.compute_rdm` and
            :func:`rsa_ray.standardized_ranks`.

    Example:
        >>> features = np.random.default_rng(0).normal(size=(5, 8))
        >>> rdm, ranks = rdm_and_rank_vector(features, backend=BackendChoice("torch", "cpu"))
        >>> rdm.shape, round(float(ranks @ ranks), 12)
        ((10,), 1.0)
    """
    if backend.name == "numpy":
        from rsa_ray.ranks import standardized_ranks
        from rsa_ray.rdm import compute_rdm

        condensed_rdm = compute_rdm(_to_numpy(features), distance, center_features, name=name)
        return condensed_rdm, standardized_ranks(condensed_rdm, names=[name], workers=1)[0]
    from rsa_ray.backends.torch_ranks import torch_standardized_ranks
    from rsa_ray.backends.torch_rdm import torch_rdm

    condensed_rdm = torch_rdm(_to_device(features, backend.device), distance, center_features, name=name)
    rank_vector = torch_standardized_ranks(condensed_rdm, names=[name])[0]
    return _to_numpy(condensed_rdm), _to_numpy(rank_vector)


def vectors_product(vectors_a: Any, vectors_b: Any | None = None, backend: BackendChoice = NUMPY) -> np.ndarray:
    """``vectors_a @ vectors_b.T`` with float64 accumulation (a partial product over some terms), unclipped.

    Args:
        vectors_a: (N, L) standardised rows (or a segment of their terms), float32 or float64.
        vectors_b: (K, L) rows, or None for the symmetric product of ``vectors_a``.
        backend: Where to compute.

    Returns:
        float64 (N, K) or (N, N) on the host; as :func:`rsa_ray.tiled_product`.

    Example:
        >>> vectors_product(np.eye(2, dtype=np.float32), backend=BackendChoice("torch", "cpu")).tolist()
        [[1.0, 0.0], [0.0, 1.0]]
    """
    if backend.name == "numpy":
        from rsa_ray.tiles import tiled_product

        return tiled_product(_to_numpy(vectors_a), None if vectors_b is None else _to_numpy(vectors_b))
    from rsa_ray.backends.torch_products import torch_tiled_product

    left = _to_device(vectors_a, backend.device)
    right = None if vectors_b is None else _to_device(vectors_b, backend.device)
    return _to_numpy(torch_tiled_product(left, right))


def similarity_block(
    new_rdms: Any,
    rdms: Any,
    method: str = "spearman",
    new_names: Sequence[str] | None = None,
    names: Sequence[str] | None = None,
    backend: BackendChoice = NUMPY,
) -> np.ndarray:
    """Similarity of new models' RDMs to existing ones, as :func:`rsa_ray.similarity_to`.

    ``kendall_tau_a`` (no product form) always runs on numpy.

    Args:
        new_rdms: (K, L) condensed RDMs (or one (L,) vector).
        rdms: (N, L) condensed RDMs.
        method: ``"spearman"``, ``"pearson"`` or ``"kendall_tau_a"``.
        new_names: Names of the new models, for error messages.
        names: Names of the existing models, for error messages.
        backend: Where to compute.

    Returns:
        float64 (K, N) on the host.

    Example:
        >>> rdms = np.random.default_rng(0).random((3, 10))
        >>> similarity_block(rdms[:1], rdms, backend=BackendChoice("torch", "cpu")).shape
        (1, 3)
    """
    if backend.name == "numpy" or method == "kendall_tau_a":
        from rsa_ray.similarity import similarity_to

        return similarity_to(_to_numpy(new_rdms), _to_numpy(rdms), method=method, new_names=new_names, names=names)
    from rsa_ray.backends.torch_products import torch_similarity_to

    block = torch_similarity_to(_to_device(new_rdms, backend.device), _to_device(rdms, backend.device), method,
                                new_names=new_names, names=names)
    return _to_numpy(block)
