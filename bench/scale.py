"""Scale benchmark: N real-architecture models on a multi-node loopback Ray cluster with an S3 store.

Not a test: prints figures (and writes them as JSON with ``--json``). From scratch, in a temp folder:

1. writes a zoo of N models (``bench/scale_zoo.py``: the example zoo's pretrained MobileNetV2 and MTCNN
   P/R/O-Nets, and seeded random torchvision nets of 9 architectures, 64 px inputs), a probe set of
   ``--images`` images and a labelled 4-class target;
2. starts a moto S3 server behind a counting proxy (``bench/scale_proxy.py``) and a Ray cluster of a head
   and K-1 worker nodes with ``ray start`` on loopback, each node with its own ports, ``--num-cpus``
   (1, 2, 3, ...) and custom resource (``bench/scale_cluster.py``);
3. runs the real command against it, as a user would: ``probes add``, ``models add``, ``taxonomy`` (the
   last worker node SIGKILLed once a quarter of the models are extracted), ``rank --data`` with the default
   score, then ``rerank --every`` watching a folder where 10 more models land, stopped once it took them;
4. counts, from the store's work log, how often each model was extracted on each probe set;
5. times a plain single-process torch loop over the same models and images (the baseline).

Run: ``python bench/scale.py --models 24 --nodes 3 [--json scale.json]`` (the smoke preset).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import signal
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.scale_cluster import LoopbackCluster, peak_rss_mib  # noqa: E402
from bench.scale_commands import Command, run_command  # noqa: E402
from bench.scale_proxy import CountingProxy  # noqa: E402
from bench.scale_zoo import SIDE, labelled_target, land_new_models, probe_images, write_scale_zoo  # noqa: E402
from tests.support.s3_server import ACCESS_KEY, SECRET_KEY, MotoServer, create_bucket  # noqa: E402

TARGET = "colours"
STALL_S = 90  # seconds without a new extraction after the kill before a replacement node joins


class MemoryPoller:
    """Polls the cluster's actors (Ray state API) and the running driver for their peak resident memory."""

    def __init__(self, cluster: LoopbackCluster):
        self.cluster, self.actors, self.driver_pid = cluster, {}, None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(2.0):
            for actor in self.cluster.actors():
                peak = peak_rss_mib(actor.pid) if actor.pid else None
                if peak is not None:
                    key = (actor.class_name, actor.pid, actor.node_id[:8])
                    self.actors[key] = max(self.actors.get(key, 0.0), peak)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def _say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def _store(url: str, endpoint: str):
    from storage import Store

    return Store.open(url, {"key": ACCESS_KEY, "secret": SECRET_KEY, "endpoint_url": endpoint})


def extract_counts(store) -> dict[str, collections.Counter]:
    """Per probe set, how many extraction records each model has in the work log."""
    counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for record in store.work_records("extract"):
        counts[record["probe_id"]][record["model_id"]] += 1
    return counts


def _taxonomy_with_kill(cluster, env, counts, store, n_models, kill_at, url, work):
    """Runs taxonomy and SIGKILLs the last worker node once ``kill_at`` models are extracted on the shared set.

    If extraction then makes no progress for ``STALL_S`` seconds while models are still missing (not while the
    RDM and similarity stages run after the last extraction), a replacement node with the killed node's
    CPUs and resource joins (as a cluster's autoscaler would start one), and the stall is recorded.
    """
    command = Command("taxonomy", ["taxonomy", "--store", url, "--address", cluster.address, "--bootstrap", "0",
                                   "--out", str(work / "report")], env, counts)
    shared = store.shared_probe_set_ids()[0]
    node, killed, last_done, last_change = len(cluster.cpus) - 1, {}, -1, time.monotonic()
    while command.running():
        done = len(extract_counts(store).get(shared, {}))
        if done != last_done:
            last_done, last_change = done, time.monotonic()
        if not killed and kill_at <= done < n_models:
            on_node = [a for a in cluster.actors() if a.node_id == _node_id(cluster, node)]
            victims = cluster.kill_node(node)
            _say(f"killed node {node} ({len(victims)} processes, {len(on_node)} actors) after {done} models extracted")
            killed = {"node": node, "models_extracted_before": done, "processes_killed": len(victims),
                      "actors_on_node": len(on_node), "at_s": round(time.monotonic() - command._start, 1),
                      "replacement_node_after_stall_s": None}
        elif killed and killed["replacement_node_after_stall_s"] is None and done < n_models \
                and time.monotonic() - last_change > STALL_S:  # once every model is extracted, no stall is possible
            killed["replacement_node_after_stall_s"] = round(time.monotonic() - last_change, 1)
            killed["stalled_at_models"] = done
            _say(f"no extraction for {STALL_S} s after the kill (at {done} models): starting a replacement node")
            cluster.add_node(node, env)
        time.sleep(2.0)
    run = command.wait(timeout=60)
    if run.returncode not in (0, 3):
        raise RuntimeError(f"taxonomy exited {run.returncode}:\n" + "\n".join(run.lines[-40:]))
    killed["failed_in_killed_run"] = sorted({line.split()[1] for line in run.lines if line.strip().startswith("FAILED ")})
    return run, killed


def _node_id(cluster, index: int) -> str | None:
    for node in cluster.alive_nodes():
        if node.resources_total.get(f"node{index}"):
            return node.node_id
    return None


def _rerank_watch(cluster, env, counts, store, url, work, landing, new_entries, folder):
    """Starts ``rerank --every 10s`` on the watched folder, lands the new models, stops it once it took them."""
    args = ["rerank", "--store", url, "--address", cluster.address, "--models-from", str(landing),
            "--every", "10s", "--out", str(work / "rerank")]
    command = Command("rerank", args, env, counts)
    time.sleep(15.0)  # its first round finds the watched folder empty
    land_new_models(folder, landing, new_entries)
    landed_at = time.monotonic()
    new_ids = {e.model_id for e in new_entries}
    deadline = landed_at + 3 * 3600
    while time.monotonic() < deadline and command.running():
        per_probe = extract_counts(store)
        if all(new_ids <= set(models) for models in per_probe.values()) and any(
                line.startswith("layer ") and "version" in line for line in command.run.lines):
            break
        time.sleep(3.0)
    picked_up_s = time.monotonic() - landed_at
    time.sleep(5.0)
    if command.running():
        command.process.send_signal(signal.SIGTERM)
    run = command.wait(timeout=600)
    return run, picked_up_s


def baseline_loop(entries, folder: Path, images: np.ndarray) -> float:
    """Seconds for one process to build every model and read its ``output`` role on the probe images."""
    from rsa_ray.models.builders import build_model
    from rsa_ray.models.inference import extract_layer_features

    start = time.perf_counter()
    for entry in entries:
        model = build_model(entry, base_dir=folder)
        extract_layer_features(model, images, [entry.layer("output")], entry.preprocessing)
    return time.perf_counter() - start


def _store_bytes(endpoint: str, bucket: str) -> int:
    import s3fs

    fs = s3fs.S3FileSystem(key=ACCESS_KEY, secret=SECRET_KEY, endpoint_url=endpoint)
    return int(fs.du(bucket))


def run_benchmark(n_models: int, n_nodes: int, n_images: int, n_new: int, work: Path) -> dict:
    zoo = work / "zoo"
    manifest, landing, entries, new_entries = write_scale_zoo(zoo, n_models, n_new)
    images = probe_images(n_images)
    np.savez(work / "probes.npz", images=images)
    target_images, labels = labelled_target(max(n_images, 40))
    np.savez(work / "target.npz", images=target_images, labels=labels)
    figures: dict = {"models": n_models, "nodes": n_nodes, "images": n_images, "side_px": SIDE, "new_models": n_new,
                     "architectures": len({e.architecture.target for e in entries})}
    with MotoServer() as moto:
        proxy = CountingProxy(moto.port)
        bucket = f"scale-{uuid.uuid4().hex[:12]}"
        create_bucket(moto.endpoint_url, bucket)
        url = f"s3://{bucket}/store"
        cluster = LoopbackCluster(cpus=tuple(range(1, n_nodes + 1)))
        # How a cluster gives its workers credentials: from the environment the nodes start in.
        env = cluster.environment(PYTHONPATH=str(Path(__file__).resolve().parents[1]),
                                  AWS_ENDPOINT_URL_S3=proxy.endpoint_url, AWS_ACCESS_KEY_ID=ACCESS_KEY,
                                  AWS_SECRET_ACCESS_KEY=SECRET_KEY, AWS_DEFAULT_REGION="us-east-1")
        try:
            started = time.monotonic()
            cluster.start(env)
            figures["cluster_start_s"] = round(time.monotonic() - started, 1)
            _say(f"{n_nodes} Ray nodes up in {figures['cluster_start_s']} s at {cluster.address}")
            poller = MemoryPoller(cluster)
            store = _store(url, moto.endpoint_url)
            address = ["--store", url, "--address", cluster.address]
            runs = [run_command("probes add", ["probes", "add", str(work / "probes.npz"), *address], env, proxy.counts),
                    run_command("models add", ["models", "add", str(manifest), *address], env, proxy.counts)]
            taxonomy, killed = _taxonomy_with_kill(cluster, env, proxy.counts, store, n_models,
                                                   max(2, n_models // 4), url, work)
            runs.append(taxonomy)
            if taxonomy.returncode == 3:  # some models failed with the node: run it again, as a user would
                _say(f"taxonomy exited 3 ({len(killed['failed_in_killed_run'])} models failed); running it again")
                runs.append(run_command("taxonomy again", ["taxonomy", *address, "--bootstrap", "0",
                                                           "--out", str(work / "report")], env, proxy.counts))
            _say(f"taxonomy done in {taxonomy.seconds:.0f} s")
            runs.append(run_command("rank --data", ["rank", "--target", TARGET, "--data", str(work / "target.npz"),
                                                    "--bootstrap", "0", "--out", str(work / "rank"), *address],
                                    env, proxy.counts))
            rerank, picked_up_s = _rerank_watch(cluster, env, proxy.counts, store, url, work, landing, new_entries, zoo)
            runs.append(rerank)
            _say(f"rerank stopped (exit {rerank.returncode}) {picked_up_s:.0f} s after the models landed")
            figures["end_to_end_s"] = round(time.monotonic() - started, 1)
            poller.stop()
            figures.update(_outcome(store, entries, new_entries, killed, picked_up_s, runs, poller, proxy))
            figures["store_bytes"] = _store_bytes(moto.endpoint_url, bucket)
        finally:
            cluster.stop()
            proxy.stop()
    _say("cluster stopped; timing the single-process loop")
    figures["baseline_s"] = round(baseline_loop(entries, zoo, images), 1)
    return figures


def _outcome(store, entries, new_entries, killed, picked_up_s, runs, poller, proxy) -> dict:
    counts = extract_counts(store)
    shared = store.shared_probe_set_ids()[0]
    everyone = {e.model_id for e in entries} | {e.model_id for e in new_entries}
    per_probe = {("shared" if probe == shared else f"target:{probe[:12]}"): dict(collections.Counter(c.values()))
                 for probe, c in counts.items()}
    return {
        "killed": killed, "rerank_picked_up_s": round(picked_up_s, 1),
        "extracted_once_on_shared": set(counts[shared]) == everyone and set(counts[shared].values()) == {1},
        "missing_on_shared": sorted(everyone - set(counts[shared])),
        "extracted_twice": sorted(f"{p[:12]}/{m}" for p, c in counts.items() for m, n in c.items() if n > 1),
        "work_log_extract_histogram": per_probe,
        "new_models_extracted": sorted({e.model_id for e in new_entries} & set(counts[shared])),
        "commands": {r.name: {"returncode": r.returncode, "seconds": round(r.seconds, 1),
                              "first_progress_s": None if r.first_progress_s is None else round(r.first_progress_s, 1),
                              "driver_peak_mib": round(r.driver_peak_mib), **r.s3} for r in runs},
        "actor_peak_mib": {f"{cls}:{pid}@{node}": round(peak) for (cls, pid, node), peak in poller.actors.items()},
        "s3_total": proxy.counts.snapshot(),
    }


def print_figures(f: dict) -> None:
    n, total = f["models"], f["models"] + f["new_models"]
    print(f"scale benchmark: {n} models ({f['architectures']} architectures, {f['side_px']} px), "
          f"{f['images']} probe images, {f['nodes']} Ray nodes (loopback, --num-cpus 1..{f['nodes']}), "
          f"moto S3 behind a counting proxy; machine: {os.cpu_count()} cores shared, load {os.getloadavg()[0]:.1f}")
    print(f"{'stage':<12} {'s':>8} {'models/min':>11} {'1st progress s':>15} {'driver MiB':>11} "
          f"{'S3 req':>8} {'MB up':>8} {'MB down':>8}")
    for name, c in f["commands"].items():
        models = f["new_models"] if name == "rerank" else (0 if name == "probes add" else n)
        rate = f"{60 * models / c['seconds']:.1f}" if models else "-"
        first = "-" if c["first_progress_s"] is None else f"{c['first_progress_s']:.1f}"
        print(f"{name:<12} {c['seconds']:>8.1f} {rate:>11} {first:>15} {c['driver_peak_mib']:>11} "
              f"{c['requests']:>8} {c['bytes_sent'] / 1e6:>8.2f} {c['bytes_received'] / 1e6:>8.2f}")
    rate = 60 * total / f["end_to_end_s"]
    base = 60 * n / f["baseline_s"]
    print(f"end to end: {f['end_to_end_s']:.0f} s for {total} models = {rate:.1f} models/min; "
          f"single-process torch loop (build + forward, {n} models): {f['baseline_s']:.1f} s = {base:.1f} models/min; "
          f"ratio cluster/loop = {rate / base:.2f}")
    s3 = f["s3_total"]
    print(f"S3 per model: {s3['requests'] / total:.0f} requests, {s3['bytes_sent'] / total / 1e6:.3f} MB up, "
          f"{s3['bytes_received'] / total / 1e6:.3f} MB down ({s3['by_method']}); "
          f"store: {f['store_bytes'] / total / 1e6:.3f} MB per model ({f['store_bytes'] / 1e6:.1f} MB)")
    peaks = sorted(f["actor_peak_mib"].items(), key=lambda item: -item[1])
    print(f"actor peak RSS MiB ({len(peaks)} actors): " + ", ".join(f"{k}={v}" for k, v in peaks[:12]))
    print(f"killed: {f['killed'] or 'NO NODE WAS KILLED'}")
    print(f"work log (extractions per model -> models): {f['work_log_extract_histogram']}; "
          f"exactly once on the shared set: {f['extracted_once_on_shared']}; twice anywhere: {f['extracted_twice']}; "
          f"missing: {f['missing_on_shared']}")
    print(f"rerank --every took {len(f['new_models_extracted'])}/{f['new_models']} new models "
          f"{f['rerank_picked_up_s']:.0f} s after they landed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=24)
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--new", type=int, default=10, help="models landing for rerank --every")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    if args.nodes < 2 or args.models < 8:
        parser.error("--nodes must be at least 2 (a head and a worker to kill) and --models at least 8")
    with tempfile.TemporaryDirectory(prefix="rsa-scale-") as folder:
        figures = run_benchmark(args.models, args.nodes, args.images, args.new, Path(folder))
    print_figures(figures)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2, default=str))


if __name__ == "__main__":
    main()
