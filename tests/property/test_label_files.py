"""``rsa-ray rank --data`` on generated label files (``.npz`` with ``images`` and ``labels``), valid and broken.

Scoring needs Ray, which these tests never start: the command runs in this process up to the point
where it connects to Ray (``ray.init`` raises here, see conftest.py). A valid file has by then been
stored as the target's labelled probe set and its record, which must read back complete; a broken
one (docs/errors.md, "Labelled data") must have been refused in one line before anything was written.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from storage import Store, load_manifest
from tests.property.answers import RAY_STARTS, assert_one_line_refusal, files, run_command

ZOO_MANIFEST = Path(__file__).resolve().parents[2] / "rsa_ray" / "zoo" / "manifest.yaml"
SETTINGS = settings(max_examples=50, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
#: Either answer keeps the contract (the rules do not say which): labels of a shape only some scores take.
EITHER = "either"


@dataclass(frozen=True)
class LabelInput:
    """A generated label file and flags.

    Attributes:
        arrays: The ``.npz``'s arrays (None: the file's bytes are ``payload``).
        payload: Bytes of a file that is no ``.npz`` of arrays.
        flags: ``--target``, ``--image-size``, ``--target-images`` and ``--score`` arguments.
        broken: The rule broken (None: valid, the target must be stored; EITHER: no rule decides).
        kept: Images the target's probe set must hold when stored.
    """

    arrays: dict[str, np.ndarray] | None
    payload: bytes
    flags: tuple[str, ...]
    broken: str | None
    kept: int = 0


def _mostly() -> st.SearchStrategy[bool]:
    return st.integers(0, 5).map(bool)


@st.composite
def label_inputs(draw) -> LabelInput:
    """Images and labels of every dtype and shape, counts that match or not, flags in and out of bounds."""
    n = draw(st.integers(3, 40)) if draw(_mostly()) else draw(st.integers(0, 2))
    generator = np.random.default_rng(draw(st.integers(0, 2**16)))
    side = draw(st.integers(4, 20))
    images = generator.integers(0, 256, size=(n, side, side, 3)).astype(np.uint8)
    image_rule = None
    if not draw(_mostly()):
        image_rule = draw(st.sampled_from(["float NaN", "bool", "complex", "float above 1", "rank 2"]))
        images = {"float NaN": np.where(images > 250, np.nan, images / 255.0), "bool": images > 127,
                  "complex": images.astype(np.complex64), "float above 1": images.astype(np.float32) * 2 + 1,
                  "rank 2": images.reshape(n, side * side * 3)}[image_rule]
    kind = draw(st.sampled_from(["classes", "names", "vectors", "maps", "float maps"])) if draw(_mostly()) else draw(
        st.sampled_from(["negative", "NaN", "Inf", "complex", "floats", "bool", "bytes", "short", "missing"]))
    labels = {
        "classes": generator.integers(0, 3, size=n), "names": generator.choice(["cat", "dog", "owl"], size=n),
        "floats": generator.normal(size=n), "float maps": generator.random(size=(n, side, side, 2)),
        "bool": generator.integers(0, 2, size=n).astype(bool),
        "negative": generator.integers(-3, 0, size=n), "NaN": np.where(np.arange(n) == 0, np.nan, 0.5),
        "Inf": np.where(np.arange(n) == n // 2, np.inf, 0.5), "complex": np.ones(n, np.complex64),
        "vectors": generator.normal(size=(n, 2)), "bytes": np.array([b"a", b"b", b"c"] * n)[:n],
        "short": generator.integers(0, 3, size=max(n - 1, 0)), "missing": None,
        "maps": generator.integers(0, 2, size=(n, side, side)),
    }[kind]
    label_rule = {"negative": "negative classes", "floats": "float class labels", "NaN": "NaN labels",
                  "Inf": "Inf labels", "complex": "complex labels", "short": "fewer labels than images",
                  "missing": "no labels array"}.get(kind)
    if n == 0 and kind in ("NaN", "Inf"):
        label_rule = None
    target = "digits-x" if draw(_mostly()) else draw(st.sampled_from(["a\nb", "../up", "", "x" * 200, "a b", "t\u202e"]))
    size = draw(st.sampled_from([16, 32])) if draw(_mostly()) else draw(st.sampled_from([0, 20, -16, 1040, 160000]))
    wanted = draw(st.sampled_from([10, 12, 500])) if draw(_mostly()) else draw(st.sampled_from([0, 9, -1]))
    score = draw(st.sampled_from([None, "knn", "logme"])) if draw(_mostly()) else draw(st.sampled_from(["hscore", "bogus"]))
    flags = ["--target", target, "--image-size", str(size), "--target-images", str(wanted), "--bootstrap", "0"]
    flags += [] if score is None else ["--score", score]
    training = n - max(1, int(round(n * 0.2)))  # the split train-target trains on (rsa_ray.datasets.target_splits)
    kept = min(max(training, 0), max(wanted, 0))
    rule = next((r for r in (
        f"target name {target!r}" if target != "digits-x" else None,
        f"--image-size {size}" if size not in (16, 32) else None,
        f"--target-images {wanted}" if wanted < 10 else None,
        "--score bogus" if score == "bogus" else None,
        f"{n} images" if n == 0 else None,
        f"images {image_rule}" if image_rule else None,
        label_rule,
        f"{kept} images kept" if kept < 3 else None,
        # No rule decides: labels the README neither lists nor refuses, or H-score on labels it may not take.
        EITHER if kind in ("bool", "bytes") or score == "hscore" else None,
    ) if r), None)
    arrays = {"images": images} if labels is None else {"images": images, "labels": labels}
    return LabelInput(arrays, b"", tuple(flags), rule, kept)


def _store_with_a_model(folder: Path) -> Path:
    store_folder = folder / "store"
    Store.open(str(store_folder)).register_models(load_manifest(str(ZOO_MANIFEST))[:1])  # no build: nothing runs
    return store_folder


def _check(case: LabelInput) -> None:
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        path = folder / "task.npz"
        if case.arrays is None:
            path.write_bytes(case.payload)
        else:
            np.savez(path, **case.arrays)
        store_folder = _store_with_a_model(folder)
        before = files(store_folder)
        answer = run_command(["rank", "--store", str(store_folder), "--data", str(path), "--out",
                              str(folder / "out"), *case.flags])
        stored = bool(RAY_STARTS)  # every check passed, and the command went on to start Ray
        event("stored" if stored else "refused")
        if not stored:
            assert case.broken is not None, f"a valid label file was refused: {answer.err!r}"
            line = assert_one_line_refusal(answer, before, store_folder, "rank")
            assert any(name in line for name in (str(path), "size", "--target-images", "score", "target name")), line
            assert not (folder / "out").exists(), "a refused run created its output folder"
            return
        assert case.broken in (None, EITHER), f"accepted although it breaks the rule '{case.broken}'"
        assert len(answer.err_lines) == 1, answer.err  # the refused ray.init's line, nothing before it
        store = Store.open(str(store_folder))
        name = case.flags[case.flags.index("--target") + 1]
        record = store.target(name)
        assert record is not None and record.n_images == case.kept
        info = store.probe_set(record.probe_id)
        assert info.n_images == case.kept and store.read_probe_images(record.probe_id).shape[0] == case.kept
        assert store.read_probe_labels(record.probe_id).n_images == case.kept


_IMAGES = np.random.default_rng(0).integers(0, 256, size=(30, 8, 8, 3)).astype(np.uint8)
_CLASSES = np.arange(30) % 3
_FLAGS = ("--image-size", "16", "--target-images", "10", "--bootstrap", "0")


@SETTINGS
@given(label_inputs())
@example(LabelInput({"images": _IMAGES, "labels": _CLASSES}, b"", ("--target", "a\nb", *_FLAGS), "target name"))
@example(LabelInput({"images": _IMAGES[:1], "labels": _CLASSES[:1]}, b"", ("--target", "t", *_FLAGS), "1 image"))
@example(LabelInput({"images": _IMAGES[:3], "labels": _CLASSES[:3]}, b"", ("--target", "t", *_FLAGS), "2 kept"))
@example(LabelInput({"images": _IMAGES, "labels": _CLASSES}, b"", ("--target", "t", "--image-size", "160000",
                                                                     "--target-images", "10"), "--image-size 160000"))
@example(LabelInput({"images": _IMAGES, "labels": np.random.default_rng(1).normal(size=(30, 2))}, b"",
                    ("--target", "vectors", *_FLAGS, "--score", "logme"), None, 10))  # [N, K] vectors, as the README says
def test_a_label_file_is_stored_as_the_target_or_refused_in_one_line(case):
    _check(case)


@SETTINGS
@given(st.sampled_from([b"", b"PK\x03\x04 truncated", b"\x93NUMPY not an archive", b"images,labels\n1,2\n"]))
def test_a_file_that_is_no_npz_of_arrays_is_refused_in_one_line(payload):
    _check(LabelInput(None, payload, ("--target", "digits-x", "--image-size", "16", "--target-images", "10"),
                      "not an .npz file"))
