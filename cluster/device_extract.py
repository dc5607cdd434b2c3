"""Encoder actors that keep activations on their device: each layer's RDM is computed where the activations are.

The actor :func:`cluster.extract.extract_all` starts where the actors have GPUs (or where
``ExtractionOptions.rdms_on_actor`` forces it, e.g. on CPU torch in tests). For each model:

* its weights were read into host memory (sha256-checked) in the background thread while the
  previous model ran, and are copied into the actor's resident module of that architecture
  (:class:`rsa_ray.models.resident.ResidentModels`): no module is built or moved per model;
* the probe batches, preprocessed once per preprocessing spec and kept in pinned host memory on
  CUDA (:class:`rsa_ray.models.resident.ProbeBatches`), go through it; each layer's reduced batch
  is kept on the device, through the stored activation dtype (so the values are those stored
  activations would hold);
* after the last batch, each layer's condensed RDM (float64) and standardised rank vector are
  computed there with the torch backend (:func:`rsa_ray.backends.rdm_and_rank_vector`) and stored
  under the claim, identities and work-log records the RDM stage gives them, so the planner and
  every later stage see exactly what the RDM stage would have written;
* the layer's average-pooled features are stored as layer ``{role}.pooled`` (what label-based
  scores read, as for wide layers), and its full activations only with ``keep_activations``.

A layer too wide to keep (``wide_layer_mb``) goes through the column-block file as on any actor
(:mod:`cluster.wide_layers`). What one actor holds on its device per model: the module, one batch
of every hooked module's output, and each narrow layer's M × D activations (below ``wide_layer_mb``
each), plus the float64 copy the RDM is computed from; and, for each probe set of the stage (the
shared one and a command's targets'), its images and one preprocessing spec's batches.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cluster.encoder import POOLED, EncoderActor, LoadedModelSource, ModelResolver, layer_identities
from cluster.options import ExtractionOptions
from cluster.plan import ExtractionTask
from cluster.progress import BatchProgress
from cluster.rdm_writer import store_rdm_and_ranks
from cluster.wide_layers import ColumnBlockFile, is_wide, open_column_blocks, pooled_features_key
from rsa_ray.backends.select import BackendChoice
from rsa_ray.errors import DegenerateInputError
from storage import EntryKey, EntryKind, Lock, Store
from storage.identity import EntryIdentity

if TYPE_CHECKING:
    import torch

_Identities = Mapping[object, Mapping[str, EntryIdentity]]


@dataclass(frozen=True)
class PreparedModel:
    """A model made ready ahead of its turn: where its weights are, and the weights themselves in host memory.

    Attributes:
        source: The registry entry and the local weights file.
        state_dict: The weights as a CPU state dict, or None for a model that has none (TorchScript, or a
            library model initialised from its seed).
    """

    source: LoadedModelSource
    state_dict: dict[str, Any] | None


class DeviceEncoderActor(EncoderActor):
    """An encoder actor that stores each layer's RDM and rank vector, computed on its device.

    Example:
        >>> actor = ray.remote(num_gpus=1)(DeviceEncoderActor).remote(store, resolver, ExtractionOptions())  # doctest: +SKIP
    """

    def __init__(self, store: Store, resolver: ModelResolver, options: ExtractionOptions):
        super().__init__(store, resolver, options)
        from rsa_ray.models.resident import ResidentModels

        self.resident = ResidentModels(self.device)
        self.batches = None  # the current probe set's batches (:meth:`_use_probe`)
        self._probe_batches: dict = {}
        self.backend = BackendChoice("torch", self.device)

    def _use_probe(self, probe_id: str) -> None:
        """Makes ``probe_id`` current, with its batches (made on its first call, then kept with its images)."""
        from rsa_ray.models.resident import ProbeBatches

        super()._use_probe(probe_id)
        if probe_id not in self._probe_batches:
            self._probe_batches[probe_id] = ProbeBatches(self.images, self.options.batch_size, self.device)
        self.batches = self._probe_batches[probe_id]

    def _prepare(self, model_id: str) -> PreparedModel:
        """Fetches the model's weights and reads them into host memory (run in the background thread)."""
        from rsa_ray.models import ModelSource
        from rsa_ray.models.builders import read_weights

        source = self.resolver(model_id)
        if source.entry.source is ModelSource.TORCHSCRIPT:
            return PreparedModel(source, None)
        return PreparedModel(source, read_weights(source.entry, source.weights_path))

    def _write_layers(self, task: ExtractionTask, layers: tuple[str, ...], keys: Mapping[str, EntryKey],
                      identities: _Identities, held: Lock) -> dict[str, str]:
        import torch

        from rsa_ray.models import InferenceOptions
        from rsa_ray.models.inference import reading_layers

        prepared = self._source(task.model_id)
        entry = prepared.source.entry
        specs = self._layer_specs(entry, layers)
        model = self.resident.module_for(entry, prepared.state_dict, prepared.source.weights_path,
                                         self.allow_torchscript)
        inference = InferenceOptions(device=self.device, dtype=self.options.dtype, batch_size=self.options.batch_size)
        kept: dict[str, torch.Tensor] = {}
        wide: dict[str, ColumnBlockFile] = {}
        created: set[str] = set()
        errors: dict[str, str] = {}
        try:
            with torch.inference_mode(), reading_layers(model, specs, inference) as read:
                progress = BatchProgress("extraction", task.model_id, total=len(self.batches.starts()))
                for start, batch in zip(self.batches.starts(), self.batches.on_device(entry.preprocessing)):
                    features = _checked(read(batch), start)
                    if start == 0:  # the first batch's widths say which layers are too wide to keep
                        wide = {layer: open_column_blocks(self.batches.n_images, features[layer].shape[1])
                                for layer in layers
                                if is_wide(self.batches.n_images, features[layer].shape[1], self.options.wide_layer_mb)}
                    for layer in layers:
                        if layer in wide:
                            host = {name: features[name].cpu().numpy() for name in (layer, pooled_features_key(layer))}
                            self._keep_wide_rows(wide[layer], keys[layer], start, host, identities, created, held)
                        else:
                            self._keep_rows(keys[layer], start, features, kept, identities, created, held)
                    progress.advance()
                for layer in layers:
                    held.check()
                    if layer in wide:
                        self._store_wide_rdm(task, keys[layer], wide[layer], identities, held)
                    else:
                        errors.update(self._store_device_rdm(task, keys[layer], kept.pop(layer), identities, held))
        finally:
            for blocks in wide.values():
                blocks.close()
        self.store.record_work("extract", None, probe_id=self.probe_id, model_id=task.model_id, layers=list(layers),
                               batches=len(self.batches.starts()), wide_layers=sorted(wide),
                               reused_model=self.reused_model)
        return errors

    def _keep_rows(self, key: EntryKey, start: int, features: Mapping[str, torch.Tensor],
                   kept: dict[str, torch.Tensor], identities: _Identities, created: set[str], held: Lock) -> None:
        """Keeps one batch of a layer on the device; stores its pooled rows (and its rows, if asked)."""
        import torch

        # Through the stored dtype, so the RDM is the one the stored activations would give.
        rows = features[key.layer].to(getattr(torch, self.options.activation_dtype))
        if key.layer not in kept:
            kept[key.layer] = torch.empty((self.batches.n_images, rows.shape[1]), dtype=rows.dtype, device=rows.device)
        kept[key.layer][start:start + rows.shape[0]] = rows
        self._write_rows(key.pooled_features(), start, features[pooled_features_key(key.layer)].cpu().numpy(), identities,
                         created, held, identity=identities[POOLED][key.layer])
        if self.options.keep_activations:
            self._write_rows(key, start, rows.cpu().numpy(), identities, created, held)

    def _store_device_rdm(self, task: ExtractionTask, key: EntryKey, features: torch.Tensor,
                          identities: _Identities, held: Lock) -> dict[str, str]:
        """Stores a layer's RDM and rank vector computed on the device, as the RDM stage would; {layer: error} or {}."""
        from rsa_ray.backends.dispatch import rdm_and_rank_vector

        self.store.finalize(key.pooled_features(), EntryKind.ACTIVATIONS)
        if self.options.keep_activations:
            self.store.finalize(key, EntryKind.ACTIVATIONS)
        try:
            condensed_rdm, rank_vector = rdm_and_rank_vector(features, task.distance, task.center_features,
                                                             name=key.model_id, backend=self.backend)
        except DegenerateInputError as error:  # as the RDM stage reports it: this layer fails, the others go on
            return {key.layer: f"{type(error).__name__}: {error}"}
        # Under the RDM stage's claim on this entry; nothing is written when a concurrent run stored it meanwhile.
        store_rdm_and_ranks(self.store, key, condensed_rdm, rank_vector, task.distance, task.center_features,
                            layer_identities(identities, key.layer), held=[held])
        return {}


def _checked(features: Mapping[str, torch.Tensor], start: int) -> Mapping[str, torch.Tensor]:
    """``features``, after checking that no role's rows hold NaN or Inf (as the stored path checks them)."""
    import torch

    for layer, rows in features.items():
        if not bool(torch.isfinite(rows).all()):
            raise ValueError(f"layer {layer.split(chr(0))[0]!r} gave NaN or Inf activations for images "
                             f"{start}..{start + rows.shape[0] - 1}")
    return features
