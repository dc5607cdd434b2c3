"""Small deterministic inputs for the storage tests (shared with the writer subprocess)."""

from __future__ import annotations

import base64
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from storage import EntryKey


def probe_images(n_images: int = 10, size: int = 4, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n_images, size, size, 3), dtype=np.uint8)


ARCHITECTURE = {"target": "rsa_ray.models.encoder_decoder:build_encoder_decoder", "kwargs": {"out_channels": 1}}
PREPROCESSING = {"resize": 64, "crop": 64, "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25],
                 "channel_order": "RGB", "value_range": [0, 1], "interpolation": "bilinear"}


def model_manifest(*model_ids: str, layers=("block4", "out")) -> list[dict[str, Any]]:
    """Valid entries (the ``entry_to_dict`` form) with absolute weights paths and distinct sha256s."""
    return [
        {"model_id": model_id, "source": "safetensors", "task": f"task-{model_id}", "task_type": "2d",
         "architecture": dict(ARCHITECTURE),
         "weights": {"path": f"/zoo/{model_id}.safetensors", "sha256": f"{index:064x}"},
         "layers": list(layers), "default_layer": layers[-1], "preprocessing": dict(PREPROCESSING)}
        for index, model_id in enumerate(model_ids)
    ]


def features_for(model_id: str, n_images: int, n_features: int = 6, dtype=np.float32) -> np.ndarray:
    """Deterministic activations for a model (a writer process recomputes the same ones)."""
    seed = sum(model_id.encode())
    return np.random.default_rng(seed).normal(size=(n_images, n_features)).astype(dtype)


def key(probe_id: str, model_id: str = "m1", layer: str = "out") -> EntryKey:
    return EntryKey(probe_id, model_id, layer)


def unit_vector(seed: int, terms: int = 45) -> np.ndarray:
    """A seeded float32 vector of unit norm, as a stored rank vector is."""
    values = np.random.default_rng(seed).normal(size=terms)
    return (values / np.linalg.norm(values)).astype(np.float32)


def flip_byte(store, name: str, offset: int = 3) -> None:
    """Flips one byte of a stored object behind the store's back (damage the checksums must catch)."""
    payload = bytearray(store._backend.get_many([name])[name])
    payload[offset] ^= 0xFF
    store._backend.put_bytes(name, bytes(payload))


def run_writer(target, job: dict, **popen_kwargs):
    """Starts ``tests.storage.writer_process`` for ``job`` against ``target``; returns the Popen."""
    root = Path(__file__).resolve().parents[2]
    shipped = base64.b64encode(pickle.dumps(target.open())).decode()
    full_job = {"store": shipped, "layer": "out", **job}
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.storage.writer_process", json.dumps(full_job)],
        cwd=root, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen_kwargs,
    )
