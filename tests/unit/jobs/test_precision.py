"""``--dtype fp32|tf32|bf16|fp16``: the flag's names and aliases, the identities they give, and the precision
line of the run summary and the HTML report."""

import numpy as np
import pytest

import cluster.connect
import jobs.taxonomy
from cluster.extract import ExtractionOptions
from cluster.options import describe_precision
from cluster.pipeline import RunSummary
from jobs.cli import SUBCOMMANDS, main
from jobs.cli_parser import build_parser
from jobs.report import precision_section, write_html_report
from rsa_ray.names import PRECISIONS, forward_dtype, precision_name
from storage import EntryKind, Store
from storage.identity import ComputeSettings, expected_identity
from tests.integration.cluster.helpers import registry_entries

PARSER = build_parser(SUBCOMMANDS, lazy=True)
DOCUMENT = {"source": "safetensors", "architecture": {"target": "b", "kwargs": {}},
            "weights": {"path": "/w", "sha256": "ab"}, "preprocessing": {}}


def dtype_flag(*argv):
    return vars(PARSER.parse_args(["similarity", *argv]))["dtype"]


@pytest.mark.parametrize(("given", "flag", "stored"), [
    ("fp32", "fp32", "float32"), ("float32", "fp32", "float32"),
    ("tf32", "tf32", "tf32"),
    ("bf16", "bf16", "bfloat16"), ("bfloat16", "bf16", "bfloat16"),
    ("fp16", "fp16", "float16"), ("float16", "fp16", "float16"),
])
def test_each_name_and_alias_maps_to_one_flag_and_one_stored_dtype(given, flag, stored):
    assert precision_name(given) == flag
    assert forward_dtype(given) == stored
    assert dtype_flag("--dtype", given) == flag
    assert ExtractionOptions(dtype=given).dtype == stored
    assert ExtractionOptions(dtype=given).settings().forward_dtype == stored


def test_the_default_is_fp32_for_every_computing_command():
    assert dtype_flag() == "fp32"
    for command in ("extract", "taxonomy", "rerank"):
        extra = ["--models-from", "/zoo"] if command == "rerank" else []
        assert vars(PARSER.parse_args([command, *extra]))["dtype"] == "fp32"


def test_an_unknown_precision_is_a_usage_error_listing_the_valid_ones(capsys):
    with pytest.raises(SystemExit) as exit_info:
        PARSER.parse_args(["similarity", "--dtype", "half"])
    assert exit_info.value.code == 2
    assert "precision 'half' is not one of fp32, tf32, bf16, fp16" in capsys.readouterr().err
    with pytest.raises(ValueError, match="dtype must be one of fp32, tf32, bf16, fp16"):
        ExtractionOptions(dtype="half")


def test_existing_entries_keep_their_identity_and_tf32_gets_its_own():
    def digest(dtype):
        settings = ExtractionOptions(dtype=dtype).settings()
        return expected_identity(EntryKind.RANKS, DOCUMENT, "p1", "out", settings).digest

    # What earlier releases stored for float32 / bfloat16 / float16 is what the new flag names give.
    for flag, stored in (("fp32", "float32"), ("bf16", "bfloat16"), ("fp16", "float16")):
        before = expected_identity(EntryKind.RANKS, DOCUMENT, "p1", "out", ComputeSettings(forward_dtype=stored))
        assert digest(flag) == before.digest
    assert len({digest(flag) for flag in PRECISIONS}) == len(PRECISIONS)


def test_the_summary_states_the_precision_and_that_tf32_is_fp32_on_the_cpu():
    lines = {flag: describe_precision(flag, on_gpus=False) for flag in PRECISIONS}
    assert lines["fp32"].startswith("fp32 (strict float32 forward passes, on the CPU)")
    assert lines["bf16"].startswith("bf16 (bfloat16 autocast forward passes, on the CPU)")
    assert "identical to fp32" in lines["tf32"] and "not exercised" in lines["tf32"]
    assert describe_precision("tf32", on_gpus=True).startswith("tf32 (float32 storage, TF32 matmuls")
    assert ", TF32 off" in describe_precision("fp32", on_gpus=True)
    summary = RunSummary("p1", (), (), (("out", 1),), 1, precision=lines["tf32"])
    assert summary.describe().splitlines()[1] == f"  precision: {lines['tf32']}"
    assert "precision" not in RunSummary("p1", (), (), (), 0).describe()


def test_the_report_page_states_the_precision(tmp_path):
    line = describe_precision("bf16", on_gpus=False)
    page = write_html_report(tmp_path / "report.html", "t", [precision_section(line)]).read_text()
    assert "<h2>Precision</h2>" in page and f"Forward passes: {line}." in page


def test_the_taxonomy_report_states_the_precision_of_its_run(tmp_path, monkeypatch):
    store = Store.open(str(tmp_path / "store"))
    store.add_probe_set(np.zeros((3, 4, 4, 3), np.uint8), ["a", "b", "c"], "zeros")
    store.register_models(registry_entries(["m1", "m2"]))
    line = describe_precision("fp16", on_gpus=False)

    def no_ray(store, probe_id, *args, **kwargs):
        return RunSummary(probe_id, (), (), (), 0, precision=line)

    monkeypatch.setattr(jobs.taxonomy, "compute_similarities", no_ray)
    monkeypatch.setattr(cluster.connect, "connect", lambda address: None)
    assert main(["taxonomy", "--store", store.url, "--out", str(tmp_path / "out"), "--dtype", "float16"]) == 0
    page = (tmp_path / "out" / "report.html").read_text()
    assert f"Forward passes: {line}." in page


def test_the_rdm_placement_flags_reach_the_extraction_options(tmp_path, monkeypatch):
    import jobs.similarity

    store = Store.open(str(tmp_path / "store"))
    store.add_probe_set(np.zeros((3, 4, 4, 3), np.uint8), ["a", "b", "c"], "zeros")
    store.register_models(registry_entries(["m1"]))
    seen = {}

    def no_ray(store, probe_id, models, layers, options, fence=None):
        seen["options"] = options
        return RunSummary(probe_id, (), (), (), 0)

    monkeypatch.setattr(jobs.similarity, "compute_similarities", no_ray)
    monkeypatch.setattr(cluster.connect, "connect", lambda address: None)
    assert main(["similarity", "--store", store.url, "--dtype", "bfloat16", "--rdms-on-actor", "always",
                 "--keep-activations"]) == 0
    options = seen["options"]
    assert (options.dtype, options.rdms_on_actor, options.keep_activations) == ("bf16", "always", True)
    extraction = options.extraction_options()
    assert (extraction.dtype, extraction.rdms_on_actor, extraction.keep_activations) == ("bfloat16", "always", True)
    defaults = vars(PARSER.parse_args(["similarity"]))
    assert (defaults["rdms_on_actor"], defaults["keep_activations"]) == ("auto", False)
    with pytest.raises(ValueError, match="rdms_on_actor must be one of auto, always, never"):
        ExtractionOptions(rdms_on_actor="sometimes")
