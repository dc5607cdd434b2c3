"""The scale benchmark's zoo: the example zoo's pretrained nets and seeded random torchvision nets.

Every model is read at one role, ``output`` (a pooled or small late layer), so one taxonomy
compares them all. ImageNet-style nets take 64 px inputs (stated in the benchmark's output);
the MTCNN nets keep their own sides (48 / 24 px).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

SIDE = 64
# (torchvision name, module read as the ``output`` role, reduction); each built from its seed wherever it runs.
RANDOM_ARCHITECTURES: tuple[tuple[str, str, str], ...] = (
    ("resnet18", "avgpool", "flatten"),
    ("mobilenet_v3_small", "avgpool", "flatten"),
    ("squeezenet1_1", "features.12", "avg"),
    ("shufflenet_v2_x0_5", "conv5", "avg"),
    ("mnasnet0_5", "layers", "avg"),
    ("efficientnet_b0", "avgpool", "flatten"),
    ("regnet_x_400mf", "avgpool", "flatten"),
    ("mobilenet_v2", "features.18", "avg"),
    ("resnet34", "avgpool", "flatten"),
)


def _imagenet_at(side: int):
    from rsa_ray.model_entry.specs import PreprocessingSpec

    return PreprocessingSpec(resize=side, crop=side, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))


def _random_entry(index: int, seed: int):
    from rsa_ray.model_entry.specs import ArchitectureSpec, ModelEntry

    name, module, reduce = RANDOM_ARCHITECTURES[index % len(RANDOM_ARCHITECTURES)]
    return ModelEntry(model_id=f"{name}-seed{seed}", source="torchvision", architecture=ArchitectureSpec(name),
                      weights=None, layers=("output",), default_layer="output", modules={"output": module},
                      reductions=(("output", reduce),), preprocessing=_imagenet_at(SIDE),
                      task="random-init", task_type="other", seed=seed)


def _pretrained_entries(folder: Path):
    """The example zoo's real pretrained nets, each read at its ``output`` role (mobilenet at 64 px)."""
    from rsa_ray.models.real_zoo import write_example_zoo

    entries = []
    for entry in write_example_zoo(folder, random_seeds=()).models:
        layers = {"output": entry.layer("output").module}
        reductions = (("output", "avg"),) if not entry.model_id.startswith("mobilenet") else ()
        preprocessing = _imagenet_at(SIDE) if entry.model_id.startswith("mobilenet") else entry.preprocessing
        entries.append(dataclasses.replace(entry, layers=("output",), modules=layers, reductions=reductions,
                                           preprocessing=preprocessing))
    return entries


def write_scale_zoo(folder: Path, n_models: int, n_new: int) -> tuple[Path, Path, list, list]:
    """Writes ``manifest.yaml`` (N models) under ``folder`` and ``landing/new.yaml`` (n_new more).

    Returns:
        (manifest path, landing folder, the N entries, the new entries).

    Example:
        >>> write_scale_zoo(Path("zoo"), 24, 10)[2][0].model_id  # doctest: +SKIP
        'mobilenet_v2-imagenet'
    """
    from rsa_ray.models.manifest import ZooManifest, write_manifest

    folder.mkdir(parents=True, exist_ok=True)
    pretrained = _pretrained_entries(folder)[:n_models]
    entries = pretrained + [_random_entry(i, seed=i) for i in range(n_models - len(pretrained))]
    new = [_random_entry(i, seed=100_000 + i) for i in range(n_new)]
    write_manifest(ZooManifest(tuple(entries)), folder / "manifest.yaml")
    landing = folder / "landing"
    landing.mkdir(exist_ok=True)
    return folder / "manifest.yaml", landing, entries, new


def land_new_models(folder: Path, landing: Path, new: list) -> None:
    """Writes the new models' manifest into the watched folder in one rename (never half a file)."""
    from rsa_ray.models.manifest import ZooManifest, write_manifest

    staging = folder / "new.yaml"
    write_manifest(ZooManifest(tuple(new)), staging)
    staging.replace(landing / "new.yaml")


def probe_images(n_images: int, seed: int = 0) -> np.ndarray:
    """Seeded random-texture RGB images [M, SIDE, SIDE, 3] (smooth blobs, so layers differ)."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 255, size=(n_images, 8, 8, 3)).astype(np.uint8)
    return np.repeat(np.repeat(coarse, SIDE // 8, axis=1), SIDE // 8, axis=2)


def labelled_target(n_images: int, n_classes: int = 4, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """A labelled target: each class a mean colour plus noise, so the labels are learnable."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n_images) % n_classes
    colours = rng.integers(30, 225, size=(n_classes, 3))
    noise = rng.normal(0, 30, size=(n_images, SIDE, SIDE, 3))
    images = np.clip(colours[labels][:, None, None, :] + noise, 0, 255).astype(np.uint8)
    return images, labels
