"""What ``submit`` prints for a job that failed: the job's last log lines, then one error line; exit 1.

The job client here is a stand-in with the three methods ``submit`` calls; the same path runs against a real
Ray head in tests/integration/jobs/test_submit.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import pytest

from jobs import submit as submit_module
from jobs.submit import LOG_LINES, failure_lines, print_failure


@dataclass
class RecordingClient:
    """A job client whose one job has ``status`` and ``logs``."""

    status: str
    logs: str
    message: str | None = "Job entrypoint command failed with exit code 1, last available logs (truncated): ..."

    def list_jobs(self):
        return []

    def submit_job(self, entrypoint: str, submission_id: str) -> str:
        self.submitted = (entrypoint, submission_id)
        return submission_id

    def get_job_status(self, job_id: str):
        return SimpleNamespace(value=self.status)

    def get_job_logs(self, job_id: str) -> str:
        return self.logs

    def get_job_info(self, job_id: str):
        return SimpleNamespace(message=self.message)


LOGS = "".join(f"line {i}\n" for i in range(40)) + "rsa-ray probes: error: 'x.npz' is not a readable .npz file\n"


def test_the_last_lines_then_one_error_line():
    lines = failure_lines("rsa-ray-0123", "FAILED", LOGS, "http://head:8265", "exit code 1, last available logs: x")
    assert len(lines) == LOG_LINES + 1
    assert lines[-2] == "    | rsa-ray probes: error: 'x.npz' is not a readable .npz file"
    assert lines[0] == "    | line 21"
    assert lines[-1] == ("rsa-ray submit: error: job rsa-ray-0123 FAILED (exit code 1); its last 20 log lines are above "
                         "(all: `ray job logs --address http://head:8265 rsa-ray-0123`)")


def test_a_job_without_logs_says_so():
    (line,) = failure_lines("rsa-ray-0123", "STOPPED", "", "http://head:8265")
    assert line.startswith("rsa-ray submit: error: job rsa-ray-0123 STOPPED; it wrote no log lines")


def test_unreadable_logs_are_named_not_raised(capsys):
    class NoLogs(RecordingClient):
        def get_job_logs(self, job_id):
            raise ConnectionError("dashboard went away")

    print_failure("http://head:8265", "rsa-ray-0123", "FAILED", client=NoLogs("FAILED", ""))
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "    | (its logs could not be read: ConnectionError: dashboard went away)"
    assert err[-1].startswith("rsa-ray submit: error: job rsa-ray-0123 FAILED")


@pytest.mark.parametrize("status, wait, code", [("FAILED", True, 1), ("STOPPED", True, 1), ("FAILED", False, 1),
                                                ("SUCCEEDED", True, 0), ("RUNNING", False, 0)])
def test_the_command_exits_non_zero_for_a_failed_job(monkeypatch, capsys, status, wait, code):
    client = RecordingClient(status, LOGS)
    monkeypatch.setattr("ray.job_submission.JobSubmissionClient", lambda address: client)
    args = SimpleNamespace(address="http://head:8265", wait=wait, command=["--", "probes", "add", "x.npz"])
    assert submit_module.run(args) == code
    printed = capsys.readouterr()
    if code:
        assert printed.out == ""
        assert printed.err.splitlines()[-1].startswith(f"rsa-ray submit: error: job {client.submitted[1]} {status}")
        assert "    | rsa-ray probes: error: 'x.npz' is not a readable .npz file" in printed.err
    else:
        assert printed.err == ""
        assert printed.out.startswith(f"job {client.submitted[1]}: {status}")
