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
import time
from collections.abc import Sequence

from jobs.cli_types import Subcommand

TERMINAL = {"SUCCEEDED", "FAILED", "STOPPED"}


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
        client.submit_job(entrypoint=entrypoint, submission_id=job_id)
    status = str(client.get_job_status(job_id).value)
    deadline = time.monotonic() + timeout
    while wait and status not in TERMINAL and time.monotonic() < deadline:
        time.sleep(1.0)
        status = str(client.get_job_status(job_id).value)
    return job_id, status


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--address", required=True, help="the cluster's dashboard URL, e.g. http://head:8265")
    parser.add_argument("--wait", action="store_true", help="wait until the job ends; exit non-zero if it failed")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the rsa-ray command, after --")


def run(args: argparse.Namespace) -> int:
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    job_id, status = submit(args.address, command, wait=args.wait)
    print(f"job {job_id}: {status} (logs: `ray job logs --address {args.address} {job_id}`)")
    return 0 if not args.wait or status == "SUCCEEDED" else 1


SUBCOMMAND = Subcommand("submit", "run an rsa-ray command as a Ray job (resubmitting the same command is a no-op)", add_arguments, run)
