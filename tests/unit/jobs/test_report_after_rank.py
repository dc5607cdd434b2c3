"""``report`` after ``rank --target T --data D`` alone: the stored score tables are shown, with what each score can
decide, uninformative and absent scores marked; and ``rank`` imports nothing heavy to parse its flags."""

import subprocess
import sys

import numpy as np
import pandas as pd

from jobs.cli import main
from jobs.outputs import write_table
from jobs.score_table import score_table
from rsa_ray.bootstrap import BootstrapSummary
from rsa_ray.estimators import NO_TARGET_MODEL, ScoreRow
from rsa_ray.target_labels import TargetLabels
from storage import Store, parse_manifest
from storage.targets import TargetRecord
from tests.storage.builders import model_manifest


def _store_after_rank(tmp_path):
    """A store as ``rank --data`` leaves it: the target's labelled images, their similarity, one score table."""
    store = Store.open(str(tmp_path / "store"))
    labels = TargetLabels.from_array(np.arange(4) % 2)
    probe_id = store.add_probe_set(np.zeros((4, 2, 2, 3), np.uint8), list("abcd"), "target bright", labels=labels)
    store.record_target(TargetRecord("bright", probe_id, "bright.npz", "classes"))
    models = ["m1", "m2", "m3"]
    store.register_models(parse_manifest(model_manifest(*models, layers=("out",))))
    version = store.write_similarity(probe_id, "out", models, np.eye(3), "spearman")
    rows = [ScoreRow("m1", "knn", 0.9), ScoreRow("m2", "knn", 0.5), ScoreRow("m3", "knn", 0.2)]
    rows += [ScoreRow(m, "hscore", 1.0) for m in models]
    summaries = {"knn": tuple(BootstrapSummary(m, v, v - 0.1, v + 0.1, p, 1.0 if m == "m1" else 0.0, m == "m1")
                              for m, v, p in (("m1", 0.9, 0.98), ("m2", 0.5, 0.02), ("m3", 0.2, 0.0)))}
    table = score_table("bright", models, rows, summaries, {"knn": 1.0, "hscore": 2.0},
                        absent=[("rsa", NO_TARGET_MODEL)])
    table["layer"], table["probe_id"], table["similarity_version"] = "out", probe_id, version
    table["bootstrap"], table["seed"] = 20, 0
    (tmp_path / "rank").mkdir()
    csv = write_table(store, tmp_path / "rank", "scores.bright.out", table, csv_name="scores.bright")
    return store, csv


def test_report_shows_score_tables_after_rank_alone(tmp_path, capsys):
    store, csv = _store_after_rank(tmp_path)
    assert store.shared_probe_set_ids() == ()
    assert main(["report", "--store", store.url, "--out", str(tmp_path / "report")]) == 0
    page = (tmp_path / "report" / "report.html").read_text()
    assert "Which model to finetune from for bright: every score (layer out)" in page
    assert "score hscore: uninformative (constant: every candidate 1)" in page
    assert "score rsa absent: the target has no trained model (`rsa-ray train-target` trains one)" in page
    assert "decided: m1 is best under knn (P(best) 0.98)." in page
    assert "uninformative (constant: every candidate 1)</td>" in page  # the table's hscore.check column
    assert (tmp_path / "report" / "scores.bright.out.png").is_file()
    stored = pd.read_csv(csv)
    assert set(stored["hscore.check"]) == {"uninformative (constant: every candidate 1)"}
    assert stored["hscore.rank"].isna().all() and stored["knn.rank"].tolist() == [1, 2, 3]


def test_report_with_nothing_stored_says_what_to_run(tmp_path, capsys):
    store = Store.open(str(tmp_path / "store"))
    probe_id = store.add_probe_set(np.zeros((4, 2, 2, 3), np.uint8), list("abcd"), "zeros")
    store.register_models(parse_manifest(model_manifest("m1", "m2", layers=("out",))))
    assert probe_id
    assert main(["report", "--store", store.url, "--out", str(tmp_path / "report")]) == 1
    assert "no similarity stored for layer(s) out; run `rsa-ray taxonomy` (or `rsa-ray rank --target T`) first" \
        in capsys.readouterr().err
    assert not (tmp_path / "report" / "report.html").exists()


def test_rank_imports_no_pandas_matplotlib_ray_or_torch():
    code = ("import sys, jobs.rank; "
            "print(sorted(m for m in ('pandas', 'matplotlib', 'ray', 'torch') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
