"""``rsa-ray extract`` and ``rsa-ray similarity``: the pipeline's stages on their own."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from jobs.cli_types import Subcommand
from jobs.common import add_compute_arguments, add_selection_arguments, choose_layers, choose_models, choose_probe, open_store
from jobs.compute import compute_similarities, exit_code
from jobs.config import add_common_arguments


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser)
    add_selection_arguments(parser)
    add_compute_arguments(parser)


def add_extract_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser)
    add_selection_arguments(parser)
    add_compute_arguments(parser, similarity=False)


def _selection(store_url: str, probe: str | None, models: Sequence[str] | None, layer: Sequence[str] | None):
    """The store, probe set, models and layers the flags choose."""
    store = open_store(store_url)
    probe_id = choose_probe(store, probe)
    chosen = choose_models(store, models)
    return store, probe_id, chosen, choose_layers(store, chosen, layer)


def run_extract(args: argparse.Namespace) -> int:
    from cluster.connect import connect  # imported here: parsing the flags needs no Ray
    from cluster.extract import ExtractionOptions, extract_missing
    from cluster.resolvers import StoreResolver

    store, probe_id, models, layers = _selection(args.store, args.probe, args.models, args.layer)
    options = ExtractionOptions(dtype=args.dtype, reduce=args.reduce, rdms_on_actor=args.rdms_on_actor,
                                keep_activations=args.keep_activations)
    connect(args.address)
    extraction = extract_missing(store, probe_id, models, layers, StoreResolver(store), options)
    for outcome in extraction.failures:
        print(f"  FAILED {outcome.model_id} / {outcome.layer}: {outcome.error}")
    stored = "pooled features, RDMs and rank vectors" + (" and activations" if options.keep_activations else "")
    print(f"{extraction.extracted} models extracted ({len(extraction.failures)} failed); "
          f"{stored if extraction.rdms_on_actor else 'activations'} in {store.url}")
    return 3 if extraction.failures else 0


def run_similarity_command(args: argparse.Namespace) -> int:
    store, probe_id, models, layers = _selection(args.store, args.probe, args.models, args.layer)
    summary = compute_similarities(store, probe_id, models, layers, args.method, args.dtype, args.address,
                                   args.task_memory_mb, backend=args.backend, reduce=args.reduce,
                                   rdms_on_actor=args.rdms_on_actor, keep_activations=args.keep_activations)
    print(f"similarity versions in {store.url} (similarity/{probe_id}/<layer>)")
    return exit_code(summary)


EXTRACT = Subcommand("extract", "run the models over the probe set and store their activations", add_extract_arguments,
                     run_extract)
SIMILARITY = Subcommand("similarity", "compute RDMs and a new similarity version (extracting what is missing)", add_arguments, run_similarity_command)
