"""A manifest of some of the shipped zoo's models, for tests that register them through `models add`."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path

from rsa_ray.models import read_manifest, shipped_zoo_dir
from rsa_ray.models.manifest import ZooManifest, write_manifest


def shipped_models_manifest(folder: Path, model_ids: Iterable[str]) -> Path:
    """Writes ``folder/manifest.yaml`` with the shipped zoo's entries of ``model_ids``, weights paths made absolute."""
    shipped, wanted = shipped_zoo_dir(), set(model_ids)
    entries = [dataclasses.replace(e, weights=dataclasses.replace(e.weights, path=str(shipped / e.weights.path)))
               for e in read_manifest(shipped / "manifest.yaml").models if e.model_id in wanted]
    folder.mkdir()
    write_manifest(ZooManifest(tuple(entries)), folder / "manifest.yaml")
    return folder / "manifest.yaml"
