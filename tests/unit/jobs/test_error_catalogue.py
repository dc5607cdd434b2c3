"""Every bad input docs/errors.md lists: one line naming it, the documented exit code, nothing half-written.

Each case of :data:`tests.unit.jobs.bad_inputs.BAD_INPUTS` runs the real command in-process
(``jobs.cli.main``) or the library call, on a folder holding a store with a probe set and two
registered models. The folder's files (store, ``--out``, the inputs) are hashed before and after:
a refused input changes none of them.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
import yaml

from jobs.cli import main
from storage import Store, load_manifest
from tests.unit.jobs.bad_inputs import BAD_INPUTS, SECRET, STORE_MARK, ZOO, BadInput, good_entry

ERRORS_DOC = Path(__file__).resolve().parents[3] / "docs" / "errors.md"


def _files(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` with the sha256 of its bytes."""
    return {str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file()}


def _store(folder: Path) -> str:
    """A store with a 4-image probe set and the models zoo-a, zoo-b (the shipped zoo's first two)."""
    import numpy as np

    store = Store.open(str(folder / "store"))
    store.add_probe_set(np.arange(4 * 16 * 16 * 3, dtype=np.uint8).reshape(4, 16, 16, 3), ["a", "b", "c", "d"], "tiny")
    manifest = folder / "zoo.yaml"
    manifest.write_text(yaml.safe_dump({"models": [good_entry("zoo-a"), good_entry("zoo-b")]}))
    store.register_models(load_manifest(str(manifest)))
    return str(folder / "store")


def _run(case: BadInput, folder: Path, capsys) -> tuple[int | None, str, str]:
    """Runs the case; returns (exit code, the error line, everything printed)."""
    made = case.make(folder)
    before = _files(folder)
    if case.code is None:
        with pytest.raises(Exception) as raised:
            made(Store.open(str(folder / "store")))
        captured = capsys.readouterr()
        code, line, printed = None, str(raised.value.args[0] if raised.value.args else raised.value), captured.out + captured.err
    else:
        argv = [str(folder / "store") if part == STORE_MARK else part for part in made]
        try:
            code = main(argv)
        except SystemExit as exit_info:
            code = exit_info.code
        captured = capsys.readouterr()
        lines = [line for line in captured.err.splitlines() if line.strip()]
        assert "Traceback" not in captured.err, captured.err
        if case.usage:
            assert lines and lines[0].startswith("usage:"), captured.err
            lines = lines[-1:]
        assert len(lines) == 1, captured.err
        line, printed = lines[0], captured.out + captured.err
    assert _files(folder) == before, f"{case.case}: files changed"
    return code, line, printed


@pytest.mark.parametrize("case", BAD_INPUTS, ids=[case.case for case in BAD_INPUTS])
def test_bad_input_is_one_line_naming_it_and_writes_nothing(case, tmp_path, capsys):
    _store(tmp_path)
    capsys.readouterr()
    code, line, printed = _run(case, tmp_path, capsys)
    assert code == case.code, (code, line)
    assert "\n" not in line
    for expected in case.expect:
        assert expected.replace("{tmp}", str(tmp_path)) in line, line
    assert SECRET not in printed


def _documented_rows() -> list[list[str]]:
    rows = []
    for text in ERRORS_DOC.read_text().splitlines():
        cells = [cell.strip() for cell in text.strip().strip("|").split("|")]
        if text.startswith("|") and len(cells) >= 4 and not set(cells[0]) <= {"-", " "} and cells[0] != "input":
            rows.append(cells)
    return rows


def test_docs_list_every_case_with_its_exit_code():
    rows = _documented_rows()
    assert len(rows) >= 25
    documented = {}
    for cells in rows:
        for case in re.findall(r"`([a-z0-9-]+)`", cells[-1]):
            documented[case] = cells
    for case in BAD_INPUTS:
        assert case.case in documented, f"docs/errors.md does not list {case.case}"
        shown_code = documented[case.case][2]
        assert shown_code == ("library" if case.code is None else str(case.code)), (case.case, shown_code)


def test_every_documented_test_exists():
    known = {case.case for case in BAD_INPUTS}
    for cells in _documented_rows():
        cited = cells[-1]
        if "test_error_catalogue.py" in cited:
            for case in re.findall(r"`([a-z0-9-]+)`", cited):
                assert case in known, f"docs/errors.md cites a case the table lacks: {case}"
        else:  # a row proven elsewhere names an existing test file
            path = re.search(r"tests/[\w/]+\.py", cited)
            assert path, cells
            assert (ERRORS_DOC.parents[1] / path.group(0)).is_file(), cells


def test_the_shipped_zoo_entry_the_cases_start_from_is_valid(tmp_path):
    manifest = tmp_path / "ok.yaml"
    manifest.write_text(yaml.safe_dump({"models": [good_entry()]}))
    assert load_manifest(str(manifest))[0].weights.path.startswith(str(ZOO))
