"""What a transformers ``config.json`` from a manifest may hold: settings of its class, never code or a hub name.

A config file is untrusted data, however it was checked: its sha256 only says it is the file the
manifest meant. Some keys would make transformers import a repository's code or fetch a kernel
from the hub (``auto_map``, ``trust_remote_code``, an ``attn_implementation`` naming
``org/repo``...). :func:`check_config_document` refuses them, at any depth, before transformers is
imported; :func:`check_config_keys` then admits only the keys the class's own config holds.
The attention implementation is one of the built-in ones (``eager``, ``sdpa``), passed to the
config explicitly; the name of the checkpoint (``_name_or_path``) is not passed on.

Example::

    {"model_type": "vit", "hidden_size": 384, "attn_implementation": "kernels-community/flash-attn"}
    -> ArchitectureError: field 'architecture.config' key 'attn_implementation' is
       'kernels-community/flash-attn'; only eager, sdpa or null are allowed (...)
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from rsa_ray.models.architecture_kwargs import ArchitectureError

FIELD = "architecture.config"
MAX_CONFIG_BYTES = 16 << 20  # a config.json is kilobytes; a label map of 21k classes is about a megabyte
# Keys that name code, kernels or hub locations, at any depth: allowed only as null or false.
CODE_KEYS: Mapping[str, str] = MappingProxyType({
    "auto_map": "names classes in a repository's code to import",
    "trust_remote_code": "asks to run a repository's code",
    "custom_pipelines": "names a repository's pipeline code to import",
    "quantization_config": "selects a quantizer, which imports code and may fetch kernels",
    "kernel_config": "names kernels to fetch from the hub",
    "use_kernels": "asks for kernels from the hub",
    "backbone": "names a model to fetch from a hub",
    "use_pretrained_backbone": "fetches a backbone's weights",
    "use_timm_backbone": "builds a timm backbone that may fetch weights",
    "pretrained_model_name_or_path": "names a hub repository",
    "adapter_config": "names adapter weights to fetch",
})
BUILT_IN_ATTENTION = ("eager", "sdpa")
BUILT_IN_EXPERTS = ("eager",)
# Keys naming the implementation of attention or experts, and the values allowed (besides null).
IMPLEMENTATION_KEYS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "attn_implementation": BUILT_IN_ATTENTION,
    "_attn_implementation": BUILT_IN_ATTENTION,
    "_attn_implementation_internal": BUILT_IN_ATTENTION,
    "experts_implementation": BUILT_IN_EXPERTS,
    "_experts_implementation": BUILT_IN_EXPERTS,
    "_experts_implementation_internal": BUILT_IN_EXPERTS,
})
# Written by save_pretrained and informational only: checked for code keys, then not passed on.
NOT_PASSED_ON = frozenset({"_name_or_path", "_commit_hash", "_attn_implementation_autoset", *IMPLEMENTATION_KEYS})
# Keys older transformers versions wrote that are still settings, besides those of the class's own config.
LEGACY_KEYS = frozenset({"torch_dtype", "use_bfloat16", "torchscript", "tie_word_embeddings", "pruned_heads",
                         "output_attentions", "output_hidden_states", "return_dict"})
_ALLOWED_VALUE = ("null or false",)


def _walk(document: Any) -> list[tuple[str, Any]]:
    """Every ``(dotted key, value)`` of nested mappings and lists, without recursion."""
    found, pending = [], [("", document)]
    while pending:
        prefix, value = pending.pop()
        if isinstance(value, Mapping):
            for key, item in value.items():
                dotted = f"{prefix}.{key}" if prefix else str(key)
                found.append((dotted, item))
                pending.append((dotted, item))
        elif isinstance(value, list):
            pending.extend((f"{prefix}[{index}]", item) for index, item in enumerate(value))
    return found


def _problem(key: str, value: Any) -> str | None:
    name = key.rsplit(".", 1)[-1]
    if name in CODE_KEYS and value not in (None, False):
        return (f"key {key!r} {CODE_KEYS[name]}; a config from a manifest may not name code or a hub location "
                "(allowed only as null or false)")
    if name in IMPLEMENTATION_KEYS and value is not None and (not isinstance(value, str)
                                                            or value not in IMPLEMENTATION_KEYS[name]):
        return (f"key {key!r} is {value!r}; only {', '.join(IMPLEMENTATION_KEYS[name])} or null are allowed "
                "(a config from a manifest may not name kernels or code)")
    return None


def check_config_document(document: Mapping[str, Any]) -> tuple[dict[str, Any], str | None]:
    """Refuses a config that names code, kernels or a hub location; returns what to pass on and the attention.

    Runs before transformers is imported.

    Args:
        document: The parsed config.json.

    Returns:
        The document without the keys that are not passed on (:data:`NOT_PASSED_ON`), and the
        attention implementation it asks for (``"eager"``, ``"sdpa"`` or None for the default).

    Raises:
        ArchitectureError: Naming ``architecture.config``, the key and the rule.

    Example:
        >>> check_config_document({"model_type": "vit", "attn_implementation": "eager", "_name_or_path": "org/vit"})
        ({'model_type': 'vit'}, 'eager')
        >>> check_config_document({"auto_map": {"AutoModel": "modeling.Evil"}})  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        rsa_ray.models.architecture_kwargs.ArchitectureError: field 'architecture.config' key 'auto_map' names classes...
    """
    for key, value in sorted(_walk(document)):
        problem = _problem(key, value)
        if problem is not None:
            raise ArchitectureError(FIELD, problem)
    attention = document.get("attn_implementation") or document.get("_attn_implementation")
    return {key: value for key, value in document.items() if key not in NOT_PASSED_ON}, attention


def check_config_keys(document: Mapping[str, Any], class_name: str, known_keys: frozenset[str]) -> None:
    """Refuses a top-level key that is not a setting of the config class (nor a legacy one).

    Args:
        document: The config, as :func:`check_config_document` returns it.
        class_name: The config class, for the message (e.g. ``"ViTConfig"``).
        known_keys: The keys of the class's own config (its default ``to_dict()``).

    Raises:
        ArchitectureError: Naming ``architecture.config`` and the first unknown key.

    Example:
        >>> check_config_keys({"hidden_size": 32, "loader": "mylab.code"}, "ViTConfig", frozenset({"hidden_size"}))
        Traceback (most recent call last):
        ...
        rsa_ray.models.architecture_kwargs.ArchitectureError: field 'architecture.config' key 'loader' is not a setting of ViTConfig; a config from a manifest may hold only its class's settings
    """
    unknown = sorted(str(key) for key in document if key not in known_keys | LEGACY_KEYS)
    if unknown:
        raise ArchitectureError(FIELD, f"key {unknown[0]!r} is not a setting of {class_name}; a config from a "
                                "manifest may hold only its class's settings")
