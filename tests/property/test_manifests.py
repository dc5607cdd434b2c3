"""``rsa-ray models add`` on generated manifests (YAML and JSON), valid and broken.

A manifest either registers its models, each read back from the registry as written, or is refused:
a manifest that breaks a rule of its own (docs/errors.md, "Manifests") in one line, exit 1, with
nothing written; a model that fails its admission check (its weights, its build, its modules) in
one line per refused model, exit 3, its valid neighbours registered. Every model is really built
and run on one image (no Ray), so the examples stay few and small.
"""

from __future__ import annotations

import copy
import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from storage import Store
from tests.property.answers import MAX_LINE, assert_one_line_refusal, files, run_command

ZOO = Path(__file__).resolve().parents[2] / "rsa_ray" / "zoo"
SETTINGS = settings(max_examples=60, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
LAYERS = ("encoder.block1", "encoder.block2", "encoder.block3", "encoder.block4", "encoder.output")
CONTROL = ("\n", "\r", "\x00", "\u202e", "\x1b", "\u200f")
#: Refused where the manifest is read (exit 1, nothing written) or where a model is admitted (exit 3).
MANIFEST, ADMISSION = "manifest", "admission"


def _zoo_entry() -> dict[str, Any]:
    document = yaml.safe_load((ZOO / "manifest.yaml").read_text())
    entry = copy.deepcopy(document["models"][0])  # autoencoding-small-ckpt010: weights beside the manifest
    entry.pop("training")
    return entry


BASE = _zoo_entry()
WEIGHTS = BASE["weights"]["path"]


@dataclass
class ManifestCase:
    """A generated manifest.

    Attributes:
        document: The manifest as data (None when ``text`` is given whole).
        text: The manifest's bytes when they are generated as text (aliases, nesting, bad bytes).
        suffix: ``.yaml`` or ``.json``.
        broken: ``(where, rule)`` per model id for admission refusals, or ``{"": (MANIFEST, rule)}``.
    """

    document: Any = None
    text: bytes | None = None
    suffix: str = ".yaml"
    broken: dict[str, tuple[str, str]] = field(default_factory=dict)

    def manifest_broken(self) -> str | None:
        where = self.broken.get("")
        return where[1] if where else None


model_ids = st.from_regex(r"[a-z][a-z0-9_-]{0,15}", fullmatch=True)
tasks = st.text(st.characters(categories=("L", "N", "Zs", "Pd")), max_size=12)


def _valid_entry(draw, model_id: str) -> dict[str, Any]:
    entry = copy.deepcopy(BASE)
    entry["model_id"] = model_id
    entry["task"] = draw(tasks)
    entry["task_type"] = draw(st.sampled_from(["2d", "3d", "semantic", "geometric", "other"]))
    layers = draw(st.lists(st.sampled_from(LAYERS), min_size=1, max_size=5, unique=True))
    entry["layers"] = layers
    if draw(st.booleans()):
        entry["default_layer"] = draw(st.sampled_from(layers))
    else:
        entry.pop("default_layer")
    return entry


def _set(entry: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    for name in parents:
        entry = entry.setdefault(name, {}) if isinstance(entry.get(name, {}), dict) else entry
    entry[last] = value


# (where, rule, change): a change that breaks one rule of the first entry.
ENTRY_BREAKS: list[tuple[str, str, Any]] = [
    (MANIFEST, "no model_id", lambda e, d: e.pop("model_id")),
    (MANIFEST, "no source", lambda e, d: e.pop("source")),
    (MANIFEST, "no task_type", lambda e, d: e.pop("task_type")),
    (MANIFEST, "no architecture", lambda e, d: e.pop("architecture")),
    (MANIFEST, "no weights", lambda e, d: e.pop("weights")),
    (MANIFEST, "no layers", lambda e, d: e.pop("layers")),
    (MANIFEST, "an unknown field", lambda e, d: e.update(colour="blue")),
    (MANIFEST, "an unknown task_type", lambda e, d: e.update(task_type="4d")),
    (MANIFEST, "an unknown source", lambda e, d: e.update(source="pickle")),
    (MANIFEST, "a control character in the task", lambda e, d: e.update(task=f"depth{d(st.sampled_from(CONTROL))}x")),
    (MANIFEST, "a control character in a layer", lambda e, d: e.update(layers=[f"encoder{d(st.sampled_from(CONTROL))}"])),
    (MANIFEST, "a control character in the target", lambda e, d: _set(e, "architecture.target", f"a{d(st.sampled_from(CONTROL))}b")),
    (MANIFEST, "an unsafe model_id", lambda e, d: e.update(model_id=d(st.sampled_from(["../x", "a b", "x" * 300, "-a", "a/b", ""])))),
    (MANIFEST, "a model_id that is not text", lambda e, d: e.update(model_id=d(st.sampled_from([7, ["a"], {"a": 1}, None, True])))),
    (MANIFEST, "layers that are not a list", lambda e, d: e.update(layers=d(st.sampled_from(["encoder.output", 3, {"a": 1}])))),
    (MANIFEST, "no layers listed", lambda e, d: e.update(layers=[])),
    (MANIFEST, "a layer twice", lambda e, d: e.update(layers=["encoder.output", "encoder.output"])),
    (MANIFEST, "a default_layer not listed", lambda e, d: e.update(default_layer="encoder.nowhere")),
    (MANIFEST, "a resize that is no size", lambda e, d: _set(e, "preprocessing.resize", d(st.sampled_from([0, -5, 100_000, 10**30, 1.5, True, "64", [64]])))),
    (MANIFEST, "a crop that is no size", lambda e, d: _set(e, "preprocessing.crop", d(st.sampled_from([0, 4097, 10**12, False, {"a": 1}])))),
    (MANIFEST, "a mean that is not 3 finite numbers", lambda e, d: _set(e, "preprocessing.mean", d(st.sampled_from([[0, 0], [float("nan"), 0, 0], [float("inf"), 0, 0], ["a", 0, 0], 0.5])))),
    (MANIFEST, "a std that is not 3 positive numbers", lambda e, d: _set(e, "preprocessing.std", d(st.sampled_from([[0, 1, 1], [-1, 1, 1], [1, 1, 1, 1], [float("nan"), 1, 1]])))),
    (MANIFEST, "a bad value_range", lambda e, d: _set(e, "preprocessing.value_range", d(st.sampled_from([[1, 1], [0], [0, float("inf")]])))),
    (MANIFEST, "an unknown interpolation", lambda e, d: _set(e, "preprocessing.interpolation", "lanczos9")),
    (MANIFEST, "an unknown preprocessing field", lambda e, d: _set(e, "preprocessing.gamma", 2.2)),
    (MANIFEST, "a malformed sha256", lambda e, d: _set(e, "weights.sha256", d(st.sampled_from(["abc", "G" * 64, "A" * 64, 12, None])))),
    (MANIFEST, "a weights path outside the folder", lambda e, d: _set(e, "weights.path", d(st.sampled_from([f"../{WEIGHTS}", f"sub/../../{WEIGHTS}", "../../../etc/passwd"])))),
    (MANIFEST, "weights with credentials", lambda e, d: _set(e, "weights.path", "s3://user:secret@bucket/w.safetensors")),
    (MANIFEST, "a code target", lambda e, d: _set(e, "architecture.target", d(st.sampled_from(["os:system", "subprocess:run", "builtins:eval"])))),
    (MANIFEST, "a nested kwarg", lambda e, d: _set(e, "architecture.kwargs.width", d(st.sampled_from([{"a": 1}, [1, 2], float("nan")])))),
    (MANIFEST, "a URL kwarg", lambda e, d: _set(e, "architecture.kwargs.head", "https://example.org/w.pth")),
    (MANIFEST, "a nested architecture", lambda e, d: e.update(architecture=d(st.sampled_from(["resnet", ["a"], 3])))),
    (ADMISSION, "a sha256 the weights do not match", lambda e, d: _set(e, "weights.sha256", "0" * 64)),
    (ADMISSION, "weights that do not exist", lambda e, d: _set(e, "weights.path", "absent.safetensors")),
    (MANIFEST, "an argument the builder does not take", lambda e, d: _set(e, "architecture.kwargs.depth", 3)),
    (ADMISSION, "weights that do not fit the architecture", lambda e, d: _set(e, "architecture.kwargs.width", 2)),
    (ADMISSION, "a layer module the model lacks", lambda e, d: e.update(layers=["encoder.nowhere"], default_layer="encoder.nowhere")),
    (MANIFEST, "a builder that is not registered", lambda e, d: _set(e, "architecture.target", "rsa_ray.models.encoder_decoder:EncoderDecoder")),
]

# (rule, manifest text): whole documents that break a rule of the document itself.
TEXT_BREAKS: list[tuple[str, bytes]] = [
    ("a YAML anchor and alias", b"models:\n- &e {model_id: a}\n- *e\n"),
    ("repeated aliases", b"a: &a [x, x, x, x]\nb: &b [*a, *a, *a, *a]\nc: &c [*b, *b, *b, *b]\nmodels: [*c]\n"),
    ("a merge key", b"base: &b {task_type: 2d}\nmodels:\n- <<: *b\n  model_id: m\n"),
    ("deep nesting", b"models: " + b"[" * 5000 + b"]" * 5000 + b"\n"),
    ("no models", b"models: []\n"),
    ("an empty file", b""),
    ("models that are no list", b"models: {model_id: a}\n"),
    ("an entry that is no mapping", b"models: [just-a-name]\n"),
    ("an unknown top-level key", b"models: [{model_id: a}]\nowner: me\n"),
    ("another format", b"format: other/v9\nmodels: [{model_id: a}]\n"),
    ("bytes that are not UTF-8", b"models: [{model_id: \xff\xfe}]\n"),
    ("YAML that does not parse", b"models: [{model_id: a\n"),
    ("a python tag", b"models: !!python/object/apply:os.system [echo]\n"),
]


@st.composite
def manifests(draw, breaks: list[tuple[str, str, Any]] = ENTRY_BREAKS, break_first: bool | None = None) -> ManifestCase:
    """A manifest of one to three models (the shipped zoo's first model under new ids), its first entry maybe
    broken by one of ``breaks`` (always when ``break_first``), or with one id twice."""
    suffix = draw(st.sampled_from([".yaml", ".json"]))
    ids = draw(st.lists(model_ids, min_size=1, max_size=3, unique=True))
    entries = [_valid_entry(draw, model_id) for model_id in ids]
    case = ManifestCase(suffix=suffix)
    if break_first or break_first is None and draw(st.booleans()):
        where, rule, change = draw(st.sampled_from(breaks))
        change(entries[0], draw)
        case.broken = {"" if where == MANIFEST else ids[0]: (where, rule)}
    elif break_first is None and len(ids) > 1 and not draw(st.integers(0, 3)):
        entries[1]["model_id"] = ids[0]
        case.broken = {"": (MANIFEST, "one model_id twice")}
    case.document = entries if draw(st.booleans()) else {"format": "rsa_ray.zoo/v1", "description": draw(tasks),
                                                         "models": entries}
    return case


@st.composite
def broken_documents(draw) -> ManifestCase:
    """A manifest whose text breaks a rule of the document itself (read as YAML, or as JSON when it is JSON)."""
    rule, text = draw(st.sampled_from(TEXT_BREAKS))
    json_text = rule == "deep nesting" and draw(st.booleans())
    return ManifestCase(text=text.replace(b"models: ", b'{"models": ').rstrip(b"\n") + b"}" if json_text else text,
                        suffix=".json" if json_text else ".yaml", broken={"": (MANIFEST, rule)})


def _write(case: ManifestCase, folder: Path) -> Path:
    path = folder / f"manifest{case.suffix}"
    if case.text is not None:
        path.write_bytes(case.text)
    elif case.suffix == ".json":
        path.write_text(json.dumps(case.document))
    else:
        path.write_text(yaml.safe_dump(case.document, allow_unicode=True))
    shutil.copy(ZOO / WEIGHTS, folder / WEIGHTS)
    return path


def _entries(case: ManifestCase) -> list[dict[str, Any]]:
    document = case.document
    return list(document["models"] if isinstance(document, dict) else document)


def _check(case: ManifestCase) -> None:
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        manifest = _write(case, folder)
        store_folder = folder / "store"
        Store.open(str(store_folder))
        before = files(store_folder)
        answer = run_command(["models", "add", str(manifest), "--store", str(store_folder)])
        event(f"exit {answer.code}")
        event(f"broken: {sorted(rule for _, rule in case.broken.values())}")
        rule = case.manifest_broken()
        if rule is not None or answer.code in (1, 2):
            assert rule is not None, f"a valid manifest was refused: {answer.err!r}"
            line = assert_one_line_refusal(answer, before, store_folder, "models")
            assert "manifest" in line, line
            return
        store = Store.open(str(store_folder))
        refused = {model_id for model_id, (where, _) in case.broken.items() if where == ADMISSION}
        expected = [entry for entry in _entries(case) if entry["model_id"] not in refused]
        assert answer.code == (3 if refused else 0), f"exit {answer.code}: {answer.err!r}"
        lines = answer.err_lines
        assert len(lines) == len(refused), answer.err
        assert all(line.split(" refused: ")[0] in {f"rsa-ray models: model {m!r}" for m in refused} for line in lines)
        assert all(len(line) <= MAX_LINE for line in lines), answer.err
        assert set(store.model_ids()) == {entry["model_id"] for entry in expected}
        if not expected:
            assert files(store_folder) == before, "a manifest whose every model was refused changed the store"
        for entry in expected:
            stored = store.model(entry["model_id"])
            assert stored.task == entry["task"] and stored.task_type == entry["task_type"]
            assert list(stored.layers) == entry["layers"]


def _base_with(model_id: str = "m1", **preprocessing: Any) -> dict[str, Any]:
    entry = copy.deepcopy(BASE)
    entry["model_id"] = model_id
    entry["preprocessing"].update(preprocessing)
    return entry


@SETTINGS
@given(manifests())
@example(ManifestCase([_base_with(resize=100_000, crop=100_000)], broken={"": (MANIFEST, "resize above the bound")}))
@example(ManifestCase([_base_with(crop=4097)], broken={"": (MANIFEST, "crop above the bound")}))
@example(ManifestCase([{**_base_with(), "task": "depth\u00a0map"}], suffix=".json"))  # a no-break space is printable
def test_a_manifest_registers_its_models_or_is_refused_in_one_line(case):
    _check(case)


@pytest.mark.parametrize("entry_break", ENTRY_BREAKS, ids=[rule for _, rule, _ in ENTRY_BREAKS])
@settings(SETTINGS, max_examples=4)
@given(data=st.data())
def test_every_rule_of_an_entry_is_kept_whatever_the_rest_of_the_manifest(entry_break, data):
    _check(data.draw(manifests([entry_break], break_first=True)))


@settings(SETTINGS, max_examples=30)
@given(broken_documents())
def test_a_manifest_whose_document_breaks_a_rule_is_refused_in_one_line(case):
    _check(case)
