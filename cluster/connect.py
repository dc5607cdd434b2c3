"""Connecting to Ray: in-process local Ray by default, or a cluster by address."""

from __future__ import annotations

import os
from dataclasses import dataclass

import ray

# Each Ray worker gets one BLAS/OpenMP thread: with more, workers sharing cores stall each other.
WORKER_ENV_VARS = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@dataclass(frozen=True)
class ClusterResources:
    """What the connected Ray cluster offers.

    Attributes:
        cpus: Total CPUs.
        gpus: Total GPUs.
        address: The address connected to, or ``"local"`` for in-process Ray.
    """

    cpus: int
    gpus: int
    address: str


def connect(address: str | None = None, num_cpus: int | None = None) -> ClusterResources:
    """Connects to Ray once per process and says what the cluster offers.

    Args:
        address: A Ray address (``"ray://host:10001"``, ``"auto"``, ``"host:6379"``). None
            uses ``RAY_ADDRESS`` if set (as ``ray job submit`` does), else starts local Ray.
        num_cpus: CPUs for a local Ray (default: all); ignored for a cluster.

    Returns:
        The cluster's :class:`ClusterResources`.

    Example:
        >>> connect(num_cpus=2).cpus  # doctest: +SKIP
        2
    """
    address = address or os.environ.get("RAY_ADDRESS") or None
    if not ray.is_initialized():
        runtime_env = {"env_vars": dict(WORKER_ENV_VARS)}
        if address is None:
            ray.init(num_cpus=num_cpus, include_dashboard=False, runtime_env=runtime_env, log_to_driver=True)
        else:
            ray.init(address=address, runtime_env=runtime_env)
    resources = ray.cluster_resources()
    return ClusterResources(int(resources.get("CPU", 0)), int(resources.get("GPU", 0)), address or "local")
