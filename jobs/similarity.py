"""``rsa-ray extract`` and ``rsa-ray similarity``: the pipeline's stages on their own."""

from __future__ import annotations

import argparse

from jobs.cli_types import Subcommand
from jobs.command_options import compute_options_from_args, open_selection, selection_from_args
from jobs.common import add_compute_arguments, add_selection_arguments
from jobs.compute import compute_similarities, connect_once, exit_code
from jobs.config import add_common_arguments


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser)
    add_selection_arguments(parser)
    add_compute_arguments(parser)


def add_extract_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser)
    add_selection_arguments(parser)
    add_compute_arguments(parser, similarity=False)


def run_extract(args: argparse.Namespace) -> int:
    from cluster.extract import extract_missing  # imported here: parsing the flags needs no Ray
    from cluster.resolvers import StoreResolver

    selection, compute, address = selection_from_args(args), compute_options_from_args(args), args.address
    store, probe_id, models, layers = open_selection(selection)
    options = compute.extraction_options()
    connect_once(address)
    extraction = extract_missing(store, probe_id, models, layers, StoreResolver(store), options)
    for outcome in extraction.failures:
        print(f"  FAILED {outcome.model_id} / {outcome.layer}: {outcome.error}")
    stored = "pooled features, RDMs and rank vectors" + (" and activations" if options.keep_activations else "")
    print(f"{extraction.extracted} models extracted ({len(extraction.failures)} failed); "
          f"{stored if extraction.rdms_on_actor else 'activations'} in {store.url}")
    return 3 if extraction.failures else 0


def run_similarity_command(args: argparse.Namespace) -> int:
    selection, compute, address = selection_from_args(args), compute_options_from_args(args), args.address
    store, probe_id, models, layers = open_selection(selection)
    connect_once(address)
    summary = compute_similarities(store, probe_id, models, layers, compute)
    print(f"similarity versions in {store.url} (similarity/{probe_id}/<layer>)")
    return exit_code(summary)


EXTRACT = Subcommand("extract", "run the models over the probe set and store their activations", add_extract_arguments,
                     run_extract)
SIMILARITY = Subcommand("similarity", "compute RDMs and a new similarity version (extracting what is missing)", add_arguments, run_similarity_command)
