"""``rsa-ray rerank``: register newly landed models, compute only them, and report how rankings moved.

Run once (cron, a Kubernetes CronJob, a RayCronJob) or keep running with
``--every 10m``. Exit codes: 0 done, 3 done but some models failed or some
manifests or models were refused at registration (see the failures table; the
rest were registered and computed), 75 skipped because another rerank holds the
store's lock, 1 an error (nothing half-written: a rerun resumes).
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from jobs.cli_types import Subcommand
from jobs.command_options import Selection, compute_options_from_args, selection_from_args
from jobs.common import add_compute_arguments, add_output_argument, add_selection_arguments, choose_layers, choose_models, choose_probe, open_store, output_dir
from jobs.compute import (ComputeOptions, ProbeSelection, compute_similarities, connect_once, exit_code,
                          extract_probe_sets)
from jobs.config import add_common_arguments
from jobs.signals import TerminatedError, sigterm_raises, terminated

if TYPE_CHECKING:  # pandas, the store and registration are imported where a rerank runs
    import pandas as pd

    from cluster.probe_sets import ExtractedStage
    from storage import Store
    from storage.targets import TargetRecord

LOCKED_EXIT_CODE = 75  # EX_TEMPFAIL: try again later

logger = logging.getLogger("rsa_ray")
_DURATION = re.compile(r"(\d+)\s*([smhd])")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MIN_INTERVAL_SECONDS = 10.0  # a shorter schedule would only retake the store's lock without pause


def parse_duration(text: str) -> float:
    """Seconds in ``"90s"``, ``"10m"``, ``"1h30m"``, at least :data:`MIN_INTERVAL_SECONDS`.

    Raises:
        ValueError: Not a duration, or one shorter than the bound.

    Example:
        >>> parse_duration("1h30m")
        5400.0
    """
    parts = _DURATION.findall(text)
    if not parts or _DURATION.sub("", text).strip():
        raise ValueError(f"--every {text!r} is not a duration like 90s, 10m or 1h30m")
    seconds = float(sum(int(number) * _SECONDS[unit] for number, unit in parts))
    if seconds < MIN_INTERVAL_SECONDS:
        raise ValueError(f"--every {text!r} is shorter than the shortest interval, {MIN_INTERVAL_SECONDS:.0f}s")
    return seconds


def ranking_diff_table(store: Store, probe_id: str, layer: str, old_version: int | None) -> pd.DataFrame:
    """Every target's candidates with their old and new ranks, between ``old_version`` and the latest."""
    import pandas as pd

    from rsa_ray import ranking_changes

    new = store.read_similarity(probe_id, layer)
    old = store.read_similarity(probe_id, layer, old_version) if old_version else None
    changes = ranking_changes(old.model_ids if old else (), old.matrix if old else None, new.model_ids, new.matrix)
    return pd.DataFrame(
        {
            "layer": layer,
            "old_version": old_version,
            "new_version": new.version,
            "target": [c.target for c in changes],
            "candidate": [c.candidate for c in changes],
            "old_rank": pd.array([c.old_rank for c in changes], dtype="Int64"),
            "new_rank": [c.new_rank for c in changes],
            "moved": pd.array([c.moved for c in changes], dtype="Int64"),
            "old_similarity": [c.old_score for c in changes],
            "new_similarity": [c.new_score for c in changes],
        }
    )


@dataclass(frozen=True)
class RerankOptions:
    """What one rerank does: the selection, where new manifests land, how it computes, where it writes.

    Example:
        >>> RerankOptions(Selection("memory://s"), None, ComputeOptions(), None, "out").models_from is None
        True
    """

    selection: Selection
    models_from: str | None
    compute: ComputeOptions
    address: str | None
    out: str | None


def rerank_once(options: RerankOptions) -> int:
    """One rerank under the store's ``rerank`` lock. Returns the exit code."""
    from jobs.registration import manifest_urls
    from storage import StoreLockedError

    store = open_store(options.selection.store)
    if options.models_from:
        manifest_urls(options.models_from)  # a bad --models-from is refused before the lock is taken
    try:
        with store.lock("rerank") as lock:  # its lease is renewed while the run works; see storage.locks
            return _rerank_locked(store, options, lock.check)
    except StoreLockedError as error:
        print(f"rsa-ray rerank: skipped: {error}")
        return LOCKED_EXIT_CODE


def _register_new(store: Store, models_from: str) -> int:
    """Registers the models of ``models_from`` not yet in the store; returns how many were refused."""
    from jobs.registration import record_failures, register_new_models
    from storage.redaction import redact_url

    registration = register_new_models(store, models_from)
    record_failures(store, registration.failures)
    for failure in registration.failures:
        what = f"model {failure.model_id!r}" if failure.model_id else "manifest"
        print(f"rsa-ray rerank: {what} not registered: {failure.error}", file=sys.stderr)
    refused = len(registration.failures)
    added = registration.added
    print(f"{len(added)} new models registered from {redact_url(models_from)}"
          + (f": {', '.join(added)}" if added else "") + (f"; {refused} refused (failures table)" if refused else ""))
    return refused


def _rerank_locked(store: Store, options: RerankOptions, fence: Callable[[], None] | None = None) -> int:
    """Registers new models, computes what is missing, writes ranking diffs (a version only while ``fence`` passes)."""
    from jobs.outputs import write_table
    from jobs.target_scores import outdated_score_tables, stored_options, target_selection

    refused = _register_new(store, options.models_from) if options.models_from else 0
    probe_id = choose_probe(store, options.selection.probe)
    models = choose_models(store, options.selection.models)
    layers = choose_layers(store, models, options.selection.layers)
    before = {layer: (store.similarity_versions(probe_id, layer) or (None,))[-1] for layer in layers}
    connect_once(options.address)
    outdated = outdated_score_tables(store)
    # One extraction stage for the shared probe set and every target to re-score, before any RDM task:
    # one actor pool, each new model fetched and built once.
    stage = extract_probe_sets(store, [ProbeSelection(probe_id, tuple(models), tuple(layers), options.compute)]
                               + [target_selection(store, record, stored_options(table)) for record, table in outdated])
    summary = compute_similarities(store, probe_id, models, layers, options.compute, fence=fence, stage=stage)
    out = output_dir(options.out)
    for layer, version in summary.versions:
        if version is None:
            print(f"layer {layer}: nothing new, rankings unchanged")
            continue
        diff = ranking_diff_table(store, probe_id, layer, before[layer])
        csv = write_table(store, out, f"ranking_diff.{layer}.v{version}", diff)
        moved = diff[diff["moved"].fillna(0) != 0]
        print(f"layer {layer}: version {version}; {len(moved)} candidate ranks moved, "
              f"{int(diff['old_rank'].isna().sum())} new (target, candidate) pairs; diff: {csv} and table ranking_diff.{layer}.v{version}")
    rescored = rescore_targets(store, out, outdated, stage)
    return 3 if refused or rescored else exit_code(summary)


def rescore_targets(store: Store, out, outdated: Sequence[tuple[TargetRecord, pd.DataFrame]],
                    stage: ExtractedStage | None = None) -> int:
    """Re-scores every recorded target whose score table lacks registered candidates (models that landed,
    ``outdated``: :func:`jobs.target_scores.outdated_score_tables`): only those are extracted on the
    target's images (by ``stage`` where the rerank's extraction stage ran them), on the Ray the rerank
    connected to. Returns how many candidates could not be scored."""
    from jobs.rank import print_scores
    from jobs.target_scores import stored_options

    failed = 0
    for record, table in outdated:
        print(f"target {record.name}: new candidates; scoring them on its {record.n_images} images")
        failed += len(print_scores(store, record, stored_options(table), 5, out, stage).failures)
    return failed


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser)
    add_selection_arguments(parser)
    add_output_argument(parser)
    parser.add_argument("--models-from", default=None, help="a manifest, or a folder / object-store prefix of manifests, where new models land")
    parser.add_argument("--every", default=None, help="keep running, once per interval (e.g. 10m); default: once")
    add_compute_arguments(parser)


def run(args: argparse.Namespace) -> int:
    options = RerankOptions(selection_from_args(args), args.models_from, compute_options_from_args(args), args.address,
                            args.out)
    every = args.every
    if every is None:
        return rerank_once(options)
    interval = parse_duration(every)
    # SIGTERM during a run raises TerminatedError there: the run ends and its lock is released at once.
    # Between runs it stops the schedule quietly.
    with sigterm_raises():
        while True:
            started = time.monotonic()
            failure = None
            try:
                rerank_once(options)
            except Exception as error:  # keep the schedule going; the next run resumes
                if terminated():  # SIGTERM cut a Ray call short and this is what it raised: stop, not retry
                    raise
                failure = error
            try:  # from here to the next run, SIGTERM (even while the error line is printed) stops quietly
                if failure is not None:
                    print(f"rsa-ray rerank: error: {failure} (retrying in {every})", flush=True)
                while time.monotonic() - started < interval:
                    time.sleep(min(1.0, interval))
            except TerminatedError:
                return 0


SUBCOMMAND = Subcommand("rerank", "register new models and update similarities and rankings incrementally", add_arguments, run)
