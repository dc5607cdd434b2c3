"""A taxonomy job submitted to a real Ray head on loopback, and resubmitted as a no-op."""

import numpy as np
import pytest

from jobs.submit import submission_id, submit
from rsa_ray import compute_rdms, similarity_matrix
from rsa_ray.models import InferenceOptions, extract_features
from storage import Store
from tests.integration.cluster.helpers import write_random_zoo
from tests.support.ray_head import ray_head

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def test_taxonomy_job_through_job_submission(tmp_path):
    store = Store.open(str(tmp_path / "store"))
    images = np.random.default_rng(1).integers(0, 255, size=(40, 64, 64, 3), dtype=np.uint8)
    probe_id = store.add_probe_set(images, [f"i{i}" for i in range(40)], "random")
    entries, modules = write_random_zoo(tmp_path, ["alpha", "beta", "gamma"], absolute_paths=True)
    store.register_models(entries)
    command = ["taxonomy", "--store", str(tmp_path / "store"), "--layer", "encoder.output", "--out", str(tmp_path / "report")]

    with ray_head() as address:
        from ray.job_submission import JobSubmissionClient

        job_id, status = submit(address, command, wait=True, timeout=600)
        logs = JobSubmissionClient(address).get_job_logs(job_id)
        assert status == "SUCCEEDED", logs[-3000:]
        assert job_id == submission_id(command)
        again_id, again_status = submit(address, command)
        assert (again_id, again_status) == (job_id, "SUCCEEDED")
        assert [job.submission_id for job in JobSubmissionClient(address).list_jobs()].count(job_id) == 1

    stored = store.read_similarity(probe_id, "encoder.output")
    features = [
        extract_features(modules[m], images, ["encoder.output"], entries[0].preprocessing, InferenceOptions())["encoder.output"]
        for m in stored.model_ids
    ]
    np.testing.assert_allclose(stored.matrix, similarity_matrix(compute_rdms(features)), atol=1e-5)
    assert (tmp_path / "report" / "report.html").is_file()


def test_a_failed_job_prints_its_last_log_lines_and_exits_non_zero(tmp_path, capsys):
    from jobs.cli import main

    missing = tmp_path / "absent.npz"
    command = ["probes", "add", str(missing), "--store", str(tmp_path / "store")]
    with ray_head() as address:
        code = main(["submit", "--address", address, "--wait", "--", *command])
        first = capsys.readouterr()
        again = main(["submit", "--address", address, "--", *command])  # a resubmit reports the same failure
        second = capsys.readouterr()
    assert code == 1 and again == 1
    for printed in (first, second):
        lines = printed.err.splitlines()
        assert lines[-1].startswith(f"rsa-ray submit: error: job {submission_id(command)} FAILED")
        assert "log lines are above" in lines[-1] and "ray job logs --address" in lines[-1]
        shown = [line for line in lines[:-1] if line.startswith("    | ")]
        assert 1 <= len(shown) <= 20, printed.err
        assert any(f"rsa-ray probes: error: '{missing}' is not a readable .npz file" in line for line in shown), printed.err
    assert not (tmp_path / "store").exists()  # the refused job wrote nothing
