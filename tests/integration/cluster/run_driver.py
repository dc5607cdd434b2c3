"""A driver process for the crash tests: runs the similarity stage and prints what it computed as JSON."""

import argparse
import json
import logging

from cluster.connect import connect
from cluster.options import SimilarityOptions
from cluster.pipeline import run_similarity
from storage import Store


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("store")
    parser.add_argument("probe_id")
    parser.add_argument("models")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    connect(num_cpus=2)
    summary = run_similarity(Store.open(args.store), args.probe_id, args.models.split(","), ["out"], SimilarityOptions(block_size=8))
    print(json.dumps({"computed": [model for model, _ in summary.computed_rdms], "versions": summary.versions}))


if __name__ == "__main__":
    main()
