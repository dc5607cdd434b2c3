"""Keeping secrets out of what is shown, stored or shipped: URLs, error text and storage options.

A URL may carry credentials in two places: user information (``s3://KEY:SECRET@bucket``,
``https://user:pass@host/w``) and its query (signed URLs: ``X-Amz-Signature``,
``X-Amz-Credential``, ``token=``, ``sig=``). Whatever is printed, logged, raised or written
to a table goes through :func:`redact_url` (or :func:`redact_text` for a message that
embeds URLs). Storage options hold credentials too (``key``, ``secret``, ``token``...);
:func:`without_secrets` keeps only the options a worker may receive, so it resolves its
credentials from its own environment.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["REDACTED", "SECRET_OPTION_NAMES", "has_credentials", "has_user_credentials", "redact_text", "redact_url",
           "without_secrets"]

REDACTED = "***"
# Query parameter names (lowercased substrings) that carry a secret in signed or token URLs.
_SECRET_QUERY_WORDS = ("signature", "credential", "token", "secret", "password", "passwd", "key", "sig", "auth")
# Storage option names that hold a secret, at any depth (``client_kwargs``, ``config_kwargs``...).
SECRET_OPTION_NAMES = frozenset({
    "key", "secret", "token", "password", "passwd", "session_token", "security_token",
    "aws_access_key_id", "aws_secret_access_key", "aws_session_token",
    "access_key", "secret_key", "access_key_id", "secret_access_key",
    "account_key", "sas_token", "connection_string", "client_secret", "credential", "credentials",
})
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")


def _parts(url: str):
    return urlsplit(url) if _SCHEME.match(url) else None


def has_user_credentials(url: str | os.PathLike) -> bool:
    """Whether a URL holds user information (``user:secret@host``).

    Example:
        >>> has_user_credentials("s3://KEY:SECRET@bucket/x"), has_user_credentials("s3://bucket/x")
        (True, False)
    """
    try:
        parts = _parts(os.fspath(url))
    except ValueError:
        return True  # a netloc that does not parse is treated as unsafe to show
    return parts is not None and "@" in parts.netloc


def has_credentials(url: str | os.PathLike) -> bool:
    """Whether a URL holds user information or a query parameter that carries a secret.

    Example:
        >>> has_credentials("https://host/w.safetensors?X-Amz-Signature=abc")
        True
        >>> has_credentials("https://host/w.safetensors?versionId=3")
        False
    """
    if has_user_credentials(url):
        return True
    parts = _parts(os.fspath(url))
    if parts is None or not parts.query:
        return False
    names = [name.lower() for name, _ in parse_qsl(parts.query, keep_blank_values=True)]
    return any(word in name for name in names for word in _SECRET_QUERY_WORDS)


def redact_url(url: str | os.PathLike) -> str:
    """The URL with its user information and every query value replaced by ``***``.

    Every query value goes, not only the names known to be secret: a signed URL's
    parameters vary by provider, and none is needed to say which file was meant.
    Local paths are returned unchanged.

    Args:
        url: A URL or a local path.

    Returns:
        A form that is safe to print, log, raise or store.

    Example:
        >>> redact_url("s3://KEY:SECRET@bucket/x")
        's3://***@bucket/x'
        >>> redact_url("https://host/w.safetensors?X-Amz-Signature=abc&X-Amz-Date=2024")
        'https://host/w.safetensors?X-Amz-Signature=***&X-Amz-Date=***'
        >>> redact_url("/zoo/manifest.yaml")
        '/zoo/manifest.yaml'
    """
    text = os.fspath(url)
    try:
        parts = _parts(text)
    except ValueError:
        return text.split("://", 1)[0] + "://" + REDACTED
    if parts is None:
        return text
    netloc = f"{REDACTED}@{parts.netloc.rsplit('@', 1)[1]}" if "@" in parts.netloc else parts.netloc
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(name, REDACTED) for name, _ in pairs], safe="*") if pairs else REDACTED
    fragment = REDACTED if parts.fragment else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, fragment))


def redact_text(text: object) -> str:
    """A message with every URL in it redacted (for errors raised by libraries that quote URLs).

    Example:
        >>> redact_text("403 Forbidden for url https://host/w?token=abc")
        '403 Forbidden for url https://host/w?token=***'
    """
    return _URL_IN_TEXT.sub(lambda match: redact_url(match.group(0)), str(text))


def without_secrets(storage_options: Mapping[str, Any]) -> dict[str, Any]:
    """The storage options a worker may receive: every secret left out, at any depth.

    Endpoints, regions, ``anon``, profiles and timeouts stay; keys, secrets, tokens and
    passwords go (also inside ``client_kwargs``), so a worker resolves credentials the
    standard way: environment variables, config files, an instance or pod role.

    Example:
        >>> without_secrets({"key": "AKIA", "secret": "s", "endpoint_url": "http://minio:9000",
        ...                  "client_kwargs": {"region_name": "eu-west-1", "aws_session_token": "t"}})
        {'endpoint_url': 'http://minio:9000', 'client_kwargs': {'region_name': 'eu-west-1'}}
    """
    kept: dict[str, Any] = {}
    for name, value in storage_options.items():
        if str(name).lower() in SECRET_OPTION_NAMES:
            continue
        kept[name] = without_secrets(value) if isinstance(value, Mapping) else value
    return kept
