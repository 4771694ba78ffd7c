"""A replica's steady state at a given concurrency, for scoring thousands of
shapes quickly: throughput and latency from ONE schedule, so Little's law
holds by construction (concurrency = request rate x e2e).

``SteadyState.at(C)`` is the closed-loop shortcut (planner/model/closed_loop.py,
checked against the simulation in tests/test_serving.py) wherever it
applies. Two cases are outside it, and get the nearest consistent figure:

* an engine whose steps never mix phases (SGLang's prefill-first): scored as
  if its prefills rode in the decode steps. A prefill step that stalls the
  decodes costs about the same time as the mixed step (the weights are read
  once either way), so the estimate is close; the plan is verified by the
  simulation of the real policy (planner/plan/verify.py).
* prompts that do not fit one step's token budget beside the decodes, or
  concurrency past the scheduler's caps: the replica runs static batches
  back to back, C prompts prefilled together, then (output - 1) decode
  steps of the batch. TTFT is the batch's prefill (every first token waits
  for it), e2e = TTFT + (output - 1) x TPOT, rate = C / e2e.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from planner.catalog.schema import EngineFactors, Model, SchedulerPolicy
from planner.core.errors import InputError
from planner.model import perf
from planner.model.closed_loop import ClosedLoop, length_moments, closed_loop
from planner.model.lengths import LengthSource
from planner.model.serving import SchedulerSettings, kv_capacity_tokens
from planner.model.workload import Deployment, Shape


@dataclass
class SteadyState:
    """Steady states of one replica, memoised by concurrency."""

    model: Model
    dep: Deployment
    lengths: LengthSource
    settings: SchedulerSettings
    factors: EngineFactors

    def __post_init__(self) -> None:
        self.kv_capacity = kv_capacity_tokens(self.model, self.dep, self.settings)
        self._mixed = replace(self.settings, policy=SchedulerPolicy.MIXED)
        m = length_moments(self.lengths)
        self.mean_input, self.mean_output = m.input, m.output
        self._cache: dict[int, ClosedLoop] = {}

    @property
    def most(self) -> int:
        """The largest concurrency the cache and the scheduler hold, every
        request at its mean final context (at least 1)."""
        fit = int(self.kv_capacity // max(1.0, self.mean_input + self.mean_output))
        cap = self.settings.max_num_seqs
        return max(1, min(fit, cap) if cap else fit)

    def at(self, concurrency: int) -> ClosedLoop:
        hit = self._cache.get(concurrency)
        if hit is None:
            try:
                hit = closed_loop(self.model, self.dep, concurrency, self.lengths, settings=self._mixed,
                                  factors=self.factors, kv_capacity=self.kv_capacity)
            except InputError:
                hit = self._static(concurrency)
            self._cache[concurrency] = hit
        return hit

    def _static(self, concurrency: int) -> ClosedLoop:
        """Static batches back to back (module note)."""
        prompt, output = round(self.mean_input), max(1, round(self.mean_output))
        batch_prefill = perf.prefill(self.model, self.dep, self.factors, concurrency, prompt).total_s
        steps = output - 1
        if steps:
            passes = perf.decode_steps(self.model, self.dep, self.factors, concurrency, prompt, steps)
            tpot = sum(p.total_s for p in passes) / len(passes)
        else:
            tpot = 0.0
        e2e = batch_prefill + steps * tpot
        rate = concurrency / e2e
        return ClosedLoop(concurrency, batch_prefill, tpot, e2e, rate, rate * self.mean_output)

    def timing(self, concurrency: int, shape: Shape) -> perf.Timing:
        """``perf.Timing`` with the steady state's figures (and the static
        passes at this batch for the bound and the breakdown)."""
        s = self.at(concurrency)
        static = perf.timing(self.model, self.dep, shape, self.factors, concurrency)
        return perf.Timing(s.ttft_s, s.tpot_s if shape.output > 1 else None, s.e2e_s, s.tokens_per_s, None,
                           static.prefill, static.decode)
