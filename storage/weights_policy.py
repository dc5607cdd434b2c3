"""Which weights a store accepts: where they may come from and how large they may be.

A manifest names its weights, and a manifest is untrusted: left alone, it could make every
worker fetch any URL (a host inside the cluster's network, a file of any size). So the
operator decides, per store (:mod:`storage.settings`): local files and the store's own bucket
are allowed, any other source only under a URL prefix the operator added
(``rsa-ray settings --allow-weights-url https://models.example.org/zoo/``), and no file is
larger than ``max_weights_size`` (4 GiB unless changed). Both are checked before any byte is
read: a URL before any network access, a size by ``stat`` (or the server's announced length)
before hashing, and again while the bytes stream in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from rsa_ray.model_entry.specs import is_byte_count
from storage.redaction import redact_url

__all__ = ["DEFAULT_MAX_WEIGHTS_SIZE", "WeightsPolicy", "WeightsRefusedError", "format_size", "own_bucket_prefix",
           "parse_size", "url_prefix"]

DEFAULT_MAX_WEIGHTS_SIZE = 4 << 30
_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "m": 1000**2, "mb": 1000**2, "g": 1000**3, "gb": 1000**3,
          "t": 1000**4, "tb": 1000**4, "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40}
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*")
_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*")
_DEFAULT_PORTS = {"http": 80, "https": 443}


class WeightsRefusedError(ValueError):
    """Weights the store's settings do not accept: a source not allowed, or a file over the size limit."""


def parse_size(text: str) -> int:
    """A size in bytes from ``"4GiB"``, ``"500 MB"`` or ``"1048576"`` (a positive whole number of bytes).

    Raises:
        ValueError: For anything else, naming the text and the forms accepted.

    Example:
        >>> parse_size("8GiB"), parse_size("1.5 MB"), parse_size("4096")
        (8589934592, 1500000, 4096)
    """
    match = _SIZE.fullmatch(text) if isinstance(text, str) else None
    factor = _UNITS.get(match.group(2).lower()) if match else None
    size = int(float(match.group(1)) * factor) if factor else 0
    if size <= 0:
        raise ValueError(f"size {text!r} must be a positive number of bytes, optionally with a unit "
                         "(B, KB, MB, GB, TB, KiB, MiB, GiB, TiB), e.g. 8GiB")
    return size


def format_size(size: int) -> str:
    """A byte count as the largest binary unit that divides it, else in bytes.

    Example:
        >>> format_size(4 << 30), format_size(1536 << 10), format_size(1000)
        ('4 GiB', '1536 KiB', '1000 B')
    """
    for unit, factor in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size % factor == 0:
            return f"{size // factor} {unit}"
    return f"{size} B"


@dataclass(frozen=True)
class _Location:
    scheme: str
    host: str
    port: int | None
    segments: tuple[str, ...]


def _scheme(url: str) -> str:
    scheme = url.split("://", 1)[0].lower()
    return "s3" if scheme == "s3a" else scheme


def _location(url: str, what: str) -> _Location:
    """The parts a URL is matched by; refuses forms whose meaning differs between clients or servers."""
    if "::" in url:
        raise WeightsRefusedError(f"{what} {redact_url(url)} chains URLs ('::'), which is not allowed for weights")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise WeightsRefusedError(f"{what} {redact_url(url)} is not a valid URL") from None
    scheme = _scheme(url)
    if not _SCHEME.fullmatch(scheme) or not parts.hostname:
        raise WeightsRefusedError(f"{what} {redact_url(url)} must be scheme://host/... (e.g. https://models.example.org/zoo/)")
    segments = tuple(unquote(segment) for segment in parts.path.split("/") if segment)
    if any(segment in (".", "..") or "/" in segment or "\\" in segment for segment in segments):
        raise WeightsRefusedError(f"{what} {redact_url(url)} has '.', '..' or encoded '/' path segments")
    return _Location(scheme, parts.hostname.lower(), port or _DEFAULT_PORTS.get(scheme), segments)


def url_prefix(text: str) -> str:
    """Checks a URL prefix an operator allows weights under; returns it as given (stripped).

    Raises:
        ValueError: For a prefix without ``scheme://host``, with credentials, a query, ``::`` or ``..``.

    Example:
        >>> url_prefix("https://models.example.org/zoo/")
        'https://models.example.org/zoo/'
        >>> url_prefix("https://user:secret@host/zoo")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: weights URL prefix 'https://***@host/zoo' must not hold credentials...
    """
    text = text.strip() if isinstance(text, str) else text
    if not isinstance(text, str) or "://" not in text:
        raise ValueError(f"weights URL prefix {text!r} must be scheme://host/... (e.g. https://models.example.org/zoo/)")
    parts = urlsplit(text)
    if "@" in parts.netloc:
        raise ValueError(f"weights URL prefix {redact_url(text)!r} must not hold credentials; pass them as storage options")
    if parts.query or parts.fragment:
        raise ValueError(f"weights URL prefix {redact_url(text)!r} must not have a query or fragment")
    _location(text, "weights URL prefix")
    return text


def own_bucket_prefix(store_url: str) -> str | None:
    """The store's own bucket (``s3://bucket/`` of ``s3://bucket/prefix``); None for a local store.

    Example:
        >>> own_bucket_prefix("s3://lab-bucket/stores/main"), own_bucket_prefix("file:///data/store")
        ('s3://lab-bucket/', None)
    """
    if "://" not in store_url or _scheme(store_url) == "file":
        return None
    parts = urlsplit(store_url)
    return f"{_scheme(store_url)}://{parts.netloc}/" if parts.netloc else None


def _under(location: _Location, prefix: _Location) -> bool:
    return (location.scheme, location.host, location.port) == (prefix.scheme, prefix.host, prefix.port) and \
        location.segments[:len(prefix.segments)] == prefix.segments


@dataclass(frozen=True)
class WeightsPolicy:
    """Where weights may come from and how large they may be.

    Attributes:
        allowed_prefixes: URL prefixes weights may be fetched from, besides local files (whole path
            segments match: ``https://h/zoo`` allows ``https://h/zoo/w`` but not ``https://h/zoo2/w``).
        max_size: The largest weights file accepted, in bytes.

    Example:
        >>> policy = WeightsPolicy(("s3://lab-bucket/",))
        >>> policy.check_source("s3://lab-bucket/zoo/m1.safetensors")
        >>> policy.check_source("http://10.0.0.5/m1.safetensors")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        storage.weights_policy.WeightsRefusedError: weights http://10.0.0.5/m1.safetensors: this store does not...
    """

    allowed_prefixes: tuple[str, ...] = ()
    max_size: int = DEFAULT_MAX_WEIGHTS_SIZE

    def __post_init__(self) -> None:
        object.__setattr__(self, "allowed_prefixes", tuple(url_prefix(p) for p in self.allowed_prefixes))
        if not is_byte_count(self.max_size):
            raise ValueError(f"max_size must be a positive whole number of bytes, got {self.max_size!r}")

    def check_source(self, uri: str) -> None:
        """Refuses a weights URL that is neither a local file nor under an allowed prefix (no network access).

        Raises:
            WeightsRefusedError: Naming the URL (redacted) and how the operator allows it.
        """
        if "://" not in uri or _scheme(uri) == "file":
            return
        location = _location(uri, "weights")
        if any(_under(location, _location(prefix, "weights URL prefix")) for prefix in self.allowed_prefixes):
            return
        allowed = ", ".join(self.allowed_prefixes) or "none"
        raise WeightsRefusedError(
            f"weights {redact_url(uri)}: this store does not allow weights from there (allowed: local files, "
            f"{allowed}); the operator adds a source with `rsa-ray settings --allow-weights-url PREFIX`")

    def check_size(self, uri: str, size: int | None, declared: int | None = None) -> None:
        """Refuses a file over the limit or of another size than declared (``size`` None: not known yet).

        Example:
            >>> WeightsPolicy(max_size=1 << 20).check_size("/zoo/w.bin", 2 << 20)  # doctest: +ELLIPSIS
            Traceback (most recent call last):
            ...
            storage.weights_policy.WeightsRefusedError: weights /zoo/w.bin are larger than this store's limit of 1 MiB...
        """
        if size is None:
            return
        if size > self.max_size:
            raise WeightsRefusedError(
                f"weights {redact_url(uri)} are larger than this store's limit of {format_size(self.max_size)} "
                "(max_weights_size); the operator raises it with `rsa-ray settings --max-weights-size SIZE`")
        if declared is not None and size != declared:
            raise WeightsRefusedError(f"weights {redact_url(uri)} are {size} bytes, not the declared size of "
                                      f"{declared} bytes (weights.size); refused before hashing")
