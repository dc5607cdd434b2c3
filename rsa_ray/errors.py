"""Errors raised by the RSA core for input that makes a quantity undefined.

Policy (one rule everywhere): the core never returns NaN for an undefined
correlation. Input that would make one undefined raises
:class:`DegenerateInputError` (a ``ValueError``) naming the model and the
offending images or values, so a pipeline can record that model as failed and
carry on with the others. The cases:

* non-finite features (NaN or ±Inf) → the model and the images that hold them;
* an image whose feature vector is constant (after the optional feature
  centring) under the ``correlation`` distance, or all zeros under ``cosine``
  → the model and those images (Pearson/cosine is undefined for them);
* an RDM (or any vector to be compared) that is constant, or holds NaN/Inf →
  the model (Spearman/Pearson is undefined for it).

The only documented NaN outputs are in the agreement metrics that summarise
many columns (:func:`rsa_ray.column_agreement`), where one undefined column
must not hide the others; they say so in their docstrings.
"""

from __future__ import annotations

from collections.abc import Sequence


class DegenerateInputError(ValueError):
    """An input makes the requested correlation or distance undefined.

    Attributes:
        model: The name of the model (or the index, as text) whose input is degenerate.
        images: Indices of the offending images, empty when the whole vector is at fault.
    """

    def __init__(self, model: str, reason: str, images: Sequence[int] = ()):
        self.model = model
        self.images = tuple(int(i) for i in images)
        where = ""
        if self.images:
            shown = ", ".join(str(i) for i in self.images[:10])
            more = f" and {len(self.images) - 10} more" if len(self.images) > 10 else ""
            where = f" (images {shown}{more})"
        super().__init__(f"model {model!r}: {reason}{where}")


def model_label(names: Sequence[str] | None, index: int) -> str:
    """The name used in errors for the model at ``index``.

    Args:
        names: Model names, or None to use the index.
        index: Position of the model.

    Returns:
        ``names[index]`` when names are given, else ``"#<index>"``.

    Example:
        >>> model_label(None, 3), model_label(["a", "b"], 1)
        ('#3', 'b')
    """
    return str(names[index]) if names is not None else f"#{index}"


class ManifestError(ValueError):
    """A model manifest entry (or a registry entry) is malformed; the message names the entry and the field.

    Defined here, beside the other input errors and free of torch, so that the store can re-export
    it (``storage.ManifestError``) without loading the models; ``rsa_ray.models.ManifestError`` is
    the same class.

    Example:
        >>> str(ManifestError("manifest entry 'm1': field 'layers' must not be empty"))
        "manifest entry 'm1': field 'layers' must not be empty"
    """


class WeightsIntegrityError(ValueError):
    """A weights (or config) file's sha256 is not the one its registry entry expects.

    It lives here, beside the core's other errors, so that the store can raise it without the torch side.
    """


def sha256_mismatch(what: str, expected: str) -> WeightsIntegrityError:
    """The one refusal for bytes that do not match their declared sha256: names the file and the expected
    digest, never the file's own (it would tell something about any file a path could name).

    Example:
        >>> str(sha256_mismatch("'w.safetensors'", "AB12"))
        "sha256 mismatch for 'w.safetensors': expected ab12, which the file's bytes do not match"
    """
    return WeightsIntegrityError(f"sha256 mismatch for {what}: expected {expected.lower()}, which the file's bytes "
                                 "do not match")
