"""The demo zoo that ships inside the package (``rsa_ray/zoo``): locating, reading and building it.

>>> manifest = read_shipped_zoo()  # doctest: +SKIP
>>> model = build_zoo_model(manifest.models[0])  # doctest: +SKIP
"""

from __future__ import annotations

import os
from pathlib import Path

from torch import nn

from rsa_ray.models.builders import build_model
from rsa_ray.models.entry import ModelEntry
from rsa_ray.models.manifest import MANIFEST_NAME, ZooManifest, read_manifest


def shipped_zoo_dir() -> Path:
    """The folder of the shipped demo zoo (``manifest.yaml`` and ``*.safetensors``).

    Example:
        >>> shipped_zoo_dir().name
        'zoo'
    """
    return Path(__file__).resolve().parent.parent / "zoo"


def read_shipped_zoo() -> ZooManifest:
    """Reads the shipped zoo's manifest.

    Raises:
        FileNotFoundError: If the package was installed without its zoo data.
    """
    path = shipped_zoo_dir() / MANIFEST_NAME
    if not path.is_file():
        raise FileNotFoundError(f"the demo zoo manifest is missing at {os.fspath(path)!r}; reinstall rsa-ray with package data")
    return read_manifest(path)


def build_zoo_model(entry: ModelEntry, zoo_dir: str | os.PathLike | None = None) -> nn.Module:
    """Builds one zoo model with sha256-checked weights (its architecture from the registry).

    Args:
        entry: An entry of the zoo's manifest.
        zoo_dir: The zoo's folder (the shipped zoo by default).
    """
    base = Path(zoo_dir) if zoo_dir is not None else shipped_zoo_dir()
    return build_model(entry, base_dir=base)
