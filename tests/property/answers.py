"""Running one ``rsa-ray`` command in this process and judging its answer: stored, or refused in one line.

Every property here checks the same contract (docs/errors.md): a command given an input either
succeeds, and what it stored reads back complete, or prints exactly one line on stderr, exits with
an input or usage error code and leaves the store's files byte for byte as they were.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

from jobs.cli import main

#: Exit codes of a refused input: 1 bad input, 2 a usage error.
REFUSED_CODES = (1, 2)
#: One item per ``ray.init`` a command tried (and was refused: see conftest.py), for the test to tell.
RAY_STARTS: list[tuple] = []
#: The longest refusal line accepted: a message names the input and the rule, it does not echo the input.
MAX_LINE = 1000


@dataclass(frozen=True)
class Answer:
    """What one command said.

    Attributes:
        code: Its exit code (argparse's ``SystemExit`` code for a usage error).
        out: Its stdout.
        err: Its stderr.
    """

    code: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        """The non-empty lines of stderr."""
        return [line for line in self.err.splitlines() if line.strip()]


def run_command(argv: list[str]) -> Answer:
    """``rsa-ray argv`` in this process, stdout and stderr captured."""
    RAY_STARTS.clear()
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as stopped:  # argparse's usage errors
            code = int(stopped.code or 0)
    return Answer(int(code), out.getvalue(), err.getvalue())


def files(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` with the sha256 of its bytes (an absent folder: no files)."""
    if not folder.exists():
        return {}
    return {str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file()}


def assert_one_line_refusal(answer: Answer, before: dict[str, str], store_folder: Path, command: str) -> str:
    """Checks a refusal: an input/usage exit code, one bounded ``rsa-ray <command>`` error line, no file changed.

    Returns the line.
    """
    assert answer.code in REFUSED_CODES, f"exit {answer.code}, stderr {answer.err!r}"
    lines = answer.err_lines
    if answer.code == 2 and len(lines) > 1 and lines[0].startswith("usage:"):  # argparse: usage lines, then the error
        lines = [line for line in lines if "error:" in line]
    assert len(lines) == 1, f"a refusal must be one line, got {answer.err!r}"
    assert lines[0].startswith(f"rsa-ray {command}") and "error:" in lines[0], lines[0]
    assert "Traceback" not in answer.err and len(lines[0]) <= MAX_LINE, lines[0][:2000]
    assert files(store_folder) == before, "a refused input changed the store"
    return lines[0]
