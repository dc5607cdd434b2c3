"""A whole store checked: every complete entry's chunks against their checksums, and its documents.

:func:`scan` reads every chunk of every complete entry (probe sets and their labels,
activations, RDMs, rank vectors, similarity versions), the root and top-level group
documents, the registry's model documents and the target records, and lists what is
damaged. :func:`repair` withdraws the damaged entries (:func:`storage.damage.withdraw`:
the next run recomputes exactly them), rewrites damaged top-level group documents (they
hold nothing) and removes damaged registry documents (the model is then registered
again from its manifest). A damaged root document is only reported: it holds the
operator's settings.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

from storage import damage, reading
from storage.backend import Backend, backend_errors, document_damage
from storage.entry_documents import group_document, stored_many

# Top-level groups, with the depth of their entries below them (activations/{probe}/{model}/{layer}: 3).
_ENTRY_FOLDERS = {"probes": 1, "probe-labels": 1, "activations": 3, "rdms": 3, "ranks": 3, "similarity": 3}
_TOP_GROUPS = ("probes", "models", "activations", "rdms", "ranks", "similarity")


@dataclass(frozen=True)
class Problem:
    """One thing found damaged.

    Attributes:
        path: The entry's path, or the document's file name, in the store.
        what: What is wrong, one line.
        entry: Whether it is an entry (withdrawn by :func:`repair`) rather than a document.
        chunks: The damaged chunks of an entry.
        checksum: The completion checksum the damage was found under.
    """

    path: str
    what: str
    entry: bool = True
    chunks: tuple[int, ...] = ()
    checksum: str | None = None


@dataclass(frozen=True)
class Scan:
    """What :func:`scan` found.

    Attributes:
        entries: Complete entries whose every chunk was read and checked.
        incomplete: Entries not marked complete (the next run completes or recomputes them).
        documents: Documents checked (root, groups, registry, targets).
        problems: What is damaged.
    """

    entries: int
    incomplete: tuple[str, ...]
    documents: int
    problems: tuple[Problem, ...]

    def summary(self) -> str:
        """One line: how much was checked and found.

        Example:
            >>> Scan(4, ("ranks/p/m/out",), 3, ()).summary()
            'checked 4 complete entries and 3 documents: 0 damaged, 1 incomplete'
        """
        return (f"checked {self.entries} complete entries and {self.documents} documents: "
                f"{len(self.problems)} damaged, {len(self.incomplete)} incomplete")


def entry_paths(backend: Backend) -> Iterator[str]:
    """Every entry folder of the store (complete or not), kind by kind.

    Example:
        >>> list(entry_paths(Backend.open("memory://entry-paths-example", {})))
        []
    """
    for top, depth in _ENTRY_FOLDERS.items():
        level = [top]
        for _ in range(depth):
            level = [f"{folder}/{name}" for folder in level for name in backend.list_names(folder)
                     if name != "zarr.json" and not name.startswith("_")]
        yield from level


def _document_problems(backend: Backend) -> tuple[int, list[Problem]]:
    names = ["zarr.json", *(f"{group}/zarr.json" for group in _TOP_GROUPS)]
    names += [f"models/{model}/zarr.json" for model in backend.list_names("models") if model != "zarr.json"]
    names += [f"targets/{name}" for name in backend.list_names("targets") if name.endswith(".json")]
    payloads = backend.get_many(names)
    problems = []
    for name, payload in payloads.items():
        registry_document = name.startswith("models/") and name.count("/") == 2
        if payload is None:
            if registry_document:
                problems.append(Problem(name, f"{name} is missing: the model's folder holds no registry document", False))
            continue
        what = document_damage(name, backend.url, payload)
        if what is None and registry_document and not _holds_registry_entry(json.loads(payload)):
            what = f"{name} in store {backend.url} is damaged: it holds no registry entry"
        if what is not None:
            problems.append(Problem(name, what, False))
    return len(names), problems


def _holds_registry_entry(document: dict) -> bool:
    attributes = document.get("attributes")
    return isinstance(attributes, dict) and isinstance(attributes.get("registry_entry"), dict)


def scan(backend: Backend) -> Scan:
    """Checks every complete entry's chunks and every document of the store; writes nothing.

    Example:
        >>> import numpy as np
        >>> from storage.entries import write_whole
        >>> backend = Backend.open("memory://scan-example", {})
        >>> _ = write_whole(backend, "ranks/p/m/out", np.arange(5, dtype=np.float32), {})
        >>> scan(backend).summary()
        'checked 1 complete entries and 7 documents: 0 damaged, 0 incomplete'
    """
    with backend_errors(backend.url, "", "verifying"):
        n_documents, problems = _document_problems(backend)
        paths = list(entry_paths(backend))
        stored = stored_many(backend, paths) if paths else {}
        complete = [path for path in paths if stored[path].marker is not None]
        incomplete = tuple(path for path in paths if stored[path].marker is None)
        for path in complete:
            found = reading.check(backend, path)
            if found is not None:
                problems.append(Problem(path, str(found), True, found.chunks, found.checksum))
    return Scan(len(complete), incomplete, n_documents, tuple(problems))


def repair(backend: Backend, found: Scan) -> list[tuple[Problem, str]]:
    """Repairs what :func:`scan` found; returns each problem with what was done (or is left to do).

    Example:
        >>> [outcome for _, outcome in repair(backend, scan(backend))]  # doctest: +SKIP
        ["marked incomplete: the next run extracts model 'm1', layer 'out' again"]
    """
    outcomes = []
    for problem in found.problems:
        with backend_errors(backend.url, problem.path, "repairing"):
            outcomes.append((problem, _repair_one(backend, problem)))
    return outcomes


def _repair_one(backend: Backend, problem: Problem) -> str:
    if problem.entry:
        withdrawn = damage.withdraw(backend, problem.path, problem.chunks, problem.what,
                                    None if problem.checksum is None else {"checksum": problem.checksum})
        return (f"marked incomplete: {damage.recomputed_by(problem.path)}" if withdrawn
                else "left as it is: it was completed again or withdrawn since the scan")
    if problem.path == "zarr.json":
        return "not changed (it holds the operator's settings): restore it, or delete it and the next command writes a new one"
    if problem.path.count("/") == 1 and problem.path.split("/")[0] in _TOP_GROUPS:
        backend.put_bytes(problem.path, group_document({}))
        return "rewritten (a top-level group document holds nothing)"
    if problem.path.startswith("models/") and problem.path.count("/") == 2:
        model_id = problem.path.split("/")[1]
        backend.remove_tree(f"models/{model_id}")
        return (f"removed: model {model_id!r} is no longer registered; register it again with `rsa-ray models add` "
                "(its stored results are kept and reused where its entry is unchanged)")
    return "not changed: record it again (`rsa-ray rank --data` or `rsa-ray train-target` for a target)"


def next_run(outcomes: list[tuple[Problem, str]]) -> list[str]:
    """What the next ``rsa-ray similarity`` / ``taxonomy`` recomputes after :func:`repair`, one line each.

    Example:
        >>> next_run([(Problem("ranks/p1/m1/out", "damaged"), "marked incomplete: ...")])
        ["the RDM and rank vector of model 'm1', layer 'out' on probe set 'p1'"]
    """
    lines = []
    for problem, outcome in outcomes:
        if not problem.entry or not outcome.startswith("marked incomplete"):
            continue
        parts = problem.path.split("/")
        if parts[0] == "activations":
            lines.append(f"the extraction of model {parts[2]!r}, layer {parts[3]!r} on probe set {parts[1]!r}")
        elif parts[0] in ("rdms", "ranks"):
            lines.append(f"the RDM and rank vector of model {parts[2]!r}, layer {parts[3]!r} on probe set {parts[1]!r}")
        elif parts[0] == "similarity":
            lines.append(f"a new similarity version of layer {parts[2]!r} on probe set {parts[1]!r}")
        else:
            lines.append(f"{damage.describe(problem.path)}: {damage.recomputed_by(problem.path)}")
    return list(dict.fromkeys(lines))
