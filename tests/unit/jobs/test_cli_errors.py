"""Bad input at the command line: exit non-zero with one clear line naming the problem, no traceback."""

import numpy as np
import pytest

from jobs.cli import main
from storage import Store
from tests.integration.cluster.helpers import write_random_zoo


@pytest.fixture
def store_url(tmp_path):
    store = Store.open(str(tmp_path / "store"))
    images = np.zeros((4, 16, 16, 3), dtype=np.uint8)
    images[:, 0, 0, 0] = np.arange(4)
    store.add_probe_set(images, ["a", "b", "c", "d"], "tiny")
    entries, _ = write_random_zoo(tmp_path, ["enc1", "enc2"], absolute_paths=True)
    store.register_models(entries)
    return str(tmp_path / "store")


def one_error_line(capsys, argv, expected_code=1):
    code = main(argv)
    captured = capsys.readouterr()
    assert code == expected_code, captured
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    return lines[0]


def test_unknown_model_id_names_it_and_suggests(capsys, store_url):
    line = one_error_line(capsys, ["similarity", "--store", store_url, "--models", "enc1", "enc3"])
    assert "unknown model id 'enc3'" in line and "enc1" in line


def test_unknown_layer_names_model_and_suggests(capsys, store_url):
    line = one_error_line(capsys, ["taxonomy", "--store", store_url, "--layer", "encoder.outptu"])
    assert "unknown layer 'encoder.outptu'" in line and "encoder.output" in line


def test_unregistered_target(capsys, store_url, tmp_path):
    line = one_error_line(capsys, ["rank", "--store", store_url, "--target", "ghost", "--out", str(tmp_path / "r")])
    assert "target 'ghost' is not a registered model" in line


def test_empty_probe_source(capsys, store_url, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    line = one_error_line(capsys, ["probes", "add", str(empty), "--store", store_url])
    assert str(empty) in line or "no images" in line


def test_store_without_probe_set(capsys, tmp_path):
    line = one_error_line(capsys, ["similarity", "--store", str(tmp_path / "new-store")])
    assert "has no probe set" in line


def test_unreachable_store_url(capsys, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    line = one_error_line(capsys, ["models", "list", "--store", str(blocker / "store")])
    assert "store" in line


def test_malformed_yaml_config_and_manifest(capsys, store_url, tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("store: [unclosed\n")
    line = one_error_line(capsys, ["similarity", "--config", str(config)], expected_code=2)
    assert "not valid YAML" in line and "bad.yaml" in line
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("stroe: somewhere\n")
    line = one_error_line(capsys, ["similarity", "--config", str(unknown)], expected_code=2)
    assert "unknown key 'stroe'" in line
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text("models: [ {model_id: x\n")
    line = one_error_line(capsys, ["models", "add", str(manifest), "--store", store_url])
    assert "manifest" in line


def test_config_values_become_flag_defaults(capsys, store_url, tmp_path):
    config = tmp_path / "settings.yaml"
    config.write_text(f"store: {store_url}\nmodels: [enc9]\n")
    line = one_error_line(capsys, ["similarity", "--config", str(config)])
    assert "unknown model id 'enc9'" in line  # the config's store and models were used


def test_debug_shows_the_traceback(store_url):
    with pytest.raises(ValueError, match="unknown model id"):
        main(["similarity", "--store", store_url, "--models", "nope", "--debug"])


@pytest.mark.parametrize("value, message", [("0", "expected a number >= 1, got 0"), ("lots", "expected a whole number, got 'lots'")])
def test_a_bad_task_memory_is_a_usage_error_naming_it(capsys, value, message):
    with pytest.raises(SystemExit) as exit_info:
        main(["similarity", "--task-memory-mb", value])
    assert exit_info.value.code == 2
    assert f"argument --task-memory-mb: {message}" in capsys.readouterr().err


def test_task_memory_reaches_the_similarity_options(monkeypatch):
    import ray

    import cluster.pipeline
    import jobs.compute
    from jobs.cli import build_parser
    from jobs.command_options import compute_options_from_args

    args = build_parser().parse_args(["similarity", "--task-memory-mb", "256"])
    assert args.task_memory_mb == 256
    seen = {}
    monkeypatch.setattr(ray, "is_initialized", lambda: True)  # jobs.compute imports them when it runs
    monkeypatch.setattr(cluster.pipeline, "run_similarity", lambda *a, **k: seen.setdefault("options", a[4]))
    jobs.compute.compute_similarities(None, "p", ["a"], ["out"], compute_options_from_args(args))
    assert seen["options"].tile_memory_bytes == 256 * 2**20
    assert not hasattr(build_parser().parse_args(["extract"]), "task_memory_mb")  # extraction has no such task
