"""What a format costs one model in quality: the published figure, and how it was chosen.

Quality loss is relative, in percent, against the model's own release (see
``QualityMeasurement`` in the catalog schema). Figures live in
``catalog/quality.yaml``, one per model, format and part (weights or KV
cache). ``quality_loss`` picks one by a fixed rule, stated here once and
reported with every figure it returns:

Weights, for a model released in ``precision_native``:

1. the native format itself: loss 0, "the release itself";
2. a 16/32-bit float format when the release is 16/32-bit: loss 0, the
   baseline every figure is measured against;
3. a 16/32-bit float format when the release is narrower (FP8, MXFP4,
   NVFP4): an upcast, loss 0; it only costs memory;
4. otherwise a figure measured against a release of the same precision
   (16-bit figures for 16-bit releases, FP8 figures for an FP8 release):
   the model's own (``exact``); else the nearest size of its family
   (``nearest size in family``, flagged, naming the model it comes from);
   else, for a 16-bit release only, the format's single figure in
   precisions.yaml (``format default``, flagged as not model-specific);
   else ``unknown``: no figure says what re-quantising that release costs.

KV cache (figures are measured against a 16-bit cache, whatever the weights):

1. a 16/32-bit cache: loss 0, the baseline;
2. the model's own figure; else the nearest size of its family; else the
   nearest size in any family (``nearest size, other family``, flagged);
   else ``unknown``. A weight figure is never used for the KV cache.

Where several figures tie at the chosen step (two methods, two papers), the
largest loss is used: a plan admitted under a limit then holds for every
published measurement the catalog has. Sizes are compared on a log scale
(8B is as far from 16B as from 4B).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from planner.catalog.load import Catalog
from planner.catalog.schema import Model, Precision, QualityMeasurement

Part = Literal["weights", "kv_cache"]

# Float formats wide enough to hold a 16-bit release exactly (or nearly: BF16
# to FP16 can overflow; the catalog's fp16 entry gives its measured effect).
WIDE_FLOATS = ("fp32", "bf16", "fp16")
# Where an unknown loss must be ranked (solver ties, dominance): after every
# published loss, so a figure we have beats one we lack at equal cost.
UNKNOWN_RANK_PCT = 100.0


class Rule(StrEnum):
    """How a figure was chosen (see the module docstring)."""

    NATIVE = "the release itself"
    BASELINE = "16-bit baseline"
    UPCAST = "upcast"
    EXACT = "exact"
    NEAREST = "nearest size in family"
    OTHER_FAMILY = "nearest size, other family"
    FORMAT_DEFAULT = "format default"
    UNKNOWN = "unknown"


# Rules whose figure was not measured on this model: reports mark them.
FLAGGED = frozenset({Rule.NEAREST, Rule.OTHER_FAMILY, Rule.FORMAT_DEFAULT, Rule.UNKNOWN})


@dataclass(frozen=True)
class QualityFigure:
    """The loss one format costs one model in one part, and where it comes from.

    ``loss_pct`` is None when no figure applies (rule ``unknown``).
    ``measured_on`` names the checkpoint measured when the figure is borrowed.
    """

    precision: str
    part: Part
    rule: Rule
    loss_pct: float | None
    metric: str
    source: str
    method: str | None = None
    measured_on: str | None = None
    figure_id: str | None = None  # the quality.yaml entry, when one was used

    @property
    def flagged(self) -> bool:
        return self.rule in FLAGGED

    @property
    def rank_pct(self) -> float:
        """The loss for ordering: an unknown one after every known one."""
        return UNKNOWN_RANK_PCT if self.loss_pct is None else self.loss_pct

    @property
    def label(self) -> str:
        """One short phrase: the rule, and for a borrowed figure where from."""
        if self.rule in (Rule.NEAREST, Rule.OTHER_FAMILY):
            return f"borrowed: {self.rule.value}, from {self.measured_on}"
        if self.rule is Rule.FORMAT_DEFAULT:
            return "assumed: format default, not measured on this model"
        if self.rule is Rule.UNKNOWN:
            return "unknown"
        return self.rule.value

    def describe(self) -> str:
        """One line: loss, rule, what was measured, source."""
        if self.rule in (Rule.NATIVE, Rule.BASELINE, Rule.UPCAST):
            return f"0% ({self.label}: {self.metric})"  # nothing measured, nothing to cite
        loss = "unknown" if self.loss_pct is None else f"{self.loss_pct:g}%"
        method = f", {self.method}" if self.method else ""
        return f"{loss} ({self.label}{method}; {self.metric}; source: {self.source})"

    def as_json(self) -> dict[str, object]:
        return {
            "precision": self.precision,
            "part": self.part,
            "loss_pct": self.loss_pct,
            "rule": self.rule.value,
            "flagged": self.flagged,
            "measured_on": self.measured_on,
            "method": self.method,
            "metric": self.metric,
            "source": self.source,
            "figure_id": self.figure_id,
        }


@dataclass(frozen=True)
class DeploymentQuality:
    """The figures a deployment's weights and KV cache carry; the losses add,
    as ``--max-quality-loss`` has always counted them."""

    weights: QualityFigure
    kv_cache: QualityFigure

    @property
    def loss_pct(self) -> float | None:
        if self.weights.loss_pct is None or self.kv_cache.loss_pct is None:
            return None
        return self.weights.loss_pct + self.kv_cache.loss_pct

    @property
    def rank_pct(self) -> float:
        return UNKNOWN_RANK_PCT if self.loss_pct is None else self.loss_pct

    @property
    def flagged(self) -> bool:
        return self.weights.flagged or self.kv_cache.flagged


def _baseline_group(precision: str) -> str:
    """16/32-bit releases are one baseline; FP8, MXFP4 and NVFP4 releases each their own."""
    return "16-bit" if precision in WIDE_FLOATS else precision


def _place(catalog: Catalog, figure: QualityMeasurement) -> tuple[str, float]:
    """(family, parameters in billions) of the measured model: the catalog's
    own when the figure names a catalog model, else the figure's."""
    model = catalog.models.get(figure.model) if figure.model else None
    if model is not None:
        return model.family, model.params_published / 1e9
    return figure.family, figure.params_b


def _from(catalog: Catalog, figures: list[QualityMeasurement], rule: Rule, part: Part,
          precision: str) -> QualityFigure:
    """The largest loss among ``figures`` (they tie on the rule), as a QualityFigure."""
    chosen = max(figures, key=lambda f: (f.loss_pct, f.id))
    family, size = _place(catalog, chosen)
    measured_on = f"{chosen.measured_on} ({family}, {size:.3g}B)"
    return QualityFigure(precision, part, rule, chosen.loss_pct, chosen.metric, chosen.source,
                         method=chosen.method, measured_on=measured_on, figure_id=chosen.id)


def _nearest(catalog: Catalog, figures: list[QualityMeasurement], params_b: float) -> list[QualityMeasurement]:
    """The figures at the size nearest ``params_b`` (log scale), all of them if several tie."""
    if not figures:
        return []

    def distance(f: QualityMeasurement) -> float:
        return abs(math.log(_place(catalog, f)[1] / params_b))

    best = min(distance(f) for f in figures)
    return [f for f in figures if distance(f) <= best + 1e-9]


def _measured(catalog: Catalog, model: Model, precision: Precision, part: Part,
              figures: list[QualityMeasurement], any_family: bool) -> QualityFigure | None:
    """Exact, else nearest size in the family, else (KV) nearest size in any family."""
    exact = [f for f in figures if f.model == model.id]
    if exact:
        return _from(catalog, exact, Rule.EXACT, part, precision.id)
    params_b = model.params_published / 1e9
    family = _nearest(catalog, [f for f in figures if _place(catalog, f)[0] == model.family], params_b)
    if family:
        return _from(catalog, family, Rule.NEAREST, part, precision.id)
    if any_family:
        other = _nearest(catalog, figures, params_b)
        if other:
            return _from(catalog, other, Rule.OTHER_FAMILY, part, precision.id)
    return None


def _weights(catalog: Catalog, model: Model, precision: Precision) -> QualityFigure:
    native, fmt = model.precision_native, precision.id
    if fmt == native:
        return QualityFigure(fmt, "weights", Rule.NATIVE, 0.0, f"{model.name} as released in {native}",
                             f"the model's release precision (catalog models '{model.id}' precision_native)")
    if fmt in WIDE_FLOATS and native in WIDE_FLOATS:
        return QualityFigure(fmt, "weights", Rule.BASELINE, 0.0,
                             "16/32-bit weights: the baseline every quality figure is measured against",
                             precision.quality.source)
    if fmt in WIDE_FLOATS:
        return QualityFigure(fmt, "weights", Rule.UPCAST, 0.0,
                             f"the {native} release held in {fmt}: no quantisation loss, it only costs memory",
                             f"the model's release precision (catalog models '{model.id}' precision_native)")
    group = _baseline_group(native)
    figures = [f for f in catalog.quality.values()
               if f.part == "weights" and f.precision == fmt and _baseline_group(f.baseline_precision) == group]
    found = _measured(catalog, model, precision, "weights", figures, any_family=False)
    if found is not None:
        return found
    if group == "16-bit":
        return QualityFigure(fmt, "weights", Rule.FORMAT_DEFAULT, precision.quality.loss_pct, precision.quality.basis,
                             precision.quality.source)
    return QualityFigure(fmt, "weights", Rule.UNKNOWN, None,
                         f"no published figure for {fmt} measured against the {native} release of this model or its "
                         "family; the 16-bit figures do not apply to it",
                         "catalog/quality.yaml (no entry)")


def _kv_cache(catalog: Catalog, model: Model, precision: Precision) -> QualityFigure:
    fmt = precision.id
    if fmt in WIDE_FLOATS:
        return QualityFigure(fmt, "kv_cache", Rule.BASELINE, 0.0,
                             "a 16/32-bit KV cache: the baseline every KV-cache figure is measured against",
                             precision.quality.source)
    figures = [f for f in catalog.quality.values() if f.part == "kv_cache" and f.precision == fmt]
    found = _measured(catalog, model, precision, "kv_cache", figures, any_family=True)
    if found is not None:
        return found
    return QualityFigure(fmt, "kv_cache", Rule.UNKNOWN, None,
                         f"no published figure for the KV cache in {fmt} on any model; the {fmt} weight figure "
                         "does not apply to the KV cache",
                         "catalog/quality.yaml (no entry)")


def quality_loss(catalog: Catalog, model: Model, precision: Precision, part: Part) -> QualityFigure:
    """The quality figure for ``precision`` used for ``part`` of ``model``, by the module's rule."""
    if part == "weights":
        return _weights(catalog, model, precision)
    return _kv_cache(catalog, model, precision)


def deployment_quality(catalog: Catalog, model: Model, weights: Precision, kv_cache: Precision) -> DeploymentQuality:
    return DeploymentQuality(quality_loss(catalog, model, weights, "weights"),
                             quality_loss(catalog, model, kv_cache, "kv_cache"))
