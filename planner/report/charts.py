"""SVG charts for the design-review report, drawn with matplotlib.

matplotlib is an optional extra (`pip install 'planner[report]'`); without
it the reports carry no charts and say so. The SVG is made reproducible:
text stays text, no creation date, a fixed id salt.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass


def available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass(frozen=True)
class Point:
    label: str
    latency_ms: float
    cost: float


@dataclass(frozen=True)
class MemoryBar:
    label: str
    weights_gb: float
    kv_cache_gb: float
    activations_gb: float
    runtime_gb: float
    capacity_gb: float


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams.update({
        "svg.fonttype": "none",
        "svg.hashsalt": "planner",
        "font.family": "DejaVu Sans",
        "font.size": 9,
        "axes.spines.top": False,
        "axes.spines.right": False,
    })
    import matplotlib.pyplot as plt

    return plt


# Every chart is this wide (inches; 72 SVG units per inch) and lays out with
# matplotlib's constrained layout, legends outside the plot area and below it,
# so the plot keeps most of the width however long the labels get.
FIGURE_WIDTH_IN = 9.0
MAX_LABEL_CHARS = 38


@dataclass(frozen=True)
class PlotArea:
    """Where a chart's plot (the axes) sits in its SVG, in viewBox units."""

    x: float
    y: float
    width: float
    height: float
    figure_width: float
    figure_height: float

    @property
    def width_share(self) -> float:
        """The plot's width as a share of the figure's."""
        return self.width / self.figure_width


def plot_area(svg: str) -> PlotArea:
    """The plot area a chart records on its <svg> element (data-plot-area,
    "x y width height") against its viewBox: for checking a layout without a
    browser."""
    head = svg[svg.index("<svg"):svg.index(">", svg.index("<svg"))]
    box = re.search(r'viewBox="([^"]+)"', head)
    area = re.search(r'data-plot-area="([^"]+)"', head)
    if box is None or area is None:
        raise ValueError("not a planner chart: no viewBox or data-plot-area on its <svg> element")
    _, _, fw, fh = (float(v) for v in box.group(1).split())
    x, y, w, h = (float(v) for v in area.group(1).split())
    return PlotArea(x, y, w, h, fw, fh)


def _svg(fig, ax, prefix: str) -> str:
    """The figure as SVG markup, its element ids prefixed so that two charts
    inlined in one HTML page do not share ids, and the plot area recorded on
    the <svg> element (see plot_area). ``ax`` is one axes or a list of them
    (panels): the plot area is the box around them all."""
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    text = buffer.getvalue()
    start = text.find("<svg")
    text = text[start:] if start >= 0 else text
    text = re.sub(r'id="([^"]+)"', rf'id="{prefix}-\1"', text)
    text = re.sub(r"url\(#([^)]+)\)", rf"url(#{prefix}-\1)", text)
    text = re.sub(r'href="#([^"]+)"', rf'href="#{prefix}-\1"', text)
    # the axes' box after layout, in figure fractions from the bottom left;
    # the SVG's units are points (72 per inch) from the top left
    width_pt, height_pt = fig.get_size_inches() * 72
    boxes = [a.get_position() for a in (ax if isinstance(ax, (list, tuple)) else [ax])]
    x0, x1 = min(b.x0 for b in boxes), max(b.x1 for b in boxes)
    y0, y1 = min(b.y0 for b in boxes), max(b.y1 for b in boxes)
    area = (f"{x0 * width_pt:.1f} {(1 - y1) * height_pt:.1f} "
            f"{(x1 - x0) * width_pt:.1f} {(y1 - y0) * height_pt:.1f}")
    return text.replace("<svg ", f'<svg data-plot-area="{area}" ', 1)


def _short(label: str) -> str:
    """A label cut to fit a legend or an annotation; the caption carries it whole."""
    return label if len(label) <= MAX_LABEL_CHARS else label[: MAX_LABEL_CHARS - 1] + "…"


def _plain_ticks(axis, money: bool = False) -> None:
    """Log axes labelled in plain numbers (20, 30, 50; $0.5, $1, $2), not 2x10^1."""
    from matplotlib.ticker import FuncFormatter, LogLocator

    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_minor_locator(LogLocator(base=10, subs=(1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0)))

    def label(value: float, _pos: int) -> str:
        text = f"{value:,.0f}" if value >= 10 else f"{value:g}"
        return f"${text}" if money else text

    axis.set_major_formatter(FuncFormatter(label))
    axis.set_minor_formatter(FuncFormatter(lambda v, p: ""))


def pareto_front(points: list[Point]) -> list[Point]:
    """Points no other point beats on both latency and cost, by latency."""
    front: list[Point] = []
    for p in sorted(points, key=lambda p: (p.latency_ms, p.cost)):
        if not front or p.cost < front[-1].cost:
            front.append(p)
    return front


def _money_ticks(axis) -> None:
    from matplotlib.ticker import FuncFormatter

    axis.set_major_formatter(FuncFormatter(lambda v, _p: f"${v:,.0f}" if abs(v) >= 10 else f"${v:,.2f}"))


# Below this spread (largest over smallest) the candidates crowd one spot of a
# plain latency axis, as they do when a throughput target fills every batch
# up to the latency limit; the chart then plots headroom against the target.
CROWDED_SPREAD = 1.10


def cost_latency_svg(points: list[Point], chosen: Point, cost_label: str, latency_label: str, target_ms: float | None,
                     target_name: str = "target") -> str:
    """Each candidate shape's cheapest single-shape plan, the Pareto front of
    those and the chosen plan (which may mix shapes) starred and labelled.

    Axes spread the candidates: log where values span an order of magnitude;
    where every latency sits within 10% of the others and a target is given,
    the x axis is the headroom against the target in percent, zoomed to the
    candidates."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(FIGURE_WIDTH_IN, 4.6), layout="constrained")
    everything = points + [chosen]
    xs = [p.latency_ms for p in everything]
    ys = [p.cost for p in everything]
    relative = target_ms is not None and max(xs) / max(min(xs), 1e-12) < CROWDED_SPREAD

    def x_of(p: Point) -> float:
        return 100 * (1 - p.latency_ms / target_ms) if relative and target_ms else p.latency_ms

    ax.scatter([x_of(p) for p in points], [p.cost for p in points], s=12, color="#9aa5b1",
               label="cheapest plan of one shape", zorder=1)
    front = pareto_front(everything)
    ax.plot([x_of(p) for p in front], [p.cost for p in front], color="#1f6feb", linewidth=1.4,
            marker="o", markersize=3, label="Pareto front", zorder=2)
    ax.scatter([x_of(chosen)], [chosen.cost], s=160, marker="*", color="#d1242f", zorder=3, label="chosen plan")
    ax.annotate(_short(f"chosen: {chosen.label}"), (x_of(chosen), chosen.cost), xytext=(8, 8),
                textcoords="offset points", fontsize=8, color="#d1242f", zorder=4,
                bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "edgecolor": "none", "alpha": 0.8})
    if relative:
        spread = max(x_of(p) for p in everything) - min(x_of(p) for p in everything)
        pad = max(spread * 0.15, 0.05)
        ax.set_xlim(min(x_of(p) for p in everything) - pad, max(x_of(p) for p in everything) + pad)
        ax.set_xlabel(f"headroom against the {target_name} target of {target_ms:g} ms, % (0 = at the target)")
    else:
        if target_ms is not None:
            ax.axvline(target_ms, color="#d1242f", linestyle="--", linewidth=0.8, label=f"{target_name} target {target_ms:g} ms")
        # log axes only where the values span an order of magnitude; below that
        # a log axis shows one tick label or none
        if max(xs) / max(min(xs), 1e-12) >= 8:
            ax.set_xscale("log")
            _plain_ticks(ax.xaxis)
        ax.set_xlabel(latency_label)
    if max(ys) / max(min(ys), 1e-12) >= 8:
        ax.set_yscale("log")
        _plain_ticks(ax.yaxis, money=True)
    else:
        _money_ticks(ax.yaxis)
    ax.set_ylabel(cost_label)
    ax.set_title("Cost against latency: the cheapest plan of each shape that meets the targets")
    fig.legend(loc="outside lower center", fontsize=8, frameon=False, ncol=4)
    ax.grid(True, which="major", linewidth=0.3, alpha=0.6)
    svg = _svg(fig, ax, "cost-latency")
    plt.close(fig)
    return svg


def memory_svg(bars: list[MemoryBar]) -> str:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(FIGURE_WIDTH_IN, 1.6 + 0.45 * len(bars)), layout="constrained")
    labels = [_short(b.label) for b in bars]
    parts = [
        ("weights", [b.weights_gb for b in bars], "#1f6feb"),
        ("KV cache", [b.kv_cache_gb for b in bars], "#2da44e"),
        ("activations", [b.activations_gb for b in bars], "#bf8700"),
        ("runtime", [b.runtime_gb for b in bars], "#8250df"),
    ]
    left = [0.0] * len(bars)
    handles = []
    positions = list(range(len(bars)))
    for name, values, color in parts:
        handles.append(ax.barh(positions, values, left=left, color=color, label=name, height=0.45))
        left = [a + b for a, b in zip(left, values)]
    ax.set_yticks(positions, labels)
    for i, b in enumerate(bars):
        ax.plot([b.capacity_gb, b.capacity_gb], [i - 0.32, i + 0.32], color="#000000", linestyle="--",
                linewidth=1.2, zorder=4)
        ax.text(max(b.capacity_gb, left[i]) * 1.01, i, f"{left[i]:,.1f} / {b.capacity_gb:,.1f} GB "
                f"({100 * left[i] / b.capacity_gb:.0f}%)", va="center", fontsize=8)
    (capacity,) = ax.plot([], [], color="#000000", linestyle="--", linewidth=1.2, label="usable capacity")
    ax.set_xlim(0, max(b.capacity_gb for b in bars) * 1.35)
    ax.set_xlabel("GB per GPU")
    ax.set_title("Memory on the most loaded GPU of each plan line")
    ax.invert_yaxis()
    fig.legend(handles=handles + [capacity], loc="outside lower center", fontsize=8, frameon=False, ncol=5)
    svg = _svg(fig, ax, "memory")
    plt.close(fig)
    return svg


@dataclass(frozen=True)
class LoadPanel:
    """One panel of the latency-against-load chart: a statistic of a metric."""

    name: str  # "p99 TTFT"
    target_ms: float | None


@dataclass(frozen=True)
class LoadCurve:
    """One shape's figures at increasing request rates per replica."""

    label: str
    chosen: bool
    rates: tuple[float, ...]  # requests/s per replica, increasing
    values_ms: tuple[tuple[float | None, ...], ...]  # per panel, one per rate
    stable: tuple[bool, ...]  # one per rate: False where the queue grows
    operating_rate: float | None = None  # the plan's load on one replica, requests/s
    operating_ms: tuple[float | None, ...] = ()  # per panel, at the plan's load


# One colour per shape; the chosen shapes come first.
CURVE_COLOURS = ("#1f6feb", "#2da44e", "#bf8700", "#8250df", "#cf222e", "#57606a")


def latency_load_svg(panels: list[LoadPanel], curves: list[LoadCurve]) -> str:
    """Latency statistics against the request rate per replica: one panel
    per statistic, one colour per shape (chosen shapes drawn thicker), the
    targets as dashed lines, the plan's load starred. A point where the queue
    grows (no steady state) is a cross, joined by a dotted line: the curve
    ends there."""
    plt = _pyplot()
    fig, axes = plt.subplots(len(panels), 1, sharex=True, figsize=(FIGURE_WIDTH_IN, 1.4 + 2.3 * len(panels)),
                             layout="constrained", squeeze=False)
    axes = [row[0] for row in axes]
    handles = []
    for i, curve in enumerate(curves):
        colour = CURVE_COLOURS[i % len(CURVE_COLOURS)]
        width = 2.0 if curve.chosen else 1.2
        for p, ax in enumerate(axes):
            values = curve.values_ms[p]
            steady = [(r, v) for r, v, s in zip(curve.rates, values, curve.stable) if s and v is not None]
            (line,) = ax.plot([r for r, _ in steady], [v for _, v in steady], color=colour, linewidth=width,
                              marker="o", markersize=3.5 if curve.chosen else 2.5, zorder=3 if curve.chosen else 2,
                              label=_short(curve.label))
            growing = [(r, v) for r, v, s in zip(curve.rates, values, curve.stable) if not s and v is not None]
            if growing and steady:
                ax.plot([steady[-1][0], growing[0][0]], [steady[-1][1], growing[0][1]], color=colour,
                        linewidth=width * 0.7, linestyle=":", zorder=2)
            if growing:
                ax.scatter([r for r, _ in growing], [v for _, v in growing], marker="x", s=36, color=colour, zorder=3)
            if p == 0:
                handles.append(line)
            if curve.operating_rate is not None and p < len(curve.operating_ms) and curve.operating_ms[p] is not None:
                ax.scatter([curve.operating_rate], [curve.operating_ms[p]], marker="*", s=150, color=colour,
                           edgecolors="#000000", linewidths=0.6, zorder=5)
    for panel, ax in zip(panels, axes):
        if panel.target_ms is not None:
            ax.axhline(panel.target_ms, color="#000000", linestyle="--", linewidth=0.9, zorder=1)
            ax.annotate(f"{panel.name} target {panel.target_ms:,g} ms", (0.005, panel.target_ms),
                        xycoords=("axes fraction", "data"), xytext=(2, 3), textcoords="offset points", fontsize=7.5,
                        bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.8})
        shown = [v for c in curves for v in c.values_ms[axes.index(ax)] if v is not None and v > 0]
        if panel.target_ms:
            shown.append(panel.target_ms)
        if shown and max(shown) / min(shown) >= 8:
            ax.set_yscale("log")
            _plain_ticks(ax.yaxis)
        ax.set_ylabel(f"{panel.name}, ms")
        ax.grid(True, which="major", linewidth=0.3, alpha=0.6)
    axes[-1].set_xlabel("requests/s offered to one replica")
    axes[-1].set_xlim(left=0)
    axes[0].set_title("Latency against load, per replica: where each shape's queue takes off")
    handles.append(axes[0].scatter([], [], marker="*", s=150, color="#ffffff", edgecolors="#000000", linewidths=0.6,
                                   label="the plan's load (verified)"))
    handles.append(axes[0].scatter([], [], marker="x", s=36, color="#000000", label="queue grows (no steady state)"))
    (target,) = axes[0].plot([], [], color="#000000", linestyle="--", linewidth=0.9, label="target")
    handles.append(target)
    fig.legend(handles=handles, loc="outside lower center", fontsize=8, frameon=False, ncol=min(4, len(handles)))
    svg = _svg(fig, axes, "latency-load")
    plt.close(fig)
    return svg


@dataclass(frozen=True)
class CostSeries:
    """One workload's cost in each hour of the day, USD per hour."""

    label: str
    usd_per_hour: tuple[float, ...]


def fleet_cost_svg(series: list[CostSeries], static_usd_per_hour: float | None) -> str:
    """A fleet's rent over the day: one bar per hour, stacked by workload,
    and the cost of the same fleet sized for its peak hour (no autoscaling)
    as a dashed line across the day."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(FIGURE_WIDTH_IN, 4.2), layout="constrained")
    hours = list(range(max((len(s.usd_per_hour) for s in series), default=0)))
    bottom = [0.0] * len(hours)
    for i, s in enumerate(series):
        values = list(s.usd_per_hour) + [0.0] * (len(hours) - len(s.usd_per_hour))
        ax.bar(hours, values, bottom=bottom, width=0.8, color=CURVE_COLOURS[i % len(CURVE_COLOURS)],
               label=_short(s.label), zorder=2)
        bottom = [a + b for a, b in zip(bottom, values)]
    if static_usd_per_hour is not None:
        ax.axhline(static_usd_per_hour, color="#000000", linestyle="--", linewidth=1.1, zorder=3,
                   label=f"sized for the peak: ${static_usd_per_hour:,.2f}/h")
    ax.set_xticks(hours, [f"{h:02d}" for h in hours], fontsize=7.5)
    ax.set_xlim(-0.6, max(len(hours) - 0.4, 0.4))
    ax.set_ylim(bottom=0)
    _money_ticks(ax.yaxis)
    ax.set_xlabel("hour of the day")
    ax.set_ylabel("rent, USD per hour")
    ax.set_title("Cost over the day, by workload: autoscaled against sized for the peak")
    ax.grid(True, axis="y", which="major", linewidth=0.3, alpha=0.6, zorder=0)
    fig.legend(loc="outside lower center", fontsize=8, frameon=False, ncol=min(4, len(series) + 1))
    svg = _svg(fig, ax, "fleet-cost")
    plt.close(fig)
    return svg
