"""A manifest's text made into plain data, bounded before anything is built.

YAML is read with ``yaml.SafeLoader`` (no tags that name code) that also refuses aliases and
anchors before they expand, so a few hundred bytes cannot become megabytes; YAML and JSON
documents may nest at most :data:`MAX_DEPTH` levels, checked as the text is read, so a
document nested a hundred thousand deep is one line of refusal, not a ``RecursionError``.
"""

from __future__ import annotations

import json

import yaml

from rsa_ray.errors import ManifestError

MAX_DEPTH = 32


class ManifestDocumentError(ManifestError):
    """A manifest's text does not parse, or parses into something refused (aliases, deep nesting)."""


def _too_deep() -> ManifestDocumentError:
    return ManifestDocumentError(f"nests deeper than {MAX_DEPTH} levels (the bound on a manifest's nesting)")


class _BoundedLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` refusing aliases and anchors and nesting deeper than :data:`MAX_DEPTH`."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):  # noqa: ANN001, ANN201 (PyYAML's signature)
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            mark = event.start_mark
            raise ManifestDocumentError(f"uses a YAML {'alias' if isinstance(event, yaml.AliasEvent) else 'anchor'} "
                                        f"at line {mark.line + 1}, column {mark.column + 1}; aliases and anchors are "
                                        "refused (write each value out)")
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _too_deep()
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _json_too_deep(text: str) -> bool:
    """Whether JSON text nests deeper than the bound (brackets counted outside strings)."""
    depth, in_string, escaped = 0, False, False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return True
        elif char in "]}":
            depth -= 1
    return False


def _one_line(error: Exception) -> str:
    """A parser error as one line: YAML's problem and position, or the message's first line."""
    mark = getattr(error, "problem_mark", None)
    if isinstance(error, yaml.MarkedYAMLError) and mark is not None:
        return f"{error.problem} at line {mark.line + 1}, column {mark.column + 1}"
    return (str(error).splitlines() or [type(error).__name__])[0]


def load_document(text: str, is_json: bool = False) -> object:
    """The plain data of a manifest's text (JSON when ``is_json``, else YAML), bounded as described above.

    Raises:
        ManifestDocumentError: The text does not parse, uses an alias or anchor, or nests too deep (one line).

    Example:
        >>> load_document("models: [{model_id: m1}]")
        {'models': [{'model_id': 'm1'}]}
        >>> load_document("a: &x [1]\\nb: *x")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        rsa_ray.model_entry.document_text.ManifestDocumentError: uses a YAML anchor at line 1, column 4; ...
        >>> load_document("[" * 100000, is_json=True)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        rsa_ray.model_entry.document_text.ManifestDocumentError: nests deeper than 32 levels ...
    """
    if is_json:
        if _json_too_deep(text):
            raise _too_deep()
        try:
            return json.loads(text)
        except ValueError as error:
            raise ManifestDocumentError(f"does not parse: {_one_line(error)}") from None
    try:
        return yaml.load(text, Loader=_BoundedLoader)  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as error:
        raise ManifestDocumentError(f"does not parse: {_one_line(error)}") from None
