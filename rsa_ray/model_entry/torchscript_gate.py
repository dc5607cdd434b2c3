"""TorchScript archives: a program, not data, so they are off unless the operator turns them on (no torch needed to decide).

A TorchScript archive carries its own code, and the manifest that names it also
supplies the hash it is checked against: nothing outside the manifest vouches
for the program. Building or registering one therefore needs an explicit
``allow_torchscript=True`` (library callers; the pipeline passes the store's setting,
:mod:`storage.settings`, set with ``rsa-ray settings --allow-torchscript yes``) or the
environment variable ``RSA_RAY_ALLOW_TORCHSCRIPT=1`` set for the whole run (the driver
and every worker read their own environment).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

TORCHSCRIPT_ENV_VAR = "RSA_RAY_ALLOW_TORCHSCRIPT"
_ENABLING_VALUES = ("1", "true", "yes", "on")


class TorchScriptDisabledError(ValueError):
    """A TorchScript model was asked for while TorchScript is disabled."""


def torchscript_allowed(allow_torchscript: bool = False, environ: Mapping[str, str] | None = None) -> bool:
    """Whether TorchScript archives may be registered and loaded.

    Args:
        allow_torchscript: The caller's explicit permission.
        environ: The environment to read (``os.environ`` by default).

    Returns:
        True if allowed explicitly or by ``RSA_RAY_ALLOW_TORCHSCRIPT`` (``1``, ``true``, ``yes`` or ``on``).

    Example:
        >>> torchscript_allowed(environ={}), torchscript_allowed(environ={"RSA_RAY_ALLOW_TORCHSCRIPT": "1"})
        (False, True)
    """
    environ = os.environ if environ is None else environ
    return allow_torchscript or environ.get(TORCHSCRIPT_ENV_VAR, "").strip().lower() in _ENABLING_VALUES


def torchscript_disabled_problem() -> str:
    """The one-line explanation of why a TorchScript model is refused, and how to enable it.

    Example:
        >>> "RSA_RAY_ALLOW_TORCHSCRIPT=1" in torchscript_disabled_problem()
        True
    """
    return (f"is torchscript, and TorchScript is disabled (an archive is a program, not weights); the operator "
            f"enables it for a store with `rsa-ray settings --allow-torchscript yes`, or for a run with "
            f"{TORCHSCRIPT_ENV_VAR}=1 (allow_torchscript=True in the library)")


def require_torchscript_allowed(model_id: str, allow_torchscript: bool = False) -> None:
    """Raises unless TorchScript is allowed (see :func:`torchscript_allowed`).

    Raises:
        TorchScriptDisabledError: Naming the model and how to enable TorchScript.

    Example:
        >>> require_torchscript_allowed("m1", allow_torchscript=True)
    """
    if not torchscript_allowed(allow_torchscript):
        raise TorchScriptDisabledError(f"model {model_id!r}: field 'source' {torchscript_disabled_problem()}")
