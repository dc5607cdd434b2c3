"""Batched inference: feature extraction (preprocess, run under ``torch.inference_mode``, read layers,
reduce each to one vector per image) and the one batched forward pass over already-preprocessed inputs (:func:`forward_batches`).

>>> import numpy as np
>>> from rsa_ray.models.encoder_decoder import build_encoder_decoder
>>> model = build_encoder_decoder(1).eval()
>>> images = np.zeros((3, 64, 64, 3), np.uint8)
>>> features = extract_features(model, images, ["encoder.output"], PreprocessingSpec())
>>> features["encoder.output"].shape
(3, 128)
"""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch
from torch import nn

from rsa_ray.models.entry import LayerSpec
from rsa_ray.models.layers import ForwardStopped, capture_layers, resolve_layers
from rsa_ray.models.preprocessing import PreprocessingSpec, preprocess_images
from rsa_ray.models.reductions import reduce_activation
from rsa_ray.names import forward_dtype


class ComputeDtype(str, enum.Enum):
    """Numeric type of the forward pass: strict float32, float32 with TF32 matmuls and convolutions
    (CUDA only; on the CPU the same as float32), or bf16 / fp16 autocast.

    The values are the ``forward_dtype`` names entry identities record (:data:`rsa_ray.names.PRECISIONS`).
    """

    FLOAT32 = "float32"
    TF32 = "tf32"
    BFLOAT16 = "bfloat16"
    FLOAT16 = "float16"


T = TypeVar("T")

_AUTOCAST_DTYPES = {ComputeDtype.BFLOAT16: torch.bfloat16, ComputeDtype.FLOAT16: torch.float16}


@dataclass(frozen=True)
class InferenceOptions:
    """How to run a model over probe images.

    Attributes:
        device: Torch device string (``"cpu"``, ``"cuda"``, ``"cuda:1"``).
        dtype: ``float32``, ``tf32`` or an autocast type (``bfloat16``, ``float16``); the flag names
            ``fp32``, ``bf16``, ``fp16`` are accepted too.
        batch_size: Images per forward pass.

    Example:
        >>> InferenceOptions(dtype="bfloat16").dtype, InferenceOptions(dtype="bf16").dtype
        (<ComputeDtype.BFLOAT16: 'bfloat16'>, <ComputeDtype.BFLOAT16: 'bfloat16'>)
    """

    device: str = "cpu"
    dtype: ComputeDtype = ComputeDtype.FLOAT32
    batch_size: int = 64

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "dtype", ComputeDtype(forward_dtype(getattr(self.dtype, "value", self.dtype))))
        except ValueError:
            raise ValueError(f"dtype must be one of {[d.value for d in ComputeDtype]}, got {self.dtype!r}") from None
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        torch.device(self.device)  # raises on a malformed device string


def _autocast(device: torch.device, dtype: ComputeDtype):
    if dtype not in _AUTOCAST_DTYPES:
        return torch.autocast(device_type=device.type, enabled=False)
    return torch.autocast(device_type=device.type, dtype=_AUTOCAST_DTYPES[dtype])


@contextlib.contextmanager
def forward_precision(device: str | torch.device, dtype: ComputeDtype | str) -> Iterator[None]:
    """Runs the block's forward passes at ``dtype`` on ``device``, restoring torch's settings after.

    On CUDA, TF32 matmuls and convolutions are allowed for ``tf32`` only and switched off otherwise
    (torch's own default allows them in cuDNN convolutions, so strict ``float32`` must turn them off);
    ``bfloat16`` / ``float16`` run under autocast. On the CPU ``tf32`` is ``float32``: TF32 exists
    only on CUDA.

    Args:
        device: Where the forward passes run.
        dtype: A :class:`ComputeDtype` or its name (or a flag name such as ``bf16``).

    Example:
        >>> with forward_precision("cpu", "bf16"):
        ...     torch.ones(2, 2) @ torch.ones(2, 2)
        tensor([[2., 2.],
                [2., 2.]], dtype=torch.bfloat16)
    """
    device = torch.device(device)
    dtype = InferenceOptions(dtype=dtype).dtype
    saved = None
    if device.type == "cuda":
        saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
        allowed = dtype is ComputeDtype.TF32
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = allowed
    try:
        with _autocast(device, dtype):
            yield
    finally:
        if saved is not None:
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


@contextlib.contextmanager
def reading_layers(
    model: nn.Module, layers: Sequence[LayerSpec], options: InferenceOptions = InferenceOptions()
) -> Iterator[Callable[[torch.Tensor], dict[str, torch.Tensor]]]:
    """A function that runs one preprocessed batch and returns each role's reduced output, where it was computed.

    The model is put in eval mode (it must already be on ``options.device``, as the batches must);
    roles that read one module share its hook, and each pass stops once every asked-for module
    has run. The function runs under ``torch.inference_mode`` at ``options.dtype``
    (:func:`forward_precision`) and returns float32 tensors ``[batch, D]`` on the model's device,
    so a caller can keep them there (the RDM computed where the activations are).

    Args:
        model: The model.
        layers: The roles to read, each with its module and reduction.
        options: The device and dtype (``batch_size`` is the caller's).

    Yields:
        ``read(batch) -> {role: tensor}``.

    Raises:
        LayerNotFoundError: If a module is missing (nearest names listed).

    Example:
        >>> from rsa_ray.models.encoder_decoder import build_encoder_decoder
        >>> with reading_layers(build_encoder_decoder(1), [LayerSpec("out", "encoder.output")]) as read:
        ...     read(torch.zeros(2, 3, 64, 64))["out"].shape
        torch.Size([2, 128])
    """
    modules = list(dict.fromkeys(spec.module for spec in layers))
    resolve_layers(model, modules)  # fail before any work
    model.eval()
    device = torch.device(options.device)
    # The pass stops once every asked-for module has run: early layers never pay for the later ones.
    with capture_layers(model, modules, stop_early=True) as captured:

        def read(batch: torch.Tensor) -> dict[str, torch.Tensor]:
            with torch.inference_mode():
                with forward_precision(device, options.dtype), contextlib.suppress(ForwardStopped):
                    model(batch)
                return {spec.role: reduce_activation(captured[spec.module], spec.reduce).float() for spec in layers}

        yield read


def extract_features(
    model: nn.Module,
    images: np.ndarray,
    layers: Sequence[str],
    preprocessing: PreprocessingSpec,
    options: InferenceOptions = InferenceOptions(),
) -> dict[str, np.ndarray]:
    """Outputs of several layers for every image, in one forward pass per batch.

    Args:
        model: The model (switched to eval mode and moved to ``options.device``).
        images: uint8 RGB images [M, H, W, 3].
        layers: Module names to read.
        preprocessing: The model's input spec.
        options: Device, dtype and batch size.

    Returns:
        Layer name → float32 array [M, D] (each image's output flattened).

    Raises:
        LayerNotFoundError: If a layer is missing (nearest names listed).
        ValueError: On malformed images or options.
    """
    features = extract_layer_features(model, images, [LayerSpec(name, name) for name in layers], preprocessing, options)
    return {name: features[name] for name in layers}


def extract_layer_features(
    model: nn.Module,
    images: np.ndarray,
    layers: Sequence[LayerSpec],
    preprocessing: PreprocessingSpec,
    options: InferenceOptions = InferenceOptions(),
) -> dict[str, np.ndarray]:
    """Each role's reduced output for every image, in one forward pass per batch.

    Roles that read the same module share its hook; each batch's output is reduced
    (:func:`rsa_ray.models.reductions.reduce_activation`) before the next batch runs, so a wide
    layer with a pooled reduction is never held whole.

    Args:
        model: The model (switched to eval mode and moved to ``options.device``).
        images: uint8 RGB images [M, H, W, 3].
        layers: The roles to read, each with its module and reduction.
        preprocessing: The model's input spec.
        options: Device, dtype and batch size.

    Returns:
        Role → float32 array [M, D].

    Raises:
        LayerNotFoundError: If a module is missing (nearest names listed).
        ValueError: On malformed images or options, or a reduction that does not fit a module's output.

    Example:
        >>> from rsa_ray.models.encoder_decoder import build_encoder_decoder
        >>> model = build_encoder_decoder(1)
        >>> features = extract_layer_features(model, np.zeros((2, 64, 64, 3), np.uint8),
        ...     [LayerSpec("mid", "encoder.block2", "avg"), LayerSpec("out", "encoder.output")], PreprocessingSpec())
        >>> features["mid"].shape, features["out"].shape
        ((2, 32), (2, 128))
    """
    resolve_layers(model, list(dict.fromkeys(spec.module for spec in layers)))  # fail before any work
    device = torch.device(options.device)
    model = model.eval().to(device)
    chunks: dict[str, list[np.ndarray]] = {spec.role: [] for spec in layers}
    with reading_layers(model, layers, options) as read:
        for start in range(0, len(images), options.batch_size):
            batch = preprocess_images(images[start : start + options.batch_size], preprocessing).to(device)
            for role, rows in read(batch).items():
                chunks[role].append(rows.cpu().numpy())
    # One batch is returned as it is, not copied (a wide layer's batch is hundreds of MB).
    return {role: parts[0] if len(parts) == 1 else np.concatenate(parts) for role, parts in chunks.items()}


def forward_batches(
    model: nn.Module,
    inputs: torch.Tensor | np.ndarray,
    batch_size: int,
    on_outputs: Callable[[torch.Tensor, slice], T],
    device: str | torch.device | None = None,
) -> list[T]:
    """The batched forward pass under ``torch.inference_mode``: ``on_outputs(outputs, rows)`` per batch.

    Args:
        model: The model, in whatever mode the caller set.
        inputs: Already-preprocessed inputs; a numpy array is turned into float32 one batch at a time
            (a whole split is never copied at once).
        batch_size: Inputs per forward pass.
        on_outputs: Called with each batch's outputs and the rows of ``inputs`` they belong to,
            still under inference mode.
        device: Where each batch is moved before the forward pass (None: left where it is).

    Returns:
        What ``on_outputs`` returned for each batch, in order.

    Example:
        >>> forward_batches(torch.nn.Identity(), torch.arange(5.0), 2, lambda outputs, rows: float(outputs.sum()))
        [1.0, 5.0, 4.0]
    """
    results = []
    with torch.inference_mode():
        for start in range(0, len(inputs), batch_size):
            rows = slice(start, start + batch_size)
            batch = inputs[rows]
            if isinstance(batch, np.ndarray):
                batch = torch.from_numpy(np.array(batch, dtype=np.float32))
            if device is not None:
                batch = batch.to(device)
            results.append(on_outputs(model(batch), rows))
    return results


def predict(model: nn.Module, inputs: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
    """The model's final outputs for already-preprocessed inputs, batched, under inference mode.

    Example:
        >>> predict(torch.nn.Identity(), torch.ones(3, 2)).shape
        torch.Size([3, 2])
    """
    return torch.cat(forward_batches(model, inputs, batch_size, lambda outputs, _rows: outputs))
