"""``models add`` checks each model before registering it: bad ones are refused in one line, the rest go in.

One manifest holds a good model and one of each bad kind (a wrong sha256, a missing weights file,
weights that do not fit the architecture, a role whose module does not exist, a forward pass that
fails, a reduction that does not fit). The good one is registered with its recorded layer shapes;
each bad one is named in one stderr line with its problem, and nothing of it is in the store.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from jobs.cli import main
from jobs.registration import register_new_models
from storage import Store, load_manifest, parse_manifest
from tests.unit.jobs.bad_inputs import ZOO, good_entry

LARGE = next(model for model in yaml.safe_load((ZOO / "manifest.yaml").read_text())["models"]
             if model["training"]["variant"] == "large")


def _bad_entries() -> dict[str, tuple[dict, tuple[str, ...]]]:
    """Each bad kind: its entry and what its refusal line must say."""
    wrong_sha = good_entry("wrong-sha")
    wrong_sha["weights"]["sha256"] = "0" * 64
    no_file = good_entry("no-file")
    no_file["weights"]["path"] = str(ZOO / "absent.safetensors")
    misfit = good_entry("misfit")  # the small architecture with a large model's weights
    misfit["weights"] = {"path": str(ZOO / LARGE["weights"]["path"]), "sha256": LARGE["weights"]["sha256"]}
    no_module = good_entry("no-module")
    no_module["layers"] = {"mid": "encoder.block2", "out": "encoder.outptu"}
    no_module["default_layer"] = "out"
    no_forward = good_entry("no-forward")
    no_forward["preprocessing"] = dict(no_forward["preprocessing"], resize=8, crop=8)  # the encoder needs x16
    bad_reduce = good_entry("bad-reduce")
    bad_reduce["layers"] = {"mid": {"module": "encoder.block2", "reduce": "cls"}}
    bad_reduce["default_layer"] = "mid"
    return {
        "wrong-sha": (wrong_sha, ("sha256 mismatch", "expected " + "0" * 64)),
        "no-file": (no_file, ("absent.safetensors do not exist",)),
        "misfit": (misfit, ("do not fit its architecture", "parameter 'encoder.block4.0.weight'",
                            "[192, 64, 3, 3] in the weights file but [64, 64, 3, 3] in the architecture")),
        "no-module": (no_module, ("role 'out' reads module 'encoder.outptu', which is not in the model",
                                  "nearest: encoder.output")),
        "no-forward": (no_forward, ("64x64 probe image does not pass through it", "multiples of 16, got (8, 8)")),
        "bad-reduce": (bad_reduce, ("role 'mid': reduction 'cls' does not fit the output [32, 16, 16]",)),
    }


@pytest.fixture
def zoo(tmp_path):
    """A store with one probe set, and a manifest of one good model followed by one of each bad kind."""
    store = Store.open(str(tmp_path / "store"))
    store.add_probe_set(np.full((3, 64, 64, 3), 100, np.uint8), ["a", "b", "c"], "tiny")
    manifest = tmp_path / "zoo.yaml"
    bad = _bad_entries()
    manifest.write_text(yaml.safe_dump({"models": [good_entry("good")] + [entry for entry, _ in bad.values()]}))
    return store, manifest, bad


def _store_paths(store: Store) -> list[str]:
    folder = Path(store.local_folder())
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


def test_good_model_goes_in_with_its_shapes_and_each_bad_one_is_one_line(zoo, capsys):
    store, manifest, bad = zoo
    code = main(["models", "add", str(manifest), "--store", store.url])
    captured = capsys.readouterr()
    assert code == 3
    assert "Traceback" not in captured.err
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == len(bad), captured.err
    for line, (model_id, (_entry, expected)) in zip(lines, bad.items()):
        assert line.startswith(f"rsa-ray models: model {model_id!r} refused: "), line
        for part in expected:
            assert part in line, line
    assert "1 of 7 models registered" in captured.out and "6 refused" in captured.out
    assert store.model_ids() == ("good",)
    shapes = store.layer_shapes(["good"])["good"]
    assert shapes["encoder.block2"] == {"shape": [32, 16, 16], "width": 32 * 16 * 16}
    assert shapes["encoder.output"]["width"] == int(np.prod(shapes["encoder.output"]["shape"]))
    assert list(shapes) == list(store.model("good").layers)
    assert not [path for path in _store_paths(store) if any(model_id in path for model_id in bad)]


def test_the_recorded_shapes_are_not_part_of_the_model_entry_or_its_identity(zoo, tmp_path):
    store, _manifest, _bad = zoo
    plain = Store.open(str(tmp_path / "plain"))
    entries = load_manifest(str(_write(tmp_path / "good.yaml", [good_entry("good")])))
    plain.register_models(entries)  # the library call: no checks, no shapes
    assert main(["models", "add", str(tmp_path / "good.yaml"), "--store", store.url]) == 0
    assert store.model_documents(["good"]) == plain.model_documents(["good"])
    assert plain.layer_shapes(["good"]) == {"good": None}
    assert store.layer_shapes(["good"])["good"] is not None
    assert main(["models", "add", str(tmp_path / "good.yaml"), "--store", store.url]) == 0  # identical: kept


def test_the_library_call_still_registers_entries_it_cannot_build(tmp_path):
    store = Store.open(str(tmp_path / "store"))
    entry = good_entry("fake-sha")
    entry["weights"] = {"path": "s3://zoo/never-fetched.safetensors", "sha256": "0" * 64}
    assert store.register_models(parse_manifest([entry])) == ("fake-sha",)


def test_a_conflicting_entry_stops_models_add_before_anything_is_checked(zoo, tmp_path, capsys):
    store, _manifest, _bad = zoo
    _write(tmp_path / "good.yaml", [good_entry("good")])
    assert main(["models", "add", str(tmp_path / "good.yaml"), "--store", store.url]) == 0
    changed = good_entry("good")
    changed["weights"]["sha256"] = "f" * 64
    capsys.readouterr()
    assert main(["models", "add", str(_write(tmp_path / "changed.yaml", [changed])), "--store", store.url]) == 1
    assert "already registered with a different entry" in capsys.readouterr().err


def test_rerank_registration_refuses_bad_models_and_keeps_the_good_ones(zoo):
    store, manifest, bad = zoo
    registration = register_new_models(store, str(manifest))
    assert registration.added == ("good",)
    assert [failure.model_id for failure in registration.failures] == list(bad)
    for failure in registration.failures:
        assert failure.error.startswith(f"manifest {manifest}: model {failure.model_id!r} refused: ")
        assert "\n" not in failure.error
    assert store.layer_shapes(["good"])["good"]["encoder.output"]["width"] > 0


def test_the_probe_image_is_the_stores_own_when_it_holds_one_set(tmp_path):
    from jobs.admission import store_probe_images

    store = Store.open(str(tmp_path / "store"))
    assert store_probe_images(store) is None
    images = (np.arange(3 * 16 * 16 * 3) % 256).astype(np.uint8).reshape(3, 16, 16, 3)
    store.add_probe_set(images, ["a", "b", "c"], "tiny")
    np.testing.assert_array_equal(store_probe_images(store), images[:1])


def _write(path, models):
    path.write_text(json.dumps({"models": models}) if path.suffix == ".json" else yaml.safe_dump({"models": models}))
    return path
