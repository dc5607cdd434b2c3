"""One self-contained HTML page: figures embedded, tables inline, links to the files."""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 2em; }
table { border-collapse: collapse; font-size: .9em; margin: .5em 0; }
td, th { border: 1px solid #ddd; padding: .25em .6em; text-align: left; }
th { background: #f3f3f3; } img { max-width: 100%; } .note { color: #555; }
"""


@dataclass(frozen=True)
class ReportSection:
    """One section of the report.

    Attributes:
        title: The heading.
        text: A paragraph of plain text (escaped).
        figures: PNG files embedded in the page.
        tables: Tables shown inline (at most ``max_rows`` rows each).
        links: Files linked from the page (relative to the report's folder).
    """

    title: str
    text: str = ""
    figures: tuple[Path, ...] = ()
    tables: tuple[pd.DataFrame, ...] = ()
    links: tuple[Path, ...] = field(default=())


def precision_section(precision: str) -> ReportSection:
    """The report's statement of the precision the similarities were computed at (``RunSummary.precision``).

    Example:
        >>> precision_section("fp32 (strict float32 forward passes, on the CPU)").text
        'Forward passes: fp32 (strict float32 forward passes, on the CPU).'
    """
    return ReportSection("Precision", f"Forward passes: {precision or 'not recorded'}.")


def _figure(path: Path) -> str:
    encoded = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f'<p><img alt="{html.escape(Path(path).stem)}" src="data:image/png;base64,{encoded}"></p>'


def write_html_report(path: str | Path, title: str, sections: Sequence[ReportSection], max_rows: int = 40) -> Path:
    """Writes the report page.

    Args:
        path: The HTML file to write.
        title: The page title.
        sections: Its sections, in order.
        max_rows: Rows shown per table (the full table is in the linked files).

    Returns:
        The path written.

    Example:
        >>> write_html_report("/tmp/report.html", "Demo", [ReportSection("Intro", "Hello")]).name
        'report.html'
    """
    path = Path(path)
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>"]
    for section in sections:
        parts.append(f"<h2>{html.escape(section.title)}</h2>")
        if section.text:
            parts.append(f"<p class='note'>{html.escape(section.text)}</p>")
        parts += [_figure(figure) for figure in section.figures]
        for table in section.tables:
            shown = table.head(max_rows)
            parts.append(shown.to_html(index=False, float_format=lambda value: f"{value:.4f}", border=0))
            if len(table) > max_rows:
                parts.append(f"<p class='note'>{len(table) - max_rows} more rows in the linked files.</p>")
        if section.links:
            items = "".join(
                f"<li><a href='{html.escape(link.relative_to(path.parent).as_posix() if link.is_absolute() else link.as_posix())}'>"
                f"{html.escape(link.name)}</a></li>"
                for link in section.links
            )
            parts.append(f"<ul>{items}</ul>")
    parts.append("</body></html>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts), encoding="utf-8")
    return path
