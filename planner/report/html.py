"""The design-review report as one self-contained HTML file (inline CSS and
SVG charts; nothing is fetched when it is viewed)."""

from __future__ import annotations

import html

from planner.report.review import DocTable, Review

# Screen layout: the page never grows wider than the window. Tables keep
# their natural width (numbers never wrap) and scroll sideways inside their
# own box; prose, captions and code wrap long ids and URLs; charts scale down.
STYLE = """
*, *::before, *::after { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; text-size-adjust: 100%; }
body { font-family: -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; margin: 2rem auto; max-width: 1100px;
       color: #1f2328; line-height: 1.45; padding: 0 1rem; overflow-wrap: break-word; }
h1 { font-size: 1.6rem; margin-bottom: 0.3rem; }
h2 { font-size: 1.2rem; border-bottom: 1px solid #d0d7de; padding-bottom: 0.2rem; margin-top: 2rem; }
h1, h2, p, li, caption, figcaption { overflow-wrap: anywhere; }
.summary { font-weight: 600; background: #f6f8fa; border-left: 4px solid #1f6feb; padding: 0.7rem 1rem; }
.table-scroll { max-width: 100%; overflow-x: auto; margin: 0.6rem 0 1.2rem;
  /* a shadow on the side that has more to scroll to (the white covers ride along with the content) */
  background: linear-gradient(to right, #fff 40%, rgba(255, 255, 255, 0)) left / 2rem 100% no-repeat local,
              linear-gradient(to left, #fff 40%, rgba(255, 255, 255, 0)) right / 2rem 100% no-repeat local,
              radial-gradient(farthest-side at 0 50%, rgba(0, 0, 0, 0.2), transparent)
                left / 0.8rem 100% no-repeat scroll,
              radial-gradient(farthest-side at 100% 50%, rgba(0, 0, 0, 0.2), transparent)
                right / 0.8rem 100% no-repeat scroll; }
.table-scroll:focus-visible { outline: 2px solid #1f6feb; outline-offset: 2px; }
table { border-collapse: collapse; font-size: 0.85rem; }
caption { text-align: left; font-weight: 600; padding-bottom: 0.3rem; }
th, td { border: 1px solid #d0d7de; padding: 0.25rem 0.5rem; vertical-align: top; }
th { background: #f6f8fa; text-align: left; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.short { white-space: nowrap; }
/* a text column stays readable when the window is narrow; the box scrolls instead */
td.mid { min-width: 7em; }
td.text { min-width: 12em; }
figure { margin: 1rem 0; max-width: 100%; }
figcaption { font-size: 0.85rem; color: #57606a; }
figure svg, img, svg { max-width: 100%; height: auto; }
figure svg { width: 100%; }
li { margin-bottom: 0.3rem; font-size: 0.9rem; }
code { background: #f6f8fa; padding: 0.1rem 0.3rem; overflow-wrap: anywhere; }
a { overflow-wrap: anywhere; }
@media (max-width: 600px) {  /* phones: give the text the margins' room */
  body { margin: 1rem auto; padding: 0 0.6rem; }
  h1 { font-size: 1.35rem; }
  .summary { padding: 0.5rem 0.7rem; }
}

/* Print and PDF: no scroll boxes (paper cannot scroll), so tables shrink to
   the page width by wrapping their cells; tables, figures and a heading with
   what follows it stay on one page where they fit; links print their
   address; no background fills (ink, and many printers drop them anyway). */
@media print {
  @page { margin: 15mm 12mm; }
  body { max-width: none; margin: 0; padding: 0; font-size: 10pt; color: #000; }
  *, *::before, *::after { background: transparent !important; box-shadow: none !important; }
  .summary { border-left: 3pt solid #000; }
  .table-scroll { overflow: visible; max-width: none; }
  table { width: 100%; font-size: 8pt; break-inside: avoid; page-break-inside: avoid; }
  thead { display: table-header-group; }
  tr, figure, .summary { break-inside: avoid; page-break-inside: avoid; }
  th, td { border-color: #888; overflow-wrap: anywhere; }
  td.num, th.num, td.short { white-space: normal; }
  td.mid, td.text { min-width: 0; }
  h1, h2 { break-after: avoid; page-break-after: avoid; }
  figure svg { width: 100%; max-height: 60vh; }
  a { color: #000; text-decoration: underline; }
  a[href^="http"]::after { content: " (" attr(href) ")"; font-size: 0.85em; overflow-wrap: anywhere; }
}
"""


SHORT_CELL = 16  # characters; at 0.85rem about 8 em, narrower than a phone screen
LONG_CELL = 40   # characters; squeezed below 12 em such a cell turns into a column of single words


def _numeric(text: str) -> bool:
    """A number, optionally with one unit word after it: 5,667, $4.29/h, $1,672/month, 47.2 ms, 10,200 W."""
    stripped = text.replace(",", "").replace("$", "").replace("%", "").replace("/month", "").replace("/h", "")
    words = stripped.replace("+", "").replace("-", "").split()
    return 0 < len(words) <= 2 and words[0].replace(".", "", 1).isdigit()


def _inline(text: str) -> str:
    """Escape, then render `code` spans."""
    parts = html.escape(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def _cell_class(text: str, numeric: bool) -> str:
    """num: right-aligned, never wrapped; short: a short label ('1 x 1',
    'us-east-1', 'h100-sxm int4') kept on one line rather than broken at
    its spaces or hyphens; text: a long text, wrapped but never narrower
    than a few words; mid: anything between, wrapped at a narrower floor."""
    if numeric:
        return "num"
    if len(text) <= SHORT_CELL:
        return "short"
    return "text" if len(text) >= LONG_CELL else "mid"


def _table(table: DocTable) -> str:
    """A table inside its own sideways-scrolling box, so a wide table never
    widens the page; the box is focusable so keyboard users can scroll it."""
    # a column is right-aligned when every filled cell in it is a number
    numeric = [all(_numeric(row[i]) for row in table.rows if row[i] not in ("", "-")) and
               any(row[i] not in ("", "-") for row in table.rows) for i in range(len(table.columns))]
    label = html.escape(table.title or "table", quote=True)
    rows = [f"<div class=\"table-scroll\" role=\"region\" aria-label=\"{label}\" tabindex=\"0\">", "<table>"]
    if table.title:
        rows.append(f"<caption>{html.escape(table.title)}</caption>")
    # thead lets a printed table that runs over a page repeat its header row
    rows.append("<thead><tr>" + "".join(f"<th class=\"num\">{html.escape(c)}</th>" if numeric[i]
                                         else f"<th>{html.escape(c)}</th>" for i, c in enumerate(table.columns))
                + "</tr></thead>")
    rows.append("<tbody>")
    for row in table.rows:
        classes = [_cell_class(c, numeric[i]) for i, c in enumerate(row)]
        cells = "".join(f"<td class=\"{k}\">{html.escape(c)}</td>" for c, k in zip(row, classes))
        rows.append(f"<tr>{cells}</tr>")
    rows.append("</tbody>")
    rows.append("</table>")
    rows.append("</div>")
    return "\n".join(rows)


def render_html(review: Review) -> str:
    out = [
        "<!DOCTYPE html>",
        "<html lang=\"en\"><head><meta charset=\"utf-8\">",
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
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
