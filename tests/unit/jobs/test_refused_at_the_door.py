"""Inputs refused before anything is written, where docs/errors.md's catalogue cannot see it (the working
folder, a store that does not exist yet), and inputs accepted that used to fail late (string class labels).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import yaml

from jobs.cli import main
from storage import Store, load_manifest
from tests.unit.jobs.bad_inputs import good_entry


def _files(folder: Path) -> dict[str, str]:
    return {str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file()}


def _exit_code(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as stopped:
        return int(stopped.code)


@pytest.mark.parametrize("argv", [["models", "list", "--store", ""], ["--store", " ", "similarity"],
                                  ["probes", "add", "--store", ""]])
def test_an_empty_store_url_is_a_usage_error_that_writes_nothing_in_the_working_folder(argv, tmp_path, monkeypatch,
                                                                                       capsys):
    monkeypatch.chdir(tmp_path)
    assert _exit_code(argv) == 2
    assert "the store URL must not be empty" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_an_empty_store_in_a_config_file_is_a_usage_error(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "run.yaml").write_text('store: ""\n')
    assert _exit_code(["models", "list", "--config", "run.yaml"]) == 2
    assert "key 'store': the store URL must not be empty" in capsys.readouterr().err
    assert [path.name for path in tmp_path.iterdir()] == ["run.yaml"]


def test_rank_top_below_one_creates_no_report_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert _exit_code(["rank", "--store", str(tmp_path / "store"), "--target", "x", "--top", "-3"]) == 2
    assert "argument --top: expected a number >= 1, got -3" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_rerank_every_below_the_bound_is_refused_before_the_store_is_opened(tmp_path, capsys):
    assert main(["rerank", "--store", str(tmp_path / "store"), "--every", "9s", "--out", str(tmp_path / "out")]) == 1
    assert capsys.readouterr().err.strip() == "rsa-ray rerank: error: --every '9s' is shorter than the shortest interval, 10s"
    assert list(tmp_path.iterdir()) == []


def test_a_refused_probe_source_opens_no_store(tmp_path, capsys):
    np.savez(tmp_path / "one.npz", images=np.zeros((1, 4, 4, 3), np.uint8))
    assert main(["probes", "add", str(tmp_path / "one.npz"), "--store", str(tmp_path / "store")]) == 1
    assert "1 images; a probe set needs at least 3" in capsys.readouterr().err
    assert [path.name for path in tmp_path.iterdir()] == ["one.npz"]


def test_report_reads_the_store_and_writes_only_its_folder(tmp_path, capsys):
    store = Store.open(str(tmp_path / "store"))
    probe_id = store.add_probe_set(np.arange(3 * 4 * 4 * 3, dtype=np.uint8).reshape(3, 4, 4, 3), ["a", "b", "c"], "p")
    (tmp_path / "zoo.yaml").write_text(yaml.safe_dump({"models": [good_entry("zoo-a"), good_entry("zoo-b"),
                                                                  good_entry("zoo-c")]}))
    store.register_models(load_manifest(str(tmp_path / "zoo.yaml")))
    matrix = np.array([[1.0, 0.5, 0.2], [0.5, 1.0, 0.3], [0.2, 0.3, 1.0]])
    store.write_similarity(probe_id, "encoder.output", ["zoo-a", "zoo-b", "zoo-c"], matrix, "spearman")
    before = _files(tmp_path / "store")
    assert main(["report", "--store", store.url, "--out", str(tmp_path / "out"), "--layer", "encoder.output"]) == 0
    assert _files(tmp_path / "store") == before
    assert "similarity.encoder.output" not in Store.open(store.url).table_names()
    written = {path.name for path in (tmp_path / "out").iterdir()}
    assert {"report.html", "similarity.encoder.output.csv", "heatmap.encoder.output.png"} <= written


def test_string_class_labels_are_classes_in_sorted_order(tmp_path):
    from jobs.target_data import pooled_labels
    from rsa_ray.datasets.labelled import load_labelled_task

    names = np.array(["dog", "cat", "owl", "cat", "dog", "owl"])
    np.savez(tmp_path / "task.npz", images=np.zeros((6, 16, 16, 3), np.uint8), labels=names)
    task = load_labelled_task(str(tmp_path / "task.npz"), "pets", size=16)
    assert task.targets.tolist() == [1, 0, 2, 0, 1, 2]  # cat 0, dog 1, owl 2
    assert task.task.channels == 3
    assert pooled_labels(task.targets).kind == "classes"


def test_labels_with_nan_or_of_no_number_are_refused_naming_the_file(tmp_path):
    from rsa_ray.datasets.labelled import load_labelled_task

    path = str(tmp_path / "task.npz")
    for labels, message in ((np.array([0.5, np.inf, 0.1]), "labels hold NaN or Inf at 1 values"),
                            (np.array([[b"a"], [b"b"], [b"c"]]), "class names must be one string per image")):
        np.savez(path, images=np.zeros((3, 16, 16, 3), np.uint8), labels=labels)
        with pytest.raises(ValueError, match=message) as refused:
            load_labelled_task(path, "t", size=16)
        assert str(refused.value).startswith(path)
