"""A stored ranking names the similarity version it was read from; the report never shows an outdated one as current."""

import numpy as np

from jobs.rank import print_ranking
from jobs.report_command import ranking_sections
from storage import Store, parse_manifest
from tests.storage.builders import model_manifest


def _matrix(target_row):
    matrix = np.eye(4)
    matrix[0, 1:] = matrix[1:, 0] = target_row
    return matrix


def test_the_report_reads_a_ranking_again_when_its_similarity_changed(tmp_path, capsys):
    store = Store.open(str(tmp_path / "store"))
    probe_id = store.add_probe_set(np.zeros((4, 2, 2, 3), np.uint8), list("abcd"), "zeros")
    models = ["t", "m1", "m2", "m3"]
    store.register_models(parse_manifest(model_manifest(*models, layers=("out",))))
    store.write_similarity(probe_id, "out", models, _matrix([0.9, 0.5, 0.1]), "spearman")
    table = print_ranking(store, probe_id, "out", "t", 3, tmp_path)
    assert list(table["candidate"]) == ["m1", "m2", "m3"] and set(table["similarity_version"]) == {1}

    [section] = ranking_sections(store, tmp_path)
    assert section.text == "From similarity version 1."

    # New weights for m3 (say): the next run writes version 2, in which m3 is the best source.
    store.write_similarity(probe_id, "out", models, _matrix([0.2, 0.5, 0.95]), "spearman")
    [section] = ranking_sections(store, tmp_path)
    shown = section.tables[0]
    assert list(shown["candidate"]) == ["m3", "m2", "m1"] and set(shown["similarity_version"]) == {2}
    assert "version 2" in section.text and "version 1" in section.text
