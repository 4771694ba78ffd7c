"""The HTML review fits any screen and prints well, checked on the markup
alone (no browser): every table sits in a sideways-scrolling box, there is a
print stylesheet, and nothing is fetched from the network when the page is
viewed. benchmarks/screenshot_report.py checks the rendered layout in
Chromium."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "13b-chat" / "review.html"
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class _Layout(HTMLParser):
    """Counts tables, and tables with no scroll-box ancestor; collects the CSS
    of <style> elements and every resource address the page would load."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[tuple[str, bool]] = []   # (tag, is a scroll box)
        self.tables = 0
        self.unboxed = 0
        self.css: list[str] = []
        self.resources: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._start(tag, attrs, closed=tag in VOID)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._start(tag, attrs, closed=True)  # <path ... /> opens nothing

    def _start(self, tag: str, attrs: list[tuple[str, str | None]], closed: bool) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "table":
            self.tables += 1
            if not any(boxed for _, boxed in self.open):
                self.unboxed += 1
        # what a browser fetches: src of any element, href of anything but a link to follow
        # (a stylesheet <link>, an SVG <image>/<use>), inline style urls
        for key, value in values.items():
            if key == "src" or (key in ("href", "xlink:href") and tag != "a"):
                self.resources.append(value)
        self.css.append(values.get("style", ""))
        if tag == "style":
            self._in_style = True
        if not closed:
            self.open.append((tag, "table-scroll" in values.get("class", "").split()))

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self._in_style = False
        for i in range(len(self.open) - 1, -1, -1):
            if self.open[i][0] == tag:
                del self.open[i:]
                break

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.css.append(data)


def _layout(page: str) -> _Layout:
    parser = _Layout()
    parser.feed(page)
    parser.close()
    return parser


def _remote(layout: _Layout) -> list[str]:
    css = "\n".join(layout.css)
    found = [r for r in layout.resources if re.match(r"\s*(https?:)?//", r)]
    found += re.findall(r"@import[^;]*", css)
    found += [u for u in re.findall(r"url\(\s*['\"]?([^'\")]*)", css) if re.match(r"\s*(https?:)?//", u)]
    return found


def test_the_checks_can_fail():
    """The parser finds what it is meant to find (a check that cannot fail proves nothing)."""
    bad = _layout('<html><head><link rel="stylesheet" href="https://cdn.example/x.css">'
                  "<style>@import 'x.css'; body { background: url(http://example.com/a.png) }</style></head>"
                  '<body><table><tr><td>1</td></tr></table><div class="table-scroll"></div><table></table>'
                  '<img src="//example.com/i.png"><a href="https://example.com">fine</a></body></html>')
    assert (bad.tables, bad.unboxed) == (2, 2)
    assert len(_remote(bad)) == 4
    good = _layout('<div class="wide table-scroll"><table><tr><td>1</td></tr></table></div><table hidden></table>')
    assert (good.tables, good.unboxed) == (2, 1)


@pytest.fixture(scope="module")
def example() -> str:
    return EXAMPLE.read_text(encoding="utf-8")


def test_every_table_scrolls_inside_its_own_box(example):
    layout = _layout(example)
    assert layout.tables >= 5  # the review has its plan, headroom, memory, time and bill tables
    assert layout.unboxed == 0
    css = "\n".join(layout.css)
    assert re.search(r"\.table-scroll\s*\{[^}]*overflow-x:\s*auto", css)
    assert re.search(r"svg[^{]*\{[^}]*max-width:\s*100%", css)


def test_there_is_a_print_stylesheet(example):
    css = "\n".join(_layout(example).css)
    block = css[css.index("@media print"):]
    assert re.search(r"\.table-scroll\s*\{[^}]*overflow:\s*visible", block)  # paper cannot scroll
    assert "break-inside: avoid" in block and "attr(href)" in block


def test_nothing_is_fetched_from_the_network(example):
    layout = _layout(example)
    assert _remote(layout) == []
    assert "<script" not in example and "<iframe" not in example
