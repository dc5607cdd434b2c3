"""Synthetic zoos for the pipeline tests: registered models with activations in a store."""

from __future__ import annotations

import numpy as np

from storage import EntryKey, Store, parse_manifest


def registry_entries(model_ids, layers=("out",)):
    """Valid registry entries (``rsa_ray.models.ModelEntry``) for synthetic models; their weights are never read."""
    return parse_manifest(
        [
            {
                "model_id": model_id,
                "source": "safetensors",
                "task": f"task-{model_id}",
                "task_type": "2d",
                "architecture": {
                    "target": "rsa_ray.models.encoder_decoder:build_encoder_decoder",
                    "kwargs": {"out_channels": 1},
                },
                "weights": {"path": f"/synthetic/{model_id}.safetensors", "sha256": f"{index:064x}"},
                "layers": list(layers),
            }
            for index, model_id in enumerate(model_ids)
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


def write_random_zoo(folder, model_ids, absolute_paths=False):
    """Random-init Table S1 encoder-decoders saved as safetensors, with registry entries naming their sha256.

    Returns the entries (``rsa_ray.models.ModelEntry``) and the modules, by id.
    """
    import dataclasses
    import hashlib

    import torch
    from safetensors.torch import save_file

    from rsa_ray.models import build_encoder_decoder
    from rsa_ray.models.manifest import example_entry

    template = example_entry()
    entries, modules = [], {}
    for index, model_id in enumerate(model_ids):
        torch.manual_seed(index)
        module = build_encoder_decoder(out_channels=1).eval()
        path = folder / f"{model_id}.safetensors"
        save_file(module.state_dict(), path)
        weights = dataclasses.replace(
            template.weights,
            path=str(path.resolve()) if absolute_paths else path.name,
            sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
        )
        entries.append(dataclasses.replace(template, model_id=model_id, weights=weights))
        modules[model_id] = module
    return tuple(entries), modules


def task_worker_pids(task_name):
    """PIDs of Ray workers whose process title says they are running ``task_name`` now."""
    from pathlib import Path

    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if title.startswith(f"ray::{task_name}"):
                pids.append(int(entry.name))
    return pids


def run_in_thread(function, *args):
    """Starts ``function(*args)`` in a thread; returns the thread and a dict that gets its result or error."""
    import threading

    outcome = {}

    def target():
        try:
            outcome["result"] = function(*args)
        except BaseException as error:  # handed to the test thread
            outcome["error"] = error

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, outcome


def kill_first_worker_running(task_name, thread):
    """SIGKILLs the Ray workers caught running ``task_name`` while ``thread`` runs; returns their PIDs."""
    import os
    import signal
    import time

    killed = []
    while thread.is_alive() and not killed:
        for pid in task_worker_pids(task_name):
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
        time.sleep(0.002)
    return killed


def remove_worker_node_mid_run(function, args, progress, at_least, wait_s=300, join_s=600):
    """Runs ``function(*args)`` on a real two-node Ray cluster (head: 1 CPU, worker: 2) and removes the
    worker node once ``progress()`` reaches ``at_least`` (or ``wait_s`` passed, or the run ended).

    Returns:
        ``progress()`` when the node was removed, the run's thread (joined for up to ``join_s``) and the
        dict that holds its result or error (:func:`run_in_thread`).
    """
    import time

    import ray
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    worker_node = cluster.add_node(num_cpus=2)
    try:
        ray.init(address=cluster.address)
        cluster.wait_for_nodes()
        thread, outcome = run_in_thread(function, *args)
        deadline = time.monotonic() + wait_s
        while progress() < at_least and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        done_at_removal = progress()
        cluster.remove_node(worker_node)
        thread.join(timeout=join_s)
    finally:
        ray.shutdown()
        cluster.shutdown()
    return done_at_removal, thread, outcome
