"""Session-wide hooks for the whole suite.

After pytest has written its summary and torn itself down, the test process ends with pytest's exit
status at once, without the interpreter's own teardown. That teardown unloads the native libraries
the suite has loaded in one process (torch and its thread pools, Ray's client, Arrow, s3fs's event
loop thread); on the order of one full run in four it ended in a segmentation fault after every test
had passed and the summary was printed, which turned a green run red. Not root-caused: set
``RSA_RAY_TEST_FULL_EXIT=1`` to let the interpreter tear down as usual (``make test`` runs Python
with ``-X faulthandler``, so such a crash then prints where it happened). The exit status is
pytest's own, so a failing test still fails the run.
"""

from __future__ import annotations

import os
import sys

import pytest

_FINISHED: list[pytest.Session] = []


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _FINISHED.append(session)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    if not _FINISHED or os.environ.get("RSA_RAY_TEST_FULL_EXIT") == "1":
        return
    if getattr(config, "workerinput", None) is not None:
        return  # a pytest-xdist worker: its controller reads its exit
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(int(_FINISHED[-1].exitstatus))
