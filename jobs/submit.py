"""``rsa-ray submit``: run any rsa-ray command as a Ray job, with an id derived from its arguments.

The same command submitted twice gets the same submission id, so a resubmit
(a retried CI step, a scheduler firing twice) is a no-op that reports the first
job's status instead of starting a second one.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shlex
import sys
import time
from collections.abc import Sequence

from jobs.cli_types import Subcommand

TERMINAL = {"SUCCEEDED", "FAILED", "STOPPED"}
UNSUCCESSFUL = {"FAILED", "STOPPED"}
LOG_LINES = 20  # the job's last log lines shown when it failed


def submission_id(command: Sequence[str]) -> str:
    """A stable job id: ``rsa-ray-`` and 16 hex digits of the sha256 of the command's canonical JSON.

    Example:
        >>> submission_id(["taxonomy", "--store", "s3://zoo"]) == submission_id(["taxonomy", "--store", "s3://zoo"])
        True
    """
    digest = hashlib.sha256(json.dumps(list(command), separators=(",", ":")).encode()).hexdigest()
    return f"rsa-ray-{digest[:16]}"


def submit(address: str, command: Sequence[str], wait: bool = False, timeout: float = 3600.0) -> tuple[str, str]:
    """Submits ``rsa-ray <command>`` to the Ray cluster at ``address`` (its dashboard URL).

    Returns:
        ``(submission id, status)``; an already submitted command is not started again.

    Example:
        >>> submit("http://127.0.0.1:8265", ["taxonomy", "--store", "s3://bucket/store"])  # doctest: +SKIP
        ('rsa-ray-1c0f3e9a2b7d4e51', 'PENDING')
    """
    from ray.job_submission import JobSubmissionClient

    if not command:
        raise ValueError("submit needs the rsa-ray command to run, e.g. `rsa-ray submit -- taxonomy --store s3://...`")
    client = JobSubmissionClient(address)
    job_id = submission_id(command)
    existing = {job.submission_id for job in client.list_jobs()}
    if job_id not in existing:
        entrypoint = "python -m jobs.cli " + " ".join(shlex.quote(part) for part in command)
        _submit_when_an_agent_answers(client, entrypoint, job_id)
    status = str(client.get_job_status(job_id).value)
    deadline = time.monotonic() + timeout
    while wait and status not in TERMINAL and time.monotonic() < deadline:
        time.sleep(1.0)
        status = str(client.get_job_status(job_id).value)
    return job_id, status


AGENT_WAIT_SECONDS = 60.0  # a head that has just started has no job agent for a while


def _submit_when_an_agent_answers(client, entrypoint: str, job_id: str, patience: float = AGENT_WAIT_SECONDS) -> None:
    """Submits the job, retrying while the head says it has no job agent yet (it asks to try again later)."""
    deadline = time.monotonic() + patience
    while True:
        try:
            client.submit_job(entrypoint=entrypoint, submission_id=job_id)
            return
        except RuntimeError as error:
            if "No available agent" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(2.0)


def failure_lines(job_id: str, status: str, logs: str, address: str, message: str | None = None,
                  lines: int = LOG_LINES) -> list[str]:
    """What ``submit`` prints on stderr for a job that failed or was stopped: its last ``lines`` log lines,
    indented, then one line naming the job, its status and where its whole log is.

    Example:
        >>> failure_lines("rsa-ray-1", "FAILED", "a\\nb\\nTraceback...\\nValueError: bad\\n", "http://h:8265", lines=2)[-1]
        'rsa-ray submit: error: job rsa-ray-1 FAILED; its last 2 log lines are above (all: `ray job logs --address http://h:8265 rsa-ray-1`)'
        >>> failure_lines("rsa-ray-1", "FAILED", "a\\nb\\nTraceback...\\nValueError: bad\\n", "http://h:8265", lines=2)[:2]
        ['    | Traceback...', '    | ValueError: bad']
    """
    tail = logs.rstrip("\n").splitlines()[-lines:] if logs.strip() else []
    first = message.strip().splitlines()[0].split(", last available logs")[0][:200] if message and message.strip() else ""
    why = f" ({first})" if first else ""
    shown = f"its last {len(tail)} log lines are above" if tail else "it wrote no log lines"
    return [f"    | {line}" for line in tail] + [
        f"rsa-ray submit: error: job {job_id} {status}{why}; {shown} (all: `ray job logs --address {address} {job_id}`)"]


def print_failure(address: str, job_id: str, status: str, lines: int = LOG_LINES, client=None) -> None:
    """Prints :func:`failure_lines` of a finished job, its logs read from the cluster (``client``: a
    ``JobSubmissionClient``, made for ``address`` when None).

    Example:
        >>> print_failure("http://127.0.0.1:8265", "rsa-ray-1c0f3e9a2b7d4e51", "FAILED")  # doctest: +SKIP
    """
    if client is None:
        from ray.job_submission import JobSubmissionClient

        client = JobSubmissionClient(address)
    try:
        logs = client.get_job_logs(job_id)
    except Exception as error:  # the status is known; a log that cannot be read is said, not raised
        logs = f"(its logs could not be read: {type(error).__name__}: {error})"
    try:
        message = client.get_job_info(job_id).message
    except Exception:  # the message only adds to the status line
        message = None
    print("\n".join(failure_lines(job_id, status, logs, address, message, lines)), file=sys.stderr)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--address", required=True, help="the cluster's dashboard URL, e.g. http://head:8265")
    parser.add_argument("--wait", action="store_true", help="wait until the job ends; exit non-zero if it failed")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the rsa-ray command, after --")


def run(args: argparse.Namespace) -> int:
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    job_id, status = submit(args.address, command, wait=args.wait)
    if status in UNSUCCESSFUL:  # waited for, or a resubmit of a job that had failed
        print_failure(args.address, job_id, status)
        return 1
    print(f"job {job_id}: {status} (logs: `ray job logs --address {args.address} {job_id}`)")
    return 0 if not args.wait or status == "SUCCEEDED" else 1


SUBCOMMAND = Subcommand("submit", "run an rsa-ray command as a Ray job (resubmitting the same command is a no-op)", add_arguments, run)
