"""Scored shapes placed on offers: how replicas fill whole units of hardware.

A plan takes hardware in whole units: an instance is rented whole, a server
bought whole. A replica's tensor-parallel group must sit inside one instance
or server (it needs the GPUs' own link); its pipeline stages may span
several of one type over their network. So on an offer of G GPUs a shape of
TP x PP GPUs either

- fits: one unit hosts floor(G / (TP x PP)) replicas, or
- spans: one replica takes ceil(PP / floor(G / TP)) instances, the solver's
  unit being that group.

Owned GPUs are a pool, not units: each unit there is one replica's GPUs,
with tensor parallelism bounded by the owned node size.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from planner.plan.candidates import DeploymentShape, ScoredShape
from planner.plan.offers import Acquisition, Offer, running_usd
from planner.plan.question import Economics, Objective


@dataclass(frozen=True)
class Placement:
    """One scored shape on one offer: the figures of one solver unit."""

    shape: ScoredShape
    offer: Offer
    replicas_per_unit: int  # replicas one unit hosts
    offers_per_unit: int  # instances or servers in one unit (more than 1: pipeline stages span them)

    @property
    def key(self) -> str:
        return f"{self.shape.key} on {self.offer.key}"

    @property
    def owned(self) -> bool:
        return self.offer.acquisition is Acquisition.OWNED

    @property
    def gpus_per_unit(self) -> int:
        return self.shape.gpus if self.owned else self.offers_per_unit * self.offer.gpus

    @property
    def throughput(self) -> float:
        return self.replicas_per_unit * self.shape.throughput

    @property
    def hourly_usd(self) -> float:
        return self.offers_per_unit * self.offer.hourly_usd

    @property
    def capex_usd(self) -> float:
        return self.offers_per_unit * self.offer.capex_usd

    @property
    def power_w(self) -> float | None:
        if self.owned:  # the replica's GPUs only: the owned node's others may serve another replica
            return self.shape.power_w
        return None if self.offer.power_w is None else self.offers_per_unit * self.offer.power_w

    def cost(self, economics: Economics) -> float | None:
        """The objective's cost of one unit, USD."""
        if self.owned:  # sunk: only what it costs to run counts, and only in TCO
            if economics.objective is not Objective.TCO:
                return 0.0
            return None if self.power_w is None else running_usd(self.power_w, economics)
        unit = self.offer.cost(economics)
        return None if unit is None else self.offers_per_unit * unit


def place(shape: ScoredShape, offer: Offer) -> Placement | None:
    """The shape on the offer, or None where its tensor-parallel group does
    not fit one unit. A pipeline stage wider than a unit (an expert-parallel
    stage over several nodes) needs units that are whole NVLink domains, the
    systems whose scale-out network the catalog's figure describes."""
    if shape.gpu.id != offer.gpu.id or shape.tp > offer.gpus:
        return None
    if offer.acquisition is Acquisition.OWNED or shape.gpus <= offer.gpus:
        per_unit = 1 if offer.acquisition is Acquisition.OWNED else offer.gpus // shape.gpus
        return Placement(shape, offer, per_unit, 1)
    stage = shape.stage_gpus
    if stage > offer.gpus:
        if offer.gpus < shape.gpu.fast_domain or stage % offer.gpus:
            return None
        return Placement(shape, offer, 1, stage // offer.gpus * shape.pp)
    stages_per_offer = offer.gpus // stage
    return Placement(shape, offer, 1, math.ceil(shape.pp / stages_per_offer))


@dataclass(frozen=True)
class Line:
    """One line of a plan: a placement and how many of its units."""

    placement: Placement
    units: int

    @property
    def candidate(self) -> ScoredShape:
        return self.placement.shape

    @property
    def offer(self) -> Offer:
        return self.placement.offer

    @property
    def replicas(self) -> int:
        return self.units * self.placement.replicas_per_unit

    @property
    def gpus(self) -> int:
        return self.units * self.placement.gpus_per_unit

    @property
    def instances(self) -> int:
        """Instances rented or servers bought (owned: 0, nothing is acquired)."""
        return 0 if self.placement.owned else self.units * self.placement.offers_per_unit


def prune_dominated(placements: list[Placement], need_throughput: bool, economics: Economics,
                    loss: Callable[[DeploymentShape], float]) -> list[Placement]:
    """Drop placements another beats outright in the same pool: B dominates A
    when A's GPUs per unit are a multiple k of B's and k units of B cost,
    rent, buy and draw no more than one of A, serve at least its throughput
    and replicas, and lose no more quality by ``loss``. Without a throughput
    target throughput is moot."""
    def figures(p: Placement) -> tuple[float, float, float, float]:
        return (p.cost(economics) or 0.0, p.hourly_usd, p.capex_usd, p.power_w or 0.0)

    by_pool: dict[str, list[Placement]] = {}
    for p in placements:
        by_pool.setdefault(p.offer.pool, []).append(p)
    kept: list[Placement] = []
    for group in by_pool.values():
        group.sort(key=lambda p: (p.gpus_per_unit, figures(p)[0], loss(p.shape), -p.throughput))
        survivors: list[Placement] = []
        for a in group:
            fa = figures(a)
            dominated = False
            for b in survivors:
                if a.gpus_per_unit % b.gpus_per_unit:
                    continue
                k = a.gpus_per_unit // b.gpus_per_unit
                if (loss(b.shape) <= loss(a.shape)
                        and all(k * fb <= x * (1 + 1e-12) for fb, x in zip(figures(b), fa))
                        and k * b.replicas_per_unit >= a.replicas_per_unit
                        and (not need_throughput or k * b.throughput >= a.throughput)):
                    dominated = True
                    break
            if not dominated:
                survivors.append(a)
        kept.extend(survivors)
    return kept
