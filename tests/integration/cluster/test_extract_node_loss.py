"""Encoder actors on a real multi-node Ray cluster: a node lost mid-extraction.

The lost node's actors are not waited for: their models go to the actors still alive,
every model is extracted (once, by the work log) and its activations equal an
in-process forward pass.
"""

from collections import Counter

import pytest

from cluster.extract import ExtractionOptions, extract_all
from cluster.plan import ExtractionTask
from cluster.resolvers import ManifestResolver
from tests.integration.cluster.helpers import remove_worker_node_mid_run, write_random_zoo
from tests.integration.cluster.test_extract import LAYERS, assert_activations_equal_in_process, make_probe_store

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def test_worker_node_lost_mid_extraction_moves_its_models_to_the_live_actors(tmp_path):
    model_ids = [f"m{i}" for i in range(9)]
    store, probe_id, images = make_probe_store(tmp_path, model_ids, n_images=300)
    entries, modules = write_random_zoo(tmp_path, model_ids)
    tasks = [ExtractionTask(m, LAYERS) for m in model_ids]
    done_at_removal, thread, outcome = remove_worker_node_mid_run(
        extract_all, (store, probe_id, tasks, ManifestResolver(entries, str(tmp_path)),
                      ExtractionOptions(batch_size=10, n_actors=3)),
        lambda: len(store.work_records("extract")), at_least=2)
    assert 2 <= done_at_removal < len(model_ids), "the node must be lost mid-extraction for this test to mean anything"
    assert not thread.is_alive(), "the extraction waited on the lost node's actors"
    assert "error" not in outcome, outcome.get("error")
    assert [o.error for o in outcome["result"] if o.error] == []
    extractions = Counter(record["model_id"] for record in store.work_records("extract"))
    assert extractions == {m: 1 for m in model_ids}
    assert_activations_equal_in_process(store, probe_id, images, entries, modules, model_ids)
