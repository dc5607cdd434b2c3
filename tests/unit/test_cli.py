"""The rsa-ray command's entry point."""

import subprocess
import sys

import pytest

from jobs.cli import SUBCOMMANDS, main
from rsa_ray import __version__
from storage import Store
from tests.integration.cluster.helpers import write_random_zoo


def test_version_and_help_through_the_console_script():
    version = subprocess.run([sys.executable, "-m", "jobs.cli", "--version"], capture_output=True, text=True, timeout=120)
    assert version.returncode == 0
    assert version.stdout.strip() == f"rsa-ray {__version__}"
    help_text = subprocess.run([sys.executable, "-m", "jobs.cli", "--help"], capture_output=True, text=True, timeout=120)
    assert help_text.returncode == 0
    assert "usage: rsa-ray" in help_text.stdout


def test_no_subcommand_prints_help(capsys):
    assert main([]) == 0
    assert "usage: rsa-ray" in capsys.readouterr().out


# --- a quick command: what answers from the parser alone imports none of pandas, matplotlib, scipy, torch, Ray ---

HEAVY = ("matplotlib", "pandas", "ray", "scipy", "sklearn", "torch")
LOADS = (
    "import atexit, runpy, sys; "
    "atexit.register(lambda: print('LOADED', ','.join(sorted({m.split('.')[0] for m in sys.modules} & "
    f"{set(HEAVY)!r})), file=sys.stderr)); "
    "sys.argv = ['rsa-ray', *sys.argv[1:]]; runpy.run_module('jobs.cli', run_name='__main__')"
)


def run_and_list_heavy_imports(*argv: str) -> tuple[subprocess.CompletedProcess, list[str]]:
    """Runs ``rsa-ray ARGV`` in a fresh interpreter; returns the result and which of :data:`HEAVY` it imported."""
    result = subprocess.run([sys.executable, "-c", LOADS, *argv], capture_output=True, text=True, timeout=120)
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("LOADED ")]
    return result, [name for name in line.removeprefix("LOADED ").split(",") if name]


@pytest.mark.parametrize("argv, code", [
    (["--help"], 0),
    (["models", "--help"], 0),
    (["models"], 2),  # a usage error: the action is missing
    (["no-such-command"], 2),
    (["--store", "/nowhere", "submit", "--", "taxonomy"], 2),  # submit takes no --store
])
def test_help_and_usage_errors_import_nothing_heavy(argv, code):
    result, heavy = run_and_list_heavy_imports(*argv)
    assert result.returncode == code, result.stderr
    assert heavy == [], f"rsa-ray {' '.join(argv)} imported {heavy}"


@pytest.mark.parametrize("name", [ref.name for ref in SUBCOMMANDS])
def test_every_subcommand_usage_error_and_help_import_nothing_heavy(name):
    bogus, heavy = run_and_list_heavy_imports(name, "--bogus")
    assert bogus.returncode == 2, bogus.stderr
    assert bogus.stderr.startswith("usage: rsa-ray") and "error:" in bogus.stderr, bogus.stderr
    assert heavy == [], f"rsa-ray {name} --bogus imported {heavy}"
    shown, heavy = run_and_list_heavy_imports(name, "--help")
    assert shown.returncode == 0, shown.stderr
    assert f"usage: rsa-ray {name}" in shown.stdout
    assert heavy == [], f"rsa-ray {name} --help imported {heavy}"


def test_models_list_reads_the_registry_without_torch_in_the_same_format(tmp_path):
    store = Store.open(str(tmp_path / "store"))
    entries, _ = write_random_zoo(tmp_path, ["enc1", "enc2"], absolute_paths=True)
    store.register_models(entries)
    expected = [f"{e.model_id:<32} {e.task_type or '-':<10} {e.task or '-':<24} layers: {', '.join(e.layers)}"
                for e in store.models(store.model_ids())]
    for argv in (["models", "list", "--store", store.url], ["--store", store.url, "models", "list"]):
        result, heavy = run_and_list_heavy_imports(*argv)
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines() == expected
        assert heavy == [], f"rsa-ray {' '.join(argv)} imported {heavy}"


def test_the_table_names_each_subcommand_with_its_own_help():
    for ref in SUBCOMMANDS:
        subcommand = ref.load()
        assert (subcommand.name, subcommand.help) == (ref.name, ref.help), f"jobs.cli.SUBCOMMANDS is out of date for {ref.module}"
