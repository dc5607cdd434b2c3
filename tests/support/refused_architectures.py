"""Architectures a manifest must never get built: code from data, unknown arguments, weights from a hub.

Each case, if it ran, would create the canary file (or import a module that does), so a test can
check that refusing it also kept its code from running.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ENCODER_DECODER = "rsa_ray.models.encoder_decoder:build_encoder_decoder"
CANARY_MODULE = "rsa_ray_canary_module"


@dataclasses.dataclass(frozen=True)
class RefusedArchitecture:
    """One refused form: the entry's source and architecture, and the field the refusal must name."""

    case_id: str
    source: str
    target: str
    kwargs: dict[str, Any]
    field: str


def refused_architectures(canary: Path) -> tuple[RefusedArchitecture, ...]:
    """The refused forms, each written to touch ``canary`` if it ever ran."""
    touch = f"touch {canary}"
    return (
        RefusedArchitecture("os-system", "safetensors", "os:system", {"command": touch}, "architecture.target"),
        RefusedArchitecture("subprocess-run", "safetensors", "subprocess:run", {"args": touch, "shell": True},
                            "architecture.target"),
        RefusedArchitecture("builtins-eval", "safetensors", "builtins:eval",
                            {"source": f"open({str(canary)!r}, 'w')"}, "architecture.target"),
        RefusedArchitecture("importlib-import-module", "safetensors", "importlib:import_module",
                            {"name": CANARY_MODULE}, "architecture.target"),
        RefusedArchitecture("attribute-walk", "safetensors", "rsa_ray.models.builders:os.system", {"command": touch},
                            "architecture.target"),
        RefusedArchitecture("torch-state-dict-os-system", "torch_state_dict", "os:system", {"command": touch},
                            "architecture.target"),
        RefusedArchitecture("unknown-kwarg", "safetensors", ENCODER_DECODER, {"out_channels": 1, "command": touch},
                            "architecture.kwargs.command"),
        RefusedArchitecture("url-kwarg", "safetensors", ENCODER_DECODER,
                            {"out_channels": 1, "head": "https://example.org/evil.pt"}, "architecture.kwargs.head"),
        RefusedArchitecture("torchvision-weights", "torchvision", "resnet18", {"weights": "IMAGENET1K_V1"},
                            "architecture.kwargs.weights"),
        RefusedArchitecture("torchvision-weights-backbone", "torchvision", "fasterrcnn_resnet50_fpn",
                            {"weights_backbone": "DEFAULT"}, "architecture.kwargs.weights_backbone"),
        RefusedArchitecture("torchvision-url-kwarg", "torchvision", "resnet18",
                            {"num_classes": "https://example.org/w.pth"}, "architecture.kwargs.num_classes"),
        RefusedArchitecture("timm-pretrained", "timm", "resnet18", {"pretrained": True},
                            "architecture.kwargs.pretrained"),
        RefusedArchitecture("timm-checkpoint-path", "timm", "resnet18", {"checkpoint_path": str(canary)},
                            "architecture.kwargs.checkpoint_path"),
        RefusedArchitecture("timm-hf-hub-name", "timm", "hf-hub:someone/model", {}, "architecture.target"),
    )


CASE_IDS = tuple(case.case_id for case in refused_architectures(Path("canary")))


@pytest.fixture
def canary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A file the refused forms would create, and a module on ``sys.path`` that creates it when imported.

    A test module uses it by importing it: ``from tests.support.refused_architectures import canary``.
    """
    path = tmp_path / "canary"
    modules = tmp_path / "modules"
    modules.mkdir()
    (modules / f"{CANARY_MODULE}.py").write_text(f"open({str(path)!r}, 'w').close()\n")
    monkeypatch.syspath_prepend(str(modules))
    yield path
    sys.modules.pop(CANARY_MODULE, None)


def manifest_entry(case: RefusedArchitecture, model_id: str = "evil") -> dict[str, Any]:
    """The manifest entry (``entry_to_dict`` form) of a refused case, valid in every other field."""
    entry: dict[str, Any] = {"model_id": model_id, "source": case.source, "task_type": "2d",
                             "architecture": {"target": case.target, "kwargs": dict(case.kwargs)},
                             "layers": ["encoder.output"]}
    if case.source in ("safetensors", "torch_state_dict"):
        entry["weights"] = {"path": "/zoo/evil.safetensors", "sha256": "0" * 64}
    else:
        entry["seed"] = 0  # a library model without weights needs its initialisation seed
    return entry
