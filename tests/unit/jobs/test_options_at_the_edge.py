"""Options are built once, at the command line's edge, and Ray is connected once per command.

A subcommand's ``run`` turns the parsed flags into option objects at its top; nothing below it takes the
``argparse.Namespace`` or reads its fields; a command connects to Ray once, and no stage does.
"""

import ast
from pathlib import Path

import numpy as np
import pytest

import cluster.connect
import cluster.estimator_tasks
import jobs.compute
import jobs.rerank
from cluster.pipeline import RunSummary
from cluster.probe_sets import ExtractedStage
from jobs.cli import main
from jobs.outputs import write_table
from jobs.score_table import score_table
from rsa_ray.estimators import ScoreRow
from rsa_ray.target_labels import TargetLabels
from storage import Store, parse_manifest
from storage.targets import TargetRecord
from tests.storage.builders import model_manifest

ROOT = Path(__file__).resolve().parents[3]
PARSER_MODULES = {"cli.py", "cli_parser.py", "cli_types.py"}  # the parser itself handles the Namespace
NAMESPACE_NAMES = {"args", "namespace"}
CONNECTS = {"connect", "connect_once"}


def _modules(package: str):
    for path in sorted((ROOT / package).rglob("*.py")):
        yield path, ast.parse(path.read_text())


def _functions(tree):
    return [node for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]


def _run_functions(tree) -> set[str]:
    """``run`` and every function a ``Subcommand(...)`` of the module names as its run."""
    names = {"run"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Subcommand":
            given = [*node.args[3:4], *(k.value for k in node.keywords if k.arg == "run")]
            names |= {value.id for value in given if isinstance(value, ast.Name)}
    return names


def _takes_namespace(function) -> bool:
    arguments = function.args.posonlyargs + function.args.args + function.args.kwonlyargs
    if any(a.arg in NAMESPACE_NAMES or "Namespace" in ast.unparse(a.annotation or ast.Constant(None)) for a in arguments):
        return True
    return any(isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in NAMESPACE_NAMES
               for node in ast.walk(function))


def _calls(function, names) -> list[ast.Call]:
    return [node for node in ast.walk(function) if isinstance(node, ast.Call)
            and (getattr(node.func, "id", None) in names or getattr(node.func, "attr", None) in names)]


def test_only_a_run_or_an_options_builder_sees_the_parsed_flags():
    seen = []
    for path, tree in _modules("jobs"):
        if path.name in PARSER_MODULES:
            continue
        runs = _run_functions(tree)
        seen += [f"{path.relative_to(ROOT)}:{f.lineno} {f.name}" for f in _functions(tree)
                 if _takes_namespace(f) and f.name not in runs and not f.name.endswith("_from_args")]
    assert seen == [], "these take or read the parsed flags below a subcommand's run: " + ", ".join(seen)


def test_options_builders_are_called_only_by_a_run():
    callers = []
    for path, tree in _modules("jobs"):
        runs = _run_functions(tree)
        for function in _functions(tree):
            called = [node for node in ast.walk(function) if isinstance(node, ast.Call)
                      and (getattr(node.func, "id", None) or getattr(node.func, "attr", "")).endswith("_from_args")]
            if called and function.name not in runs:
                callers.append(f"{path.relative_to(ROOT)}:{function.lineno} {function.name}")
    assert callers == []


def test_compute_similarities_takes_one_options_object():
    function = next(f for f in _functions(ast.parse((ROOT / "jobs" / "compute.py").read_text()))
                    if f.name == "compute_similarities")
    assert [a.arg for a in function.args.args] == ["store", "probe_id", "model_ids", "layers", "options", "fence",
                                                 "stage"]


def _subcommands(tree) -> int:
    return sum(isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Subcommand" for node in ast.walk(tree))


def test_only_a_command_connects_to_ray_once_and_no_stage_does():
    """Helpers and cluster stages (jobs.compute, jobs.target_scores, cluster/*) compute on the Ray the command
    connected to; a subcommand's module connects at most once per subcommand it defines."""
    where = []
    for package in ("jobs", "cluster"):
        for path, tree in _modules(package):
            if path.relative_to(ROOT).as_posix() == "cluster/connect.py":
                continue  # where connecting is defined: ray.init
            calls = [(f.name, c) for f in _functions(tree) if f.name != "connect_once"
                     for c in _calls(f, CONNECTS | {"init"})]
            if len(calls) > (_subcommands(tree) if package == "jobs" else 0):
                where.append(f"{path.relative_to(ROOT)}: {', '.join(name for name, _ in calls)}")
    assert where == [], "these connect to Ray more often than once per command: " + "; ".join(where)


def test_computing_without_a_connection_is_refused(tmp_path):
    ray = pytest.importorskip("ray")
    assert not ray.is_initialized()  # unit tests never start Ray
    store = Store.open(str(tmp_path / "store"))
    with pytest.raises(RuntimeError, match="connect to Ray first"):
        jobs.compute.compute_similarities(store, "p", ["a"], ["out"])
    with pytest.raises(RuntimeError, match="connect to Ray first"):
        cluster.estimator_tasks.score_candidates(store, _labelled_probe(store), "out", ["m1"], None, ["rsa"],
                                                 target_model="m1")


def _labelled_probe(store: Store) -> str:
    labels = TargetLabels.from_array(np.arange(4) % 2)
    return store.add_probe_set(np.zeros((4, 2, 2, 3), np.uint8), list("abcd"), "target bright", labels=labels)


def _store_with_an_outdated_score_table(tmp_path) -> Store:
    """A target scored on m1 and m2, then m3 registered: a rerank re-scores the target."""
    store = Store.open(str(tmp_path / "store"))
    probe_id = _labelled_probe(store)
    store.add_probe_set(np.zeros((3, 2, 2, 3), np.uint8), list("xyz"), "shared")
    store.record_target(TargetRecord("bright", probe_id, "bright.npz", "classes"))
    store.register_models(parse_manifest(model_manifest("m1", "m2", layers=("out",))))
    table = score_table("bright", ["m1", "m2"], [ScoreRow("m1", "knn", 0.9), ScoreRow("m2", "knn", 0.5)], None,
                        {"knn": 1.0})
    table["layer"], table["probe_id"], table["bootstrap"], table["seed"] = "out", probe_id, 0, 0
    (tmp_path / "rank").mkdir()
    write_table(store, tmp_path / "rank", "scores.bright.out", table, csv_name="scores.bright")
    store.register_models(parse_manifest(model_manifest("m3", layers=("out",))))
    return store


def test_a_rerank_connects_once_for_all_its_stages(tmp_path, monkeypatch):
    store = _store_with_an_outdated_score_table(tmp_path)
    events = []

    def connect(address):
        events.append(("connect", address))

    stage = ExtractedStage()

    def extract_stage(store, selections):
        events.append(("extraction", tuple((s.probe_id, s.model_ids, s.layers) for s in selections)))
        return stage

    def compute(store, probe_id, model_ids, layers, options=jobs.compute.ComputeOptions(), fence=None, stage=None):
        events.append(("similarities", tuple(model_ids), stage is extracted))
        versions = tuple((layer, store.write_similarity(probe_id, layer, list(model_ids), np.eye(len(model_ids)),
                                                        "spearman")) for layer in layers)
        return RunSummary(probe_id, (), (), versions, 0)

    def score(store, probe_id, layer, model_ids, labels, scores, **kwargs):
        events.append(("scores", tuple(model_ids)))
        return [ScoreRow(model_id, name, 0.5) for model_id in model_ids for name in scores]

    extracted = stage
    monkeypatch.setattr(cluster.connect, "connect", connect)
    monkeypatch.setattr(jobs.rerank, "extract_probe_sets", extract_stage)  # every probe set's extraction, first
    monkeypatch.setattr(jobs.rerank, "compute_similarities", compute)  # the shared probe set's similarities
    monkeypatch.setattr(jobs.compute, "compute_similarities", compute)  # the target's images (jobs.target_scores)
    monkeypatch.setattr(cluster.estimator_tasks, "score_candidates", score)
    code = main(["rerank", "--store", store.url, "--out", str(tmp_path / "out"), "--address", "ray://head:10001", "--debug"])
    assert code == 0
    target_probe = store.target("bright").probe_id
    shared_probe = next(p for p in store.probe_set_ids() if p != target_probe)
    # One extraction stage for both probe sets before any similarity; both runs are handed that stage.
    assert events == [("connect", "ray://head:10001"),
                      ("extraction", ((shared_probe, ("m1", "m2", "m3"), ("out",)), (target_probe, ("m1", "m2", "m3"), ("out",)))),
                      ("similarities", ("m1", "m2", "m3"), True), ("similarities", ("m1", "m2", "m3"), True),
                      ("scores", ("m1", "m2", "m3"))]
    assert set(store.read_table("scores.bright.out")["candidate"]) == {"m1", "m2", "m3"}  # the target re-scored
