"""SVG charts for the design-review report, drawn with matplotlib.

matplotlib is an optional extra (`pip install 'planner[report]'`); without
it the reports carry no charts and say so. The SVG is made reproducible:
text stays text, no creation date, a fixed id salt.
"""

from __future__ import annotations

import io
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


def _svg(fig) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None}, bbox_inches="tight")
    text = buffer.getvalue()
    start = text.find("<svg")
    return text[start:] if start >= 0 else text


def pareto_front(points: list[Point]) -> list[Point]:
    """Points no other point beats on both latency and cost, by latency."""
    front: list[Point] = []
    for p in sorted(points, key=lambda p: (p.latency_ms, p.cost)):
        if not front or p.cost < front[-1].cost:
            front.append(p)
    return front


def cost_latency_svg(points: list[Point], chosen: Point, cost_label: str, latency_label: str, target_ms: float | None) -> str:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.0, 4.2))
    ax.scatter([p.latency_ms for p in points], [p.cost for p in points], s=10, color="#9aa5b1",
               label="candidate shapes", zorder=1)
    front = pareto_front(points)
    ax.plot([p.latency_ms for p in front], [p.cost for p in front], color="#1f6feb", linewidth=1.4,
            marker="o", markersize=3, label="Pareto front", zorder=2)
    ax.scatter([chosen.latency_ms], [chosen.cost], s=140, marker="*", color="#d1242f", zorder=3,
               label=f"chosen: {chosen.label}")
    if target_ms is not None:
        ax.axvline(target_ms, color="#d1242f", linestyle="--", linewidth=0.8, label=f"target {target_ms:g} ms")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(latency_label)
    ax.set_ylabel(cost_label)
    ax.set_title("Cost against latency of every candidate that meets the targets")
    ax.legend(loc="upper right", fontsize=8, frameon=False)
    ax.grid(True, which="major", linewidth=0.3, alpha=0.6)
    svg = _svg(fig)
    plt.close(fig)
    return svg


def memory_svg(bars: list[MemoryBar]) -> str:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.0, 0.9 + 0.55 * len(bars)))
    labels = [b.label for b in bars]
    parts = [
        ("weights", [b.weights_gb for b in bars], "#1f6feb"),
        ("KV cache", [b.kv_cache_gb for b in bars], "#2da44e"),
        ("activations", [b.activations_gb for b in bars], "#bf8700"),
        ("runtime", [b.runtime_gb for b in bars], "#8250df"),
    ]
    left = [0.0] * len(bars)
    for name, values, color in parts:
        ax.barh(labels, values, left=left, color=color, label=name, height=0.5)
        left = [a + b for a, b in zip(left, values)]
    for i, b in enumerate(bars):
        ax.plot([b.capacity_gb, b.capacity_gb], [i - 0.35, i + 0.35], color="#d1242f", linewidth=1.5)
    ax.plot([], [], color="#d1242f", linewidth=1.5, label="usable capacity")
    ax.set_xlabel("GB per GPU (10^9 bytes)")
    ax.set_title("Memory on the most loaded GPU of each plan line")
    ax.invert_yaxis()
    ax.legend(loc="lower right", fontsize=8, frameon=False, ncol=5, bbox_to_anchor=(1.0, -0.9 if len(bars) < 3 else -0.45))
    svg = _svg(fig)
    plt.close(fig)
    return svg
