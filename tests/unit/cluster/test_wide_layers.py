"""The local column-block file a wide layer is kept in while its batches pass."""

import numpy as np
import pytest

from cluster.wide_layers import ColumnBlockFile, block_columns, is_wide
from rsa_ray.blockwise_rdm import compute_rdm_from_blocks
from rsa_ray.rdm import compute_rdm


def test_column_block_file_written_by_row_batches_reads_back_every_block(tmp_path):
    rng = np.random.default_rng(3)
    matrix = rng.normal(size=(37, 1001)).astype(np.float32)
    with ColumnBlockFile(37, 1001, columns=150, directory=str(tmp_path)) as blocks:
        for start in range(0, 37, 10):
            blocks.write_rows(start, matrix[start:start + 10])
        read = np.concatenate([blocks.read_block(index) for index in range(blocks.n_blocks)], axis=1)
        rdm = compute_rdm_from_blocks(blocks.read_block, blocks.n_blocks)
    np.testing.assert_array_equal(read, matrix)
    np.testing.assert_allclose(rdm, compute_rdm(matrix), rtol=0, atol=1e-10)
    assert list(tmp_path.iterdir()) == []  # the file is unlinked from the start


def test_column_block_file_refuses_rows_that_do_not_fit(tmp_path):
    with ColumnBlockFile(4, 6, columns=4, directory=str(tmp_path)) as blocks, pytest.raises(ValueError, match="fit"):
        blocks.write_rows(3, np.zeros((2, 6), np.float32))


def test_block_columns_keep_a_block_within_its_bytes():
    assert block_columns(500, 802_816) * 500 * 12 <= 64 * 2**20
    assert block_columns(10, 5) == 5


def test_a_layer_is_wide_past_its_threshold_only():
    assert is_wide(500, 802_816, 512) and not is_wide(500, 802_816, None) and not is_wide(500, 2048, 512)


def test_rows_kept_through_the_stored_dtype_block_by_block_are_the_whole_batch_rounded(tmp_path):
    rows = np.random.default_rng(4).normal(scale=300.0, size=(5, 23)).astype(np.float32)
    with ColumnBlockFile(5, 23, columns=7, directory=str(tmp_path)) as blocks:
        blocks.write_rows(0, rows, through_dtype="float16")
        kept = np.concatenate([blocks.read_block(index) for index in range(blocks.n_blocks)], axis=1)
    np.testing.assert_array_equal(kept, rows.astype(np.float16).astype(np.float32))
    assert not np.array_equal(kept, rows)  # the rounding happened
