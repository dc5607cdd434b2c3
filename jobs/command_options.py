"""The options a subcommand's ``run`` builds from its parsed flags, once, before it does anything else.

Below ``run`` nothing reads the flags: functions take these frozen objects (and the options of
:mod:`cluster.options`), so a command's settings are checked in one place and passed down whole.

Example:
    >>> import argparse
    >>> selection_from_args(argparse.Namespace(store="s", probe=None, models=["a"], layer=None)).models
    ('a',)
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from typing import TYPE_CHECKING

from jobs.common import choose_layers, choose_models, choose_probe, open_store
from jobs.compute import ComputeOptions

if TYPE_CHECKING:
    from storage import Store


@dataclass(frozen=True)
class Selection:
    """The store and what in it a command works on (``--store``, ``--probe``, ``--models``, ``--layer``).

    Attributes:
        store: The store's URL.
        probe: The probe set id; None: the store's only shared one.
        models: Model ids; None: every registered model.
        layers: Layers (roles); None: each model's default.

    Example:
        >>> Selection("memory://s").models is None
        True
    """

    store: str
    probe: str | None = None
    models: tuple[str, ...] | None = None
    layers: tuple[str, ...] | None = None


def open_selection(selection: Selection) -> tuple[Store, str, list[str], list[str]]:
    """The store, probe set, models and layers a selection names (each checked against the store).

    Example:
        >>> store, probe_id, models, layers = open_selection(Selection("memory://s"))  # doctest: +SKIP
    """
    store = open_store(selection.store)
    probe_id = choose_probe(store, selection.probe)
    models = choose_models(store, selection.models)
    return store, probe_id, models, choose_layers(store, models, selection.layers)


def _tuple(values) -> tuple[str, ...] | None:
    return None if values is None else tuple(values)


def selection_from_args(args: argparse.Namespace) -> Selection:
    """The :class:`Selection` the flags name (``--probe``, ``--models`` and ``--layer`` where the command has them).

    Example:
        >>> selection_from_args(argparse.Namespace(store="s", layer=["out"])).layers
        ('out',)
    """
    return Selection(args.store, getattr(args, "probe", None), _tuple(getattr(args, "models", None)),
                     _tuple(getattr(args, "layer", None)))


def compute_options_from_args(args: argparse.Namespace) -> ComputeOptions:
    """The :class:`jobs.compute.ComputeOptions` the compute flags describe (:func:`jobs.common.add_compute_arguments`).

    Example:
        >>> args = argparse.Namespace(method="pearson", dtype="bf16", task_memory_mb=256, backend="numpy",
        ...                           reduce=None, rdms_on_actor="never", keep_activations=False)
        >>> options = compute_options_from_args(args)
        >>> options.similarity_options().tile_memory_bytes == 256 * 2**20, options.extraction_options().dtype
        (True, 'bfloat16')
    """
    defaults = ComputeOptions()  # extract has no similarity flags: their defaults stand
    return ComputeOptions(method=getattr(args, "method", defaults.method), dtype=args.dtype,
                          task_memory_mb=getattr(args, "task_memory_mb", defaults.task_memory_mb),
                          backend=getattr(args, "backend", defaults.backend), reduce=args.reduce,
                          rdms_on_actor=args.rdms_on_actor, keep_activations=args.keep_activations)
