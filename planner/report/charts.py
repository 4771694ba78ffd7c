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


def _svg(fig, prefix: str) -> str:
    """The figure as SVG markup, its element ids prefixed so that two charts
    inlined in one HTML page do not share ids."""
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None}, bbox_inches="tight")
    text = buffer.getvalue()
    start = text.find("<svg")
    text = text[start:] if start >= 0 else text
    text = re.sub(r'id="([^"]+)"', rf'id="{prefix}-\1"', text)
    text = re.sub(r"url\(#([^)]+)\)", rf"url(#{prefix}-\1)", text)
    return re.sub(r'href="#([^"]+)"', rf'href="#{prefix}-\1"', text)


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


def cost_latency_svg(points: list[Point], chosen: Point, cost_label: str, latency_label: str, target_ms: float | None) -> str:
    """Each candidate shape's cheapest single-shape plan, the Pareto front of
    those and the chosen plan (which may mix shapes) starred."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9.0, 4.6))
    ax.scatter([p.latency_ms for p in points], [p.cost for p in points], s=12, color="#9aa5b1",
               label="plans of one shape", zorder=1)
    front = pareto_front(points + [chosen])
    ax.plot([p.latency_ms for p in front], [p.cost for p in front], color="#1f6feb", linewidth=1.4,
            marker="o", markersize=3, label="Pareto front", zorder=2)
    ax.scatter([chosen.latency_ms], [chosen.cost], s=160, marker="*", color="#d1242f", zorder=3,
               label=f"chosen: {chosen.label}")
    if target_ms is not None:
        ax.axvline(target_ms, color="#d1242f", linestyle="--", linewidth=0.8, label=f"target {target_ms:g} ms")
    # log axes only where the values span an order of magnitude; below that
    # a log axis shows one tick label or none
    xs = [p.latency_ms for p in points + [chosen]]
    ys = [p.cost for p in points + [chosen]]
    if max(xs) / max(min(xs), 1e-12) >= 8:
        ax.set_xscale("log")
        _plain_ticks(ax.xaxis)
    if max(ys) / max(min(ys), 1e-12) >= 8:
        ax.set_yscale("log")
        _plain_ticks(ax.yaxis, money=True)
    ax.set_xlabel(latency_label)
    ax.set_ylabel(cost_label)
    ax.set_title("Cost against latency: the cheapest plan of each shape that meets the targets")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    ax.grid(True, which="major", linewidth=0.3, alpha=0.6)
    svg = _svg(fig, "cost-latency")
    plt.close(fig)
    return svg


def memory_svg(bars: list[MemoryBar]) -> str:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9.0, 1.4 + 0.45 * len(bars)), layout="constrained")
    labels = [b.label for b in bars]
    parts = [
        ("weights", [b.weights_gb for b in bars], "#1f6feb"),
        ("KV cache", [b.kv_cache_gb for b in bars], "#2da44e"),
        ("activations", [b.activations_gb for b in bars], "#bf8700"),
        ("runtime", [b.runtime_gb for b in bars], "#8250df"),
    ]
    left = [0.0] * len(bars)
    handles = []
    for name, values, color in parts:
        handles.append(ax.barh(labels, values, left=left, color=color, label=name, height=0.45))
        left = [a + b for a, b in zip(left, values)]
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
    svg = _svg(fig, "memory")
    plt.close(fig)
    return svg
