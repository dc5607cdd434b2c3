"""Synthetic zoos for the pipeline tests: registered models with activations in a store."""

from __future__ import annotations

import numpy as np

from storage import EntryKey, Store, parse_manifest


def registry_entries(model_ids, layers=("out",)):
    return parse_manifest(
        [
            {
                "id": model_id,
                "task": f"task-{model_id}",
                "task_type": "2d",
                "builder": "synthetic",
                "weights": {"uri": f"file:///synthetic/{model_id}.safetensors", "sha256": "0" * 64},
                "layers": list(layers),
            }
            for model_id in model_ids
        ]
    )


def synthetic_features(model_ids, n_images, n_features=24, seed=0):
    """Features with structure shared across models (so similarities differ), float32."""
    generator = np.random.default_rng(seed)
    shared = generator.normal(size=(n_images, n_features))
    return {
        model_id: (shared * (1 + index % 4) + generator.normal(scale=1 + index, size=(n_images, n_features))).astype(np.float32)
        for index, model_id in enumerate(model_ids)
    }


def make_store(url, model_ids, n_images=30, layers=("out",), seed=0):
    """A store with a probe set, the models registered and their activations written."""
    store = Store.open(url)
    images = np.random.default_rng(seed).integers(0, 255, size=(n_images, 4, 4, 3), dtype=np.uint8)
    probe_id = store.add_probe_set(images, [f"img{i}" for i in range(n_images)], "synthetic")
    features = add_models(store, probe_id, model_ids, layers, seed)
    return store, probe_id, features


def add_models(store, probe_id, model_ids, layers=("out",), seed=0):
    n_images = store.probe_set(probe_id).n_images
    store.register_models(registry_entries(model_ids, layers))
    features = {}
    for layer_index, layer in enumerate(layers):
        per_layer = synthetic_features(model_ids, n_images, seed=seed + 100 * layer_index + hash(tuple(model_ids)) % 1000)
        for model_id, values in per_layer.items():
            store.write_activations(EntryKey(probe_id, model_id, layer), values)
            features[(model_id, layer)] = values
    return features
