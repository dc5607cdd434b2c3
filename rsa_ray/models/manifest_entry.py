"""Entries read from a manifest, asked of the architecture registry: the check at the door of admission.

Reading an entry (:mod:`rsa_ray.model_entry`) looks at the document alone. Whether its
architecture names a registered builder that takes its arguments is the registry's answer
(:mod:`rsa_ray.models.architectures`), asked here before a model is fetched, built or registered,
and again when it is built.
"""

from __future__ import annotations

from collections.abc import Iterable

from rsa_ray.model_entry.fields import fail
from rsa_ray.model_entry.specs import ModelEntry
from rsa_ray.models.architecture_kwargs import ArchitectureError
from rsa_ray.models.architectures import check_architecture


def check_registered_architectures(entries: Iterable[ModelEntry], manifest: str | None = None) -> None:
    """Refuses the first entry whose architecture the registry does not build with its arguments.

    Nothing is built and nothing the entry names is imported (entry-point builders load when named).

    Args:
        entries: The entries, e.g. as a manifest was read.
        manifest: The manifest's (redacted) name, to begin the message with; None for none.

    Raises:
        ManifestError: ``manifest entry 'ID': field 'architecture...' ...``, naming the entry and the field.

    Example:
        >>> from rsa_ray.model_entry import ArchitectureSpec, ModelEntry, WeightsRef
        >>> check_registered_architectures([ModelEntry("evil", "safetensors", ArchitectureSpec("os:system"),
        ...     WeightsRef("/w"), ("out",), "out")])  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        rsa_ray.errors.ManifestError: manifest entry 'evil': field 'architecture.target' 'os:system' is not a registered ...
    """
    for entry in entries:
        if entry.architecture is None:
            continue
        try:
            check_architecture(entry.architecture, entry.source)
        except ArchitectureError as error:
            refusal = fail(repr(entry.model_id), error.field, error.problem)
            raise refusal if manifest is None else type(refusal)(f"manifest {manifest}: {refusal}") from None
