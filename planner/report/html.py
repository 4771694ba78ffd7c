"""The design-review report as one self-contained HTML file (inline CSS and
SVG charts; nothing is fetched when it is viewed)."""

from __future__ import annotations

import html

from planner.report.review import DocTable, Review

STYLE = """
body { font-family: -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; margin: 2rem auto; max-width: 1100px;
       color: #1f2328; line-height: 1.45; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin-bottom: 0.3rem; }
h2 { font-size: 1.2rem; border-bottom: 1px solid #d0d7de; padding-bottom: 0.2rem; margin-top: 2rem; }
.summary { font-weight: 600; background: #f6f8fa; border-left: 4px solid #1f6feb; padding: 0.7rem 1rem; }
table { border-collapse: collapse; margin: 0.6rem 0 1.2rem; font-size: 0.85rem; }
caption { text-align: left; font-weight: 600; padding-bottom: 0.3rem; }
th, td { border: 1px solid #d0d7de; padding: 0.25rem 0.5rem; vertical-align: top; }
th { background: #f6f8fa; text-align: left; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1rem 0; }
figcaption { font-size: 0.85rem; color: #57606a; }
figure svg { width: 100%; height: auto; }
li { margin-bottom: 0.3rem; font-size: 0.9rem; }
code { background: #f6f8fa; padding: 0.1rem 0.3rem; }
"""


def _numeric(text: str) -> bool:
    """A number, optionally with one unit word after it: 5,667, $4.29/h, $1,672/month, 47.2 ms, 10,200 W."""
    stripped = text.replace(",", "").replace("$", "").replace("%", "").replace("/month", "").replace("/h", "")
    words = stripped.replace("+", "").replace("-", "").split()
    return 0 < len(words) <= 2 and words[0].replace(".", "", 1).isdigit()


def _inline(text: str) -> str:
    """Escape, then render `code` spans."""
    parts = html.escape(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def _table(table: DocTable) -> str:
    # a column is right-aligned when every filled cell in it is a number
    numeric = [all(_numeric(row[i]) for row in table.rows if row[i] not in ("", "-")) and
               any(row[i] not in ("", "-") for row in table.rows) for i in range(len(table.columns))]
    rows = ["<table>"]
    if table.title:
        rows.append(f"<caption>{html.escape(table.title)}</caption>")
    rows.append("<tr>" + "".join(f"<th class=\"num\">{html.escape(c)}</th>" if numeric[i] else f"<th>{html.escape(c)}</th>"
                                  for i, c in enumerate(table.columns)) + "</tr>")
    for row in table.rows:
        cells = "".join(f"<td class=\"num\">{html.escape(c)}</td>" if numeric[i] else f"<td>{html.escape(c)}</td>"
                        for i, c in enumerate(row))
        rows.append(f"<tr>{cells}</tr>")
    rows.append("</table>")
    return "\n".join(rows)


def render_html(review: Review) -> str:
    out = [
        "<!DOCTYPE html>",
        "<html lang=\"en\"><head><meta charset=\"utf-8\">",
        f"<title>{html.escape(review.title)}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(review.title)}</h1>",
        f"<p class=\"summary\">{html.escape(review.summary)}</p>",
    ]
    for section in review.sections:
        out.append(f"<h2>{html.escape(section.title)}</h2>")
        for paragraph in section.paragraphs:
            out.append(f"<p>{_inline(paragraph)}</p>")
        for table in section.tables:
            out.append(_table(table))
        if section.bullets:
            out.append("<ul>" + "".join(f"<li>{_inline(b)}</li>" for b in section.bullets) + "</ul>")
        for name in section.charts:
            if name in review.charts:
                out.append(f"<figure>{review.charts[name]}<figcaption>{html.escape(review.chart_titles[name])}"
                           "</figcaption></figure>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"
