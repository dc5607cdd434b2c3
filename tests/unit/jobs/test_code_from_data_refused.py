"""``rsa-ray models add`` and ``rsa-ray rerank --models-from`` refuse manifests that would run code.

Each refused form is written to a manifest file and fed to the command; the command must exit
non-zero with one line naming the model and the field, register nothing, and never create the
canary file the manifest's code would have created.
"""

from __future__ import annotations

import sys

import pytest
import yaml

from jobs.cli import main
from storage import Store
from tests.support.refused_architectures import (
    CANARY_MODULE,
    CASE_IDS,
    canary,  # noqa: F401 (a fixture)
    manifest_entry,
    refused_architectures,
)

REFUSED_FOR_RERANK = ("os-system", "subprocess-run", "importlib-import-module", "attribute-walk", "unknown-kwarg",
                      "torchvision-weights", "timm-pretrained")


@pytest.fixture
def store_url(tmp_path):
    return Store.open(str(tmp_path / "store")).url


def _case(case_id, canary):
    return next(case for case in refused_architectures(canary) if case.case_id == case_id)


def _write_manifest(folder, entries) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "manifest.yaml"
    path.write_text(yaml.safe_dump({"format": "rsa_ray.zoo/v1", "models": entries}))
    return str(path)


def _error_lines(capsys, argv) -> tuple[int, list[str]]:
    code = main(argv)
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err, captured.err
    return code, [line for line in (captured.out + captured.err).splitlines() if line.strip()]


def _the_refusal(lines: list[str], model_id: str, field: str) -> str:
    naming = [line for line in lines if repr(model_id) in line and repr(field) in line]
    assert len(naming) == 1, lines
    return naming[0]


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_models_add_refuses_in_one_line_and_runs_nothing(case_id, canary, capsys, store_url, tmp_path):
    case = _case(case_id, canary)
    manifest = _write_manifest(tmp_path / "zoo", [manifest_entry(case)])
    code = main(["models", "add", manifest, "--store", store_url])
    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if line.strip()]
    assert code == 1 and len(errors) == 1 and "Traceback" not in captured.err, captured.err
    assert errors[0].startswith("rsa-ray models: error:")
    _the_refusal(errors, "evil", case.field)
    assert not canary.exists() and CANARY_MODULE not in sys.modules
    assert Store.open(store_url).model_ids() == ()


def test_models_add_refuses_torchscript_unless_the_run_enables_it(capsys, store_url, tmp_path, monkeypatch):
    monkeypatch.delenv("RSA_RAY_ALLOW_TORCHSCRIPT", raising=False)
    scripted = {"model_id": "scripted", "source": "torchscript", "task_type": "2d", "layers": ["out"],
                "weights": {"path": "/zoo/scripted.pt", "sha256": "ab" * 32}}
    manifest = _write_manifest(tmp_path / "zoo", [scripted])
    code, lines = _error_lines(capsys, ["models", "add", manifest, "--store", store_url])
    assert code == 1 and len(lines) == 1
    line = _the_refusal(lines, "scripted", "source")
    assert "TorchScript is disabled" in line and "RSA_RAY_ALLOW_TORCHSCRIPT=1" in line
    assert Store.open(store_url).model_ids() == ()
    monkeypatch.setenv("RSA_RAY_ALLOW_TORCHSCRIPT", "1")  # past the TorchScript gate, to the model's own checks
    code, lines = _error_lines(capsys, ["models", "add", manifest, "--store", store_url])
    assert code == 3 and any("model 'scripted' refused: weights /zoo/scripted.pt do not exist" in line
                             for line in lines), lines
    assert Store.open(store_url).model_ids() == ()


@pytest.mark.parametrize("case_id", REFUSED_FOR_RERANK)
def test_rerank_models_from_a_folder_refuses_and_registers_nothing_bad(case_id, canary, capsys, store_url, tmp_path):
    case = _case(case_id, canary)
    landing = tmp_path / "landing"
    _write_manifest(landing / "evil", [manifest_entry(case)])
    code, lines = _error_lines(capsys, ["rerank", "--store", store_url, "--models-from", str(landing),
                                        "--out", str(tmp_path / "out")])
    assert code != 0
    _the_refusal(lines, "evil", case.field)
    assert not canary.exists() and CANARY_MODULE not in sys.modules
    assert "evil" not in Store.open(store_url).model_ids()


def test_the_operator_allows_torchscript_for_one_store(capsys, store_url, tmp_path, monkeypatch):
    monkeypatch.delenv("RSA_RAY_ALLOW_TORCHSCRIPT", raising=False)
    scripted = {"model_id": "scripted", "source": "torchscript", "task_type": "2d", "layers": ["out"],
                "weights": {"path": "/zoo/scripted.pt", "sha256": "ab" * 32}}
    manifest = _write_manifest(tmp_path / "zoo", [scripted])
    other_store = str(tmp_path / "other-store")
    assert main(["settings", "--store", store_url]) == 0
    assert "allow_torchscript=no" in capsys.readouterr().out

    assert main(["settings", "--store", store_url, "--allow-torchscript", "yes"]) == 0
    assert "allow_torchscript=yes" in capsys.readouterr().out
    code, lines = _error_lines(capsys, ["models", "add", manifest, "--store", store_url])  # past the gate
    assert code == 3 and any("model 'scripted' refused: weights /zoo/scripted.pt do not exist" in line
                             for line in lines), lines
    code, lines = _error_lines(capsys, ["models", "add", manifest, "--store", other_store])  # still off elsewhere
    assert code == 1 and "TorchScript is disabled" in _the_refusal(lines, "scripted", "source")

    assert main(["settings", "--store", store_url, "--allow-torchscript", "no"]) == 0
    assert Store.open(store_url).settings().allow_torchscript is False
