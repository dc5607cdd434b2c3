"""Progress lines come when a stage starts and while nothing finishes, and batch by batch from the workers."""

from __future__ import annotations

import io
import logging

from cluster.progress import BatchProgress, StageProgress


def _lines(caplog) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == "rsa_ray"]


def test_a_stage_says_it_started_before_anything_finishes(caplog):
    caplog.set_level(logging.INFO, logger="rsa_ray")
    StageProgress("extraction", total=11)
    assert _lines(caplog) == ["extraction: 0/11 started"]


def test_an_empty_stage_says_nothing(caplog):
    caplog.set_level(logging.INFO, logger="rsa_ray")
    StageProgress("extraction", total=0)
    assert _lines(caplog) == []


def test_a_pulse_while_nothing_finishes_is_rate_limited(caplog):
    caplog.set_level(logging.INFO, logger="rsa_ray")
    progress = StageProgress("extraction", total=3, interval=3600.0)
    progress.pulse(running=2)  # within the interval of the start line: nothing
    assert _lines(caplog) == ["extraction: 0/3 started"]
    progress.interval = 0.0
    progress.pulse(running=2)
    assert _lines(caplog)[-1].startswith("extraction: 0/3 done, 2 running, ")
    assert _lines(caplog)[-1].endswith("s elapsed")


def test_finished_items_are_counted_and_the_last_one_always_logged(caplog):
    caplog.set_level(logging.INFO, logger="rsa_ray")
    progress = StageProgress("rdms", total=3, interval=3600.0)
    for failed in (False, True, False):
        progress.advance(failed=failed)
    assert _lines(caplog) == ["rdms: 0/3 started", "rdms: 3/3 done (1 failed), ETA 0s"]


def test_batches_print_the_first_the_last_and_every_interval():
    stream = io.StringIO()
    batches = BatchProgress("extraction", "depth-small", total=4, interval=3600.0, stream=stream)
    for _ in range(4):
        batches.advance()
    assert stream.getvalue().splitlines() == ["extraction depth-small: batch 1/4", "extraction depth-small: batch 4/4"]
    every = io.StringIO()
    each = BatchProgress("extraction", "m", total=3, interval=0.0, stream=every)
    for _ in range(3):
        each.advance()
    assert every.getvalue().splitlines() == [f"extraction m: batch {i}/3" for i in (1, 2, 3)]
