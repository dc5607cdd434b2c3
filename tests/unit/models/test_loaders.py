"""Builders and untrusted weights: round trips, pickle refusal, sha256 checks, manifests."""

from __future__ import annotations

import hashlib
import sys

import pytest
import torch
from safetensors.torch import save_file

from rsa_ray.models import (
    ArchitectureSpec,
    ModelEntry,
    UnsafeCheckpointError,
    WeightsIntegrityError,
    WeightsRef,
    build_encoder_decoder,
    build_model,
    entry_from_dict,
    entry_to_dict,
    load_torch_weights_only,
    TorchScriptDisabledError,
    UnknownArchitectureError,
    read_manifest,
    sha256_of_file,
    write_manifest,
)
from rsa_ray.models.manifest import ZooManifest, example_entry

ARCH = ArchitectureSpec(
    "rsa_ray.models.encoder_decoder:build_encoder_decoder", {"out_channels": 2, "head": "dense", "width": 1}
)
LAYERS = ("encoder.block1", "encoder.output")


def _trained_like_model() -> torch.nn.Module:
    torch.manual_seed(3)
    return build_encoder_decoder(out_channels=2).eval()


def _entry(source: str, path, sha256: str | None, architecture=ARCH) -> ModelEntry:
    return ModelEntry(
        model_id="m1",
        source=source,
        architecture=architecture,
        weights=WeightsRef(str(path), sha256),
        layers=LAYERS,
        default_layer="encoder.output",
    )


@pytest.fixture()
def probe() -> torch.Tensor:
    return torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))


def test_safetensors_round_trip_gives_identical_outputs(tmp_path, probe):
    model = _trained_like_model()
    path = tmp_path / "m.safetensors"
    save_file(model.state_dict(), path)
    loaded = build_model(_entry("safetensors", path, sha256_of_file(path)))
    with torch.no_grad():
        assert torch.equal(model(probe), loaded(probe))
    assert not loaded.training


def test_relative_weights_path_is_resolved_against_base_dir(tmp_path, probe):
    model = _trained_like_model()
    save_file(model.state_dict(), tmp_path / "m.safetensors")
    loaded = build_model(_entry("safetensors", "m.safetensors", None), base_dir=tmp_path)
    with torch.no_grad():
        assert torch.equal(model(probe), loaded(probe))


def test_torch_state_dict_round_trip_with_weights_only(tmp_path, probe):
    model = _trained_like_model()
    path = tmp_path / "m.pt"
    torch.save(model.state_dict(), path)
    loaded = build_model(_entry("torch_state_dict", path, sha256_of_file(path)))
    with torch.no_grad():
        assert torch.equal(model(probe), loaded(probe))


@pytest.mark.filterwarnings("ignore:`torch.jit.*` is deprecated:DeprecationWarning")
@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")
def test_torchscript_round_trip_when_allowed(tmp_path, probe, monkeypatch):
    monkeypatch.delenv("RSA_RAY_ALLOW_TORCHSCRIPT", raising=False)
    model = _trained_like_model()
    path = tmp_path / "m.pt"
    torch.jit.save(torch.jit.trace(model, probe), path)
    entry = ModelEntry("m1", "torchscript", None, WeightsRef(str(path), sha256_of_file(path)), LAYERS, "encoder.output")
    with pytest.raises(TorchScriptDisabledError, match="RSA_RAY_ALLOW_TORCHSCRIPT=1"):
        build_model(entry)
    loaded = build_model(entry, allow_torchscript=True)
    with torch.no_grad():
        assert torch.equal(model(probe), loaded(probe))
    monkeypatch.setenv("RSA_RAY_ALLOW_TORCHSCRIPT", "1")  # how an operator enables it for a whole run
    with torch.no_grad():
        assert torch.equal(model(probe), build_model(entry)(probe))


class _WritesAFile:
    """Unpickling this calls open(path, "w"): a stand-in for arbitrary code."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_pickle_that_runs_code_is_refused_and_its_code_never_runs(tmp_path):
    marker = tmp_path / "pwned.txt"
    path = tmp_path / "evil.pt"
    torch.save({"weight": torch.zeros(1), "payload": _WritesAFile(marker)}, path)

    with pytest.raises(UnsafeCheckpointError, match="refusing to load"):
        load_torch_weights_only(path)
    with pytest.raises(UnsafeCheckpointError):
        build_model(_entry("torch_state_dict", path, sha256_of_file(path)))
    assert not marker.exists()

    # The payload is live: an unrestricted load does run it (so the check above can fail).
    live_marker = tmp_path / "live.txt"
    live_path = tmp_path / "live.pt"
    torch.save({"payload": _WritesAFile(live_marker)}, live_path)
    torch.load(live_path, weights_only=False)
    assert live_marker.exists()


def test_sha256_mismatch_is_refused_before_loading(tmp_path):
    path = tmp_path / "m.safetensors"
    save_file(_trained_like_model().state_dict(), path)
    wrong = hashlib.sha256(b"something else").hexdigest()
    with pytest.raises(WeightsIntegrityError) as caught:
        build_model(_entry("safetensors", path, wrong))
    assert wrong in str(caught.value) and sha256_of_file(path) not in str(caught.value)  # nothing about the file


def test_sha256_of_file_matches_hashlib(tmp_path):
    path = tmp_path / "blob"
    payload = bytes(range(256)) * 5000
    path.write_bytes(payload)
    assert sha256_of_file(path) == hashlib.sha256(payload).hexdigest()


def test_weights_that_do_not_fit_the_architecture_are_named(tmp_path):
    path = tmp_path / "m.safetensors"
    save_file(build_encoder_decoder(out_channels=2, head="pooled").state_dict(), path)
    with pytest.raises(ValueError, match="do not fit") as raised:
        build_model(_entry("safetensors", path, None))
    message = str(raised.value)
    assert "\n" not in message and "'m1'" in message  # one line naming the model, not torch's list
    assert "parameter '" in message and "in the weights file but" in message


def test_import_paths_are_not_imported_only_registered_names_build(tmp_path):
    for target in ("rsa_ray.models.encoder_decoder.build_encoder_decoder", "rsa_ray.models.encoder_decoder:nope",
                   "no_such_package_xyz:f", "os:getcwd"):
        entry = _entry("safetensors", tmp_path / "x.safetensors", None, ArchitectureSpec(target))
        with pytest.raises(UnknownArchitectureError, match=r"'m1'.*'architecture\.target'.*not a registered"):
            build_model(entry)
    assert "no_such_package_xyz" not in sys.modules


def test_entry_validation_names_the_problem():
    with pytest.raises(ValueError, match="model_id"):
        ModelEntry("../x", "safetensors", ARCH, WeightsRef("w"), LAYERS, "encoder.output")
    with pytest.raises(ValueError, match="needs a weights file"):
        ModelEntry("m", "safetensors", ARCH, None, LAYERS, "encoder.output")
    with pytest.raises(ValueError, match="needs an architecture"):
        ModelEntry("m", "safetensors", None, WeightsRef("w"), LAYERS, "encoder.output")
    with pytest.raises(ValueError, match="default_layer"):
        ModelEntry("m", "safetensors", ARCH, WeightsRef("w"), LAYERS, "head")
    with pytest.raises(ValueError, match="sha256"):
        WeightsRef("w", "abc")
    with pytest.raises(ValueError, match="scalar"):
        ArchitectureSpec("a:b", {"sizes": [1, 2]})


def test_manifest_round_trip(tmp_path):
    entry = example_entry()
    assert entry_from_dict(entry_to_dict(entry)) == entry
    manifest = ZooManifest(models=(entry,), description="d", command="c", dataset={"seed": 0})
    write_manifest(manifest, tmp_path / "manifest.yaml")
    assert read_manifest(tmp_path / "manifest.yaml") == manifest


def test_manifest_of_another_format_is_refused(tmp_path):
    path = tmp_path / "manifest.yaml"
    path.write_text("format: other/v9\nmodels: []\n")
    with pytest.raises(ValueError, match="format"):
        read_manifest(path)


def test_torchvision_model_by_name_random_init():
    pytest.importorskip("torchvision")
    entry = ModelEntry("tv", "torchvision", ArchitectureSpec("resnet18", {"num_classes": 3}), None, ("layer1",), "layer1",
                       seed=0)
    model = build_model(entry)
    assert model(torch.zeros(1, 3, 32, 32)).shape == (1, 3)


def test_timm_model_by_name_random_init():
    pytest.importorskip("timm")
    entry = ModelEntry("tm", "timm", ArchitectureSpec("resnet18", {"num_classes": 3}), None, ("layer1",), "layer1", seed=0)
    assert build_model(entry)(torch.zeros(1, 3, 32, 32)).shape == (1, 3)


def test_missing_optional_library_gives_an_install_hint(monkeypatch):
    # A None entry in sys.modules makes the import fail even where torchvision is installed.
    monkeypatch.setitem(sys.modules, "torchvision", None)
    monkeypatch.setitem(sys.modules, "torchvision.models", None)
    monkeypatch.setitem(sys.modules, "timm", None)
    entry = ModelEntry("tv", "torchvision", ArchitectureSpec("resnet18"), None, ("layer1",), "layer1", seed=0)
    with pytest.raises(ImportError, match="pip install torchvision"):
        build_model(entry)
    with pytest.raises(ImportError, match="pip install timm"):
        build_model(ModelEntry("tm", "timm", ArchitectureSpec("resnet18"), None, ("layer1",), "layer1", seed=0))
