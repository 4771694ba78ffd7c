"""The options of each demand stream of a fleet: shapes the single-workload
search simulated, placed on every offer the scenario allows.

Streams asking the same question (model, lengths, targets, engine, limits:
the demand aside) share their searches: one `fit` at the largest peak among
them, and one at the smallest too when the peaks differ by over 10x (a
small load may be cheapest on a shape the large one never reaches for); the
simulated shapes of both are pooled. With owned GPUs the search is run with
them and again on the market alone: a search that can use free GPUs
simulates little else, and in a fleet another workload may take them.

A decoder's option is a shape whose capacity was simulated at the targets
(`FitResult.simulated`), its throughput that capacity less the headroom, so
every fleet line is verified. An encoder is not simulated (its latency is
one forward pass of a static batch): its options are the search's scored
shapes.

Each shape is placed on the offers of the searches (rented at the
scenario's pricing, bought, owned) and, with ``commit:``, on the same
instances at the reserved price. Rented by the hour with autoscaling, an
option is flexible (its count follows the hourly load); owned, bought and
reserved units are committed (held all day).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from planner.catalog.load import Catalog
from planner.catalog.schema import ModelKind
from planner.core.errors import InputError, NoPlanError, PlannerError
from planner.core.units import Rate
from planner.plan import fleet_solver, verify
from planner.plan.candidates import ScoredShape
from planner.plan.fit import FitResult, fit, replica_option
from planner.plan.offers import Acquisition, Offer, offers_for
from planner.plan.placement import Placement, place, prune_dominated
from planner.plan.question import Question
from planner.plan.scenario import WORKLOAD_KEYS, Scenario, StreamQuestion

# Peaks of identical questions further apart than this are searched at both
# ends (module note).
PEAK_SPREAD = 10.0


@dataclass(frozen=True)
class StreamOptions:
    """A stream, the search that speaks for it, and the ways to serve it."""

    stream: StreamQuestion
    index: int  # the workload's place in the file
    fit: FitResult  # the search nearest the stream's peak (with owned GPUs where there are)
    placements: tuple[Placement, ...]
    flexible: tuple[bool, ...]  # per placement
    simulated: dict[str, verify.Simulated]  # by shape key, all the stream's searches together

    def options(self) -> list[fleet_solver.FleetOption]:
        q = self.fit.question
        return [fleet_solver.FleetOption(self.stream.name,
                                         replace(replica_option(p, q.economics, self.fit.quality.rank),
                                                 key=option_key(self.stream.name, p)), flexible)
                for p, flexible in zip(self.placements, self.flexible)]


def option_key(stream: str, p: Placement) -> str:
    """An option's key, unique over the fleet."""
    return f"{stream}: {p.key}"


def _question_key(q: Question) -> str:
    """What makes two streams' searches the same: the question less its demand."""
    kind = q.targets.throughput.kind if q.targets.throughput is not None else "requests"
    return repr(q.replace(targets=q.targets.replace(throughput=Rate(1.0, kind)), asked=None))


def _at(q: Question, peak: float) -> Question:
    assert q.targets.throughput is not None
    return q.replace(targets=q.targets.replace(throughput=Rate(peak, q.targets.throughput.kind)))


def stream_options(catalog: Catalog, scenario: Scenario) -> list[StreamOptions]:
    """Every stream's options, in file order (module note). A workload that
    no search can serve within the per-workload limits alone is a
    NoPlanError naming it; a bad name (model, GPU, engine) an InputError
    naming the workload."""
    streams = scenario.questions()
    index = {w.name: i for i, w in enumerate(scenario.workloads)}
    groups: dict[str, list[StreamQuestion]] = {}
    for s in streams:
        groups.setdefault(_question_key(s.question), []).append(s)
    found: dict[str, StreamOptions] = {}
    for group in groups.values():
        first = group[0]
        high = max(s.peak for s in group)
        low = min(s.peak for s in group)
        peaks = [high] + ([low] if high > PEAK_SPREAD * low else [])
        searches: list[tuple[float, FitResult]] = []  # (peak, the question's own search or the market's)
        everything: list[FitResult] = []
        for peak in peaks:
            results = _searches(catalog, _at(first.question, peak), first, index[first.workload])
            searches.append((peak, results[0]))
            everything += results
        placements, flexible, simulated = _placements(catalog, scenario, everything)
        if not placements:  # every shape the searches simulated missed the targets at any load
            raise NoPlanError(f"workload '{first.workload}' has no verified shape to plan: every shape its search "
                              "simulated misses the targets", hint="relax the latency targets or allow more GPUs")
        for s in group:
            nearest = min(searches, key=lambda ps: abs(math.log(ps[0] / s.peak)))[1]
            found[s.name] = StreamOptions(s, index[s.workload], nearest, placements, flexible, simulated)
    return [found[s.name] for s in streams]


def _searches(catalog: Catalog, q: Question, stream: StreamQuestion, index: int) -> list[FitResult]:
    """The search of ``q`` and, with owned GPUs, of the market alone (those
    that find a plan; the question's own first). When the plan with owned
    GPUs uses none of them it is the market's own plan, simulated already,
    and the second search is skipped."""
    asked = [q] + ([q.replace(owned=None)] if q.owned and any(q.owned.values()) else [])
    results: list[FitResult] = []
    first_error: PlannerError | None = None
    for question in asked:
        if results and not any(line.placement.owned for line in results[0].lines):
            break
        try:
            results.append(fit(catalog, question, relaxations=False, pools=False))
        except NoPlanError as exc:
            first_error = first_error or exc
        except InputError as exc:
            field = f"workloads[{index}]"
            raise InputError(f"{field} ({stream.workload}): {exc.render(WORKLOAD_KEYS)}", field=field) from None
    if not results:
        assert first_error is not None
        which = stream.workload if stream.name == stream.workload else f"{stream.workload}' ('{stream.name}"
        raise NoPlanError(f"workload '{which}' cannot be served within the limits alone: "
                          f"{first_error.render(WORKLOAD_KEYS)}")
    return results


def _placements(catalog: Catalog, scenario: Scenario, results: list[FitResult]
                ) -> tuple[tuple[Placement, ...], tuple[bool, ...], dict[str, verify.Simulated]]:
    """The searches' verified shapes on all their offers, and reserved ones with ``commit:``."""
    decoder = results[0].spec.model.kind is ModelKind.DECODER
    simulated: dict[str, verify.Simulated] = {}
    for r in results:
        for key, sim in r.simulated.items():
            simulated.setdefault(key, sim)
    shapes: dict[str, ScoredShape] = {}
    offers: dict[str, Offer] = {}
    for r in results:
        for p in r.pool:
            if (not decoder or p.shape.key in r.simulated) and p.throughput > 0 and not p.shape.role:
                shapes.setdefault(p.shape.key, p.shape)
        for o in r.offers:
            offers.setdefault(o.key, o)
    shared = scenario.shared
    q = results[0].question
    if shared.commit is not None:
        gpus = {o.gpu.id: o.gpu for o in offers.values() if o.acquisition is Acquisition.RENT}
        reserved, _missing = offers_for(catalog, q.replace(pricing=shared.commit, owned=None), gpus.values())
        for o in reserved:
            if o.acquisition is Acquisition.RENT:
                offers.setdefault(o.key, o)
    flexible_rent = shared.flexible

    def is_flexible(o: Offer) -> bool:
        return flexible_rent and o.acquisition is Acquisition.RENT and o.price is not None \
            and o.price.pricing is q.pricing

    by_kind: dict[tuple[str, bool], list[Placement]] = {}
    for o in offers.values():
        for shape in shapes.values():
            placed = place(shape, o)
            if placed is not None:
                by_kind.setdefault((o.acquisition.value, is_flexible(o)), []).append(placed)
    kept: list[Placement] = []
    rank = results[0].quality.rank
    for kind in sorted(by_kind):  # dominance within a kind: a reserved unit never prunes a flexible one
        kept += prune_dominated(by_kind[kind], need_throughput=True, economics=q.economics, loss=rank)
    kept.sort(key=lambda p: p.key)
    return tuple(kept), tuple(is_flexible(p.offer) for p in kept), simulated
