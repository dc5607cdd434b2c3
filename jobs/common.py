"""What the subcommands share: opening the store, choosing probe set, models and layers."""

from __future__ import annotations

import argparse
import difflib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from storage import Store

DEFAULT_REPORT_DIR = "./rsa-report"


def open_store(url: str) -> Store:
    """Opens the store, turning an unreachable URL into one clear error.

    Raises:
        ValueError: The store cannot be opened (naming the URL, redacted, and why).

    Example:
        >>> open_store("memory://common-example").url
        'memory://common-example'
    """
    from storage import Store, StoreUnavailableError  # imported here: --help and usage errors open no store
    from storage.redaction import redact_url

    if not url.strip():  # an empty URL would open (create) a store in the working folder
        raise ValueError("the store URL must not be empty; pass a folder or s3://bucket/prefix")
    try:
        return Store.open(url)
    except StoreUnavailableError as error:
        raise ValueError(f"cannot open the store at {redact_url(url)!r}: {error}") from None


def _unknown(kind: str, value: str, valid: Sequence[str]) -> ValueError:
    close = difflib.get_close_matches(value, valid, n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else (f"; known: {', '.join(valid[:20])}" if valid else f"; there are no {kind}s")
    return ValueError(f"unknown {kind} {value!r}{hint}")


def choose_probe(store: Store, probe_id: str | None) -> str:
    """The probe set asked for, or the store's only shared one (targets' labelled sets do not count).

    Raises:
        ValueError: None stored, several stored and none chosen, or an unknown id.
    """
    stored = store.probe_set_ids()
    if probe_id is None:
        shared = store.shared_probe_set_ids()  # a target's labelled images are chosen through its target
        if len(shared) == 1:
            return shared[0]
        if not shared:
            raise ValueError(f"the store {store.url} has no probe set; add one with `rsa-ray probes add`")
        raise ValueError(f"the store holds {len(shared)} probe sets ({', '.join(shared)}); choose one with --probe")
    if probe_id not in stored:
        raise _unknown("probe set", probe_id, stored)
    return probe_id


def choose_models(store: Store, model_ids: Sequence[str] | None) -> list[str]:
    """The models asked for (by default every registered model but the hidden random-init twins of
    ``rank --twin-adjust``, :mod:`jobs.twins`), each checked to exist.

    Raises:
        ValueError: An unknown model id (with the nearest registered ids), or none registered.
    """
    from jobs.twins import is_twin

    registered = store.model_ids()
    if not model_ids:
        shown = [model_id for model_id in registered if not is_twin(model_id)]
        if not shown:
            raise ValueError(f"the store {store.url} has no registered models; add them with `rsa-ray models add`")
        return shown
    for model_id in model_ids:
        if model_id not in registered:
            raise _unknown("model id", model_id, registered)
    return list(dict.fromkeys(model_ids))


DEFAULT_ROLE = "default"  # rsa_ray.models.DEFAULT_ROLE, spelled here so that choosing layers loads no torch


def default_role(store: Store, model_ids: Sequence[str]) -> str:
    """The role that compares ``model_ids`` each at its own default layer.

    When every model's default is one role (a zoo of one architecture), that role, so results keep
    the key they always had; when the defaults differ (a mixed zoo), the reserved role ``default``,
    which each model resolves to its own default layer.

    Example:
        >>> default_role(store, ["depth-small", "mobilenet_v2"])  # doctest: +SKIP
        'default'
    """
    defaults = {entry.default_layer for entry in store.models(model_ids)}
    return defaults.pop() if len(defaults) == 1 else DEFAULT_ROLE


def choose_layers(store: Store, model_ids: Sequence[str], layers: Sequence[str] | None) -> list[str]:
    """The layer roles asked for, or the models' default (:func:`default_role`).

    A role that some models lack is kept: the run reports those models once, up front, and leaves
    them out of that role's matrix. A role that none of the models has is an error.

    Raises:
        ValueError: A role no model has (naming the first model and its nearest layers).
    """
    entries = dict(zip(model_ids, store.models(model_ids)))
    if not layers:
        return [default_role(store, model_ids)]
    chosen = list(dict.fromkeys(layers))
    for layer in chosen:
        if layer == DEFAULT_ROLE or any(layer in entry.layers for entry in entries.values()):
            continue
        model_id, entry = next(iter(entries.items()))
        close = difflib.get_close_matches(layer, entry.layers, n=3)
        hint = f"did you mean {', '.join(close)}?" if close else f"its layers: {', '.join(entry.layers)}"
        raise ValueError(f"unknown layer {layer!r} for model {model_id!r} (no selected model has it); {hint}")
    return chosen


def add_selection_arguments(parser: argparse.ArgumentParser) -> None:
    """``--probe``, ``--models``, ``--layer`` and ``--method``."""
    parser.add_argument("--probe", default=None, help="probe set id (default: the store's only one)")
    parser.add_argument("--models", nargs="+", default=None, metavar="ID", help="model ids (default: all registered)")
    parser.add_argument("--layer", action="append", default=None, metavar="ROLE",
                        help="layer role to compare on, read from each model's own module for it; repeat for several "
                             "(default: each model's default layer; 'default' names it explicitly)")
    parser.add_argument("--method", default="spearman", choices=["spearman", "pearson", "kendall_tau_a"], help="similarity between RDMs")


def positive_int(text: str) -> int:
    """An argparse ``type`` for a count flag: a whole number >= 1 (a usage error, exit 2, otherwise).

    Example:
        >>> positive_int("3")
        3
    """
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


def _reduction(text: str) -> str:
    from rsa_ray.names import check_reduction

    try:
        return check_reduction(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def precision_flag(text: str) -> str:
    """The ``--dtype`` value: a precision name (``fp32``, ``tf32``, ``bf16``, ``fp16``), the earlier
    spellings (``float32``, ``bfloat16``, ``float16``) accepted as aliases.

    Example:
        >>> precision_flag("bfloat16"), precision_flag("tf32")
        ('bf16', 'tf32')
    """
    from rsa_ray.names import precision_name

    try:
        return precision_name(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_compute_arguments(parser: argparse.ArgumentParser, similarity: bool = True) -> None:
    """``--dtype`` (forward-pass precision), ``--reduce``, where RDMs are computed (``--rdms-on-actor``,
    ``--keep-activations``) and, for commands that compute similarities, ``--backend`` (where the math
    runs) and ``--task-memory-mb`` (one similarity task's memory)."""
    parser.add_argument("--dtype", default="fp32", type=precision_flag, metavar="PRECISION",
                        help="forward-pass precision: fp32 (strict float32; the default, see docs/pipeline.md), "
                             "tf32 (float32 with TF32 matmuls and convolutions on CUDA; on the CPU the same as "
                             "fp32), bf16 or fp16 (autocast); float32, bfloat16, float16 are accepted too")
    parser.add_argument("--rdms-on-actor", default="auto", choices=["auto", "always", "never"],
                        help="compute each layer's RDM on the encoder actor, where its activations are: auto (where "
                             "the actors have GPUs; default), always (also on CPU actors) or never (the RDM stage "
                             "from stored activations)")
    parser.add_argument("--keep-activations", action="store_true",
                        help="where RDMs are computed on the actor, also store every layer's full activations "
                             "(default: only pooled features, RDMs and rank vectors)")
    parser.add_argument("--reduce", default=None, type=_reduction, metavar="REDUCTION",
                        help="one reduction of every layer's output, overriding the manifest's: flatten, avg, max, "
                             "adaptive:K, cls or tokens-mean (default: each layer's own, else flatten)")
    if not similarity:
        return
    parser.add_argument("--backend", default="auto", choices=["auto", "numpy", "torch"],
                        help="where RDMs, ranks and similarity products are computed: numpy, torch (on the "
                             "cluster's GPUs, else the CPU) or auto (torch where the cluster has GPUs; default)")
    parser.add_argument(
        "--task-memory-mb", type=positive_int, default=1024, metavar="MB",
        help="memory one similarity task may hold (its blocks of rank vectors and their product; default 1024). "
             "While one stored chunk of every model fits, each chunk is read once; below that, models are "
             "cut into blocks that are re-read")


def add_output_argument(parser: argparse.ArgumentParser) -> None:
    """``--out``: the folder for CSV tables, plots and the HTML report."""
    parser.add_argument("--out", default=DEFAULT_REPORT_DIR, help=f"folder for CSV tables, plots and the HTML report (default {DEFAULT_REPORT_DIR})")


def output_dir(path: str) -> Path:
    """Creates and returns the output folder; a command calls it only once its flags and inputs are checked,
    so a refused run leaves no folder behind."""
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder
