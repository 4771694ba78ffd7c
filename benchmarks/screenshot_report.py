"""Render the HTML design-review report in headless Chromium and screenshot it.

    python benchmarks/screenshot_report.py [--out PNG] [-- FIT-ARGS...]
    python benchmarks/screenshot_report.py --html report.html [--out PNG]

With no FIT-ARGS it runs the default question
    fit llama-3.1-70b --throughput "20000 tok/s" --latency 50ms
        --inventory h100-sxm=16,a100-sxm-80gb=32 --format html
through `python -m planner` into a temporary directory; otherwise it runs
`python -m planner FIT-ARGS -o <tmp>/report.html` (add `--format html`
yourself). `--html FILE` screenshots an existing report instead.

Then it runs Chromium headless (a fresh profile, no network services), checks
the PNG is there and not blank (non-white pixels via Pillow when it is
importable, file size otherwise), and prints the PNG path and a verdict.
With Pillow, a page that runs past the window is shot again at twice the
height (up to MAX_HEIGHT) so the PNG holds the whole report, and the blank
band below the page is trimmed off.
Exit status: 0 rendered, 1 blank or failed, 2 Chromium missing.

Chromium is a manual prerequisite of this check only, not of the project
(Debian: `apt-get install chromium`). It needs no display.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_QUESTION = [
    "fit", "llama-3.1-70b", "--throughput", "20000 tok/s", "--latency", "50ms",
    "--available", "h100-sxm=16,a100-sxm-80gb=32", "--format", "html",
]
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
TIMEOUT_S = 120
MIN_PNG_BYTES = 20_000     # a blank 1280x4000 PNG is a few KB
MIN_INK = 0.005            # share of non-white pixels below which the page counts as blank
BOTTOM_MARGIN = 24         # the body has a 2rem bottom margin: ink closer to the edge means clipped
MAX_HEIGHT = 16_000


def find_browser() -> str | None:
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


def run(what: str, cmd: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        sys.exit(f"{what} timed out after {TIMEOUT_S} s")


def make_report(question: list[str], workdir: Path) -> Path:
    """Run `python -m planner QUESTION -o workdir/report.html` from the project root."""
    html = workdir / "report.html"
    cmd = [sys.executable, "-m", "planner", *question, "-o", str(html)]
    done = run("planner", cmd, cwd=ROOT)
    if done.returncode != 0 or not html.is_file():
        sys.exit(f"planner failed (exit {done.returncode}): {(done.stderr or done.stdout).strip()[-800:]}")
    return html


def screenshot(browser: str, html: Path, png: Path, width: int, height: int, workdir: Path) -> None:
    profile = Path(tempfile.mkdtemp(prefix="profile-", dir=workdir))
    cmd = [
        browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--hide-scrollbars", f"--user-data-dir={profile}", f"--window-size={width},{height}",
        f"--screenshot={png}", html.resolve().as_uri(),
    ]
    png.unlink(missing_ok=True)
    done = run(browser, cmd)
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


def trim(png: Path, rows: int) -> None:
    """Cut the blank band below the page off the screenshot (Pillow only)."""
    from PIL import Image

    with Image.open(png) as image:
        image.load()
    image.crop((0, 0, image.width, rows)).save(png)


def clipped(measured: tuple[float, int] | None, height: int) -> bool:
    return measured is not None and measured[1] > height - BOTTOM_MARGIN


def verdict(png: Path, html: Path, height: int, measured: tuple[float, int] | None) -> tuple[bool, str]:
    size = png.stat().st_size
    svgs = html.read_text(encoding="utf-8").count("<svg")
    if measured is None:
        ok = size >= MIN_PNG_BYTES
        return ok, f"{'OK' if ok else 'BLANK?'}: {size:,} bytes (Pillow absent, size check only), {svgs} inline SVG chart(s)"
    share, bottom = measured
    ok = size >= MIN_PNG_BYTES and share >= MIN_INK
    cut = "; page is cut off at the bottom, raise --height" if clipped(measured, height) else ""
    return ok, (f"{'OK' if ok else 'BLANK?'}: {size:,} bytes, {share:.1%} non-white pixels, "
                f"page ends at row {bottom} (window height {height}), {svgs} inline SVG chart(s){cut}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--html", type=Path, help="screenshot this report instead of running planner")
    parser.add_argument("--out", type=Path, help="PNG path (default: in the temporary directory)")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=4000)
    parser.add_argument("question", nargs="*", help="planner arguments, after `--` (default: the 70B fleet question)")
    args = parser.parse_args()

    browser = find_browser()
    if browser is None:
        print("chromium not found: install the 'chromium' package (apt-get install -y chromium)", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="planner-screenshot-"))
    html = args.html if args.html else make_report(args.question or DEFAULT_QUESTION, workdir)
    if not html.is_file():
        sys.exit(f"no such report: {html}")
    png = (args.out or workdir / "report.png").resolve()
    png.parent.mkdir(parents=True, exist_ok=True)
    height = args.height
    screenshot(browser, html, png, args.width, height, workdir)
    while clipped(measured := ink(png), height) and height < MAX_HEIGHT:
        height = min(2 * height, MAX_HEIGHT)
        screenshot(browser, html, png, args.width, height, workdir)
    if measured is not None and measured[1] + 2 * BOTTOM_MARGIN < height:
        trim(png, measured[1] + 2 * BOTTOM_MARGIN)
    ok, line = verdict(png, html, height, measured)
    print(png)
    print(line)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
