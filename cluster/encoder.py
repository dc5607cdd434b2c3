"""The encoder actor: holds one loaded model at a time and streams probe sets through it,
writing activation row chunks straight into the store.

Layers are roles: each is read from the model's own module for it (``default``: the module of
the model's default layer) and reduced batch by batch before it is stored, so a pooled
reduction of a wide layer never holds or stores more than one batch of its output.

An actor prefetches the next model's weights in a background thread while the current model
runs, reads every requested layer in one forward pass, and writes only the chunks still
pending, so a restarted actor (Ray restarts it and retries the call) resumes without redoing
finished chunks.

A layer too wide to store whole (its M × D activations over ``wide_layer_mb``) is not written
as activations: the actor computes its RDM and rank vector from the batches itself and stores
them with its pooled features (:mod:`cluster.wide_layers`, :mod:`cluster.rdm_writer`).

The pool that runs these actors is :func:`cluster.extract.extract_all`; the actor that keeps
activations on its device is :class:`cluster.device_extract.DeviceEncoderActor`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from cluster.options import ExtractionOptions
from cluster.outcomes import ModelOutcome
from cluster.plan import ExtractionTask
from cluster.progress import BatchProgress
from cluster.rdm_writer import store_rdm_and_ranks
from cluster.wide_layers import (POOLED_REDUCTION, ColumnBlockFile, is_wide, open_column_blocks, pooled_features_key,
                                 wide_layer_rdm)
from storage import EntryKey, EntryKind, Lock, Store
from storage.identity import ComputeSettings, EntryIdentity

if TYPE_CHECKING:
    from rsa_ray.models import ModelEntry

# The key of pooled features' identities beside the entry kinds (EncoderActor._identities).
POOLED = "pooled"


@dataclass(frozen=True)
class LoadedModelSource:
    """What an actor needs to build one model: its registry entry and a local copy of its weights."""

    entry: ModelEntry
    weights_path: str | None


# Turns a model id into its registry entry and local weights; runs on the actor (so weights are
# fetched where they are used) and must be picklable.
ModelResolver = Callable[[str], LoadedModelSource]


def _layers_to_write(store: Store, probe_id: str, task: ExtractionTask,
                     identities: Mapping[str, EntryIdentity],
                     rank_identities: Mapping[str, EntryIdentity]) -> tuple[str, ...]:
    """The layers of ``task`` with neither activations nor a rank vector complete from the inputs given.

    A layer whose rank vector is up to date needs no activations (the planner's rule); a wide
    layer's RDM, stored by an actor, is found here by a run that waited for the claim.
    """
    keys = [EntryKey(probe_id, task.model_id, layer) for layer in task.layers]
    stored = store.stored_attributes(keys, EntryKind.ACTIVATIONS)
    ranks = store.stored_attributes(keys, EntryKind.RANKS)
    return tuple(key.layer for key in keys
                 if (stored[key] is None or not identities[key.layer].matches(stored[key]))
                 and (ranks[key] is None or not rank_identities[key.layer].matches(ranks[key])))


def _pending_batches(store: Store, probe_id: str, model_id: str, layers: Sequence[str], n_images: int,
                     batch_size: int, identities: Mapping[str, EntryIdentity]) -> list[int]:
    """Start rows of the batches some of ``layers`` still needs.

    All of them when some layer's entry is new, chunked otherwise, or was started from other
    inputs than ``identities`` (layer → expected identity) say: that entry is recreated.
    """
    starts: set[int] = set()
    every = list(range(0, n_images, batch_size))
    for layer in layers:
        key = EntryKey(probe_id, model_id, layer)
        try:
            layout = store.layout(key, EntryKind.ACTIVATIONS)
            current = identities[layer].matches(store.entry_attributes(key, EntryKind.ACTIVATIONS))
        except KeyError:  # not created yet
            return every
        if not current or layout.complete or layout.rows_per_chunk != batch_size:
            return every
        starts.update(start for start, _ in layout.pending)
    return sorted(starts)


class EncoderActor:
    """Runs models over the probe sets it is given and writes their activations into the store.

    One actor serves every probe set of a command's extraction stage: each call names its probe set,
    whose images the actor reads once and keeps (a command compares on a few probe sets: the shared
    one and its targets'). The model of the last call stays built, so the same model on the next
    probe set is neither fetched nor built again.

    Example:
        >>> actor = ray.remote(EncoderActor).remote(store, resolver, ExtractionOptions())  # doctest: +SKIP
        >>> ray.get(actor.extract.remote(probe_id, ExtractionTask("m1", ("out",))))  # doctest: +SKIP
        [ModelOutcome(model_id='m1', layer='out', error=None)]
    """

    def __init__(self, store: Store, resolver: ModelResolver, options: ExtractionOptions):
        import torch

        self.store = store
        self.resolver = resolver
        self.options = options
        self.probe_id: str | None = None  # the current call's probe set, and its images
        self.images: np.ndarray | None = None
        self._probe_images: dict[str, np.ndarray] = {}
        self.allow_torchscript = store.settings().allow_torchscript
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        if self.device == "cpu":
            torch.set_num_threads(1)
        self._fetcher = ThreadPoolExecutor(max_workers=1)
        self._prefetched: dict[str, Future] = {}
        self._current: tuple[str, object] | None = None  # (model id, what _prepare gave) of the last call
        self._built: tuple[str, object] | None = None  # (model id, module) of the last call
        self.reused_model = False  # whether the current call's model was kept from the last call (the work log's)

    def _use_probe(self, probe_id: str) -> None:
        """Makes ``probe_id`` the current probe set (its images read on its first call, then kept)."""
        if probe_id not in self._probe_images:
            self._probe_images[probe_id] = self.store.read_probe_images(probe_id)
        self.probe_id, self.images = probe_id, self._probe_images[probe_id]

    def _prepare(self, model_id: str):
        """What is fetched for a model ahead of its turn, in the background thread: its local weights."""
        return self.resolver(model_id)

    def _source(self, model_id: str):
        """What :meth:`_prepare` gives for ``model_id``: kept from the last call, prefetched, or fetched now."""
        self.reused_model = self._current is not None and self._current[0] == model_id
        if self.reused_model:
            return self._current[1]
        self._current = self._built = None  # the last model's weights and module are let go first
        future = self._prefetched.pop(model_id, None)
        prepared = future.result() if future is not None else self._prepare(model_id)
        self._current = (model_id, prepared)
        return prepared

    def extract(self, probe_id: str, task: ExtractionTask, next_model_id: str | None = None) -> list[ModelOutcome]:
        """Extracts every layer of ``task`` on probe set ``probe_id`` in one pass per batch; one outcome per layer.

        ``next_model_id`` (the next call's model, when it is another) is fetched in the background meanwhile.
        """
        if next_model_id is not None and next_model_id != task.model_id and next_model_id not in self._prefetched:
            self._prefetched[next_model_id] = self._fetcher.submit(self._prepare, next_model_id)
        try:
            self._use_probe(probe_id)
            return self._extract(task)
        except Exception as error:  # a bad model must not take the pool down; report it
            self._current = self._built = None  # nor stay built for the next call
            return [ModelOutcome(task.model_id, layer, f"{type(error).__name__}: {error}") for layer in task.layers]

    def peak_memory_bytes(self) -> int:
        """The most resident memory this actor's process has held so far (``ru_maxrss``).

        Example:
            >>> ray.get(actor.peak_memory_bytes.remote())  # doctest: +SKIP
            1234567890
        """
        import resource
        import sys

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return int(peak if sys.platform == "darwin" else peak * 1024)

    def _extract(self, task: ExtractionTask) -> list[ModelOutcome]:
        keys = {layer: EntryKey(self.probe_id, task.model_id, layer) for layer in task.layers}
        settings = self.options.settings(task.distance, task.center_features)
        identities = self._identities(task, keys, settings)
        # One claim per model and probe set: a concurrent run waits here, then finds the work done.
        with self.store.claim(f"activations/{self.probe_id}/{task.model_id}") as held:
            layers = _layers_to_write(self.store, self.probe_id, task, identities[EntryKind.ACTIVATIONS],
                                      identities[EntryKind.RANKS])
            errors = self._write_layers(task, layers, keys, identities, held) if layers else {}
        return [ModelOutcome(task.model_id, layer, errors.get(layer)) for layer in task.layers]

    def _identities(self, task: ExtractionTask, keys: Mapping[str, EntryKey],
                    settings: ComputeSettings) -> dict[object, dict[str, EntryIdentity]]:
        """Kind (or ``POOLED``) → layer → the identity of its activations, RDM, rank vector or pooled features."""
        wanted: dict[object, tuple[EntryKind, ComputeSettings]] = {
            kind: (kind, settings) for kind in (EntryKind.ACTIVATIONS, EntryKind.RDMS, EntryKind.RANKS)}
        wanted[POOLED] = (EntryKind.ACTIVATIONS, dataclasses.replace(settings, reduce=POOLED_REDUCTION))
        found = {}
        for name, (kind, kind_settings) in wanted.items():
            expected = self.store.expected_identities(self.probe_id, [task.model_id], task.layers, kind, kind_settings)
            found[name] = {layer: expected[keys[layer]] for layer in task.layers}
        return found

    def _layer_specs(self, entry: ModelEntry, layers: Sequence[str]) -> list:
        """Each role's read (the model's own module for it, under the role's name) and its pooled read."""
        specs = [dataclasses.replace(entry.layer(role), role=role) for role in layers]
        if self.options.reduce is not None:
            specs = [dataclasses.replace(spec, reduce=self.options.reduce) for spec in specs]
        # Each role's pooled features, from the same hook: stored for a wide role, and for every role whose RDM
        # the actor computes (cluster.device_extract).
        return specs + [dataclasses.replace(spec, role=pooled_features_key(spec.role), reduce=POOLED_REDUCTION)
                        for spec in specs]

    def _write_layers(self, task: ExtractionTask, layers: tuple[str, ...], keys: Mapping[str, EntryKey],
                      identities: Mapping[object, Mapping[str, EntryIdentity]], held: Lock) -> dict[str, str]:
        """Runs the model and stores what ``layers`` need; returns the error of each layer that failed alone."""
        from rsa_ray.models import InferenceOptions, build_model, extract_layer_features

        model_id = task.model_id
        source = self._source(model_id)
        specs = self._layer_specs(source.entry, layers)
        if self._built is None or self._built[0] != model_id:
            self._built = (model_id, build_model(source.entry, weights_path=source.weights_path,
                                                 allow_torchscript=self.allow_torchscript))
        model = self._built[1]
        inference = InferenceOptions(device=self.device, dtype=self.options.dtype, batch_size=self.options.batch_size)
        n_images, batch_size = self.images.shape[0], self.options.batch_size

        def run_batch(start: int) -> dict[str, np.ndarray]:
            stop = min(start + batch_size, n_images)
            features = extract_layer_features(model, self.images[start:stop], specs, source.entry.preprocessing,
                                              inference)
            for layer, rows in features.items():
                check_finite(rows, layer.split(chr(0))[0], start, stop)
            return features

        first = {0: run_batch(0)}  # its widths say which layers are too wide to store
        wide = {layer: open_column_blocks(n_images, first[0][layer].shape[1])
                for layer in layers if is_wide(n_images, first[0][layer].shape[1], self.options.wide_layer_mb)}
        try:
            pending = (list(range(0, n_images, batch_size)) if wide else
                       _pending_batches(self.store, self.probe_id, model_id, layers, n_images, batch_size,
                                        identities[EntryKind.ACTIVATIONS]))
            created: set[str] = set()
            batches = BatchProgress("extraction", model_id, total=len(pending))  # lines forwarded to the driver
            if 0 not in pending:
                first.clear()
            for start in pending:
                # One batch's outputs held at a time: the last batch's are let go before the next forward pass.
                features = first.pop(start, None) or run_batch(start)
                for layer in layers:
                    if layer in wide:
                        self._keep_wide_rows(wide[layer], keys[layer], start, features, identities, created, held)
                    else:
                        self._write_rows(keys[layer], start, features[layer], identities, created, held)
                features = None
                batches.advance()
            for layer in layers:
                held.check()
                if layer in wide:
                    self._store_wide_rdm(task, keys[layer], wide[layer], identities, held)
                else:
                    self.store.finalize(keys[layer], EntryKind.ACTIVATIONS)
        finally:
            for blocks in wide.values():
                blocks.close()
        self.store.record_work("extract", None, probe_id=self.probe_id, model_id=model_id, layers=list(layers),
                               batches=len(pending), wide_layers=sorted(wide), reused_model=self.reused_model)
        return {}

    def _write_rows(self, key: EntryKey, start: int, rows: np.ndarray,
                    identities: Mapping[object, Mapping[str, EntryIdentity]], created: set[str], held: Lock,
                    identity: EntryIdentity | None = None) -> None:
        """Writes one batch's rows of an activations entry, creating it on its first batch."""
        if key.stored_layer not in created:
            self.store.create_activations(
                key, rows.shape[1], self.options.activation_dtype, rows_per_chunk=self.options.batch_size,
                identity=identity or identities[EntryKind.ACTIVATIONS][key.layer],
            )
            created.add(key.stored_layer)
        layout = self.store.layout(key, EntryKind.ACTIVATIONS)
        if any(chunk_start == start for chunk_start, _ in layout.pending):
            held.check()  # a run that took the claim over owns these chunks now
            self.store.write_activation_rows(key, start, rows.astype(self.options.activation_dtype, copy=False))

    def _keep_wide_rows(self, blocks: ColumnBlockFile, key: EntryKey, start: int, features: Mapping[str, np.ndarray],
                        identities: Mapping[object, Mapping[str, EntryIdentity]], created: set[str],
                        held: Lock) -> None:
        """Keeps a wide layer's batch for its RDM, and stores its pooled features."""
        # Through the stored dtype, so the RDM is the one the stored activations would give (block by block:
        # the batch is not copied whole).
        blocks.write_rows(start, features[key.layer], through_dtype=self.options.activation_dtype)
        self._write_rows(key.pooled_features(), start, features[pooled_features_key(key.layer)], identities, created, held,
                         identity=identities[POOLED][key.layer])

    def _store_wide_rdm(self, task: ExtractionTask, key: EntryKey, blocks: ColumnBlockFile,
                        identities: Mapping[object, Mapping[str, EntryIdentity]], held: Lock) -> None:
        """Computes a wide layer's RDM from its kept batches; stores it, its rank vector and its pooled features."""
        from rsa_ray.ranks import standardized_ranks

        self.store.finalize(key.pooled_features(), EntryKind.ACTIVATIONS)
        condensed_rdm = wide_layer_rdm(blocks, task.distance, task.center_features, name=key.model_id)
        rank_vector = standardized_ranks(condensed_rdm, names=[key.model_id], workers=1)[0]
        store_rdm_and_ranks(self.store, key, condensed_rdm, rank_vector, task.distance, task.center_features,
                            layer_identities(identities, key.layer), held=[held], wide_layer=True)


def check_finite(rows: np.ndarray, layer: str, start: int, stop: int) -> None:
    """Refuses a batch whose rows hold NaN or Inf, without a mask the batch's size (its min and max say it).

    Example:
        >>> check_finite(np.array([[1.0, np.inf]]), "layer1", 0, 1)
        Traceback (most recent call last):
        ...
        ValueError: layer 'layer1' gave NaN or Inf activations for images 0..0
    """
    if rows.size and not (np.isfinite(rows.min()) and np.isfinite(rows.max())):  # NaN propagates through both
        raise ValueError(f"layer {layer!r} gave NaN or Inf activations for images {start}..{stop - 1}")


def layer_identities(identities: Mapping[object, Mapping[str, EntryIdentity]], layer: str) -> dict[EntryKind, EntryIdentity]:
    """The expected identities of one layer's RDM and rank vector, from the actor's kind → layer → identity map."""
    return {kind: identities[kind][layer] for kind in (EntryKind.RDMS, EntryKind.RANKS)}
