"""``rsa-ray models list`` reads the registry's JSON documents without importing Zarr, and says when one is damaged."""

from __future__ import annotations

import subprocess
import sys

from jobs.cli import main
from storage import Store
from tests.integration.cluster.helpers import write_random_zoo

ARRAY_LIBRARIES = ("numcodecs", "zarr")
LOADS = (
    "import atexit, runpy, sys; "
    "atexit.register(lambda: print('LOADED', ','.join(sorted({m.split('.')[0] for m in sys.modules} & "
    f"{set(ARRAY_LIBRARIES)!r})), file=sys.stderr)); "
    "sys.argv = ['rsa-ray', *sys.argv[1:]]; runpy.run_module('jobs.cli', run_name='__main__')"
)


def _registered_store(tmp_path) -> Store:
    store = Store.open(str(tmp_path / "store"))
    entries, _ = write_random_zoo(tmp_path, ["enc1", "enc2"], absolute_paths=True)
    store.register_models(entries)
    return store


def test_models_list_imports_no_zarr_and_lists_every_model(tmp_path):
    store = _registered_store(tmp_path)
    result = subprocess.run([sys.executable, "-c", LOADS, "models", "list", "--store", store.url],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("LOADED ")]
    assert line == "LOADED ", f"models list imported {line.removeprefix('LOADED ')}"
    assert [row.split()[0] for row in result.stdout.splitlines()] == ["enc1", "enc2"]


def test_models_list_reports_an_emptied_registry_document_as_damaged(tmp_path, capsys):
    store = _registered_store(tmp_path)
    store._backend.put_bytes("models/enc2/zarr.json", b"")
    assert main(["models", "list", "--store", store.url]) != 0
    err = capsys.readouterr().err
    assert "models/enc2/zarr.json" in err and "is damaged: it is empty" in err, err
    assert "not registered" not in err, err


def test_arrays_still_open_through_zarr_after_a_listing(tmp_path):
    store = _registered_store(tmp_path)
    assert main(["models", "list", "--store", store.url]) == 0
    import zarr

    group = zarr.open_group(store=store._backend.zarr_store, path="models/enc1", mode="r")
    assert "registry_entry" in dict(group.attrs)
