"""Ray failures under a command, told in one line: what was lost, and that a rerun resumes.

A dead local Ray, a lost node, a worker or actor that died, an object whose owner went away, a call
that did not answer in time: none of these is bad input, and every finished entry is already in the
store, so the same command run again computes only the rest. :func:`ray_failure_line` recognises
them (``ray.exceptions.*`` and :class:`cluster.connect.RayUnavailableError`, also when wrapped by a
task's error or chained as the cause) without importing Ray or ``cluster``: a process that never
imported them has no Ray failure to tell.

Example:
    >>> ray_failure_line(ValueError("a bad manifest")) is None
    True
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

#: The exit code of a command ended by a Ray failure (``EX_UNAVAILABLE``: a service it needs went away).
RAY_FAILURE_EXIT_CODE = 69

RERUN_HINT = "finished work is stored; rerun the same command to resume (--debug shows the traceback)"

# (ray.exceptions class name, what was lost), most specific first: the first that matches tells it.
_LOST = (
    ("OwnerDiedError", "Ray lost object {object}: the worker that owned it died"),
    ("ObjectReconstructionFailedError", "Ray lost object {object} and could not recompute it"),
    ("ObjectFetchTimedOutError", "Ray could not fetch object {object} from its node in time"),
    ("ObjectLostError", "Ray lost object {object} (its node or object store went away)"),
    ("NodeDiedError", "a Ray node died"),
    ("LocalRayletDiedError", "the local Ray node died"),
    ("ActorUnavailableError", "Ray actor {actor} is unreachable"),
    ("ActorDiedError", "Ray actor {actor} died"),
    ("RayActorError", "Ray actor {actor} died"),
    ("ActorUnschedulableError", "a Ray actor could not be started (no node can place it)"),
    ("TaskUnschedulableError", "a Ray task could not be started (no node can place it)"),
    ("WorkerCrashedError", "a Ray worker died mid-task"),
    ("OutOfMemoryError", "Ray killed a worker for lack of memory"),
    ("ObjectStoreFullError", "the Ray object store is full"),
    ("OutOfDiskError", "the Ray node is out of disk"),
    ("GetTimeoutError", "a Ray task or actor did not answer in time (an actor that would not start, or a busy cluster)"),
    ("RpcError", "the connection to Ray failed"),
    ("RaySystemError", "Ray failed: {first_line}"),
)


def _chain(error: BaseException) -> Iterator[BaseException]:
    """``error``, then what it wraps: a task error's cause, ``__cause__`` and ``__context__`` (each once)."""
    seen: set[int] = set()
    pending = [error]
    while pending:
        current = pending.pop(0)
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending += [getattr(current, "cause", None), current.__cause__, current.__context__]


def _first_line(error: BaseException, limit: int = 200) -> str:
    """The first non-empty line of the error's message (Ray's messages run to many lines), shortened."""
    text = next((line.strip() for line in str(error).splitlines() if line.strip()), type(error).__name__)
    text = text.removeprefix("System error: ")  # RaySystemError's own prefix, said once by the template
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _fields(error: BaseException) -> dict[str, str]:
    """What a template may name: the lost object, the dead actor, the message's first line."""
    object_hex = getattr(error, "object_ref_hex", None)
    actor_id = getattr(error, "actor_id", None) or getattr(error, "_actor_id", None)
    return {
        "object": object_hex[:16] + "..." if isinstance(object_hex, str) and len(object_hex) > 16 else str(object_hex or "?"),
        "actor": (actor_id[:16] if isinstance(actor_id, str) else "(unknown id)") if actor_id else "(unknown id)",
        "first_line": _first_line(error),
    }


def _describe(error: BaseException) -> str | None:
    """What ``error`` says was lost, when it is a Ray failure (Ray is imported by then); else None."""
    connect = sys.modules.get("cluster.connect")  # not imported: nothing tried to reach Ray
    if connect is not None and isinstance(error, connect.RayUnavailableError):
        return str(error)
    watch = sys.modules.get("cluster.ray_watch")
    if watch is not None and watch.lost_ray() is not None:  # whatever Ray raised once its GCS was gone
        return watch.lost_ray()
    exceptions = sys.modules.get("ray.exceptions")
    if exceptions is None:
        return None
    for name, template in _LOST:
        kind = getattr(exceptions, name, None)
        if kind is not None and isinstance(error, kind):
            return template.format(**_fields(error))
    return None


def ray_failure_line(error: BaseException) -> str | None:
    """The one line telling a Ray failure (what was lost; a rerun resumes), or None for any other error.

    A task that raised an ordinary error (``RayTaskError`` around a ``ValueError``) is not a Ray
    failure: that error is told as itself.

    Example:
        >>> from cluster.connect import RayUnavailableError
        >>> ray_failure_line(RayUnavailableError("cannot reach Ray at 'host:6379': refused"))
        "cannot reach Ray at 'host:6379': refused; finished work is stored; rerun the same command to resume (--debug shows the traceback)"
    """
    for link in _chain(error):
        what = _describe(link)
        if what is not None:
            return f"{what}; {RERUN_HINT}"
    return None
