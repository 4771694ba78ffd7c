"""Latency targets at a percentile: what a service-level objective says.

A target names a metric (TTFT, TPOT, inter-token latency, end-to-end, queue
wait), a statistic (the mean, or the 50th, 90th or 99th percentile over the
requests served) and a limit in seconds. The text form is the statistic, a
colon and the duration: ``p99:500ms``; a bare duration takes
``DEFAULT_PERCENTILE``. MLPerf's LLM server scenario caps the p99 of TTFT
and TPOT (MLPerf Inference rules, LLM latency constraints), and services
state their SLOs at p90-p99, so p99 is the default.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from planner.core.errors import InputError
from planner.core.units import parse_duration
from planner.model.serving import Percentiles, Summary


class Statistic(StrEnum):
    MEAN = "mean"
    P50 = "p50"
    P90 = "p90"
    P99 = "p99"


DEFAULT_PERCENTILE = Statistic.P99


class Metric(StrEnum):
    TTFT = "ttft"
    TPOT = "tpot"
    ITL = "itl"
    E2E = "e2e"
    QUEUE = "queue"

    @property
    def label(self) -> str:
        return {"ttft": "TTFT", "tpot": "TPOT", "itl": "ITL", "e2e": "e2e", "queue": "queue wait"}[self.value]


@dataclass(frozen=True)
class Slo:
    metric: Metric
    seconds: float
    statistic: Statistic = DEFAULT_PERCENTILE

    def __post_init__(self) -> None:
        if not (isinstance(self.seconds, (int, float)) and 0 < self.seconds < float("inf")):
            raise InputError(f"{self.metric.label} target {self.seconds!r} must be a positive number of seconds")

    @property
    def name(self) -> str:
        """``p99 TTFT``."""
        return f"{self.statistic.value} {self.metric.label}"

    def observed(self, summary: Summary) -> float | None:
        """The statistic of the summary's requests; None when it has none
        (no request with two output tokens has a TPOT)."""
        figures: Percentiles | None = {
            Metric.TTFT: summary.ttft, Metric.TPOT: summary.tpot, Metric.ITL: summary.itl,
            Metric.E2E: summary.e2e, Metric.QUEUE: summary.queue_wait,
        }[self.metric]
        return None if figures is None else getattr(figures, self.statistic.value)

    def met_by(self, summary: Summary) -> bool:
        value = self.observed(summary)
        return value is None or value <= self.seconds


_STATISTICS = ", ".join(s.value for s in Statistic)


def parse_target(text: str, flag: str) -> tuple[Statistic, float]:
    """``p99:500ms`` -> (p99, 0.5); ``500ms`` -> (the default percentile, 0.5)."""
    raw = text.strip()
    head, sep, tail = raw.partition(":")
    if not sep:
        return DEFAULT_PERCENTILE, parse_duration(raw)
    name = head.strip().lower()
    try:
        statistic = Statistic(name)
    except ValueError:
        raise InputError(f"{flag} {raw[:40]!r}: '{head.strip()[:12]}' is not a statistic ({_STATISTICS})",
                         hint=f"e.g. {flag} p99:500ms, or a duration alone for the {DEFAULT_PERCENTILE.value}") from None
    return statistic, parse_duration(tail.strip())
