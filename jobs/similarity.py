"""``rsa-ray extract`` and ``rsa-ray similarity``: the pipeline's stages on their own."""

from __future__ import annotations

import argparse

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


def _selection(args: argparse.Namespace):
    store = open_store(args.store)
    probe_id = choose_probe(store, args.probe)
    models = choose_models(store, args.models)
    return store, probe_id, models, choose_layers(store, models, args.layer)


def run_extract(args: argparse.Namespace) -> int:
    from cluster.connect import connect  # imported here: parsing the flags needs no Ray
    from cluster.extract import ExtractionOptions, extract_all
    from cluster.pipeline import missing_roles, read_layer_inputs
    from cluster.plan import plan_inputs_by_layer
    from cluster.resolvers import StoreResolver

    store, probe_id, models, layers = _selection(args)
    options = ExtractionOptions(dtype=args.dtype, reduce=args.reduce, rdms_on_actor=args.rdms_on_actor,
                                keep_activations=args.keep_activations)
    lacking = {(f.model_id, f.layer) for f in missing_roles(store, models, layers)}  # reported once, left out
    having = {layer: [m for m in models if (m, layer) not in lacking] for layer in layers}
    plan = plan_inputs_by_layer([(read_layer_inputs(store, probe_id, having[layer], layer, options.settings()),
                                  having[layer]) for layer in layers], models)
    connect(args.address)
    outcomes = extract_all(store, probe_id, plan.extractions, StoreResolver(store), options)
    failed = [o for o in outcomes if o.error]
    for outcome in failed:
        print(f"  FAILED {outcome.model_id} / {outcome.layer}: {outcome.error}")
    on_actor = options.computes_rdms_on_actor(ray_gpus() >= options.gpus_per_actor)
    stored = "pooled features, RDMs and rank vectors" + (" and activations" if options.keep_activations else "")
    print(f"{len(plan.extractions)} models extracted ({len(failed)} failed); "
          f"{stored if on_actor else 'activations'} in {store.url}")
    return 3 if failed else 0


def ray_gpus() -> float:
    """The GPUs of the cluster this process is connected to.

    Example:
        >>> ray_gpus()  # doctest: +SKIP
        8.0
    """
    import ray

    return ray.cluster_resources().get("GPU", 0.0)


def run_similarity_command(args: argparse.Namespace) -> int:
    store, probe_id, models, layers = _selection(args)
    summary = compute_similarities(store, probe_id, models, layers, args.method, args.dtype, args.address,
                                   args.task_memory_mb, backend=args.backend, reduce=args.reduce,
                                   rdms_on_actor=args.rdms_on_actor, keep_activations=args.keep_activations)
    print(f"similarity versions in {store.url} (similarity/{probe_id}/<layer>)")
    return exit_code(summary)


EXTRACT = Subcommand("extract", "run the models over the probe set and store their activations", add_extract_arguments,
                     run_extract)
SIMILARITY = Subcommand("similarity", "compute RDMs and a new similarity version (extracting what is missing)", add_arguments, run_similarity_command)
