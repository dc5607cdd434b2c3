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
