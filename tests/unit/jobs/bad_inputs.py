"""The table of bad inputs that docs/errors.md lists: how to make each one, what the command must say.

Each :class:`BadInput` writes the files it needs under a temporary folder and returns the
``rsa-ray`` arguments that feed them to a real command (or, for ``library`` cases, a call
into ``storage``). The catalogue test runs each one and checks the one error line, the
exit code and that no file changed.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

ZOO = Path(__file__).resolve().parents[3] / "rsa_ray" / "zoo"
SECRET = "s3cr3t-do-not-echo"
STORE_MARK = "<store>"  # replaced by the store URL in argv


@dataclass(frozen=True)
class BadInput:
    """One kind of bad input.

    Attributes:
        case: Its id, as docs/errors.md names it.
        group: The docs/errors.md section it belongs to.
        make: Writes what the case needs under the folder; returns the arguments (``<store>``
            marks the store URL) or, for a library case, a function to call with the store.
        expect: Substrings of the one error line (``{tmp}`` is the folder).
        code: The exit code; None for a library case (the exception's one-line message is checked).
        usage: Whether argparse reports it (usage lines, then the error line).
    """

    case: str
    group: str
    make: Callable[[Path], list[str] | Callable[[Any], Any]]
    expect: tuple[str, ...]
    code: int | None = 1
    usage: bool = False


def good_entry(model_id: str = "fresh-model") -> dict[str, Any]:
    """A valid manifest entry: the shipped zoo's first model under a new id, its weights path absolute."""
    document = yaml.safe_load((ZOO / "manifest.yaml").read_text())
    entry = copy.deepcopy(document["models"][0])
    entry["model_id"] = model_id
    entry["weights"]["path"] = str(ZOO / entry["weights"]["path"])
    return entry


def _manifest(text_or_models: str | list[Any] | dict[str, Any], name: str = "manifest.yaml") -> Callable[[Path], list[str]]:
    def make(folder: Path) -> list[str]:
        path = folder / name
        if isinstance(text_or_models, str):
            path.write_text(text_or_models)
        else:  # a whole manifest document, or its list of entries
            path.write_text(yaml.safe_dump(text_or_models if isinstance(text_or_models, dict) else {"models": text_or_models}))
        return ["models", "add", str(path), "--store", STORE_MARK]
    return make


def _entry(**changes: Any) -> dict[str, Any]:
    entry = good_entry()
    for name, value in changes.items():
        if value is _DROP:
            entry.pop(name)
        else:
            entry[name] = value
    return entry


_DROP = object()


def _command(*argv: str) -> Callable[[Path], list[str]]:
    return lambda folder: [part.replace("{tmp}", str(folder)) for part in argv]


def _bytes_file(name: str, payload: bytes, *argv: str) -> Callable[[Path], list[str]]:
    def make(folder: Path) -> list[str]:
        (folder / name).write_bytes(payload)
        return [part.replace("{tmp}", str(folder)) for part in argv]
    return make


def _npz(name: str, *argv: str, **arrays: np.ndarray) -> Callable[[Path], list[str]]:
    def make(folder: Path) -> list[str]:
        np.savez(folder / name, **arrays)
        return [part.replace("{tmp}", str(folder)) for part in argv]
    return make


def _folder(name: str, files: dict[str, bytes], *argv: str) -> Callable[[Path], list[str]]:
    def make(folder: Path) -> list[str]:
        (folder / name).mkdir()
        for file_name, payload in files.items():
            (folder / name / file_name).write_bytes(payload)
        return [part.replace("{tmp}", str(folder)) for part in argv]
    return make


def _conflicting_entry(folder: Path) -> list[str]:
    entry = good_entry("zoo-a")  # registered by the fixture with the zoo's sha256
    entry["weights"]["sha256"] = "f" * 64
    return _manifest([entry])(folder)


def _relative_weights(folder: Path):
    from storage import parse_manifest

    entry = good_entry()
    entry["weights"]["path"] = "relative/w.safetensors"
    entries = parse_manifest([entry])  # no base_url: the path stays relative
    return lambda store: store.register_models(entries)


def _weights_mismatch(folder: Path):
    from storage import fetch_weights

    path = folder / "w.safetensors"
    path.write_bytes(b"not the registered bytes")
    return lambda store: fetch_weights(str(path), "0" * 64, folder / "cache")


def _weights_mismatch_remote(folder: Path):
    import fsspec

    from storage import fetch_weights

    with fsspec.open("memory://catalogue/w.safetensors", "wb") as handle:
        handle.write(b"other bytes")
    from storage.weights import WeightsPolicy

    return lambda store: fetch_weights("memory://catalogue/w.safetensors", "0" * 64, folder / "cache",
                                       policy=WeightsPolicy(("memory://catalogue/",)))


def _weights_missing(folder: Path):
    from storage import fetch_weights

    return lambda store: fetch_weights(str(folder / "absent.safetensors"), "0" * 64, folder / "cache")


def _probe_array(images: np.ndarray, ids: list[str]):
    return lambda folder: (lambda store: store.add_probe_set(images, ids, "catalogue"))


def _second_probe_set(*argv: str) -> Callable[[Path], Callable[[Any], Any]]:
    def make(folder: Path):
        from storage import Store

        Store.open(str(folder / "store")).add_probe_set(np.ones((3, 4, 4, 3), np.uint8), ["x", "y", "z"], "second")
        return [part.replace("{tmp}", str(folder)) for part in argv]
    return make


def _empty_store(folder: Path) -> list[str]:
    from storage import Store

    Store.open(str(folder / "new-store"))  # opening creates the empty groups; the case must add nothing
    return ["similarity", "--store", str(folder / "new-store")]


def _bare_store_with_probes(folder: Path) -> list[str]:
    from storage import Store

    Store.open(str(folder / "bare")).add_probe_set(np.ones((3, 4, 4, 3), np.uint8), ["x", "y", "z"], "bare")
    return ["similarity", "--store", str(folder / "bare")]


def _png(height: int, width: int) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.zeros((height, width, 3), np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


MANIFESTS = "Manifests"
WEIGHTS = "Weights"
PROBES = "Probe sets"
LABELLED = "Labelled data"
STORES = "Store URLs and store contents"
FLAGS = "Flags and config files"
SCORES = "Transferability scores"
EXPORTS = "Exports"

BAD_INPUTS: tuple[BadInput, ...] = (
    # Manifests ----------------------------------------------------------------------------------
    BadInput("manifest-missing", MANIFESTS, _command("models", "add", "{tmp}/absent.yaml", "--store", STORE_MARK),
             ("manifest {tmp}/absent.yaml does not exist",)),
    BadInput("manifest-not-yaml", MANIFESTS, _manifest("models: [ {model_id: x\n"),
             ("manifest {tmp}/manifest.yaml: does not parse:", "line")),
    BadInput("manifest-not-json", MANIFESTS, _manifest('{"models": [', name="manifest.json"),
             ("manifest {tmp}/manifest.json: does not parse:",)),
    BadInput("manifest-not-utf8", MANIFESTS, _bytes_file("manifest.yaml", b"models: [\xff\xfe]\n", "models", "add",
                                                      "{tmp}/manifest.yaml", "--store", STORE_MARK),
             ("manifest {tmp}/manifest.yaml: is not UTF-8 text",)),
    BadInput("manifest-wrong-format", MANIFESTS, _manifest({"format": "someone.else/v9", "models": []}),
             ("format 'someone.else/v9' is not 'rsa_ray.zoo/v1'",)),
    BadInput("manifest-unknown-top-level-field", MANIFESTS, _manifest("modles: []\n"),
             ("top-level field 'modles' is not known",)),
    BadInput("manifest-not-a-list", MANIFESTS, _manifest("models: 3\n"),
             ("a manifest must be a list of model entries or a mapping with a 'models' list",)),
    BadInput("entry-not-a-mapping", MANIFESTS, _manifest(["just-a-name"]), ("manifest entry #0 must be a mapping, got str",)),
    BadInput("entry-model-id-unsafe", MANIFESTS, _manifest([_entry(model_id="../escape")]),
             ("manifest entry #0: field 'model_id'", "'../escape' is not a safe name")),
    BadInput("entry-unknown-field", MANIFESTS, _manifest([_entry(colour="red")]),
             ("manifest entry 'fresh-model': field 'colour' is not a known field",)),
    BadInput("entry-task-type-missing", MANIFESTS, _manifest([_entry(task_type=_DROP)]),
             ("manifest entry 'fresh-model': field 'task_type' is required",)),
    BadInput("entry-task-type-unknown", MANIFESTS, _manifest([_entry(task_type="4d")]),
             ("field 'task_type' must be one of", "got '4d'")),
    BadInput("entry-source-unknown", MANIFESTS, _manifest([_entry(source="pickle")]),
             ("manifest entry 'fresh-model': field 'source' must be one of", "got 'pickle'")),
    BadInput("entry-model-id-repeated", MANIFESTS, _manifest([good_entry("twin"), good_entry("twin")]),
             ("manifest entry 'twin': field 'model_id' is used by more than one entry",)),
    BadInput("entry-layers-empty", MANIFESTS, _manifest([_entry(layers=[])]),
             ("field 'layers' must be a non-empty list of layer names",)),
    BadInput("entry-layer-repeated", MANIFESTS, _manifest([_entry(layers=["encoder.output", "encoder.output"],
                                                                 default_layer="encoder.output")]),
             ("field 'layers' lists a layer twice",)),
    BadInput("entry-default-layer-unknown", MANIFESTS, _manifest([_entry(default_layer="encoder.block9")]),
             ("field 'default_layer' must be one of the layers", "got 'encoder.block9'")),
    BadInput("entry-preprocessing-invalid", MANIFESTS, _manifest([_entry(preprocessing={"std": [0, 1, 1]})]),
             ("manifest entry 'fresh-model': field 'preprocessing.std' is invalid",)),
    BadInput("entry-preprocessing-unknown-field", MANIFESTS, _manifest([_entry(preprocessing={"gamma": 2})]),
             ("field 'preprocessing.gamma' is not a known field",)),
    BadInput("model-conflicts-with-registered", MANIFESTS, _conflicting_entry,
             ("model 'zoo-a' is already registered with a different entry",)),
    BadInput("manifest-url-with-credentials", MANIFESTS,
             _command("models", "add", f"s3://AKIAEXAMPLE:{SECRET}@zoo/manifest.yaml", "--store", STORE_MARK),
             ("manifest s3://***@zoo/manifest.yaml: the URL must not hold credentials",)),
    BadInput("models-add-without-manifest", MANIFESTS, _command("models", "add", "--store", STORE_MARK),
             ("models add needs a manifest URL",)),
    # Weights ------------------------------------------------------------------------------------
    BadInput("weights-missing", WEIGHTS, _manifest([_entry(weights=_DROP)]),
             ("field 'weights' is required for source safetensors",)),
    BadInput("weights-sha256-malformed", WEIGHTS, _manifest([_entry(weights={"path": "w.safetensors", "sha256": "abc"})]),
             ("field 'weights.sha256' must be 64 lowercase hex digits", "got 'abc'")),
    BadInput("weights-path-with-credentials", WEIGHTS,
             _manifest([_entry(weights={"path": f"s3://AKIAEXAMPLE:{SECRET}@zoo/w.safetensors", "sha256": "0" * 64})]),
             ("field 'weights.path' must not hold credentials",)),
    BadInput("weights-url-signed", WEIGHTS,
             _manifest([_entry(weights={"path": f"https://zoo.example/w.safetensors?X-Amz-Signature={SECRET}",
                                        "sha256": "0" * 64})]),
             ("field 'weights.path' must not hold credentials", "X-Amz-Signature=***")),
    BadInput("weights-path-relative", WEIGHTS, _relative_weights,
             ("field 'weights.path' must be a URL or an absolute path in the registry",), code=None),
    BadInput("weights-bytes-mismatch", WEIGHTS, _weights_mismatch,
             ("weights {tmp}/w.safetensors: sha256 mismatch: expected " + "0" * 64,), code=None),
    BadInput("weights-download-mismatch", WEIGHTS, _weights_mismatch_remote,
             ("weights memory://catalogue/w.safetensors: sha256 mismatch",), code=None),
    BadInput("weights-file-missing", WEIGHTS, _weights_missing, ("weights {tmp}/absent.safetensors do not exist",),
             code=None),
    # Probe sets ---------------------------------------------------------------------------------
    BadInput("probe-source-unknown", PROBES, _command("probes", "add", "imagenet-full", "--store", STORE_MARK),
             ("probe source 'imagenet-full' is neither a built-in set",)),
    BadInput("probe-folder-empty", PROBES, _folder("empty", {}, "probes", "add", "{tmp}/empty", "--store", STORE_MARK),
             ("no images found in folder:{tmp}/empty",)),
    BadInput("probe-count-below-one", PROBES, _command("probes", "add", "--count", "0", "--store", STORE_MARK),
             ("--count must be >= 1, got 0",)),
    BadInput("probe-npz-without-images", PROBES,
             _npz("probes.npz", "probes", "add", "{tmp}/probes.npz", "--store", STORE_MARK, pixels=np.zeros((2, 4, 4))),
             ("'{tmp}/probes.npz' has no array 'images'",)),
    BadInput("probe-npz-wrong-shape", PROBES,
             _npz("probes.npz", "probes", "add", "{tmp}/probes.npz", "--store", STORE_MARK, images=np.zeros((2, 4))),
             ("'{tmp}/probes.npz'['images'] must be [M, H, W] or [M, H, W, C], got (2, 4)",)),
    BadInput("probe-npz-not-square", PROBES,
             _npz("probes.npz", "probes", "add", "{tmp}/probes.npz", "--store", STORE_MARK,
                  images=np.zeros((3, 4, 6, 3), np.uint8)),
             ("npz:{tmp}/probes.npz images are (4, 6); pass size to crop them square",)),
    BadInput("probe-image-undecodable", PROBES,
             _folder("photos", {"a.png": _png(4, 4), "b.png": b"not a png", "c.png": _png(4, 4)}, "probes", "add", "{tmp}/photos",
                     "--store", STORE_MARK),
             ("cannot decode image '{tmp}/photos/b.png'",)),
    BadInput("probe-array-not-uint8", PROBES, _probe_array(np.zeros((2, 4, 4, 3), np.float32), ["a", "b"]),
             ("probe set images must have dtype uint8", "got float32"), code=None),
    BadInput("probe-image-ids-repeated", PROBES, _probe_array(np.zeros((3, 4, 4, 3), np.uint8), ["a", "a", "b"]),
             ("probe set image ids must be unique",), code=None),
    BadInput("probe-image-ids-count", PROBES, _probe_array(np.zeros((3, 4, 4, 3), np.uint8), ["a", "b"]),
             ("probe set needs one image id per image (3), got 2",), code=None),
    BadInput("probe-npz-nan", PROBES,
             _npz("p.npz", "probes", "add", "{tmp}/p.npz", "--store", STORE_MARK,
                  images=np.where(np.eye(4)[None, :, :, None] > 0, np.nan, 0.5) * np.ones((3, 4, 4, 3))),
             ("'{tmp}/p.npz'['images'] holds NaN or Inf; pixel values must be finite",)),
    BadInput("probe-npz-inf", PROBES,
             _npz("p.npz", "probes", "add", "{tmp}/p.npz", "--store", STORE_MARK,
                  images=np.full((3, 4, 4, 3), np.inf)),
             ("'{tmp}/p.npz'['images'] holds NaN or Inf; pixel values must be finite",)),
    BadInput("probe-npz-out-of-range", PROBES,
             _npz("p.npz", "probes", "add", "{tmp}/p.npz", "--store", STORE_MARK,
                  images=np.full((3, 4, 4, 3), 255.0)),
             ("'{tmp}/p.npz'['images'] holds values from 255.0 to 255.0; float pixels must be in [0, 1]",)),
    BadInput("probe-npz-bool", PROBES,
             _npz("p.npz", "probes", "add", "{tmp}/p.npz", "--store", STORE_MARK, images=np.ones((3, 4, 4, 3), bool)),
             ("'{tmp}/p.npz'['images'] has dtype bool; images must be real numbers",)),
    BadInput("probe-npz-complex", PROBES,
             _npz("p.npz", "probes", "add", "{tmp}/p.npz", "--store", STORE_MARK,
                  images=np.ones((3, 4, 4, 3), np.complex64)),
             ("'{tmp}/p.npz'['images'] has dtype complex64; images must be real numbers",)),
    BadInput("probe-npz-too-few", PROBES,
             _npz("p.npz", "probes", "add", "{tmp}/p.npz", "--store", STORE_MARK, images=np.zeros((1, 4, 4, 3), np.uint8)),
             ("'{tmp}/p.npz'['images']: 1 images; a probe set needs at least 3",)),
    BadInput("probe-npz-no-images", PROBES,
             _npz("p.npz", "probes", "add", "{tmp}/p.npz", "--store", STORE_MARK, images=np.zeros((0, 4, 4, 3), np.uint8)),
             ("'{tmp}/p.npz'['images']: 0 images; a probe set needs at least 3",)),
    BadInput("probe-npz-empty-file", PROBES, _bytes_file("p.npz", b"", "probes", "add", "{tmp}/p.npz", "--store", STORE_MARK),
             ("'{tmp}/p.npz' is not a readable .npz file",)),
    BadInput("probe-folder-too-few", PROBES,
             _folder("photos", {"a.png": _png(4, 4), "b.png": _png(4, 4)}, "probes", "add", "{tmp}/photos",
                     "--store", STORE_MARK),
             ("image folder '{tmp}/photos': 2 images; a probe set needs at least 3",)),
    BadInput("probe-count-too-few", PROBES, _command("probes", "add", "--count", "2", "--store", STORE_MARK),
             ("--count: 2 images; a probe set needs at least 3",)),
    BadInput("probe-count-unbounded", PROBES, _command("probes", "add", "--count", "1000000000000", "--store", STORE_MARK),
             ("--count: 1000000000000 images; a probe set holds at most 100000",)),
    BadInput("probe-size-unbounded", PROBES, _command("probes", "add", "--size", "100000", "--store", STORE_MARK),
             ("--size is 100000 pixels; a probe image side must be between 1 and 1024",)),
    BadInput("probe-set-too-bytes", PROBES, _command("probes", "add", "--count", "100000", "--size", "1024",
                                                     "--store", STORE_MARK),
             ("--count: 100000 images of 1024x1024 are 293 GiB; a probe set holds at most 8 GiB",)),
    BadInput("probe-array-too-few", PROBES, _probe_array(np.zeros((2, 4, 4, 3), np.uint8), ["a", "b"]),
             ("probe set: 2 images; a probe set needs at least 3",), code=None),
    # Labelled data (train-target) ---------------------------------------------------------------
    BadInput("labelled-source-unknown", LABELLED,
             _command("train-target", "--data", "mnist-online", "--name", "digits", "--store", STORE_MARK),
             ("labelled data 'mnist-online' is neither 'sklearn-digits', an .npz file nor a folder of class folders",)),
    BadInput("labelled-npz-without-labels", LABELLED,
             _npz("task.npz", "train-target", "--data", "{tmp}/task.npz", "--name", "t", "--store", STORE_MARK,
                  images=np.zeros((4, 16, 16, 3), np.uint8)),
             ("{tmp}/task.npz: missing arrays ['labels']",)),
    BadInput("labelled-count-mismatch", LABELLED,
             _npz("task.npz", "train-target", "--data", "{tmp}/task.npz", "--name", "t", "--store", STORE_MARK,
                  images=np.zeros((4, 16, 16, 3), np.uint8), labels=np.arange(3)),
             ("{tmp}/task.npz: 4 images but 3 labels",)),
    BadInput("labelled-float-class-labels", LABELLED,
             _npz("task.npz", "train-target", "--data", "{tmp}/task.npz", "--name", "t", "--store", STORE_MARK,
                  images=np.zeros((4, 16, 16, 3), np.uint8), labels=np.array([0.5, 1.5, 0.5, 1.5])),
             ("{tmp}/task.npz: class labels must be integers >= 0",)),
    BadInput("labelled-image-size", LABELLED,
             _command("train-target", "--data", "sklearn-digits", "--name", "t", "--image-size", "40", "--store",
                      STORE_MARK),
             ("size must be a multiple of 16 (the encoder downsamples by 16), got 40",)),
    BadInput("labelled-empty-folder", LABELLED,
             _folder("classes", {}, "train-target", "--data", "{tmp}/classes", "--name", "t", "--store", STORE_MARK),
             ("{tmp}/classes: no class folders with images",)),
    BadInput("labelled-nan-labels", LABELLED,
             _npz("task.npz", "train-target", "--data", "{tmp}/task.npz", "--name", "t", "--store", STORE_MARK,
                  images=np.zeros((4, 16, 16, 3), np.uint8), labels=np.array([[0.5], [np.nan], [0.1], [0.2]])),
             ("{tmp}/task.npz: labels hold NaN or Inf at 1 values; labels must be finite",)),
    BadInput("labelled-complex-labels", LABELLED,
             _npz("task.npz", "train-target", "--data", "{tmp}/task.npz", "--name", "t", "--store", STORE_MARK,
                  images=np.zeros((4, 16, 16, 3), np.uint8), labels=np.ones(4, np.complex64)),
             ("{tmp}/task.npz: labels have dtype complex64; they must be integers, floats or class names (strings)",)),
    BadInput("labelled-nan-images", LABELLED,
             _npz("task.npz", "train-target", "--data", "{tmp}/task.npz", "--name", "t", "--store", STORE_MARK,
                  images=np.full((4, 16, 16, 3), np.nan), labels=np.arange(4)),
             ("{tmp}/task.npz['images'] holds NaN or Inf; pixel values must be finite",)),
    # Store URLs and store contents --------------------------------------------------------------
    BadInput("store-url-with-credentials", STORES, _command("models", "list", "--store", f"s3://AKIAEXAMPLE:{SECRET}@bucket/x"),
             ("store URL 's3://***@bucket/x' must not hold credentials",)),
    BadInput("store-url-with-token", STORES,
             _command("models", "list", "--store", f"s3://bucket/x?X-Amz-Security-Token={SECRET}"),
             ("store URL 's3://bucket/x?X-Amz-Security-Token=***' must not hold credentials",)),
    BadInput("store-unreachable", STORES,
             _bytes_file("a-file", b"not a folder", "models", "list", "--store", "{tmp}/a-file/store"),
             ("cannot open the store at '{tmp}/a-file/store'", "NotADirectoryError")),
    BadInput("store-without-probe-set", STORES, _empty_store,
             ("the store file://{tmp}/new-store has no probe set; add one with `rsa-ray probes add`",)),
    BadInput("store-probe-set-ambiguous", STORES, _second_probe_set("similarity", "--store", STORE_MARK),
             ("the store holds 2 probe sets", "choose one with --probe")),
    BadInput("store-probe-set-unknown", STORES, _command("similarity", "--store", STORE_MARK, "--probe", "p0nope"),
             ("unknown probe set 'p0nope'",)),
    BadInput("store-without-models", STORES, _bare_store_with_probes,
             ("the store file://{tmp}/bare has no registered models; add them with `rsa-ray models add`",)),
    BadInput("model-id-unknown", STORES, _command("similarity", "--store", STORE_MARK, "--models", "zoo-a", "zoo-c"),
             ("unknown model id 'zoo-c'", "did you mean")),
    BadInput("layer-unknown", STORES, _command("taxonomy", "--store", STORE_MARK, "--layer", "encoder.outptu"),
             ("unknown layer 'encoder.outptu' for model", "encoder.output")),
    BadInput("rank-target-unregistered", STORES, _command("rank", "--store", STORE_MARK, "--target", "ghost", "--out",
                                                          "{tmp}/report"),
             ("target 'ghost' is not a registered model",)),
    BadInput("rank-no-similarity-yet", STORES, _command("rank", "--store", STORE_MARK, "--target", "zoo-a", "--out",
                                                        "{tmp}/report"),
             ("no similarity for layer 'encoder.output' yet",)),
    BadInput("report-no-similarity-yet", STORES, _command("report", "--store", STORE_MARK, "--out", "{tmp}/report"),
             ("no similarity stored for layer(s) encoder.output",)),
    # Flags and config files ---------------------------------------------------------------------
    BadInput("config-missing", FLAGS, _command("similarity", "--config", "{tmp}/absent.yaml"),
             ("config file '{tmp}/absent.yaml' does not exist",), code=2),
    BadInput("config-not-yaml", FLAGS,
             _bytes_file("bad.yaml", b"store: [unclosed\n", "similarity", "--config", "{tmp}/bad.yaml"),
             ("config file '{tmp}/bad.yaml' is not valid YAML",), code=2),
    BadInput("config-not-a-mapping", FLAGS,
             _bytes_file("list.yaml", b"- a\n- b\n", "similarity", "--config", "{tmp}/list.yaml"),
             ("config file '{tmp}/list.yaml' must hold a mapping of flag names to values, got list",), code=2),
    BadInput("config-unknown-key", FLAGS,
             _bytes_file("typo.yaml", b"stroe: somewhere\n", "similarity", "--config", "{tmp}/typo.yaml"),
             ("config file '{tmp}/typo.yaml': unknown key 'stroe'",), code=2),
    BadInput("task-memory-below-one", FLAGS, _command("similarity", "--task-memory-mb", "0"),
             ("argument --task-memory-mb: expected a number >= 1, got 0",), code=2, usage=True),
    BadInput("every-not-a-duration", FLAGS, _command("rerank", "--store", STORE_MARK, "--every", "soon"),
             ("--every 'soon' is not a duration like 90s, 10m or 1h30m",)),
    BadInput("every-too-short", FLAGS, _command("rerank", "--store", STORE_MARK, "--every", "0s"),
             ("--every '0s' is shorter than the shortest interval, 10s",)),
    BadInput("store-url-empty", FLAGS, _command("models", "list", "--store", ""),
             ("argument --store: the store URL must not be empty, got ''",), code=2, usage=True),
    BadInput("config-value-nested", FLAGS,
             _bytes_file("nested.yaml", b"count: {a: 1}\n", "probes", "add", "--config", "{tmp}/nested.yaml"),
             ("config file '{tmp}/nested.yaml': key 'count' must be a value, got a mapping",), code=2),
    BadInput("config-value-list-for-one", FLAGS,
             _bytes_file("list.yaml", b"count: [1, 2]\n", "probes", "add", "--config", "{tmp}/list.yaml"),
             ("config file '{tmp}/list.yaml': key 'count' takes one value, got a list",), code=2),
    BadInput("config-value-refused", FLAGS,
             _bytes_file("bad.yaml", b"method: magic\n", "similarity", "--config", "{tmp}/bad.yaml"),
             ("config file '{tmp}/bad.yaml': key 'method' must be one of spearman, pearson, kendall_tau_a, got 'magic'",),
             code=2),
    BadInput("top-below-one", FLAGS, _command("rank", "--store", STORE_MARK, "--target", "zoo-a", "--top", "-3"),
             ("argument --top: expected a number >= 1, got -3",), code=2, usage=True),
    BadInput("models-from-neither", FLAGS, _command("rerank", "--store", STORE_MARK, "--models-from", "{tmp}/nothing"),
             ("--models-from '{tmp}/nothing' is neither a manifest (.yaml, .yml, .json) nor a folder of manifests",)),
    BadInput("models-from-with-credentials", FLAGS,
             _command("rerank", "--store", STORE_MARK, "--models-from", f"s3://AKIAEXAMPLE:{SECRET}@zoo/landed/"),
             ("--models-from 's3://***@zoo/landed/' must not hold credentials",)),
    BadInput("submit-without-command", FLAGS, _command("submit", "--address", "http://127.0.0.1:1"),
             ("submit needs the rsa-ray command to run",)),
    # Transferability scores ---------------------------------------------------------------------
    BadInput("score-unknown", SCORES, _command("rank", "--store", STORE_MARK, "--target", "zoo-a", "--score", "magic"),
             ("unknown score 'magic'; choose from rsa, rsa-labels, logme",)),
    BadInput("score-needs-labels", SCORES, _command("rank", "--store", STORE_MARK, "--target", "zoo-a", "--score", "logme"),
             ("target 'zoo-a' has no labelled images for --score logme; pass them with --data",)),
    BadInput("bootstrap-too-few", SCORES,
             _command("rank", "--store", STORE_MARK, "--target", "t", "--data", "sklearn-digits", "--bootstrap", "5"),
             ("--bootstrap needs at least 20 samples for a 95 % interval (or 0 for none), got 5",)),
    BadInput("target-images-too-few", SCORES,
             _command("rank", "--store", STORE_MARK, "--target", "t", "--data", "sklearn-digits", "--target-images", "3"),
             ("--target-images must be at least 10, got 3",)),
    BadInput("validate-transfer-unknown", SCORES,
             _command("validate", "--store", STORE_MARK, "--target", "sklearn-digits", "--transfer", "magic"),
             ("--transfer 'magic': choose from finetune, linear-probe",)),
    BadInput("validate-registered-needs-linear-probe", SCORES,
             _command("validate", "--store", STORE_MARK, "--target", "sklearn-digits", "--candidates-from", "registered"),
             ("--candidates-from registered takes models of any architecture, which validate cannot finetune",)),
    # Exports ------------------------------------------------------------------------------------
    BadInput("export-not-hdf5", EXPORTS,
             _command("export-rdms", "--store", STORE_MARK, "--layer", "encoder.output", "--out", "{tmp}/rdms.txt"),
             ("--out '{tmp}/rdms.txt' must end in .hdf5 or .h5",)),
    BadInput("export-exists", EXPORTS,
             _bytes_file("rdms.hdf5", b"someone's file", "export-rdms", "--store", STORE_MARK, "--layer",
                         "encoder.output", "--out", "{tmp}/rdms.hdf5"),
             ("'{tmp}/rdms.hdf5' already exists; pass --overwrite to replace it",)),
)
