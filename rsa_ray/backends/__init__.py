"""Torch implementations of the RSA math, for RDMs and similarity on a GPU (or on CPU torch).

The numpy kernels in :mod:`rsa_ray` stay the reference; the functions here give the
same results (tolerances in each docstring) on torch tensors on any device.
:mod:`rsa_ray.backends.select` chooses the backend, by name or automatically where a
GPU is present, and :mod:`rsa_ray.backends.dispatch` runs a pipeline step on the chosen
one with numpy arrays in and out. Importing this package does not import torch.

Example:
    >>> from rsa_ray.backends import select_backend
    >>> select_backend("numpy").name
    'numpy'
"""

from __future__ import annotations

from rsa_ray._lazy import lazy_attributes

_EXPORTS = {
    "BackendChoice": "rsa_ray.backends.select",
    "select_backend": "rsa_ray.backends.select",
    "BACKENDS": "rsa_ray.backends.select",
    "rdm_and_rank_vector": "rsa_ray.backends.dispatch",
    "similarity_block": "rsa_ray.backends.dispatch",
    "vectors_product": "rsa_ray.backends.dispatch",
    "torch_rdm": "rsa_ray.backends.torch_rdm",
    "torch_rdms": "rsa_ray.backends.torch_rdm",
    "torch_average_ranks": "rsa_ray.backends.torch_ranks",
    "torch_standardize": "rsa_ray.backends.torch_ranks",
    "torch_standardized_ranks": "rsa_ray.backends.torch_ranks",
    "torch_tiled_product": "rsa_ray.backends.torch_products",
    "torch_similarity_of_vectors": "rsa_ray.backends.torch_products",
    "torch_similarity_to": "rsa_ray.backends.torch_products",
}

__all__ = list(_EXPORTS)


__getattr__, __dir__ = lazy_attributes("rsa_ray.backends", _EXPORTS, globals())
