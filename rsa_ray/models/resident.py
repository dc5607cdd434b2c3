"""What an encoder keeps on its device across models: one module per architecture, and the probe batches.

Building a module and moving it to a GPU costs more than running a small model; a zoo of one
architecture needs that only once. :class:`ResidentModels` keeps one module per architecture on the
device and copies each new model's weights into it (:func:`rsa_ray.models.builders.load_weights_into`,
every key checked), so the next model needs no allocation on the device. A model whose weights do not
come as a state dict (TorchScript, or a library model initialised from its seed) is built afresh.

:class:`ProbeBatches` preprocesses the probe images once per preprocessing spec, in the batches the
forward passes use (so the values are those per-batch preprocessing gives), and keeps them in
pinned host memory where the device is CUDA, so each batch is copied to the device asynchronously.

>>> from rsa_ray.models.manifest import example_entry
>>> models = ResidentModels("cpu")
>>> entry = example_entry()
>>> weights = build_untrained(entry).state_dict()
>>> models.module_for(entry, weights) is models.module_for(entry, weights)
True
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

from rsa_ray.models.builders import build_model, build_untrained, load_weights_into
from rsa_ray.models.entry import ModelEntry, ModelSource
from rsa_ray.models.preprocessing import PreprocessingSpec, preprocess_images

# Architectures one encoder keeps on its device at once; the least recently used goes first.
RESIDENT_ARCHITECTURES = 8


class ResidentModels:
    """One module per architecture on one device, reused for every model of that architecture.

    Args:
        device: Where the modules live (``"cpu"``, ``"cuda"``, ``"cuda:1"``).
        capacity: Architectures kept at once (least recently used dropped first).

    Example:
        >>> ResidentModels("cpu").device
        device(type='cpu')
    """

    def __init__(self, device: str | torch.device, capacity: int = RESIDENT_ARCHITECTURES):
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.device = torch.device(device)
        self.capacity = capacity
        self._modules: OrderedDict[tuple, nn.Module] = OrderedDict()

    def module_for(self, entry: ModelEntry, state_dict: dict[str, torch.Tensor] | None,
                   weights_path: str | os.PathLike | None = None, allow_torchscript: bool = False) -> nn.Module:
        """The entry's model on the device, in eval mode, holding ``state_dict``.

        Args:
            entry: The registry entry.
            state_dict: Its weights in host memory (:func:`rsa_ray.models.builders.read_weights`), or None
                for a model without a state dict (then built with :func:`rsa_ray.models.build_model`).
            weights_path: The local weights file, for a model built afresh (TorchScript).
            allow_torchscript: As :func:`rsa_ray.models.build_model`.

        Returns:
            The module: the resident one of the entry's architecture, its weights replaced.

        Raises:
            ValueError: The weights do not fit the architecture (the resident module is then not used
                before another model's weights replace every value).

        Example:
            >>> from rsa_ray.models.manifest import example_entry
            >>> entry = example_entry()
            >>> ResidentModels("cpu").module_for(entry, build_untrained(entry).state_dict()).training
            False
        """
        if state_dict is None or entry.source is ModelSource.TORCHSCRIPT:
            return build_model(entry, weights_path=weights_path, allow_torchscript=allow_torchscript).to(self.device)
        key = (entry.source, entry.architecture)
        module = self._modules.pop(key, None)
        if module is None:
            module = build_untrained(entry).to(self.device).eval()
            while len(self._modules) >= self.capacity:
                self._modules.popitem(last=False)
        self._modules[key] = module  # most recently used last
        load_weights_into(module, state_dict, entry.model_id)
        return module.eval()


class ProbeBatches:
    """The probe images preprocessed for one spec at a time, in forward-pass batches, ready for the device.

    Args:
        images: uint8 RGB probe images ``[M, H, W, 3]``.
        batch_size: Images per batch (the last may be smaller).
        device: Where the batches go; on CUDA they are kept in pinned host memory and copied
            asynchronously. One spec's batches are held at a time: M × 3 × h × w × 4 bytes (301 MB for
            500 images at 224 px).

    Example:
        >>> batches = ProbeBatches(np.zeros((5, 8, 8, 3), np.uint8), 2, "cpu")
        >>> [tuple(batch.shape) for batch in batches.on_device(PreprocessingSpec())]
        [(2, 3, 8, 8), (2, 3, 8, 8), (1, 3, 8, 8)]
    """

    def __init__(self, images: np.ndarray, batch_size: int, device: str | torch.device):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.images, self.batch_size, self.device = images, batch_size, torch.device(device)
        self._spec: PreprocessingSpec | None = None
        self._host: list[torch.Tensor] = []

    @property
    def n_images(self) -> int:
        """How many probe images there are."""
        return int(self.images.shape[0])

    def starts(self) -> range:
        """The first row of each batch.

        Example:
            >>> list(ProbeBatches(np.zeros((5, 8, 8, 3), np.uint8), 2, "cpu").starts())
            [0, 2, 4]
        """
        return range(0, self.n_images, self.batch_size)

    def _host_batches(self, spec: PreprocessingSpec) -> list[torch.Tensor]:
        if spec != self._spec:  # one spec kept: a zoo's models mostly share theirs
            self._host, self._spec = [], None
            pin = self.device.type == "cuda"
            for start in self.starts():
                batch = preprocess_images(self.images[start:start + self.batch_size], spec)
                self._host.append(batch.pin_memory() if pin else batch)
            self._spec = spec
        return self._host

    def on_device(self, spec: PreprocessingSpec) -> Iterator[torch.Tensor]:
        """Each batch, preprocessed for ``spec``, on the device, in order.

        The copy of the next batch is queued before the current one is handed out; from pinned
        memory on CUDA it does not block the host, which goes on queueing the forward pass.

        Example:
            >>> batches = ProbeBatches(np.full((1, 4, 4, 3), 255, np.uint8), 1, "cpu")
            >>> [float(batch.max()) for batch in batches.on_device(PreprocessingSpec())]
            [1.0]
        """
        non_blocking = self.device.type == "cuda"
        host = self._host_batches(spec)
        upcoming = host[0].to(self.device, non_blocking=non_blocking) if host else None
        for index in range(len(host)):
            current = upcoming
            if index + 1 < len(host):
                upcoming = host[index + 1].to(self.device, non_blocking=non_blocking)
            yield current
