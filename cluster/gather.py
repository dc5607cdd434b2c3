"""Waiting for a stage's Ray tasks: each task's result (or the error it ended with), with progress lines."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from typing import Any, TypeVar

import ray

from cluster.outcomes import ModelOutcome
from cluster.progress import StageProgress

Key = TypeVar("Key", bound=Hashable)


def failed_outcomes(result: Any) -> int:
    """How many :class:`~cluster.outcomes.ModelOutcome` in ``result`` (one, or a list) carry an error.

    Example:
        >>> failed_outcomes([ModelOutcome("a", "out"), ModelOutcome("b", "out", "no activations")])
        1
    """
    outcomes = result if isinstance(result, list) else [result]
    return sum(isinstance(outcome, ModelOutcome) and outcome.error is not None for outcome in outcomes)


def gather(refs: Mapping[ray.ObjectRef, Key], stage: str, *, weights: Mapping[ray.ObjectRef, int] | None = None,
           failed_in: Callable[[Any], int] = failed_outcomes) -> dict[Key, Any]:
    """Waits for every ref, logging the stage's progress; returns each ref's key → its result or exception.

    A task that failed for good (after Ray's retries) gives its exception as its result, so one
    failed task never hides the others' results.

    Args:
        refs: Each task's ref → the key its result is returned under (e.g. the batch of models it ran).
        stage: The stage's name in the progress lines (:class:`cluster.progress.StageProgress`).
        weights: Each ref → how many items its task holds, so progress counts items (models) rather
            than tasks; None: one item per task.
        failed_in: How many items of a (successful) result failed; by default the ``ModelOutcome``
            that carry an error (:func:`failed_outcomes`). A failed task counts all its items failed.

    Returns:
        Key → result (or the exception), in the order the tasks finished.

    Example:
        >>> refs = {task.remote(batch): batch for batch in batches}  # doctest: +SKIP
        >>> by_batch = gather(refs, "scores", weights={ref: len(b) for ref, b in refs.items()},  # doctest: +SKIP
        ...                   failed_in=lambda rows: sum(row.error is not None for row in rows))
    """
    progress = StageProgress(stage, total=sum(weights.values()) if weights else len(refs))
    results: dict[Key, Any] = {}
    pending = list(refs)
    while pending:
        finished, pending = ray.wait(pending, num_returns=1)
        for ref in finished:
            items = weights[ref] if weights else 1
            try:
                results[refs[ref]] = ray.get(ref)
                failed = failed_in(results[refs[ref]])
            except Exception as error:  # a task that failed for good, after Ray's retries
                results[refs[ref]] = error
                failed = items
            for index in range(items):
                progress.advance(failed=index < failed)
    return results
