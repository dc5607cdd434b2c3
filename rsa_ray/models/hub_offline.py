"""The Hugging Face hub kept off while a model is built from a manifest's files.

Library models are built from the entry's checked files only (:mod:`rsa_ray.models.hub`,
:mod:`rsa_ray.models.transformers_source`); nothing may come from the hub, whatever a config
file or the local hub cache holds. :func:`hub_offline` makes that hold for the build itself,
not by an empty cache: it sets ``HF_HUB_OFFLINE=1`` / ``TRANSFORMERS_OFFLINE=1`` (and the
already-read ``huggingface_hub.constants.HF_HUB_OFFLINE``), and replaces the functions that
download files, repositories' code or hub kernels with one that refuses, for the block only;
everything is restored after it. Builds under it are serialised (the switch is process-wide).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import threading
from collections.abc import Iterator

from rsa_ray.models.architecture_kwargs import ArchitectureError

OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
# (module, function) pairs that reach the hub: files, snapshots, a repository's code, hub kernels.
# Missing ones (another library version) are skipped.
HUB_FUNCTIONS = (
    ("huggingface_hub", "hf_hub_download"),
    ("huggingface_hub", "snapshot_download"),
    ("huggingface_hub.file_download", "hf_hub_download"),
    ("huggingface_hub._snapshot_download", "snapshot_download"),
    ("transformers.utils.hub", "cached_file"),
    ("transformers.utils.hub", "cached_files"),
    ("transformers.utils.hub", "hf_hub_download"),
    ("transformers.utils.hub", "snapshot_download"),
    ("transformers.dynamic_module_utils", "get_class_from_dynamic_module"),
    ("transformers.dynamic_module_utils", "get_cached_module_file"),
    ("transformers.integrations.hub_kernels", "get_kernel"),
    ("transformers.integrations.hub_kernels", "lazy_load_kernel"),
    ("transformers.integrations.hub_kernels", "load_and_register_attn_kernel"),
    ("transformers.modeling_utils", "lazy_import_flash_attention"),
    ("transformers.modeling_flash_attention_utils", "lazy_import_flash_attention"),
    ("timm.models._hub", "download_cached_file"),
    ("timm.models._hub", "load_model_config_from_hf"),
)
_BUILD_LOCK = threading.RLock()


def _refuse(name: str):
    def refused(*args, **kwargs):
        raise ArchitectureError("architecture", f"building the model called {name}, which reaches the Hugging Face "
                                "hub; refused: a model is built only from its entry's checked files")
    refused.__name__ = f"refused_{name}"
    return refused


def _loaded(module_name: str):
    if module_name.split(".")[0] not in sys.modules:
        return None  # a library not in use is not imported for this
    try:
        return importlib.import_module(module_name)
    except ImportError:
        return None


@contextlib.contextmanager
def _replaced_hub_functions() -> Iterator[None]:
    saved = []
    try:
        for module_name, name in HUB_FUNCTIONS:
            module = _loaded(module_name)
            if module is not None and callable(getattr(module, name, None)):
                saved.append((module, name, getattr(module, name)))
                setattr(module, name, _refuse(name))
        yield
    finally:
        for module, name, function in reversed(saved):
            setattr(module, name, function)


def _is_true(value: str | None) -> bool:
    return (value or "").strip().upper() in {"1", "ON", "YES", "TRUE"}


@contextlib.contextmanager
def _offline_switches() -> Iterator[None]:
    """The offline variables set to 1 for the block; afterwards they and the hub's constant are as before."""
    saved_environment = {variable: os.environ.get(variable) for variable in OFFLINE_VARIABLES}
    constants = sys.modules.get("huggingface_hub.constants")
    saved_constant = getattr(constants, "HF_HUB_OFFLINE", None)
    try:
        os.environ.update({variable: "1" for variable in OFFLINE_VARIABLES})
        yield
    finally:
        for variable, value in saved_environment.items():
            if value is None:
                os.environ.pop(variable, None)
            else:
                os.environ[variable] = value
        after = sys.modules.get("huggingface_hub.constants")  # perhaps imported in the block
        if after is not None:
            after.HF_HUB_OFFLINE = saved_constant if constants is not None else _is_true(os.environ.get("HF_HUB_OFFLINE"))


def _import(library: str) -> None:
    try:
        importlib.import_module(library)
    except ImportError as error:
        top = library.split(".")[0]
        raise ImportError(f"{top} is needed for this model but is not installed; install it (e.g. `pip install {top}`)"
                          ) from error


@contextlib.contextmanager
def hub_offline(*libraries: str) -> Iterator[None]:
    """Within the block the hub is off and its download functions refuse; restored after.

    Args:
        libraries: Modules to import first (e.g. ``"transformers"``), so they see the offline
            switches and their hub functions are replaced too.

    Raises:
        ImportError: If one of ``libraries`` is not installed.
        ArchitectureError: From any replaced function that is called in the block.

    Example:
        >>> with hub_offline():
        ...     os.environ["HF_HUB_OFFLINE"]
        '1'
    """
    with _BUILD_LOCK, _offline_switches():
        for library in libraries:
            _import(library)
        constants = sys.modules.get("huggingface_hub.constants")
        if constants is not None:
            constants.HF_HUB_OFFLINE = True
        with _replaced_hub_functions():
            yield
