"""An encoder actor holds one batch's outputs at a time: each is freed before the next forward pass.

The actor is constructed in the test process (no Ray), its garbage collector off, so only what
reference counting frees counts: a batch kept alive by a variable, a dict or a reference cycle (an
exception kept with its traceback, which holds its callers' frames) would still be alive.
"""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

import rsa_ray.models as models
from cluster.encoder import EncoderActor
from cluster.options import ExtractionOptions
from cluster.plan import ExtractionTask
from cluster.resolvers import ManifestResolver
from storage import EntryKey, EntryKind, Store, load_manifest
from tests.unit.jobs.bad_inputs import ZOO

WIDE, NARROW = "encoder.block2", "encoder.output"


@pytest.fixture
def gc_off():
    gc.collect()
    gc.disable()
    yield
    gc.enable()


@pytest.mark.parametrize("wide_layer_mb", [0.5, None], ids=["wide", "stored"])
def test_each_batch_is_freed_before_the_next_forward_pass(tmp_path, monkeypatch, gc_off, wide_layer_mb):
    entry = next(e for e in load_manifest(str(ZOO / "manifest.yaml")) if set(e.layers) >= {WIDE, NARROW})
    store = Store.open(str(tmp_path / "store"))
    images = np.random.default_rng(0).integers(0, 255, size=(30, 64, 64, 3), dtype=np.uint8)
    probe_id = store.add_probe_set(images, [f"i{i}" for i in range(30)], "random")
    store.register_models([entry])
    batches: list[list[weakref.ref]] = []
    alive_at_forward: list[int] = []
    real_extract = models.extract_layer_features

    def watched_extract(*args, **kwargs):
        alive_at_forward.append(sum(ref() is not None for batch in batches for ref in batch))
        features = real_extract(*args, **kwargs)
        batches.append([weakref.ref(rows) for rows in features.values()])
        return features

    monkeypatch.setattr(models, "extract_layer_features", watched_extract)
    # 30 × 8,192 × 4 bytes ≈ 0.94 MiB: over 0.5 MiB, so block2 is wide; None stores it.
    actor = EncoderActor(store, ManifestResolver((entry,), str(ZOO)),
                         ExtractionOptions(batch_size=8, wide_layer_mb=wide_layer_mb))

    outcomes = actor.extract(probe_id, ExtractionTask(entry.model_id, (WIDE, NARROW)))

    assert [outcome.error for outcome in outcomes] == [None, None]
    assert len(batches) == 4 and alive_at_forward == [0, 0, 0, 0]
    kind = EntryKind.RANKS if wide_layer_mb else EntryKind.ACTIVATIONS
    assert store.is_complete(EntryKey(probe_id, entry.model_id, WIDE), kind)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, None])
def test_the_finite_check_without_a_mask_agrees_with_isfinite(bad):
    from cluster.encoder import check_finite

    rows = np.random.default_rng(1).normal(size=(4, 50)).astype(np.float32)
    if bad is not None:
        rows[2, 17] = bad
    if np.isfinite(rows).all():
        check_finite(rows, "layer1", 8, 12)
    else:
        with pytest.raises(ValueError, match="layer 'layer1' gave NaN or Inf activations for images 8..11"):
            check_finite(rows, "layer1", 8, 12)
