"""Render the HTML design-review report in headless Chromium, check its layout
at a desktop and a narrow window, and screenshot it.

    python benchmarks/screenshot_report.py                  # the standard checks
    python benchmarks/screenshot_report.py --save-examples  # ... and refresh examples/screenshots/
    python benchmarks/screenshot_report.py [--width W ...] -- FIT-ARGS...
    python benchmarks/screenshot_report.py --html report.html [--width W ...]

With no FIT-ARGS and no --html it runs two questions through `python -m
planner ... --format html` (a one-line plan and a four-line mixed plan, see
PLANS) and checks each report at 1280 and 760 px wide. FIT-ARGS replaces them
with one question of your own; `--html FILE` checks an existing report.

For every report and width it
  - loads a copy of the report with a small measuring script appended (the
    report itself carries no script) through `chromium --headless --dump-dom`,
    which prints the DOM after the script has written its findings into it:
      * overflow: elements whose box reaches past the window's edge and are
        not inside a box that scrolls or clips sideways (a table's scroll
        box), and whether the page itself scrolls sideways;
      * plot area: for each chart, the width of its plot rectangle as a
        share of the chart's width, from the `data-plot-area` the charts
        record on their `<svg>` (planner.report.charts.plot_area), or an
        element marked `class="plot-area"` (or an id ending in `plot-area`);
        a chart without either cannot be measured,
        and the table says so (giving the matplotlib axes rectangle's share
        for information only; a matplotlib chart marks it with
        `ax.patch.set_gid("plot-area")`);
    Chromium lays a DOM dump out no narrower than 500 px: a narrower --width
    is reported as "laid out at 500" (its screenshot is taken at the width
    asked for);
  - lays it out once more with its print stylesheet applied, at the text
    width of an A4 page (PRINT_WIDTH), and looks for overflow the same way:
    on paper nothing scrolls, so every table must fit the page;
  - screenshots the untouched report at that width, at most --max-height
    pixels tall (the top of the page: title, summary, plan), checks the PNG
    is not blank (Pillow: share of non-white pixels; file size without it),
    and with Pillow trims the blank band below a short page and stores the
    PNG with a 256-colour palette to keep it small.
Then it prints one table of the checks.

Exit status: 0 every check passed, 1 a check failed (or a chart could not be
measured, with --strict), 2 Chromium missing.

Chromium is a manual prerequisite of this benchmark only, never of the
project or its tests (Debian: `apt-get install chromium`). It needs no
display and no network: it runs with a fresh profile and background
services off, on a file:// URL.
"""

from __future__ import annotations

import argparse
import html as html_text
import json
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_SHOTS = ROOT / "examples" / "screenshots"

# name -> planner arguments. The mixed plan caps what may be rented of each
# GPU type so that the cheapest mix needs four lines (h100-sxm, h100-nvl,
# gh200, b200 at the catalog's prices when this was written).
PLANS: dict[str, list[str]] = {
    "13b": ["fit", "13B", "--latency", "100ms", "--format", "html"],
    "70b-mixed": [
        "fit", "llama-3.1-70b", "--throughput", "20000 tok/s", "--latency", "50ms",
        "--gpu", "h100-sxm,a100-sxm-80gb,l40s,h100-nvl,gh200,b200",
        "--available", "h100-sxm=4,a100-sxm-80gb=32,gh200=4,b200=2,h100-nvl=4,l40s=16",
        "--format", "html",
    ],
}
WIDTHS = (1280, 760)
# A4 (210 mm) less the print stylesheet's 12 mm side margins, at CSS's 96 px per inch
PRINT_WIDTH = round((210 - 2 * 12) / 25.4 * 96)
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
TIMEOUT_S = 120
MIN_PNG_BYTES = 20_000     # a blank 1280x2400 PNG is a few KB
MIN_INK = 0.005            # share of non-white pixels below which the page counts as blank
BOTTOM_MARGIN = 24         # blank rows kept below the last ink when trimming
MIN_PLOT_SHARE = 0.60      # a chart's plot area must be at least this share of the chart's width
RESULT_ID = "planner-layout-check"

# Runs inside the page after it has been laid out; writes JSON into a <pre>.
# An element "overflows" when its border box reaches past the window and no
# ancestor scrolls or clips it sideways inside the window. Inside an SVG only
# the <svg> itself counts (its drawing is scaled with it).
MEASURE_JS = r"""
(function () {
  const vw = document.documentElement.clientWidth;
  const slack = 0.5;
  const inside = r => r.left >= -slack && r.right <= vw + slack;
  const clipper = el => {
    for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
      const o = getComputedStyle(a).overflowX;
      if (o === "auto" || o === "scroll" || o === "hidden" || o === "clip") return a;
    }
    return null;
  };
  const name = el => {
    let s = el.tagName.toLowerCase();
    if (el.id) s += "#" + el.id;
    if (typeof el.className === "string" && el.className) s += "." + el.className.trim().split(/\s+/).join(".");
    const text = (el.textContent || "").trim().replace(/\s+/g, " ").slice(0, 40);
    return text ? s + ' "' + text + '"' : s;
  };
  const overflow = [];
  const reported = new Set();   // name only the outermost element of an overflowing subtree
  for (const el of document.body.querySelectorAll("*")) {
    if (el.id === "RESULT_ID") continue;
    if (el.closest("svg") && el.tagName.toLowerCase() !== "svg") continue;
    const r = el.getBoundingClientRect();
    if ((r.width === 0 && r.height === 0) || inside(r)) continue;
    const box = clipper(el);
    if (box && inside(box.getBoundingClientRect())) continue;
    reported.add(el);
    if (reported.has(el.parentElement)) continue;
    overflow.push(name(el) + " spans x " + Math.round(r.left) + ".." + Math.round(r.right));
  }
  const boxes = Array.from(document.querySelectorAll(".table-scroll"));
  const charts = [];
  for (const svg of document.querySelectorAll("svg")) {
    if (svg.parentElement.closest("svg")) continue;
    const fig = svg.getBoundingClientRect();
    const head = svg.querySelector('g[id$="figure_1"]');
    const cap = svg.closest("figure") && svg.closest("figure").querySelector("figcaption");
    const label = head ? head.id.replace(/-?figure_1$/, "") || "chart"
                       : (cap ? cap.textContent.trim().slice(0, 30) : "chart");
    const marked = svg.querySelector('.plot-area, [id$="plot-area"]');
    const axes = svg.querySelector('g[id$="axes_1"] > g[id*="patch"]');
    let plot = marked ? marked.getBoundingClientRect().width : null;
    // planner's charts record their plot rectangle in viewBox units on the
    // <svg> itself: data-plot-area="x y width height"
    const recorded = svg.getAttribute("data-plot-area");
    const box = svg.viewBox && svg.viewBox.baseVal;
    if (plot === null && recorded && box && box.width) {
      plot = fig.width * parseFloat(recorded.trim().split(/\s+/)[2]) / box.width;
    }
    charts.push({
      label: label,
      figure_px: fig.width,
      plot_px: plot,
      axes_px: axes ? axes.getBoundingClientRect().width : null,
    });
  }
  const pre = document.createElement("pre");
  pre.id = "RESULT_ID";
  pre.textContent = JSON.stringify({
    viewport: vw,
    page_width: document.documentElement.scrollWidth,
    page_height: document.documentElement.scrollHeight,
    overflow: overflow,
    tables: document.querySelectorAll("table").length,
    tables_in_scroll_box: document.querySelectorAll(".table-scroll table").length,
    scrolling_boxes: boxes.filter(b => b.scrollWidth > b.clientWidth + 1)
                          .map(b => b.getAttribute("aria-label") || "table"),
    charts: charts,
  });
  document.body.appendChild(pre);
})();
""".replace("RESULT_ID", RESULT_ID)


@dataclass
class Check:
    plan: str
    width: int
    page_width: int = 0
    viewport: int = 0   # what Chromium laid out at: it will not open a window narrower than 500 px
    page_height: int = 0
    overflow: list[str] | None = None
    tables: str = ""
    charts: list[str] | None = None
    charts_ok: bool | None = True   # None: not measurable (no plot-area marker)
    shot: str = ""
    shot_ok: bool = False
    scrolling: list[str] | None = None

    @property
    def layout_ok(self) -> bool:
        return not self.overflow and self.page_width <= self.viewport


def find_browser() -> str | None:
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


def run(what: str, cmd: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        sys.exit(f"{what} timed out after {TIMEOUT_S} s")


def make_report(question: list[str], html: Path) -> Path:
    """Run `python -m planner QUESTION -o HTML` from the project root."""
    cmd = [sys.executable, "-m", "planner", *question, "-o", str(html)]
    done = run("planner", cmd, cwd=ROOT)
    if done.returncode != 0 or not html.is_file():
        sys.exit(f"planner failed (exit {done.returncode}): {(done.stderr or done.stdout).strip()[-800:]}")
    return html


def browser_cmd(browser: str, profile: Path, width: int, height: int) -> list[str]:
    return [
        browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--hide-scrollbars", f"--user-data-dir={profile}", f"--window-size={width},{height}",
    ]


def measure(browser: str, html: Path, width: int, workdir: Path, paper: bool = False) -> dict:
    """Lay the report out at WIDTH px in Chromium and return what MEASURE_JS
    found. PAPER: lay it out with its print stylesheet applied on screen (the
    DOM dump cannot emulate print media), WIDTH being the page's text width."""
    page = html.read_text(encoding="utf-8")
    if paper:
        page = page.replace("@media print", "@media all")
    probe = workdir / f"probe-{width}-{'print-' if paper else ''}{html.stem}.html"
    script = f"<script>{MEASURE_JS}</script>"
    probe.write_text(page.replace("</body>", script + "</body>") if "</body>" in page else page + script,
                     encoding="utf-8")
    profile = Path(tempfile.mkdtemp(prefix="profile-", dir=workdir))
    done = run(browser, [*browser_cmd(browser, profile, width, 1000), "--dump-dom", probe.resolve().as_uri()])
    shutil.rmtree(profile, ignore_errors=True)
    found = re.search(rf'<pre id="{RESULT_ID}">(.*?)</pre>', done.stdout, re.DOTALL)
    if not found:
        sys.exit(f"{browser} did not run the measuring script (exit {done.returncode}): {done.stderr.strip()[-800:]}")
    return json.loads(html_text.unescape(found.group(1)))


def screenshot(browser: str, html: Path, png: Path, width: int, height: int, workdir: Path) -> None:
    profile = Path(tempfile.mkdtemp(prefix="profile-", dir=workdir))
    png.unlink(missing_ok=True)
    done = run(browser, [*browser_cmd(browser, profile, width, height), f"--screenshot={png}", html.resolve().as_uri()])
    shutil.rmtree(profile, ignore_errors=True)
    if done.returncode != 0 or not png.is_file():
        sys.exit(f"{browser} failed (exit {done.returncode}): {done.stderr.strip()[-800:]}")


def ink(png: Path) -> tuple[float, int] | None:
    """Share of non-white pixels and the last row holding any, or None without Pillow."""
    try:
        from PIL import Image
    except ImportError:
        return None
    with Image.open(png) as image:
        grey = image.convert("L")
    dark = grey.point(lambda v: 255 if v < 250 else 0)
    bbox = dark.getbbox()
    count = dark.histogram()[255]
    return count / (grey.width * grey.height), (bbox[3] if bbox else 0)


def shrink(png: Path, rows: int | None) -> None:
    """Trim the blank band below a short page and store a 256-colour PNG (Pillow only)."""
    from PIL import Image

    with Image.open(png) as opened:
        image = opened.convert("RGB")
    if rows is not None and rows < image.height:
        image = image.crop((0, 0, image.width, rows))
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(png, optimize=True)


def check_layout(check: Check, found: dict) -> None:
    check.page_width, check.page_height, check.viewport = found["page_width"], found["page_height"], found["viewport"]
    check.overflow = found["overflow"]
    check.tables = (f"{found['tables_in_scroll_box']}/{found['tables']} boxed, "
                    f"{len(found['scrolling_boxes'])} scroll")
    check.scrolling = found["scrolling_boxes"]
    if found["tables_in_scroll_box"] != found["tables"]:
        loose = found["tables"] - found["tables_in_scroll_box"]
        check.overflow = [*check.overflow, f"{loose} table(s) not in a scroll box"]
    check.charts = []
    for chart in found["charts"]:
        figure = chart["figure_px"] or 1.0
        if chart["plot_px"] is None:
            axes = f", axes {chart['axes_px'] / figure:.0%}" if chart["axes_px"] else ""
            check.charts.append(f"{chart['label']}: n/m (unmarked{axes})")
            check.charts_ok = None if check.charts_ok is not False else False
        else:
            share = chart["plot_px"] / figure
            passed = share >= MIN_PLOT_SHARE
            check.charts.append(f"{chart['label']}: {share:.0%} {'ok' if passed else 'FAIL'}")
            if not passed:
                check.charts_ok = False


def check_shot(check: Check, browser: str, html: Path, png: Path, max_height: int, workdir: Path) -> None:
    height = min(max_height, max(check.page_height, 600))
    screenshot(browser, html, png, check.width, height, workdir)
    measured = ink(png)
    if measured is None:
        size = png.stat().st_size
        check.shot_ok = size >= MIN_PNG_BYTES
        check.shot = f"{size // 1000} kB (no Pillow: size only)"
        return
    share, bottom = measured
    shrink(png, bottom + BOTTOM_MARGIN if bottom + BOTTOM_MARGIN < height else None)
    size = png.stat().st_size
    check.shot_ok = share >= MIN_INK
    check.shot = f"{size // 1000} kB, {share:.0%} ink{'' if check.shot_ok else ' BLANK?'}"


def print_table(checks: list[Check]) -> None:
    head = ("report", "width", "page px", "overflow outside scroll boxes", "tables", "charts' plot area >= 60%",
            "screenshot")
    rows = []
    for c in checks:
        over = "none" if c.layout_ok else "; ".join((c.overflow or [])[:3]) + (
            f" (+{len(c.overflow or []) - 3} more)" if len(c.overflow or []) > 3 else "")
        if c.page_width > c.viewport:
            over = f"page scrolls sideways ({c.page_width} px); " + over
        width = str(c.width) if c.viewport == c.width else f"{c.width} (laid out at {c.viewport})"
        rows.append((c.plan, width, f"{c.page_width}x{c.page_height}", over, c.tables,
                     "; ".join(c.charts or []) or "no charts", c.shot))
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    for r in [head, tuple("-" * w for w in widths), *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--html", type=Path, help="check this report instead of running planner")
    parser.add_argument("--width", type=int, action="append",
                        help="window width in px (repeatable; default 1280 and 760)")
    parser.add_argument("--max-height", type=int, default=2400, help="tallest screenshot in px (default 2400)")
    parser.add_argument("--out", type=Path, help="folder for the PNGs (default: a temporary folder)")
    parser.add_argument("--save-examples", action="store_true",
                        help=f"write the PNGs to {EXAMPLE_SHOTS.relative_to(ROOT)} (the standard questions only)")
    parser.add_argument("--no-print", action="store_true", help="skip the print-layout check")
    parser.add_argument("--strict", action="store_true", help="a chart without a plot-area marker fails the run")
    parser.add_argument("question", nargs="*", help="planner arguments, after `--` (default: the PLANS questions)")
    args = parser.parse_args()

    browser = find_browser()
    if browser is None:
        print("chromium not found: install the 'chromium' package (apt-get install -y chromium)", file=sys.stderr)
        return 2
    if args.save_examples and (args.html or args.question):
        sys.exit("--save-examples writes the standard questions' screenshots: drop --html and FIT-ARGS")
    workdir = Path(tempfile.mkdtemp(prefix="planner-screenshot-"))
    if args.html:
        if not args.html.is_file():
            sys.exit(f"no such report: {args.html}")
        reports = {args.html.stem: args.html}
    else:
        questions = {"report": args.question} if args.question else PLANS
        reports = {name: make_report(q, workdir / f"{name}.html") for name, q in questions.items()}
    out = EXAMPLE_SHOTS if args.save_examples else (args.out or workdir)
    out.mkdir(parents=True, exist_ok=True)

    checks = []
    for name, html in reports.items():
        for width in args.width or WIDTHS:
            check = Check(name, width)
            check_layout(check, measure(browser, html, width, workdir))
            check_shot(check, browser, html, out / f"review-{name}-{width}.png", args.max_height, workdir)
            checks.append(check)
        if not args.no_print:
            check = Check(f"{name} print", PRINT_WIDTH)
            check_layout(check, measure(browser, html, PRINT_WIDTH, workdir, paper=True))
            check.shot, check.shot_ok = "-", True
            checks.append(check)
    print_table(checks)
    for c in checks:
        if c.scrolling:
            print(f"{c.plan} at {c.width} px: tables scrolling in their box: {', '.join(c.scrolling)}")
    print(f"screenshots in {out}")
    unmeasured = [c for c in checks if c.charts_ok is None]
    if unmeasured:
        print("charts without a plot-area marker: their plot area could not be measured "
              "(mark the plot rectangle with class=\"plot-area\" or, in matplotlib, ax.patch.set_gid(\"plot-area\"))")
    failed = [c for c in checks if not (c.layout_ok and c.shot_ok and c.charts_ok is not False)]
    if args.strict:
        failed += unmeasured
    if out != workdir:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
