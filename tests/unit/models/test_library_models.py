"""torchvision and timm models for real: built through manifest entries, seeded, reloaded from safetensors.

Each architecture is built twice from the same seed (the same network), once from another seed (a
different one), saved as safetensors and built again from the file through a manifest entry: the
reloaded model's outputs, and the outputs of the entry's layer, equal the in-memory model's.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
from safetensors.torch import save_file

from rsa_ray.models import build_model, capture_layers, sha256_of_file
from storage import parse_manifest

pytest.importorskip("torchvision")
pytest.importorskip("timm")


@dataclass(frozen=True)
class LibraryModel:
    """One real architecture: its source, name, a layer to read and the input side it is tried at."""

    source: str
    name: str
    layer: str
    side: int


LIBRARY_MODELS = (
    LibraryModel("torchvision", "resnet50", "layer4", 64),
    LibraryModel("torchvision", "mobilenet_v2", "features.18", 64),
    LibraryModel("torchvision", "efficientnet_b0", "features.8", 64),
    LibraryModel("torchvision", "vit_b_16", "encoder.ln", 224),  # a ViT needs its own image size
    LibraryModel("timm", "resnet18", "layer4", 64),
    LibraryModel("timm", "vit_tiny_patch16_224", "blocks.11", 224),
)


def _document(case: LibraryModel, **fields) -> dict:
    return {"model_id": f"{case.source}-{case.name}", "source": case.source, "task_type": "semantic",
            "architecture": {"target": case.name}, "layers": [case.layer], **fields}


def _entry(case: LibraryModel, **fields):
    (entry,) = parse_manifest([_document(case, **fields)])
    return entry


def _outputs(model: torch.nn.Module, layer: str, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    with capture_layers(model, [layer]) as captured, torch.no_grad():
        output = model(images)
    return output, captured[layer]


@pytest.mark.slow
@pytest.mark.parametrize("case", LIBRARY_MODELS, ids=lambda case: f"{case.source}-{case.name}")
def test_real_architecture_is_seeded_and_reloads_from_safetensors(case, tmp_path):
    images = torch.rand(1, 3, case.side, case.side, generator=torch.Generator().manual_seed(0))
    seeded = build_model(_entry(case, seed=11))
    output, layer_output = _outputs(seeded, case.layer, images)
    assert layer_output.shape[0] == 1 and torch.isfinite(layer_output).all()

    same_seed = build_model(_entry(case, seed=11))
    assert torch.equal(_outputs(same_seed, case.layer, images)[1], layer_output)
    other_seed = build_model(_entry(case, seed=12))  # the layer, not the output: torchvision's ViT head starts at 0
    assert not torch.equal(_outputs(other_seed, case.layer, images)[1], layer_output)
    del same_seed, other_seed

    path = tmp_path / "weights.safetensors"
    save_file({name: tensor.contiguous() for name, tensor in seeded.state_dict().items()}, path)
    reloaded = build_model(_entry(case, weights={"path": str(path), "sha256": sha256_of_file(path)}))
    reloaded_output, reloaded_layer = _outputs(reloaded, case.layer, images)
    assert torch.equal(reloaded_output, output) and torch.equal(reloaded_layer, layer_output)


def test_building_a_seeded_model_leaves_the_global_generator_alone():
    case = LibraryModel("timm", "resnet18", "layer4", 32)
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    build_model(_entry(case, seed=1))
    assert torch.equal(torch.rand(3), expected)
