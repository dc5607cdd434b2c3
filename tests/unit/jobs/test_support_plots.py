"""Branch-support labels sit on the nodes scipy's dendrogram draws."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.cluster import hierarchy

from jobs.report.support_plots import node_positions


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_node_positions_match_scipys_drawn_links(seed):
    points = np.random.default_rng(seed).normal(size=(9, 3))
    points[3] = points[4]  # a zero-height merge
    linkage = hierarchy.linkage(points, method="average")
    drawn = hierarchy.dendrogram(linkage, no_plot=True)
    tops = sorted((round((ic[1] + ic[2]) / 2, 9), round(dc[1], 9)) for ic, dc in zip(drawn["icoord"], drawn["dcoord"]))
    ours = sorted((round(x, 9), round(h, 9)) for x, h in node_positions(linkage, drawn["leaves"]))
    assert ours == tops
