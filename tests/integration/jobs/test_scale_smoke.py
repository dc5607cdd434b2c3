"""The scale benchmark's smoke preset (24 real-architecture models, 3 loopback Ray nodes, moto S3), end to end.

It runs ``bench/scale.py --models 24 --nodes 3`` as a user would and checks the outcomes it reports,
which it reads from the store's work log: the run finished although a worker node was SIGKILLed
mid-extraction, every model was extracted exactly once on the shared probe set and at most once on any
other, and ``rerank --every`` took the 10 models that landed in the watched folder.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.s3]
ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.timeout(3600)
def test_smoke_preset_survives_a_killed_node_and_extracts_each_model_once(tmp_path):
    figures_path = tmp_path / "scale.json"
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "scale.py"), "--models", "24", "--nodes", "3",
                             "--json", str(figures_path)], cwd=ROOT, capture_output=True, text=True, timeout=3600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    figures = json.loads(figures_path.read_text())

    commands = figures["commands"]
    # The killed node's models go to the live actors: the run in which the node dies completes.
    assert all(c["returncode"] == 0 for name, c in commands.items() if name != "rerank"), commands
    assert commands["rerank"]["returncode"] == 143, commands  # stopped by SIGTERM on a cluster: locks released
    assert "taxonomy again" not in commands, commands
    killed = figures["killed"]
    assert killed and killed["processes_killed"] > 0, killed
    assert 0 < killed["models_extracted_before"] < 24, killed  # killed mid-extraction
    assert killed["replacement_node_after_stall_s"] is None, killed  # no stall waiting on the lost node
    assert figures["extracted_once_on_shared"], figures["work_log_extract_histogram"]
    assert figures["missing_on_shared"] == [] and figures["extracted_twice"] == [], figures
    assert len(figures["new_models_extracted"]) == 10, figures["new_models_extracted"]
    assert figures["s3_total"]["requests"] > 0 and figures["store_bytes"] > 0
    assert figures["actor_peak_mib"], "no actor's memory was read"
