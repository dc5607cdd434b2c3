"""Connecting to Ray: in-process local Ray by default, or a cluster by address."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import ray

from cluster.ray_watch import watch_ray

# Each Ray worker gets one BLAS/OpenMP thread: with more, workers sharing cores stall each other.
WORKER_ENV_VARS = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


class RayUnavailableError(ConnectionError):
    """Ray could not be started, or the cluster at the given address could not be reached.

    Example:
        >>> isinstance(RayUnavailableError("cannot reach Ray at 'head:6379': refused"), ConnectionError)
        True
    """


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

    Raises:
        RayUnavailableError: A local Ray could not be started, or the address could not be reached.

    Example:
        >>> connect(num_cpus=2).cpus  # doctest: +SKIP
        2
    """
    address = address or os.environ.get("RAY_ADDRESS") or None
    if not ray.is_initialized():
        _init(address, num_cpus)
    from storage.redaction import redact_url

    watch_ray(None if address is None else redact_url(address))  # only under the rsa-ray command (ray_watch.enable)
    resources = ray.cluster_resources()
    return ClusterResources(int(resources.get("CPU", 0)), int(resources.get("GPU", 0)), address or "local")


def _init(address: str | None, num_cpus: int | None) -> None:
    """``ray.init`` for a local Ray (``address`` None) or a cluster; a failure names what could not be reached.

    ``ray.init`` replaces the process's SIGTERM handler with ``sys.exit(15)``; a handler the command set
    before (``jobs.signals.sigterm_raises``: exit 143 with locks released) is put back (:func:`keep_sigterm_handler`).
    """
    with keep_sigterm_handler():
        _init_ray(address, num_cpus)


@contextlib.contextmanager
def keep_sigterm_handler() -> Iterator[None]:
    """Within the block, whatever replaces a Python SIGTERM handler of the main thread is undone after it.

    A default or ignored SIGTERM (no handler of the process's own) is left to what the block set.

    Example:
        >>> with keep_sigterm_handler():
        ...     pass
    """
    main = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGTERM) if main else None
    try:
        yield
    finally:
        if callable(previous):
            signal.signal(signal.SIGTERM, previous)


def _init_ray(address: str | None, num_cpus: int | None) -> None:
    runtime_env = {"env_vars": dict(WORKER_ENV_VARS)}
    try:
        if address is None:
            # "local": a new Ray of this process's own, never one that `ray start` (or a stale record of it) left
            ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, runtime_env=runtime_env,
                     log_to_driver=True)
        else:
            ray.init(address=address, runtime_env=runtime_env)
    except (ConnectionError, TimeoutError, RuntimeError) as error:
        from storage.redaction import redact_url  # the address may carry credentials (ray://user:secret@head)

        first = next((line.strip() for line in str(error).splitlines() if line.strip()), type(error).__name__)
        where = "cannot start a local Ray" if address is None else f"cannot reach Ray at {redact_url(address)!r}"
        raise RayUnavailableError(f"{where}: {first}") from error
