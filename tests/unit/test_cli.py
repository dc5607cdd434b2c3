"""The rsa-ray command's entry point."""

import subprocess
import sys

from jobs.cli import main
from rsa_ray import __version__


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
