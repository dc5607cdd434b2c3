"""A Ray failure under a command is one line naming what was lost and that a rerun resumes, exit 69.

The failures are Ray's own exception classes, constructed here (no Ray is started); the command that
raises them is a one-off subcommand in place of the real table, so only the CLI's telling is tested.
"""

from __future__ import annotations

import pytest
import ray.exceptions as rex

import jobs.cli as cli
from cluster.connect import RayUnavailableError
from jobs.cli_types import Subcommand
from jobs.ray_failures import RAY_FAILURE_EXIT_CODE, RERUN_HINT, ray_failure_line

OBJECT_HEX = "c8ef45ccd0112571ffffffffffffffffffffffff0100000001000000"


def _task_error(cause: BaseException) -> rex.RayTaskError:
    return rex.RayTaskError("compute_and_store_rdm", "Traceback (most recent call last):\n  ...", cause)


FAILURES = {
    "system": (rex.RaySystemError("core_worker.cc:1234: lost objects\nmore\nlines"),
               "Ray failed: core_worker.cc:1234: lost objects;"),
    "object-lost": (rex.ObjectLostError(OBJECT_HEX, None, "call site"), "Ray lost object c8ef45ccd0112571..."),
    "owner-died": (rex.OwnerDiedError(OBJECT_HEX, None, "call site"),
                   "Ray lost object c8ef45ccd0112571...: the worker that owned it died"),
    "node-died": (rex.NodeDiedError("node 7 died"), "a Ray node died"),
    "actor-died": (rex.ActorDiedError(), "Ray actor (unknown id) died"),
    "actor-error": (rex.RayActorError("a3f0c2d9e8b7a6f5a4b3c2d1", "it failed"), "Ray actor a3f0c2d9e8b7a6f5 died"),
    "get-timeout": (rex.GetTimeoutError("Get timed out: some object(s) not ready."),
                    "a Ray task or actor did not answer in time"),
    "worker-crashed": (rex.WorkerCrashedError(), "a Ray worker died mid-task"),
    "raylet-died": (rex.LocalRayletDiedError(), "the local Ray node died"),
    "unschedulable": (rex.ActorUnschedulableError("no node has 4 GPUs"), "a Ray actor could not be started"),
    "inside-a-task": (_task_error(rex.OwnerDiedError(OBJECT_HEX, None, "call site")), "the worker that owned it died"),
    "unreachable": (RayUnavailableError("cannot reach Ray at '127.0.0.1:1': Could not find any running Ray instance"),
                    "cannot reach Ray at '127.0.0.1:1'"),
}


def _raising(error: BaseException) -> Subcommand:
    def run(args):
        raise error

    return Subcommand("boom", "raises", lambda parser: None, run)


def _main_with(monkeypatch, error: BaseException, *flags: str) -> int:
    monkeypatch.setattr(cli, "SUBCOMMANDS", (_raising(error),))
    return cli.main([*flags, "boom"])


@pytest.mark.parametrize("case", FAILURES)
def test_a_ray_failure_is_one_line_naming_what_was_lost_and_that_a_rerun_resumes(monkeypatch, capsys, case):
    error, lost = FAILURES[case]
    assert _main_with(monkeypatch, error) == RAY_FAILURE_EXIT_CODE
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("rsa-ray boom: error: ") and lost in err, err
    assert err.rstrip().endswith(RERUN_HINT), err


def test_a_ray_failure_chained_under_another_error_is_told_as_the_ray_failure(monkeypatch, capsys):
    try:
        try:
            raise rex.NodeDiedError("node 7 died")
        except rex.NodeDiedError as lost:
            raise RuntimeError("the extraction stage failed") from lost
    except RuntimeError as wrapped:
        error = wrapped
    assert _main_with(monkeypatch, error) == RAY_FAILURE_EXIT_CODE
    assert "a Ray node died" in capsys.readouterr().err


def test_an_ordinary_error_raised_inside_a_task_is_told_as_itself():
    task_error = _task_error(ValueError("unknown layer 'x'")).as_instanceof_cause()
    assert ray_failure_line(task_error) is None
    assert ray_failure_line(ValueError("unknown layer 'x'")) is None


def test_debug_shows_the_traceback_of_a_ray_failure(monkeypatch):
    with pytest.raises(rex.OwnerDiedError):
        _main_with(monkeypatch, rex.OwnerDiedError(OBJECT_HEX, None, "call site"), "--debug")


def test_other_errors_keep_exit_1(monkeypatch, capsys):
    assert _main_with(monkeypatch, ValueError("a bad input")) == 1
    assert capsys.readouterr().err == "rsa-ray boom: error: a bad input\n"


def test_a_run_interrupted_because_its_ray_went_away_is_told_as_the_ray_failure(monkeypatch, capsys):
    from cluster import ray_watch

    monkeypatch.setattr(ray_watch, "_lost", ["the local Ray stopped answering (its control process is gone)"])
    assert _main_with(monkeypatch, KeyboardInterrupt()) == RAY_FAILURE_EXIT_CODE
    err = capsys.readouterr().err
    assert err == f"rsa-ray boom: error: the local Ray stopped answering (its control process is gone); {RERUN_HINT}\n"


def test_a_plain_interrupt_is_still_an_interrupt(monkeypatch, capsys):
    assert _main_with(monkeypatch, KeyboardInterrupt()) == 130
    assert "interrupted; rerun the same command to resume" in capsys.readouterr().err


def test_the_watch_starts_only_under_the_command_and_ends_with_it():
    from cluster import ray_watch

    ray_watch.watch_ray(None)  # not enabled (library use, tests): nothing is started
    assert ray_watch._state["stop"] is None
    ray_watch.enable()
    ray_watch.stop()
    assert ray_watch._state == {"enabled": False, "stop": None}


def test_an_error_whose_cause_attribute_is_not_an_exception_is_told_as_itself(monkeypatch, capsys):
    error = ValueError("a bad input")
    error.cause = "a text, not an exception"
    assert _main_with(monkeypatch, error) == 1
    assert capsys.readouterr().err == "rsa-ray boom: error: a bad input\n"
