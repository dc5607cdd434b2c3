"""What a command answers when SIGTERM arrives: 143 and one line, however the stop unwinds the run.

Raised while the main thread waits inside Ray's core worker, the TerminatedError comes back as
Ray's own ``SystemExit(1)`` (``tests/integration/jobs/test_sigterm_mid_rerank.py`` sees it on
real Ray); these tests stand in for that call with a run that raises what Ray raises.
"""

from __future__ import annotations

import dataclasses
import os
import signal

import pytest

import jobs.signals
import jobs.taxonomy
from jobs.cli import main
from jobs.signals import TERMINATED_EXIT_CODE, sigterm_raises, terminated


@pytest.fixture(autouse=True)
def fresh_flag(monkeypatch):
    import threading

    monkeypatch.setattr(jobs.signals, "_terminated", threading.Event())


def _patch_run(monkeypatch, run):
    monkeypatch.setattr(jobs.taxonomy, "SUBCOMMAND", dataclasses.replace(jobs.taxonomy.SUBCOMMAND, run=run))


def _run_raising(what):
    def run(args):
        with pytest.raises(jobs.signals.TerminatedError):
            os.kill(os.getpid(), signal.SIGTERM)  # the command's handler: sets the flag, raises
            signal.pause()
        raise what  # what a Ray call cut short by it raised instead

    return run


@pytest.mark.parametrize("raised", [SystemExit(1), RuntimeError("Ray's call failed"), jobs.signals.TerminatedError(143)])
def test_whatever_unwinds_the_run_after_sigterm_is_the_stop(raised, monkeypatch, capsys, tmp_path):
    before = signal.getsignal(signal.SIGTERM)
    _patch_run(monkeypatch, _run_raising(raised))
    assert main(["taxonomy", "--store", str(tmp_path / "store")]) == TERMINATED_EXIT_CODE
    assert capsys.readouterr().err.strip() == "rsa-ray taxonomy: stopped by SIGTERM; rerun the same command to resume"
    assert signal.getsignal(signal.SIGTERM) is before  # the handler of before the command is back


def test_without_sigterm_a_system_exit_and_an_error_are_what_they_are(monkeypatch, capsys, tmp_path):
    def exits(args):
        raise SystemExit(1)

    _patch_run(monkeypatch, exits)
    with pytest.raises(SystemExit) as exited:
        main(["taxonomy", "--store", str(tmp_path / "store")])
    assert exited.value.code == 1 and not terminated()

    def fails(args):
        raise RuntimeError("boom")

    _patch_run(monkeypatch, fails)
    assert main(["taxonomy", "--store", str(tmp_path / "store")]) == 1
    assert "stopped by SIGTERM" not in capsys.readouterr().err


def test_the_flag_is_set_only_by_a_sigterm_inside_the_block():
    assert not terminated()
    with sigterm_raises(), pytest.raises(jobs.signals.TerminatedError):
        os.kill(os.getpid(), signal.SIGTERM)
        signal.pause()
    assert terminated()
