"""TorchScript archives are off unless the operator turns them on: the gate is :mod:`rsa_ray.model_entry.torchscript_gate`."""

from rsa_ray.model_entry.torchscript_gate import (
    TORCHSCRIPT_ENV_VAR,
    TorchScriptDisabledError,
    require_torchscript_allowed,
    torchscript_allowed,
    torchscript_disabled_problem,
)

__all__ = ["TORCHSCRIPT_ENV_VAR", "TorchScriptDisabledError", "require_torchscript_allowed", "torchscript_allowed",
           "torchscript_disabled_problem"]
