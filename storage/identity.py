"""What a derived entry was computed from, as one digest: results follow their inputs.

Every derived entry (activations, RDMs, rank vectors) carries an ``identity``
attribute: the sha256 of the inputs that determine its values. For activations
those are the model's weights sha256, source, architecture and preprocessing,
the layer role with the module it is read from and its reduction (both recorded only where
they differ from the role's name and ``flatten``, so entries of the list form keep the
identity they had), the forward and stored dtypes, and the probe set's content hash; an
RDM adds its distance and centring to its activations' identity, and a rank
vector is derived from its RDM's. A similarity version records the identity of
every rank vector it multiplied. When any input changes (``models add
--replace`` with new weights, another ``--dtype``), the expected identity no
longer matches the stored one, so exactly the entries that depend on the change
count as missing and are recomputed; the others are kept.

Library versions are provenance, never identity: an entry written by another
release of rsa_ray, numpy or torch is read and resumed as it is. Entries written
before identities existed (no ``identity`` attribute) are matched on what they
did record: the weights sha256, the probe set's hash and the preprocessing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rsa_ray.model_entry import DEFAULT_ROLE
from rsa_ray.names import FLATTEN, PRECISIONS, forward_dtype
from storage.names import EntryKind, sha256_of_json

IDENTITY_ATTRIBUTE = "identity"
IDENTITY_INPUTS_ATTRIBUTE = "identity_inputs"
FORWARD_DTYPES = tuple(PRECISIONS.values())  # float32, tf32, bfloat16, float16
# The provenance fields that entries of the previous format recorded about their inputs.
_LEGACY_FIELDS = ("probe_hash", "weights_sha256", "preprocessing")


@dataclass(frozen=True)
class ComputeSettings:
    """The run settings that shape derived values, beside the model and the probe set.

    Attributes:
        forward_dtype: Forward-pass precision of the encoders as identities record it (``float32``, ``tf32``,
            ``bfloat16``, ``float16``); a flag name (``fp32``, ``bf16``...) is turned into it.
        activation_dtype: Stored activations (``float32`` or ``float16``).
        distance: RDM distance (``correlation``, ``cosine``, ``euclidean``).
        center_features: Whether features are centred over the probe images before the RDM.
        reduce: A reduction for every layer (the ``--reduce`` flag), overriding the manifest's; None
            keeps each layer's own.

    Example:
        >>> ComputeSettings(forward_dtype="bfloat16").forward_dtype, ComputeSettings(forward_dtype="bf16").forward_dtype
        ('bfloat16', 'bfloat16')
    """

    forward_dtype: str = "float32"
    activation_dtype: str = "float32"
    distance: str = "correlation"
    center_features: bool = True
    reduce: str | None = None

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "forward_dtype", forward_dtype(self.forward_dtype))
        except ValueError:
            raise ValueError(f"forward dtype must be one of {', '.join(FORWARD_DTYPES)} (or a precision flag "
                             f"{', '.join(PRECISIONS)}), got {self.forward_dtype!r}") from None
        if self.activation_dtype not in ("float32", "float16"):
            raise ValueError(f"activation dtype must be float32 or float16, got {self.activation_dtype!r}")


@dataclass(frozen=True)
class EntryIdentity:
    """The identity an entry must carry to be up to date.

    Attributes:
        digest: sha256 of ``inputs``' canonical JSON.
        inputs: What the entry is computed from (stored beside the digest, for people).
        legacy: The provenance fields an entry of the previous format must match instead.

    Example:
        >>> identity = EntryIdentity.of({"layer": "out"}, {"probe_hash": "ab"})
        >>> len(identity.digest)
        64
    """

    digest: str
    inputs: Mapping[str, Any]
    legacy: Mapping[str, Any]

    @classmethod
    def of(cls, inputs: Mapping[str, Any], legacy: Mapping[str, Any]) -> "EntryIdentity":
        """The identity of ``inputs`` (its digest computed here)."""
        return cls(sha256_of_json(dict(inputs)), dict(inputs), dict(legacy))

    def attributes(self) -> dict[str, Any]:
        """The attributes an entry with this identity stores."""
        return {IDENTITY_ATTRIBUTE: self.digest, IDENTITY_INPUTS_ATTRIBUTE: dict(self.inputs)}

    def matches(self, attributes: Mapping[str, Any]) -> bool:
        """Whether a stored entry's attributes describe values computed from these inputs.

        Example:
            >>> identity = EntryIdentity.of({"layer": "out"}, {"probe_hash": "ab"})
            >>> identity.matches(identity.attributes()), identity.matches({"identity": "0" * 64})
            (True, False)
        """
        stored = attributes.get(IDENTITY_ATTRIBUTE)
        if stored is not None:
            return stored == self.digest
        provenance = attributes.get("provenance") or {}
        return all(provenance.get(name) == value for name, value in self.legacy.items())


def model_inputs(registry_document: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of a registry entry (``entry_to_dict`` form) that determine a model's outputs.

    Its id, task and training record are descriptions, not inputs: renaming a task
    changes no activation. The initialisation ``seed`` is an input (two seeds are two networks).

    Example:
        >>> model_inputs({"source": "safetensors", "architecture": {"target": "b", "kwargs": {}},
        ...               "weights": {"path": "/w", "sha256": "ab"}, "preprocessing": {}})["weights_sha256"]
        'ab'
        >>> model_inputs({"source": "timm", "architecture": {"target": "resnet18", "kwargs": {}},
        ...               "weights": None, "preprocessing": {}, "seed": 3})["seed"]
        3
    """
    weights = registry_document.get("weights")
    inputs = {
        "source": registry_document.get("source"),
        "architecture": _architecture_inputs(registry_document.get("architecture")),
        "weights_sha256": weights.get("sha256") if weights else None,
        "preprocessing": registry_document.get("preprocessing"),
    }
    if registry_document.get("seed") is not None:  # only where set: entries without one keep their identity
        inputs["seed"] = registry_document["seed"]
    return inputs


def _architecture_inputs(architecture: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """The architecture, with a config file (``transformers``) reduced to its sha256: where it lies is no input."""
    if not architecture or not architecture.get("config"):
        return architecture
    return {**architecture, "config": {"sha256": architecture["config"].get("sha256")}}


def layer_read(registry_document: Mapping[str, Any], role: str) -> tuple[str, str] | None:
    """``(module, reduce)`` that a registry entry reads ``role`` from, or None when it has no such role.

    Reads both forms of ``layers`` (a list of module names, or a mapping of roles); ``default``
    is the entry's ``default_layer``.

    Example:
        >>> layer_read({"layers": {"output": {"module": "classifier.0", "reduce": "avg"}},
        ...             "default_layer": "output"}, "default")
        ('classifier.0', 'avg')
        >>> layer_read({"layers": ["out"], "default_layer": "out"}, "mid") is None
        True
    """
    if role == DEFAULT_ROLE:
        role = registry_document.get("default_layer")
    layers = registry_document.get("layers") or ()
    if not isinstance(layers, Mapping):
        return (role, FLATTEN) if role in layers else None
    if role not in layers:
        return None
    value = layers[role]
    if isinstance(value, Mapping):
        return str(value.get("module", role)), str(value.get("reduce", FLATTEN))
    return (role if value is None else str(value)), FLATTEN


def expected_identity(kind: EntryKind, registry_document: Mapping[str, Any], probe_hash: str, layer: str,
                      settings: ComputeSettings) -> EntryIdentity:
    """The identity an entry of ``kind`` must carry for this model, probe set, layer and settings.

    Example:
        >>> document = {"source": "safetensors", "architecture": {"target": "b", "kwargs": {}},
        ...             "weights": {"path": "/w", "sha256": "ab"}, "preprocessing": {}}
        >>> a = expected_identity(EntryKind.RDMS, document, "p1", "out", ComputeSettings())
        >>> b = expected_identity(EntryKind.RDMS, document, "p1", "out", ComputeSettings(forward_dtype="bfloat16"))
        >>> a.digest != b.digest
        True
        >>> c = expected_identity(EntryKind.RDMS, document, "p1", "out", ComputeSettings(reduce="avg"))
        >>> c.digest != a.digest
        True
    """
    kind = EntryKind(kind)
    model = model_inputs(registry_document)
    inputs: dict[str, Any] = {
        "kind": EntryKind.ACTIVATIONS.value,
        "model": model,
        "probe_hash": probe_hash,
        "layer": layer,
        "forward_dtype": settings.forward_dtype,
        "activation_dtype": settings.activation_dtype,
    }
    read = layer_read(registry_document, layer)
    module, reduce = read if read is not None else (None, FLATTEN)
    if module != layer:  # a role read from a module of another name (None: the model lacks the role)
        inputs["module"] = module
    reduce = settings.reduce or reduce
    if reduce != FLATTEN:
        inputs["reduce"] = reduce
    if kind is not EntryKind.ACTIVATIONS:
        rdm = {"kind": EntryKind.RDMS.value, "activations": sha256_of_json(inputs),
               "distance": settings.distance, "center_features": bool(settings.center_features)}
        inputs = rdm if kind is EntryKind.RDMS else {"kind": EntryKind.RANKS.value, "rdm": sha256_of_json(rdm)}
    legacy = {"probe_hash": probe_hash, "weights_sha256": model["weights_sha256"],
              "preprocessing": model["preprocessing"]}
    return EntryIdentity.of(inputs, {name: legacy[name] for name in _LEGACY_FIELDS})
