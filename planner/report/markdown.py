"""The design-review report as Markdown (charts as SVG files beside it)."""

from __future__ import annotations

import re

from planner.report.review import DocTable, Review


def _text(text: str) -> str:
    """Catalog text is data: a '<' that could open an HTML tag is escaped, so a
    name cannot become markup in a Markdown viewer ('<=' and '->' stay as typed)."""
    return re.sub(r"<(?=[A-Za-z/!?])", "&lt;", str(text))


def _cell(text: str) -> str:
    return _text(text).replace("|", "\\|").replace("\n", " ")


def _table(table: DocTable) -> list[str]:
    lines = []
    if table.title:
        lines += [f"**{table.title}**", ""]
    lines.append("| " + " | ".join(_cell(c) for c in table.columns) + " |")
    lines.append("| " + " | ".join("---" for _ in table.columns) + " |")
    for row in table.rows:
        lines.append("| " + " | ".join(_cell(c) for c in row) + " |")
    lines.append("")
    return lines


def render_markdown(review: Review, chart_files: dict[str, str] | None = None) -> str:
    """Markdown text; ``chart_files`` maps chart names to the SVG file names written beside it."""
    out = [f"# {_text(review.title)}", "", f"**{_text(review.summary)}**", ""]
    for section in review.sections:
        out += [f"## {section.title}", ""]
        for paragraph in section.paragraphs:
            out += [_text(paragraph), ""]
        for table in section.tables:
            out += _table(table)
        for bullet in section.bullets:
            out.append(f"- {_text(bullet)}")
        if section.bullets:
            out.append("")
        for name in section.charts:
            if chart_files and name in chart_files:
                out += [f"![{review.chart_titles[name]}]({chart_files[name]})", ""]
            elif name in review.charts:
                out += [f"*Chart: {review.chart_titles[name]} (written beside the report with -o).*", ""]
    return "\n".join(out).rstrip() + "\n"
