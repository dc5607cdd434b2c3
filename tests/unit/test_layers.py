"""The layering of docs/design.md ("Layers"), enforced: jobs → cluster → storage → rsa_ray."""

import pkgutil
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_import_linter_contracts_hold():
    lint_imports = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    result = subprocess.run([lint_imports, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize("package", ["rsa_ray"])
def test_pure_layer_loads_no_cluster_or_io_library(package):
    probe = (
        f"import sys, {package}; "
        "loaded = sorted(m for m in ('ray', 'zarr', 'fsspec', 's3fs') if m in sys.modules); "
        "print(','.join(loaded))"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"{package} imported {result.stdout.strip()}"


def test_storage_does_not_load_ray():
    probe = "import sys, storage; print('ray' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_the_torch_free_contract_names_every_math_module_and_torch_subpackage():
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    torch_free = next(c for c in contracts if "torch" in c.get("forbidden_modules", []))
    found = list(pkgutil.iter_modules([str(ROOT / "rsa_ray")]))
    subpackages = {f"rsa_ray.{info.name}" for info in found if info.ispkg}
    assert subpackages == {m for m in torch_free["forbidden_modules"] if m.startswith("rsa_ray.")}
    assert set(torch_free["source_modules"]) == {f"rsa_ray.{info.name}" for info in found if not info.ispkg}


TORCH_FREE_READS = """
import json, sys, tempfile
from pathlib import Path
from jobs.cli import main
from storage import Store, load_manifest

folder = Path(tempfile.mkdtemp())
entry = {"model_id": "m1", "source": "safetensors", "task": "depth", "task_type": "3d",
         "architecture": {"target": "rsa_ray.models.encoder_decoder:build_encoder_decoder", "kwargs": {"out_channels": 1}},
         "weights": {"path": "m1.safetensors", "sha256": "0" * 64}, "layers": {"out": {"module": "encoder.output", "reduce": "avg"}}}
(folder / "manifest.json").write_text(json.dumps({"models": [entry]}))
entries = load_manifest(str(folder / "manifest.json"))
store = Store.open(str(folder / "store"))
store.register_models(entries)
assert store.models(["m1"]) == entries and store.model("m1").layer("out").reduce == "avg"
assert main(["models", "list", "--store", store.url]) == 0
print("torch" in sys.modules, sorted(name for name in sys.modules if name.startswith("rsa_ray.models.")))
"""


def test_manifests_the_registry_and_models_list_load_no_torch():
    result = subprocess.run([sys.executable, "-c", TORCH_FREE_READS], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    listing, loaded = result.stdout.strip().splitlines()
    assert listing.startswith("m1 ") and "layers: out" in listing
    assert loaded == "False []", loaded
