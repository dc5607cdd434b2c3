"""Registering the models of many manifests where one bad manifest or model must not stop the rest.

A rerank picks up whatever lands in a folder or prefix. A manifest that does not
load, a model whose id is registered with a different entry, and a model that fails
its checks (:mod:`jobs.admission`: weights, build, role modules, one probe image) are
each recorded (one line, stage ``register`` in the store's ``failures`` table) and
skipped; every other model is registered with its layer shapes. Manifests are named by their redacted URL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import fsspec
import pandas as pd

from storage import EntryConflictError, ManifestError, Store, load_manifest
from storage.provenance import utc_now
from storage.redaction import has_user_credentials, redact_text, redact_url

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
REGISTER_STAGE = "register"
# What loading one manifest can fail with: bad content (ValueError), a missing file or unreachable storage (OSError).
_MANIFEST_ERRORS = (ValueError, OSError)


@dataclass(frozen=True)
class RegistrationFailure:
    """One manifest, or one model of a manifest, that was not registered.

    Attributes:
        manifest: The manifest's redacted URL.
        model_id: The model refused, or ``""`` when the whole manifest failed to load.
        error: One line saying why, naming the manifest.
    """

    manifest: str
    model_id: str
    error: str


@dataclass(frozen=True)
class Registration:
    """What registering the manifests at a URL did.

    Attributes:
        added: Ids newly registered, in manifest order.
        failures: What was refused, one entry per manifest or model.
    """

    added: tuple[str, ...]
    failures: tuple[RegistrationFailure, ...]


def manifest_urls(url: str) -> list[str]:
    """The manifest itself, or every manifest under a folder or object-store prefix, sorted.

    Raises:
        ValueError: The URL holds credentials, or is neither a manifest nor a folder (shown redacted).

    Example:
        >>> manifest_urls("zoo/manifest.yaml")
        ['zoo/manifest.yaml']
    """
    if has_user_credentials(url):
        raise ValueError(f"--models-from {redact_url(url)!r} must not hold credentials; pass them in the "
                         "environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY...) or the standard config files")
    if url.endswith(MANIFEST_SUFFIXES):
        return [url]
    filesystem, root = fsspec.core.url_to_fs(url)
    if not filesystem.isdir(root):
        raise ValueError(f"--models-from {redact_url(url)!r} is neither a manifest (.yaml, .yml, .json) "
                         "nor a folder of manifests")
    found = sorted(path for path in filesystem.find(root) if path.endswith(MANIFEST_SUFFIXES))
    protocol = url.split("://", 1)[0] + "://" if "://" in url else ""
    return [protocol + path if protocol and not path.startswith(protocol) else path for path in found]


def _one_line(error: BaseException) -> str:
    lines = redact_text(error.args[0] if isinstance(error, KeyError) and error.args else error).splitlines()
    return lines[0] if lines else type(error).__name__


def _pending_each(store: Store, manifest: str, entries: Sequence) -> tuple[list, list[RegistrationFailure]]:
    """The entries of one manifest that are new to the registry: all at once, or one by one when some are refused."""
    try:
        return list(store.pending_models(entries)), []
    except (ManifestError, EntryConflictError):
        pass  # find which entries are refused
    pending, failures = [], []
    for entry in entries:
        try:
            pending += store.pending_models([entry])
        except (ManifestError, EntryConflictError) as error:
            failures.append(RegistrationFailure(manifest, entry.model_id, f"manifest {manifest}: {_one_line(error)}"))
    return pending, failures


def _register_each(store: Store, manifest: str, entries: Sequence) -> tuple[list[str], list[RegistrationFailure]]:
    """Registers the new entries of one manifest that pass their checks (:mod:`jobs.admission`)."""
    from jobs.admission import admit_models

    pending, failures = _pending_each(store, manifest, entries)
    admission = admit_models(store, pending)
    failures += [RegistrationFailure(manifest, refusal.model_id, f"manifest {manifest}: {redact_text(refusal.line)}")
                 for refusal in admission.refused]
    added = list(store.register_models(admission.admitted, layer_shapes=admission.layer_shapes))
    return added, failures


def register_new_models(store: Store, url: str) -> Registration:
    """Registers the models of every manifest at ``url``; a bad manifest or model is skipped, not fatal.

    Args:
        store: The store whose registry receives the models.
        url: A manifest, or a folder / object-store prefix of manifests.

    Returns:
        The ids newly registered and what was refused (see :func:`record_failures`).

    Raises:
        ValueError: ``url`` itself is unusable (credentials in it, neither a manifest nor a folder).

    Example:
        >>> registration = register_new_models(Store.open("memory://zoo-store"), "s3://zoo/landed/")  # doctest: +SKIP
        >>> registration.added, [failure.error for failure in registration.failures]  # doctest: +SKIP
        (('depth-small',), ["manifest s3://zoo/landed/bad.yaml: does not parse: ..."])
    """
    from rsa_ray.models import check_registered_architectures  # the registry: imported here, it loads torch

    added: list[str] = []
    failures: list[RegistrationFailure] = []
    allow_torchscript = store.settings().allow_torchscript
    for manifest_url in manifest_urls(url):
        shown = redact_url(manifest_url)
        try:
            entries = load_manifest(manifest_url, allow_torchscript=allow_torchscript)
            check_registered_architectures(entries, shown)
        except _MANIFEST_ERRORS as error:
            failures.append(RegistrationFailure(shown, "", _one_line(error)))
            continue
        manifest_added, manifest_failures = _register_each(store, shown, entries)
        added += manifest_added
        failures += manifest_failures
    return Registration(tuple(added), tuple(failures))


def failures_frame(failures: Sequence[RegistrationFailure]) -> pd.DataFrame:
    """The rows of the ``failures`` table for refused manifests and models (stage ``register``).

    Example:
        >>> failures_frame([RegistrationFailure("zoo/bad.yaml", "", "manifest zoo/bad.yaml: does not parse")]).stage.tolist()
        ['register']
    """
    return pd.DataFrame(
        {
            "time": [utc_now()] * len(failures),
            "probe_id": [""] * len(failures),
            "model_id": [failure.model_id for failure in failures],
            "layer": [""] * len(failures),
            "stage": [REGISTER_STAGE] * len(failures),
            "error": [failure.error for failure in failures],
        }
    )


def record_failures(store: Store, failures: Sequence[RegistrationFailure]) -> None:
    """Appends refused manifests and models to the store's ``failures`` table (nothing if none).

    Example:
        >>> record_failures(store, registration.failures)  # doctest: +SKIP
    """
    from cluster.pipeline import FAILURES_TABLE  # imported here: cluster pulls in Ray

    if failures:
        store.append_table(FAILURES_TABLE, failures_frame(failures))
