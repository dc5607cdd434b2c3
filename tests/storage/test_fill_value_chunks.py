"""Chunks that hold only the fill value (all-zero uint8 images: zarr skips such chunks by default) are written and read back."""

from __future__ import annotations

import numpy as np

from storage import Store


def test_an_all_zero_probe_set_reads_back(tmp_path):
    store = Store.open(str(tmp_path / "store"))
    images = np.zeros((4, 8, 8, 3), np.uint8)
    probe_id = store.add_probe_set(images, ["a", "b", "c", "d"], "zeros")
    np.testing.assert_array_equal(store.read_probe_images(probe_id), images)
    np.testing.assert_array_equal(store.read_probe_images(probe_id, [0]), images[:1])

