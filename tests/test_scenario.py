"""Scenario files: the schema, the streams and questions they give, and one
clear error naming the place of every bad value (no traceback)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from planner.catalog.schema import PricingModel
from planner.core.errors import EXIT_BAD_INPUT, InputError
from planner.core.units import parse_money, parse_rate
from planner.model.slo import Statistic
from planner.plan import scenario as scenario_module
from planner.plan.question import Objective, Question, Targets
from planner.plan.scenario import (
    HOURS_PER_DAY,
    MAX_CLASSES,
    MAX_WORKLOADS,
    Load,
    Scenario,
    load_scenario,
)

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

MINIMAL = """
workloads:
  - name: chat
    model: llama-3.1-8b
    load: {rate: 5 req/s}
"""


def write(tmp_path: Path, text: str, name: str = "fleet.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_minimal_file_takes_defaults_and_the_file_stem(tmp_path):
    s = load_scenario(write(tmp_path, MINIMAL, "my-fleet.yaml"))
    assert s.name == "my-fleet" and s.path.endswith("my-fleet.yaml")
    (stream,) = s.questions()
    assert stream.name == "chat" and stream.share == 1.0
    assert stream.demand == (5.0,) * HOURS_PER_DAY
    q = stream.question
    assert q.model == "llama-3.1-8b" and q.targets.throughput == parse_rate("5 req/s")
    assert s.shared.autoscale and s.shared.flexible and s.shared.objective is Objective.HOURLY


FULL = """
name: platform-2027
shared:
  owned: {h100-sxm: 16}
  available: {h100-sxm: 64, l40s: 0}
  providers: [aws, gcp]
  region: us-east
  pricing: on-demand
  commit: reserved-1y
  autoscale: true
  budget: $400/h
  max_gpus: 256
  max_power: 60kW
  redundancy: N+1
  objective: hourly
  years: 5
  power_price: $0.09/kWh
  pue: 1.4
  colo_price: $150/kW-month
  headroom: 10%
workloads:
  - name: chat
    model: llama-3.1-70b
    engine: vllm
    load: {profile: [1, 1, 1, 1, 1, 1, 2, 4, 8, 10, 10, 10, 10, 10, 10, 10, 10, 8, 6, 4, 3, 2, 1, 1], unit: req/s}
    latency: p90:50ms
    ttft: p99:2s
    max_quality_loss: 3%
    gpus: [h100-sxm, l40s]
  - name: code
    model: llama-3.1-8b
    load: {rate: 2560 tok/s}
    classes:
      - {name: short, share: 0.8, input: 512, output: 256}
      - {name: long, share: 20%, input: 8192, output: 512}
    e2e: 30s
"""


def test_full_file_every_shared_key_and_fleet_wide_limits_out_of_the_questions(tmp_path):
    s = load_scenario(write(tmp_path, FULL))
    sh = s.shared
    assert s.name == "platform-2027"
    assert sh.owned == {"h100-sxm": 16} and sh.available == {"h100-sxm": 64, "l40s": 0}
    assert sh.providers == ("aws", "gcp") and sh.region == "us-east"
    assert sh.pricing is PricingModel.ON_DEMAND and sh.commit is PricingModel.RESERVED_1Y
    assert sh.budget == parse_money("$400/h") and sh.max_gpus == 256 and sh.max_power == 60_000
    assert sh.redundancy == 1 and sh.headroom == pytest.approx(0.10)
    assert sh.years == 5 and sh.pue == 1.4 and sh.power_price == 0.09 and sh.colo_price == 150
    assert s.fleet_limits == ("budget", "max_gpus", "max_power")
    chat, short, long_ = s.questions()
    assert chat.question.targets.latency_statistic is Statistic.P90 and chat.question.targets.latency_s == 0.05
    assert chat.question.targets.throughput == parse_rate("10 req/s")  # the peak hour
    assert chat.demand[0] == 1 and max(chat.demand) == 10
    for stream in (chat, short, long_):  # budget, max_gpus and max_power are enforced jointly, not per stream
        q = stream.question
        assert q.budget is None and q.max_gpus is None and q.max_power_w is None
        assert q.owned == {"h100-sxm": 16} and q.redundancy == 1 and q.economics.pue == 1.4
    # 2560 output tok/s at a mean output of 0.8 x 256 + 0.2 x 512 = 307.2 tokens: 8.33 req/s, shared 80/20
    assert (short.name, long_.name) == ("code/short", "code/long")
    assert short.question.targets.throughput.kind == "requests"
    assert short.peak == pytest.approx(2560 / 307.2 * 0.8) and long_.peak == pytest.approx(2560 / 307.2 * 0.2)
    assert long_.question.input_tokens == 8192 and long_.question.output_tokens == 512
    assert long_.question.targets.e2e_s == 30


def test_a_profile_unit_scales_the_rates(tmp_path):
    load = Load(profile=[3600] * HOURS_PER_DAY, unit="req/h")
    assert load.hourly == (1.0,) * HOURS_PER_DAY and load.kind == "requests"


def test_a_trace_is_binned_into_hourly_rates(tmp_path):
    # 7,200 arrivals in hour 0 and 3,600 in hour 13: 2 and 1 req/s
    rows = [f"{i * 0.5}" for i in range(7200)] + [f"{13 * 3600 + i}" for i in range(3600)]
    write(tmp_path, "\n".join(rows) + "\n", "arrivals.csv")
    write(tmp_path, "arrival_s,user\n10,a\n3700.5,b\n", "with-header.csv")
    s = load_scenario(write(tmp_path, MINIMAL.replace("{rate: 5 req/s}", "{trace: arrivals.csv}")))
    demand = s.questions()[0].demand
    assert demand[0] == pytest.approx(2.0) and demand[13] == pytest.approx(1.0) and sum(demand) == pytest.approx(3.0)
    s2 = load_scenario(write(tmp_path, MINIMAL.replace("{rate: 5 req/s}", "{trace: with-header.csv}"), "b.yaml"))
    assert s2.questions()[0].demand[:2] == (1 / 3600, 1 / 3600)


def test_from_question_is_a_one_workload_scenario():
    q = Question("llama-3.1-8b", Targets(latency_s=0.05, ttft_s=2.0, throughput=parse_rate("8 req/s")),
                 input_tokens=700, output_tokens=300, gpus=("l40s",), providers=("aws",), redundancy=1,
                 budget=parse_money("$50/h"), max_gpus=8)
    s = Scenario.from_question(q)
    (stream,) = s.questions()
    assert stream.demand == (8.0,) * HOURS_PER_DAY
    assert s.shared.budget == q.budget and s.shared.max_gpus == 8
    # the stream's question is the one asked, less the fleet-wide limits
    assert stream.question == q.replace(budget=None, max_gpus=None)


def test_from_question_needs_a_load():
    with pytest.raises(InputError, match="needs a load"):
        Scenario.from_question(Question("llama-3.1-8b", Targets(latency_s=0.05)))


def _case(tmp_path: Path, text: str) -> InputError:
    with pytest.raises(InputError) as info:
        load_scenario(write(tmp_path, text))
    error = info.value
    assert error.exit_code == EXIT_BAD_INPUT
    assert "\n" not in str(error) and "Traceback" not in str(error)
    return error


PROFILE_23 = "[" + ", ".join(["1"] * 23) + "]"


@pytest.mark.parametrize("text, field, words", [
    ("workloads: [a: b", None, "not a valid YAML"),
    ("workloads:\n  - &w {name: a}\n  - *w\n", None, "anchors are not allowed"),
    ("- a\n- b\n", None, "holds name, shared and workloads"),
    (MINIMAL + "colour: blue\n", "colour", "unknown key"),
    (MINIMAL.replace("model:", "colour: red\n    model:"), "workloads[0].colour", "unknown key"),
    (MINIMAL + "shared: {spot: true}\n", "shared.spot", "unknown key"),
    (MINIMAL.replace("{rate: 5 req/s}", "{profile: " + PROFILE_23 + "}"), "workloads[0].load.profile",
     "23 values"),
    (MINIMAL.replace("5 req/s", "-5 req/s"), "workloads[0].load.rate", "negative"),
    (MINIMAL.replace("{rate: 5 req/s}", "{profile: [" + ", ".join(["1"] * 23) + ", -2]}"),
     "workloads[0].load.profile", "hour 23: -2 is not a rate"),
    (MINIMAL.replace("{rate: 5 req/s}", "{profile: [" + ", ".join([".nan"] * 24) + "]}"),
     "workloads[0].load.profile", "hour 0"),
    (MINIMAL.replace("{rate: 5 req/s}", "{profile: [" + ", ".join(["0"] * 24) + "]}"),
     "workloads[0].load", "no request in any hour"),
    (MINIMAL.replace("{rate: 5 req/s}", "{}"), "workloads[0].load", "give one of rate, profile or trace"),
    (MINIMAL.replace("{rate: 5 req/s}", "{rate: 5 req/s, unit: req/s}"), "workloads[0].load.unit", "profile only"),
    (MINIMAL + "    classes:\n      - {name: a, share: 0.5}\n      - {name: b, share: 0.4}\n",
     "workloads[0].classes", "shares sum to 0.9"),
    (MINIMAL + "    classes:\n      - {name: a, share: 0.5}\n      - {name: a, share: 0.5}\n",
     "workloads[0].classes[1].name", "named twice"),
    (MINIMAL + "    classes:\n      - {name: a, share: 1.5}\n", "workloads[0].classes[0].share", "not a share"),
    (MINIMAL + "  - {name: chat, model: llama-3.1-8b, load: {rate: 1 req/s}}\n", "workloads[1].name",
     "also workloads[0]'s name"),
    (MINIMAL.replace("name: chat", "name: a/b"), "workloads[0].name", "not a name"),
    (MINIMAL.replace("    load:", "    load: {rate: 1 req/s}\n    old:"), "workloads[0].old", "unknown key"),
    (MINIMAL + "    latency: p98:10ms\n", "workloads[0].latency", "not a statistic"),
    (MINIMAL + "    input: lots\n", "workloads[0].input", "input length 'lots'"),
    (MINIMAL + "    burstiness: 1000\n", "workloads[0].burstiness", "between 0 and 100"),
    (MINIMAL.replace("    model: llama-3.1-8b\n", ""), "workloads[0].model", "is required"),
    ("workloads: []\n", "workloads", f"give 1 to {MAX_WORKLOADS:,}"),
    (MINIMAL + "shared: {budget: $2M}\n", "shared.budget", "capital, but the objective rents"),
    (MINIMAL + "shared: {budget: $2M, objective: capex, commit: reserved-1y}\n", "shared.commit", "buys servers"),
    (MINIMAL + "shared: {commit: spot}\n", "shared.commit", "not a commitment"),
    (MINIMAL + "shared: {pue: 9}\n", "shared.pue", "between 1 and 5"),
    (MINIMAL + "shared: {max_power: 6000}\n", "shared.max_power", "no unit"),
    (MINIMAL + "shared: {owned: {h100-sxm: -1}}\n", "shared.owned", "whole number"),
    (MINIMAL + "shared: {redundancy: M+1}\n", "shared.redundancy", "not N+k"),
])
def test_each_bad_value_is_one_error_naming_its_place(tmp_path, text, field, words):
    error = _case(tmp_path, text)
    assert words in str(error)
    assert error.field == field
    if field is not None:
        assert f": {field}: " in str(error)  # after the file's path


def test_too_many_classes(tmp_path):
    classes = "".join(f"      - {{name: c{i}, share: {1 / (MAX_CLASSES + 1)!r}}}\n" for i in range(MAX_CLASSES + 1))
    error = _case(tmp_path, MINIMAL + "    classes:\n" + classes)
    assert error.field == "workloads[0].classes" and f"give 1 to {MAX_CLASSES}" in str(error)


@pytest.mark.parametrize("trace, words", [
    ("1.5\n3600\nabc\n", "line 3: 'abc' is not a number of seconds"),
    ("10\n90000\n", "line 2: 90000 s is outside one day"),
    ("time,user\n1,a\n", "a header without a column 'arrival_s'"),
    ("\n\n", "holds no arrival"),
    (b"\xff\xfe1\n", "not UTF-8"),
])
def test_a_trace_with_garbage_is_one_error(tmp_path, trace, words):
    path = tmp_path / "arrivals.csv"
    path.write_bytes(trace if isinstance(trace, bytes) else trace.encode())
    error = _case(tmp_path, MINIMAL.replace("{rate: 5 req/s}", "{trace: arrivals.csv}"))
    assert error.field == "workloads[0].load.trace" and words in str(error)


def test_a_missing_trace_names_the_file(tmp_path):
    error = _case(tmp_path, MINIMAL.replace("{rate: 5 req/s}", "{trace: nowhere.csv}"))
    assert error.field == "workloads[0].load.trace" and "nowhere.csv" in str(error)


def test_a_bad_value_built_in_python_names_its_field():
    with pytest.raises(InputError) as info:
        Load(profile=[1.0] * 23)
    assert info.value.field == "load.profile"


def test_an_oversized_file_is_refused(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_text("# " + "x" * 2_100_000 + "\n" + MINIMAL)
    with pytest.raises(InputError, match="over the"):
        load_scenario(path)


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("fleet-*.yaml")))
def test_the_examples_load(name):
    s = load_scenario(EXAMPLES / name)
    assert s.questions()


def test_the_module_notes_example_file_loads(tmp_path):
    """The file format shown in planner/plan/scenario.py's note is a valid scenario."""
    note = scenario_module.__doc__ or ""
    text = textwrap.dedent(note.split("::\n\n", 1)[1].split("\n\nEach workload", 1)[0])
    s = load_scenario(write(tmp_path, text))
    assert s.name == "platform-2027" and [q.name for q in s.questions()] == ["chat/short", "chat/long"]
    assert s.fleet_limits == ("budget", "max_gpus", "max_power")
