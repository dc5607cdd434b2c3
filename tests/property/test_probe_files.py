"""``rsa-ray probes add`` on generated ``.npz`` files and image folders, valid and broken.

Each example is either stored (the set reads back complete: its images, checksum-verified, and its
ids) or refused in one line with nothing written; an input that breaks a rule of docs/errors.md
("Probe sets") must be refused, and one that breaks none must be stored.
"""

from __future__ import annotations

import io
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from rsa_ray.names import is_printable_text
from storage import Store
from tests.property.answers import assert_one_line_refusal, files, run_command

SETTINGS = settings(max_examples=60, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
DTYPES = ("uint8", "float32", "float64", "float16", "int16", "uint16", "int64", "bool", "complex64")
CONTROL = ("\n", "\t", "\x00", "\u202e", "\x1b")


@dataclass(frozen=True)
class ProbeInput:
    """A generated probe source: how to write it, the flags, and the rule it breaks (None: valid).

    Attributes:
        write: Writes the source under a folder and returns its path.
        flags: ``--count`` / ``--size`` arguments.
        broken: The rule broken, for the failure message; None when the source must be stored.
        kept: The images a stored set must hold (when valid).
        side: The stored image side (when valid).
    """

    write: object
    flags: tuple[str, ...]
    broken: str | None
    kept: int = 0
    side: int = 0


def _mostly() -> st.SearchStrategy[bool]:
    """True about five times in six: each dimension of an input is mostly valid, so that whole inputs often are."""
    return st.integers(0, 5).map(bool)


def _values(draw, dtype: str, shape: tuple[int, ...]) -> np.ndarray:
    generator = np.random.default_rng(draw(st.integers(0, 2**16)))
    if dtype == "bool":
        return generator.integers(0, 2, size=shape).astype(bool)
    if dtype.startswith("complex"):
        return (generator.random(shape) + 1j * generator.random(shape)).astype(dtype)
    if dtype.startswith("float"):
        return generator.random(shape).astype(dtype)
    return generator.integers(0, 256, size=shape).astype(dtype)


def _header_only_npz(path: Path, shape: tuple[int, ...]) -> None:
    """An .npz whose ``images`` member is a uint8 array header of ``shape`` with no data after it."""
    import zipfile

    member = io.BytesIO()
    np.lib.format.write_array_header_1_0(member, {"descr": "|u1", "fortran_order": False, "shape": shape})
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("images.npy", member.getvalue())


@st.composite
def flags(draw) -> tuple[tuple[str, ...], int | None, int | None, str | None]:
    """``--count`` / ``--size`` flags: the flags, the count (None: the default), the size, the rule broken."""
    count = draw(st.one_of(st.none(), st.integers(3, 8))) if draw(_mostly()) else draw(
        st.sampled_from([-1, 0, 1, 2, 100_001, 10**12]))
    size = draw(st.one_of(st.none(), st.sampled_from([4, 8, 16]))) if draw(_mostly()) else draw(
        st.sampled_from([0, -3, 1025, 100_000]))
    argv, broken = [], None
    if count is not None:
        argv += ["--count", str(count)]
        if count < 1 or count > 100_000:
            broken = f"--count {count}"
    if size is not None:
        argv += ["--size", str(size)]
        if not 1 <= size <= 1024:
            broken = broken or f"--size {size}"
    return tuple(argv), count, size, broken


@st.composite
def npz_inputs(draw) -> ProbeInput:
    """An ``.npz`` of images (any dtype, shape and values), optional image ids, or a file that is no .npz."""
    argv, count, size, broken = draw(flags())
    kind = "array" if draw(_mostly()) else draw(st.sampled_from(["empty-file", "garbage", "npy", "other-key",
                                                                  "huge-header", "truncated-data"]))
    if kind != "array":
        def write_bad(folder: Path, kind=kind) -> Path:
            path = folder / "probes.npz"
            if kind == "empty-file":
                path.write_bytes(b"")
            elif kind == "garbage":
                path.write_bytes(b"PK\x03\x04 not a zip archive at all")
            elif kind in ("huge-header", "truncated-data"):  # a header that promises what the file does not hold
                shape = (10**6, 1024, 1024, 3) if kind == "huge-header" else (5, 64, 64, 3)
                _header_only_npz(path, shape)
            elif kind == "npy":
                with path.open("wb") as handle:
                    np.save(handle, np.zeros((4, 4, 4, 3), np.uint8))
            else:
                np.savez(path, pixels=np.zeros((4, 4, 4, 3), np.uint8))
            return path
        return ProbeInput(write_bad, argv, broken or kind)
    n = draw(st.one_of(st.integers(3, 7), st.integers(0, 7)))
    height = draw(st.integers(1, 9))
    width = height if draw(st.integers(0, 3)) else draw(st.integers(1, 9))
    channels = draw(st.sampled_from([None, 3, 1, 4])) if draw(_mostly()) else 2
    dtype = draw(st.sampled_from(DTYPES[:7])) if draw(_mostly()) else draw(st.sampled_from(DTYPES[7:]))
    shape = (n, height, width) + (() if channels is None else (channels,))
    images = _values(draw, dtype, shape)
    damage = None if draw(_mostly()) else draw(st.sampled_from(["nan", "inf", "high", "negative"]))
    if n and damage in ("nan", "inf") and dtype.startswith("float"):
        images.flat[draw(st.integers(0, images.size - 1))] = np.nan if damage == "nan" else -np.inf
    elif n and damage == "high" and dtype in ("float32", "float64", "int16", "uint16", "int64"):
        images.flat[0] = 2.5 if dtype.startswith("float") else 300
    elif n and damage == "negative" and dtype in ("float32", "float64", "int16", "int64"):
        images.flat[0] = -0.5 if dtype.startswith("float") else -1
    else:
        damage = None
    ids_kind = draw(st.sampled_from([None, "unique", "numbers"])) if draw(_mostly()) else draw(
        st.sampled_from(["repeated", "control", "short", "empty"]))
    ids = {"unique": [f"img-{i}" for i in range(n)], "repeated": ["same"] * n,
           "control": [f"img{draw(st.sampled_from(CONTROL))}{i}" for i in range(n)],
           "short": [f"img-{i}" for i in range(max(n - 1, 0))], "empty": [""] + [f"i{i}" for i in range(1, n)],
           "numbers": list(range(n))}.get(ids_kind)
    kept = n if count is None else min(count, n)
    side = size if size is not None else height
    rule = broken
    rule = rule or (f"dtype {dtype}" if dtype in ("bool", "complex64") else None)
    rule = rule or (f"channels {channels}" if channels == 2 else None)
    rule = rule or (f"{n} images" if n < 3 else None)
    rule = rule or (f"pixels {damage}" if damage else None)
    rule = rule or (f"ids {ids_kind}" if ids_kind == "short" else None)
    rule = rule or (f"{kept} images kept" if kept < 3 else None)
    rule = rule or (f"ids {ids_kind}" if ids_kind in ("repeated", "control", "empty") else None)
    rule = rule or (f"{height}x{width} images without --size" if size is None and height != width else None)

    def write(folder: Path) -> Path:
        arrays = {"images": images} if ids is None else {"images": images, "image_ids": np.array(ids)}
        path = folder / "probes.npz"
        np.savez(path, **arrays)
        return path
    return ProbeInput(write, argv, rule, kept, side)


def _png(mode: str, height: int, width: int, seed: int) -> bytes:
    from PIL import Image

    pixels = np.random.default_rng(seed).integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).convert(mode).save(buffer, format="PNG")
    return buffer.getvalue()


@st.composite
def folder_inputs(draw) -> ProbeInput:
    """A folder of PNG files (any mode and size), with stray files, an undecodable image or an odd file name."""
    argv, count, size, broken = draw(flags())
    n = draw(st.one_of(st.integers(3, 6), st.integers(0, 6)))
    images = {f"img{i}.png": _png(draw(st.sampled_from(["RGB", "L", "RGBA", "P"])), draw(st.integers(1, 9)),
                                  draw(st.integers(1, 9)), i) for i in range(n)}
    extra = draw(st.sampled_from([None, "notes.txt", "sub-folder"])) if draw(_mostly()) else draw(
        st.sampled_from(["undecodable", "control-name"]))
    rule = broken or (f"{n} images" if n < 3 and extra not in ("undecodable", "control-name") else None)
    if extra == "undecodable":
        images["broken.png"] = b"\x89PNG\r\n\x1a\n not an image"
        rule = rule or "an undecodable image"
    elif extra == "control-name":
        images[f"bad{draw(st.sampled_from(CONTROL[:2] + CONTROL[3:]))}name.png"] = _png("RGB", 4, 4, 99)
        rule = rule or "a file name that is no printable image id"
    n_images = n + (extra in ("undecodable", "control-name"))
    kept = n_images if count is None else min(count, n_images)
    rule = rule or (f"{kept} images kept" if kept < 3 else None)

    def write(folder: Path) -> Path:
        source = folder / "images"
        source.mkdir()
        for name, payload in images.items():
            (source / name).write_bytes(payload)
        if extra == "notes.txt":
            (source / "notes.txt").write_text("not an image")
        elif extra == "sub-folder":
            (source / "nested").mkdir()
            (source / "nested" / "inner.png").write_bytes(_png("RGB", 4, 4, 7))
        return source
    return ProbeInput(write, argv, rule, kept, size if size is not None else 64)


def _npz_writer(images: np.ndarray, ids: list[str]):
    def write(folder: Path) -> Path:
        np.savez(folder / "probes.npz", images=images, image_ids=np.array(ids))
        return folder / "probes.npz"
    return write


def _folder_writer(names: list[str]):
    def write(folder: Path) -> Path:
        (folder / "images").mkdir()
        for index, name in enumerate(names):
            (folder / "images" / name).write_bytes(_png("RGB", 4, 4, index))
        return folder / "images"
    return write


def _check(case: ProbeInput) -> None:
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        source = case.write(folder)
        store_folder = folder / "store"
        Store.open(str(store_folder))  # the store exists: a refusal must leave its files as they are
        before = files(store_folder)
        answer = run_command(["probes", "add", str(source), "--store", str(store_folder), *case.flags])
        event("refused" if answer.code else "stored")
        event(f"rule: {str(case.broken).split()[0]}")
        if answer.code != 0:
            assert case.broken is not None, f"a valid probe source was refused: {answer.err!r}"
            line = assert_one_line_refusal(answer, before, store_folder, "probes")
            assert any(name in line for name in (str(source), "--count", "--size", "probe set image id")), line
            return
        assert case.broken is None, f"accepted although it breaks the rule '{case.broken}': {answer.out!r}"
        assert answer.err_lines == [], answer.err
        store = Store.open(str(store_folder))
        (probe_id,) = store.probe_set_ids()
        info = store.probe_set(probe_id)
        images = store.read_probe_images(probe_id)
        assert images.shape == (case.kept, case.side, case.side, 3) and images.dtype == np.uint8
        assert info.n_images == case.kept and len(set(info.image_ids)) == case.kept
        assert all(is_printable_text(image_id) for image_id in info.image_ids)


@SETTINGS
@given(npz_inputs())
@example(ProbeInput(_npz_writer(np.zeros((4, 4, 4, 3), np.uint8), ["a\n1", "a2", "a3", "a4"]), (), "ids control"))
@example(ProbeInput(_npz_writer(np.zeros((3, 4, 4, 3), np.uint8), ["a\u202e1", "a2", "a3"]), (), "ids control"))
@example(ProbeInput(_npz_writer(np.zeros((3, 4, 4, 3), np.uint8), ["a\u00a01", "a 2", "a3"]), (), None, 3, 4))
@example(ProbeInput(lambda folder: _header_only_npz(folder / "h.npz", (5, 64, 64, 3)) or folder / "h.npz", (),
                    "a header without its data"))
def test_an_npz_probe_file_is_stored_complete_or_refused_in_one_line(case):
    _check(case)


@SETTINGS
@given(folder_inputs())
@example(ProbeInput(_folder_writer(["a.png", "b.png", "bad\nname.png"]), (), "a file name that is no printable image id"))
def test_an_image_folder_is_stored_complete_or_refused_in_one_line(case):
    _check(case)
