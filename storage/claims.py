"""Claims: a writer claims a piece of work before computing it, so concurrent runs do it once.

A claim is a store lock (:mod:`storage.locks`: exclusive generations, a lease the
holder renews, a fencing check) named after the work it covers, e.g. the
activations of one model on one probe set, or one model's RDM at one layer.
Two runs that need the same entry at once: the first claims it and computes; the
second waits until the claim is released, then finds the entry complete and
computes nothing. A holder that dies stops renewing; once its lease runs out the
waiter takes the claim over and redoes what is not complete. A holder whose
claim was taken over (it paused past its lease) finds out at its next
:meth:`~storage.locks.Lock.check` — before each chunk it writes and before it marks
anything complete — and stops without marking anything, so nothing is marked
complete over another writer's bytes.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from collections.abc import Iterator

from storage import locks
from storage.backend import Backend
from storage.lock_errors import LockLostError, StoreLockedError

DEFAULT_CLAIM_LEASE = 60.0
DEFAULT_CLAIM_WAIT = 3600.0
# The operator's setting, read by every process that claims work (workers read their own environment).
LEASE_VARIABLE = "RSA_RAY_CLAIM_LEASE_SECONDS"


class ClaimWaitError(StoreLockedError):
    """Another run held the claim for longer than this run was willing to wait."""


def claim_name(work: str) -> str:
    """The lock name of a claim on ``work`` (any text, such as an entry path): a fixed-length safe id.

    Example:
        >>> claim_name("activations/p1/m1").startswith("claim-"), len(claim_name("x" * 500))
        (True, 46)
    """
    return "claim-" + hashlib.sha256(work.encode()).hexdigest()[:40]


def default_lease() -> float:
    """The claim lease: ``$RSA_RAY_CLAIM_LEASE_SECONDS`` if set, else 60 s.

    A shorter lease hands a dead holder's work over sooner; it must stay well above the
    longest pause of a live holder and the clock skew between machines (:mod:`storage.locks`).

    Raises:
        ValueError: If the variable is not a positive number.

    Example:
        >>> default_lease() > 0
        True
    """
    text = os.environ.get(LEASE_VARIABLE)
    if text is None:
        return DEFAULT_CLAIM_LEASE
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise ValueError(f"{LEASE_VARIABLE}={text!r} must be a positive number of seconds")
    return value


@contextlib.contextmanager
def claim(backend: Backend, work: str, lease_seconds: float | None = None,
          wait_seconds: float = DEFAULT_CLAIM_WAIT, poll_seconds: float = 0.5) -> Iterator[locks.Lock]:
    """Holds the claim on ``work`` for the ``with`` block, waiting while another run holds it.

    The caller checks, once it holds the claim, whether the work is still needed (the run
    it waited for may have done it).

    Raises:
        ClaimWaitError: Another run held it for more than ``wait_seconds``.
        LockLostError: From the body's ``check()`` calls, if the claim was taken over.

    Example:
        >>> with claim(backend, "rdms/p1/m1/out") as held:  # doctest: +SKIP
        ...     held.check()
    """
    lease_seconds = default_lease() if lease_seconds is None else lease_seconds
    deadline = time.monotonic() + wait_seconds
    while True:
        entered = False
        try:
            with locks.hold(backend, claim_name(work), lease_seconds=lease_seconds) as held:
                entered = True
                yield held
            return
        except StoreLockedError as error:
            if entered or isinstance(error, LockLostError):
                raise
            if time.monotonic() >= deadline:
                raise ClaimWaitError(f"{work}: another run has held its claim for over {wait_seconds:.0f} s "
                                     f"({error})") from None
            time.sleep(poll_seconds)
