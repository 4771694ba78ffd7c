"""Fleet plans (planner/plan/fleet.py) on the real catalog: the joint plan
against the one-at-a-time baseline and the peak-sized one, every line a
simulated shape checked at its load, a flat one-workload fleet against
`fit`, and why an infeasible fleet fails.

Small and fast: llama-3.1-8b on L40S and H100 rented from AWS. The
single-workload searches are memoised by question for the whole module
(the same `fit`, run once per distinct question), so the scenarios share
them.
"""

from __future__ import annotations

import math

import pytest

from planner.catalog.load import load_catalog
from planner.core.errors import NoPlanError
from planner.core.units import parse_rate
from planner.plan import fit as fit_module
from planner.plan import fleet_streams
from planner.plan.fleet import CHECK_STEPS, FleetResult, fit_fleet
from planner.plan.offers import Acquisition
from planner.plan.question import Question, Targets
from planner.plan.scenario import HOURS_PER_DAY, Scenario, load_scenario

TARGETS = "    input: 512\n    output: 128\n    latency: p99:50ms\n    ttft: p99:2s\n    gpus: [l40s, h100-sxm]\n"

# One owned H100. Alone, the small workload (first in file order) takes it:
# free beats an L40S. The large one saves more with it (one H100 replica
# serves what takes several L40S), so the joint plan gives it the H100.
SHARED_OWNED = """
shared:
  owned: {h100-sxm: 1}
  providers: [aws]
  region: us-east
workloads:
  - name: small
    model: llama-3.1-8b
    load: {rate: 5 req/s}
""" + TARGETS + """  - name: large
    model: llama-3.1-8b
    load: {rate: 40 req/s}
""" + TARGETS

# A deep night trough: 5 req/s for eight hours, 40 req/s at the peak.
TROUGH = [5] * 8 + [20, 30] + [40] * 8 + [30, 20] + [5] * 4
DAILY = """
shared:
  providers: [aws]
  region: us-east
{extra}
workloads:
  - name: daily
    model: llama-3.1-8b
    load: {{profile: {profile}, unit: req/s}}
""" + TARGETS


@pytest.fixture(scope="module", autouse=True)
def memoised_fit():
    """`fit` once per distinct question for the module (results are pure
    functions of the question); the fleet's calls are counted in ``calls``."""
    cache: dict[str, fit_module.FitResult | Exception] = {}
    real = fit_module.fit
    calls: list[Question] = []

    def cached(catalog, q, **kwargs):
        key = repr((q, sorted(kwargs.items())))
        if key not in cache:
            try:
                cache[key] = real(catalog, q, **kwargs)
            except NoPlanError as exc:
                cache[key] = exc
        found = cache[key]
        if isinstance(found, Exception):
            raise found
        return found

    def counted(catalog, q, **kwargs):
        calls.append(q)
        return cached(catalog, q, **kwargs)

    counted.calls = calls  # type: ignore[attr-defined]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(fleet_streams, "fit", counted)
        mp.setattr(fit_module, "fit", cached)
        yield counted


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def scenario(tmp_path_factory, text: str, name: str) -> Scenario:
    path = tmp_path_factory.mktemp("fleet") / f"{name}.yaml"
    path.write_text(text)
    return load_scenario(path)


@pytest.fixture(scope="module")
def shared_owned(catalog, tmp_path_factory) -> FleetResult:
    return fit_fleet(catalog, scenario(tmp_path_factory, SHARED_OWNED, "shared-owned"))


@pytest.fixture(scope="module")
def daily(catalog, tmp_path_factory) -> FleetResult:
    return fit_fleet(catalog, scenario(tmp_path_factory, DAILY.format(extra="", profile=TROUGH), "daily"))


@pytest.fixture(scope="module")
def daily_reserved(catalog, tmp_path_factory) -> FleetResult:
    text = DAILY.format(extra="  commit: reserved-1y", profile=TROUGH)
    return fit_fleet(catalog, scenario(tmp_path_factory, text, "daily-reserved"))


def _owned_units(result: FleetResult, stream: str) -> int:
    (plan,) = [s for s in result.streams if s.name == stream]
    return sum(line.peak_units for line in plan.lines if line.placement.offer.acquisition is Acquisition.OWNED)


def test_joint_plan_beats_one_at_a_time_on_a_shared_owned_pool(shared_owned):
    r = shared_owned
    assert r.status == "optimal" and r.cost_unit == "USD/day"
    assert r.separate_cost is not None
    # strictly: the baseline gives the owned H100 to the small workload (first in file order)
    assert r.cost < r.separate_cost * (1 - 1e-6), (r.cost, r.separate_cost)
    assert _owned_units(r, "large") == 1 and _owned_units(r, "small") == 0
    assert "owned h100-sxm 1" in r.binding


def test_joint_never_dearer_than_separate_or_static(shared_owned, daily, daily_reserved):
    for r in (shared_owned, daily, daily_reserved):
        assert r.separate_cost is not None and r.static_cost is not None
        assert r.cost <= r.separate_cost * (1 + 1e-9)
        assert r.cost <= r.static_cost * (1 + 1e-9)


def test_autoscaling_follows_a_night_trough(daily):
    r = daily
    assert r.static_cost is not None and r.cost < r.static_cost * 0.9, (r.cost, r.static_cost)
    # the rent tracks the load: the trough hours cost less than the peak ones
    assert max(r.hourly_usd[:8]) < min(r.hourly_usd[10:18])
    assert sum(r.hourly_usd) == pytest.approx(r.cost, rel=1e-6)
    (stream,) = r.streams
    assert all(line.flexible for line in stream.lines)
    assert stream.demand == tuple(float(x) for x in TROUGH)


def test_reserved_capacity_takes_the_base_load(daily, daily_reserved):
    r = daily_reserved
    (stream,) = r.streams
    held = [line for line in stream.lines if not line.flexible]
    assert held, "a 1-year reservation is cheaper than on demand for load that runs all day"
    assert all(line.placement.offer.price is not None and line.placement.offer.price.pricing.value == "reserved-1y"
               for line in held)
    assert all(line.committed == min(line.by_hour) == max(line.by_hour) for line in held)
    assert r.cost <= daily.cost * (1 + 1e-9)


def test_every_line_is_a_simulated_shape_that_meets_its_targets_at_its_load(shared_owned, daily, daily_reserved):
    for r in (shared_owned, daily, daily_reserved):
        for stream in r.streams:
            assert stream.lines
            served = [0.0] * HOURS_PER_DAY
            for line in stream.lines:
                sim = stream.simulated[line.placement.shape.key]  # a simulated shape, at its plannable rate
                assert line.placement.throughput == pytest.approx(sim.plannable_rate * line.placement.replicas_per_unit)
                assert line.check is not None and line.check.meets, (stream.name, line.placement.key)
                for hour, units in enumerate(line.by_hour):
                    served[hour] += units * line.placement.throughput
            # every hour's demand is covered by the plannable throughput
            assert all(s >= d * (1 - 1e-9) for s, d in zip(served, stream.demand))
            # each replica is checked at no less than its share of its busiest hour's
            # requests (demand split by plannable rate), rounded up by under one step
            for line in stream.lines:
                plannable = stream.simulated[line.placement.shape.key].plannable_rate
                share = max(d * plannable / s for d, s, units in zip(stream.demand, served, line.by_hour) if units)
                assert share * (1 - 1e-9) <= line.check.rate <= share + plannable / CHECK_STEPS + 1e-9, \
                    (stream.name, line.placement.key, line.check.rate, share)


def test_a_flat_one_workload_fleet_costs_what_fit_does(catalog, daily):
    q = Question("llama-3.1-8b", Targets(latency_s=0.05, ttft_s=2.0, throughput=parse_rate("40 req/s")),
                 input_tokens=512, output_tokens=128, gpus=("l40s", "h100-sxm"), providers=("aws",),
                 region="us-east")
    single = fit_module.fit(catalog, q, relaxations=False)
    r = fit_fleet(catalog, Scenario.from_question(q))
    # fit's cost is per hour; the fleet's per day of 24 equal hours
    assert r.cost == pytest.approx(single.cost * HOURS_PER_DAY, rel=1e-6)
    assert r.static_cost == pytest.approx(r.cost, rel=1e-6)  # a flat load gains nothing from autoscaling


def test_a_shared_limit_too_tight_for_the_fleet_is_named(catalog, tmp_path_factory):
    text = SHARED_OWNED.replace("  owned: {h100-sxm: 1}\n", "  owned: {h100-sxm: 1}\n  max_gpus: 1\n")
    with pytest.raises(NoPlanError) as info:
        fit_fleet(catalog, scenario(tmp_path_factory, text, "too-few-gpus"))
    assert "max_gpus 1" in str(info.value) and "\n" not in str(info.value)


def test_a_workload_the_limits_cannot_serve_alone_is_named(catalog, tmp_path_factory):
    # nothing owned: the cheapest unit, an L40S instance at $1.861/h, is over the budget for either workload
    text = SHARED_OWNED.replace("  owned: {h100-sxm: 1}\n", "  budget: $1/h\n")
    with pytest.raises(NoPlanError) as info:
        fit_fleet(catalog, scenario(tmp_path_factory, text, "tiny-budget"))
    assert "workload 'small'" in str(info.value) and "\n" not in str(info.value)


CLASSES = """
shared:
  providers: [aws]
  region: us-east
workloads:
  - name: chat
    model: llama-3.1-8b
    load: {rate: 20 req/s}
    classes:
      - {name: short, share: 0.8}
      - {name: long, share: 0.2, input: 1024}
""" + TARGETS


def test_a_class_stream_gets_its_own_options(catalog, tmp_path_factory):
    s = scenario(tmp_path_factory, CLASSES, "classes")
    assert [q.name for q in s.questions()] == ["chat/short", "chat/long"]
    assert math.isclose(sum(q.share for q in s.questions()), 1.0)
    short, long_ = fleet_streams.stream_options(catalog, s)
    # each class is searched at its own lengths, and has shapes of its own to plan
    assert (short.fit.question.input_tokens, long_.fit.question.input_tokens) == (512, 1024)
    assert short.placements and long_.placements
    assert {o.stream for o in short.options()} == {"chat/short"}
    assert {o.stream for o in long_.options()} == {"chat/long"}


def test_identical_questions_share_their_searches(catalog, tmp_path_factory, memoised_fit):
    """Six workloads asking two questions: two searches each (with the owned
    H100 and on the market alone), not twelve."""
    rates = [5, 10, 20, 40]
    text = SHARED_OWNED.split("workloads:")[0] + "workloads:\n" + "".join(
        f"  - name: w{i}\n    model: llama-3.1-8b\n    load: {{rate: {rate} req/s}}\n" + TARGETS
        for i, rate in enumerate(rates)) + "".join(
        f"  - name: e{i}\n    model: bge-large-en-v1.5\n    load: {{rate: {rate} samples/s}}\n    input: 256\n"
        "    latency: 20ms\n    gpus: [l40s]\n" for i, rate in enumerate((100, 200)))
    s = scenario(tmp_path_factory, text, "six")
    before = len(memoised_fit.calls)
    found = fleet_streams.stream_options(catalog, s)
    asked = memoised_fit.calls[before:]
    assert len(asked) == 4
    assert sorted(q.targets.throughput.per_second for q in asked) == [40, 40, 200, 200]  # each at its largest peak
    assert [f.stream.name for f in found] == ["w0", "w1", "w2", "w3", "e0", "e1"]
    assert found[0].placements == found[3].placements  # the same verified shapes
    assert all(f.placements for f in found)


@pytest.mark.parametrize("uses_owned, searches", [(True, 2), (False, 1)])
def test_the_market_search_runs_only_when_the_owned_plan_holds_owned_gpus(tmp_path_factory, monkeypatch,
                                                                          uses_owned, searches):
    """With owned GPUs a question is searched twice (with them, then on the
    market alone); when the first plan holds none of them it is the market's
    own plan already, and the second search is skipped."""
    from types import SimpleNamespace

    asked = []

    def search(catalog, q, **kwargs):
        asked.append(q)
        return SimpleNamespace(lines=[SimpleNamespace(placement=SimpleNamespace(owned=uses_owned))])

    monkeypatch.setattr(fleet_streams, "fit", search)
    stream = scenario(tmp_path_factory, SHARED_OWNED, "owned-search").questions()[0]
    found = fleet_streams._searches(None, stream.question, stream, 0)
    assert len(asked) == len(found) == searches
    assert asked[0].owned and all(not q.owned for q in asked[1:])


@pytest.mark.parametrize("text, field, words", [
    ("workloads:\n  - {name: b, model: llama-9000, load: {rate: 5 req/s}}\n"
     "  - {name: a, model: llama-3.1-8b, load: {rate: 5 req/s}, latency: 50ms}\n", "workloads[0]",
     "unknown model 'llama-9000'"),
    ("shared: {owned: {h900: 1}}\nworkloads:\n  - {name: a, model: llama-3.1-8b, load: {rate: 5 req/s}}\n",
     "shared.owned", "unknown GPU 'h900'"),
    ("workloads:\n  - {name: e, model: bge-large-en-v1.5, load: {rate: 5 tok/s}, latency: 20ms}\n",
     "workloads[0]", "an encoder's throughput is in samples/s or req/s, not tok/s"),
])
def test_a_bad_name_in_a_scenario_is_one_error_naming_the_workload(catalog, tmp_path_factory, text, field, words):
    from planner.core.errors import InputError

    with pytest.raises(InputError) as info:
        fit_fleet(catalog, scenario(tmp_path_factory, text, "bad-name"))
    assert info.value.field == field and words in str(info.value) and "\n" not in str(info.value)


def _fleet(rates: tuple[int, ...]) -> str:
    return "shared:\n  providers: [aws]\n  region: us-east\nworkloads:\n" + "".join(
        f"  - name: w{rate}\n    model: llama-3.1-8b\n    load: {{rate: {rate} req/s}}\n" + TARGETS for rate in rates)


def test_peaks_far_apart_are_searched_at_both_ends(catalog, tmp_path_factory, memoised_fit):
    """The same question at 1 and 40 req/s (over PEAK_SPREAD apart): a search
    at each peak, each stream speaking through the nearer one, their shapes pooled."""
    before = len(memoised_fit.calls)
    found = fleet_streams.stream_options(catalog, scenario(tmp_path_factory, _fleet((1, 40)), "far-apart"))
    assert sorted(q.targets.throughput.per_second for q in memoised_fit.calls[before:]) == [1, 40]
    assert [f.fit.question.targets.throughput.per_second for f in found] == [1, 40]
    assert found[0].placements == found[1].placements

