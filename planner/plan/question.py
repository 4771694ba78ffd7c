"""The question `fit` answers, validated once for the CLI and the Python API alike.

Every range, choice and default of a question lives here as a named constant;
the CLI parses text into these objects and the reports read the same
constants to say which values were defaults. A value out of range is an
`InputError` that names the question's field (``economics.years``); the CLI
spells the field as its flag (``--years``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, StrictBool, StrictInt, ValidationError, field_validator, model_validator

from planner.catalog.load import read_mapping_file
from planner.catalog.schema import PricingModel
from planner.core.errors import Field, InputError
from planner.core.units import Money, Rate, parse_count
from planner.model.slo import DEFAULT_PERCENTILE, Metric, Slo, Statistic
from planner.model.workload import (
    DEFAULT_ENGINE,
    DEFAULT_INPUT_TOKENS,
    DEFAULT_OUTPUT_TOKENS,
    MAX_BATCH,
    MAX_GPU_COUNT,
)

DEFAULT_MAX_QUALITY_LOSS = 3.0  # percent; excludes Q4_0 (7.5%) and MXFP4 W4A4 (6.4%) by default
# 5 years: hyperscalers depreciate servers over 5-6 years (10-K disclosures
# collected in references/procurement/tco.md section 4).
DEFAULT_YEARS = 5.0
# EIA Electric Power Annual, 2023 average commercial price in Virginia (the
# N. Virginia data-centre hub), 8.95 cents/kWh (references/procurement/tco.md section 2, [T9]).
DEFAULT_POWER_USD_PER_KWH = 0.0895
# Uptime Institute 2023 industry-average PUE, 1.58 (references/procurement/tco.md section 1, [T1]).
DEFAULT_PUE = 1.58
# CBRE North America Data Center Trends H2 2024: average monthly asking rate
# in primary markets for a 250-500 kW requirement, $184.06 per kW per month
# (references/procurement/tco.md section 7, [T30]): the space, power and
# cooling capacity a bought server occupies, charged on its kW; the energy it
# draws is counted apart. 0 for a data centre already paid for.
DEFAULT_COLO_USD_PER_KW_MONTH = 184.06
MAX_COLO_USD_PER_KW_MONTH = 10_000

# Ranges: what a question can sensibly ask, so an absurd value is an input
# error rather than an overflow deep in the solver. Policy, not physics.
MAX_TOKENS = 10**7  # per request, prompt or output (the parser's own bound)
MAX_GPUS_PER_NODE = 4096
MAX_TOP = 100
MAX_YEARS = 50.0
PUE_RANGE = (1.0, 5.0)
MAX_POWER_USD_PER_KWH = 10.0
SEGMENTS = ("datacenter", "workstation", "consumer")
# Planned unless asked otherwise: parts sold for servers and workstations.
# Consumer cards need --segment consumer (or naming the card): their driver
# licence forbids datacenter deployment (references/procurement/SOURCES.md).
DEFAULT_SEGMENTS = ("datacenter", "workstation")
MAX_REDUNDANCY = 100  # spare units a plan keeps (N+k)
MAX_ZONES = 16  # availability zones a plan is spread over
MAX_HEADROOM = 10.0  # a replica loaded to at most 1/11 of its capacity
MAX_BURSTINESS = 100.0  # traffic.Open's own bound


class Objective(StrEnum):
    """What the plan's cost counts."""

    HOURLY = "hourly"  # cloud $/h
    CAPEX = "capex"  # purchase price
    TCO = "tco"  # purchase plus energy over the years


class _Value(BaseModel):
    """A frozen, validated value. Fields may also be given by position, in
    declaration order; any invalid field is one `InputError` naming it."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True, validate_default=False)
    _prefix: ClassVar[str] = ""  # where this value sits in the question, for field names

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        names = list(type(self).model_fields)
        if len(args) > len(names):
            raise InputError(f"{type(self).__name__} takes at most {len(names)} positional values, got {len(args)}")
        for name, value in zip(names, args):
            if name in kwargs:
                raise InputError(f"{type(self).__name__}: {name} given twice")
            kwargs[name] = value
        try:
            super().__init__(**kwargs)
        except ValidationError as exc:
            raise _input_error(type(self), exc) from None

    def replace(self, **changes: Any) -> Any:
        """A copy with ``changes``, validated again."""
        return type(self)(**{**{name: getattr(self, name) for name in type(self).model_fields}, **changes})


def _input_error(cls: type[_Value], exc: ValidationError) -> InputError:
    """pydantic's type errors, as one line naming the field. (Our own range
    checks raise InputError, which pydantic passes through unchanged.)"""
    first = exc.errors()[0]
    names: list[str] = []
    model: Any = cls
    for part in first["loc"]:  # field names down nested values; a dict key or list index ends the path
        fields: dict[str, Any] = getattr(model, "model_fields", {}) if isinstance(model, type) else {}
        if not (isinstance(part, str) and part in fields):
            break
        names.append(part)
        model = fields[part].annotation
    if not names and first["loc"]:  # a field the value does not have
        names.append(str(first["loc"][0]))
    field = cls._prefix + ".".join(names)
    where = "".join(f"[{part!r}]" for part in first["loc"][len(names):])
    return InputError([Field(field), f"{where}: {first['msg'][0].lower()}{first['msg'][1:]}"], field=field)


def _between(field: str, value: float | None, low: float, high: float, *, low_open: bool = False,
             high_open: bool = False, unit: str = "") -> None:
    """Raise naming ``field`` unless low <= value <= high (or strict where open)."""
    if value is None:
        return
    finite = isinstance(value, int) or math.isfinite(value)  # a 400-digit int has no float
    inside = finite and (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
    if not inside:
        shown = f"{high:,}" if isinstance(high, int) else f"{high:g}"
        given = str(value) if len(str(value)) <= 24 else f"{str(value)[:12]}... ({len(str(value))} digits)"
        raise InputError([Field(field), f" {given} must be between {low:g} and {shown}{unit}"], field=field)


class Targets(_Value):
    """What the answer must meet, in seconds, and a throughput with its kind."""

    _prefix: ClassVar[str] = "targets."

    latency_s: float | None = None  # TPOT for decoders; one forward pass for encoders
    ttft_s: float | None = None
    e2e_s: float | None = None
    throughput: Rate | None = None
    # the statistic over requests each latency target caps (decoders under
    # load; an encoder's static batch has one latency)
    latency_statistic: Statistic = DEFAULT_PERCENTILE
    ttft_statistic: Statistic = DEFAULT_PERCENTILE
    e2e_statistic: Statistic = DEFAULT_PERCENTILE

    def slos(self) -> tuple[Slo, ...]:
        """The latency targets as service-level objectives of a decoder under load."""
        found = []
        for seconds, metric, statistic in ((self.latency_s, Metric.TPOT, self.latency_statistic),
                                           (self.ttft_s, Metric.TTFT, self.ttft_statistic),
                                           (self.e2e_s, Metric.E2E, self.e2e_statistic)):
            if seconds is not None:
                found.append(Slo(metric, seconds, statistic))
        return tuple(found)

    @model_validator(mode="after")
    def _positive(self) -> Targets:
        for name in ("latency_s", "ttft_s", "e2e_s"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise InputError([Field(f"targets.{name}"), f" {value} must be a positive number of seconds"],
                                 field=f"targets.{name}")
        if self.throughput is not None and not isinstance(self.throughput, Rate):
            raise InputError([Field("targets.throughput"), " must be a Rate (planner.core.units.parse_rate)"])
        return self


class Economics(_Value):
    """How a replica's cost is counted for the objective."""

    _prefix: ClassVar[str] = "economics."

    objective: Objective = Objective.HOURLY
    years: float = DEFAULT_YEARS
    power_usd_per_kwh: float = DEFAULT_POWER_USD_PER_KWH
    pue: float = DEFAULT_PUE
    colo_usd_per_kw_month: float = DEFAULT_COLO_USD_PER_KW_MONTH

    @field_validator("objective", mode="before")
    @classmethod
    def _known_objective(cls, value: Any) -> Any:
        return parse_objective(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _ranges(self) -> Economics:
        _between("economics.years", self.years, 0, MAX_YEARS, low_open=True)
        _between("economics.pue", self.pue, *PUE_RANGE)
        _between("economics.colo_usd_per_kw_month", self.colo_usd_per_kw_month, 0, MAX_COLO_USD_PER_KW_MONTH,
                 unit=" per kW-month")
        _between("economics.power_usd_per_kwh", self.power_usd_per_kwh, 0, MAX_POWER_USD_PER_KWH,
                 low_open=True, high_open=True, unit=" per kWh")
        return self


class Question(_Value):
    """Everything `fit` is asked: the model, targets, request shape, what may
    be used, the limits, and how cost is counted. Names of GPUs, precisions
    and the engine are checked against the catalog when `fit` runs."""

    model: str
    targets: Targets = Targets()
    input_tokens: StrictInt = DEFAULT_INPUT_TOKENS
    output_tokens: StrictInt = DEFAULT_OUTPUT_TOKENS
    rope_scaling: StrictBool = False  # allow the longer context the model card documents with RoPE scaling
    engine: str = DEFAULT_ENGINE
    gpus: tuple[str, ...] | None = None  # allowed GPU types; None: all
    segments: tuple[str, ...] | None = None  # allowed market segments; None: all
    precisions: tuple[str, ...] | None = None
    kv_precisions: tuple[str, ...] | None = None
    max_quality_loss: float = DEFAULT_MAX_QUALITY_LOSS  # percent
    owned: dict[str, StrictInt] | None = None  # GPUs already owned per type: sunk, used before anything is rented or bought
    available: dict[str, StrictInt] | None = None  # GPUs that may be rented or bought per type; unlisted unlimited; 0 excludes
    providers: tuple[str, ...] | None = None  # who to rent from; None: the price book's default providers
    pricing: PricingModel = PricingModel.ON_DEMAND
    region: str | None = None  # a region name or its prefix ("us-east"); None: the cheapest region listed
    redundancy: StrictInt = 0  # spare units: the plan still serves its demand with this many units down (N+k)
    zones: StrictInt = 1  # zones the plan is spread over; above 1 it still serves its demand with any one zone down
    budget: Money | None = None
    max_gpus: StrictInt | None = None
    max_power_w: float | None = None
    gpus_per_node: StrictInt | None = None  # limit for tensor parallelism; None: each GPU's own
    memory_utilization: float | None = None  # None: the engine's
    max_batch: StrictInt | None = None  # overrides the engine's cap on concurrent sequences per replica
    # share of each replica's simulated capacity (at the targets) kept free:
    # a plan loads a replica to at most capacity / (1 + headroom). None: the
    # serving model's measured error (planner/plan/verify.py DEFAULT_HEADROOM)
    headroom: float | None = None
    burstiness: float = 1.0  # coefficient of variation of request gaps; 1 = Poisson arrivals
    economics: Economics = Economics()
    top: StrictInt = 1  # plans to show, the chosen one included
    asked: str | None = None  # the command line as typed, for reports

    @field_validator("pricing", mode="before")
    @classmethod
    def _known_pricing(cls, value: Any) -> Any:
        return parse_pricing(value) if isinstance(value, str) else value

    @field_validator("gpus", "segments", "precisions", "kv_precisions", "providers", mode="before")
    @classmethod
    def _names(cls, value: Any) -> Any:
        """Lists of names, trimmed and lower-cased; an empty list means none given."""
        if value is None or isinstance(value, str):
            return value if value is None else (value,)
        names = tuple(str(v).strip().lower() for v in value if str(v).strip())
        return names or None

    @model_validator(mode="after")
    def _ranges(self) -> Question:
        if not self.model.strip():
            raise InputError([Field("model"), " is empty"], hint="a catalog model id or a parameter count such as 13B",
                             field="model")
        for name in ("input_tokens", "output_tokens"):
            _between(name, getattr(self, name), 1, MAX_TOKENS)
        _between("max_quality_loss", self.max_quality_loss, 0, 100, unit=" percent")
        _between("max_gpus", self.max_gpus, 1, MAX_GPU_COUNT)
        _between("gpus_per_node", self.gpus_per_node, 1, MAX_GPUS_PER_NODE)
        _between("max_batch", self.max_batch, 1, MAX_BATCH)
        _between("top", self.top, 1, MAX_TOP)
        _between("headroom", self.headroom, 0, MAX_HEADROOM, unit=" (a share: 0.1 is 10%)")
        _between("burstiness", self.burstiness, 0, MAX_BURSTINESS, low_open=True, unit=" (1 is Poisson)")
        _between("memory_utilization", self.memory_utilization, 0, 1, low_open=True)
        if self.max_power_w is not None and not (math.isfinite(self.max_power_w) and self.max_power_w > 0):
            raise InputError([Field("max_power_w"), f" {self.max_power_w} must be a positive number of watts"],
                             field="max_power_w")
        for segment in self.segments or ():
            if segment not in SEGMENTS:
                raise InputError(f"unknown segment '{segment}'", hint="expected datacenter, workstation or consumer",
                                 field="segments")
        for name in ("owned", "available"):
            for gpu, count in (getattr(self, name) or {}).items():
                if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= MAX_GPU_COUNT:
                    raise InputError([Field(name), f" count for '{gpu}' must be a whole number from 0 to {MAX_GPU_COUNT:,}, "
                                      f"got {count!r}"], field=name)
        _between("redundancy", self.redundancy, 0, MAX_REDUNDANCY)
        _between("zones", self.zones, 1, MAX_ZONES)
        if self.region is not None and not self.region.strip():
            raise InputError([Field("region"), " is empty"], hint="a region such as us-east-1, or leave it out", field="region")
        if self.budget is not None:
            renting = self.economics.objective is Objective.HOURLY
            if renting and not self.budget.per_hour:
                raise InputError([Field("budget"), f" {self.budget} is capital, but the objective rents by the hour"],
                                 hint=["give it per hour, month or year ($30/h, $20k/month), or buy with ",
                                       Field("economics.objective"), " capex"], field="budget")
            if not renting and self.budget.per_hour:
                raise InputError([Field("budget"), f" {self.budget} is recurring rent, but the objective buys servers"],
                                 hint=["give a capital amount ($500k), or rent with ", Field("economics.objective"),
                                       " hourly"], field="budget")
        return self

    @property
    def default_lengths(self) -> bool:
        return (self.input_tokens, self.output_tokens) == (DEFAULT_INPUT_TOKENS, DEFAULT_OUTPUT_TOKENS)


def check_targets_apply(targets: Targets, output_tokens: int, decoder: bool) -> None:
    """Raise when a target cannot apply to the request: a decoder's TPOT
    (``targets.latency_s``) is the time between output tokens, so a request
    generating one token has none. An encoder's latency is one forward pass
    and always applies. (The question alone does not know the model's kind:
    `fit` calls this once the model is resolved.)"""
    if decoder and targets.latency_s is not None and output_tokens < 2:
        raise InputError(
            [Field("targets.latency_s"), " (TPOT) cannot apply with ", Field("output_tokens"),
             f" {output_tokens}: a request that generates one token has no time per output token"],
            hint=["set ", Field("targets.ttft_s"), " or ", Field("targets.e2e_s"), " instead, or raise ",
                  Field("output_tokens")],
            field="targets.latency_s")


# --- parsing what people type (the CLI's flags, a scenario file later) ---------------


def parse_objective(text: str) -> Objective:
    """'hourly', 'capex' or 'tco'."""
    try:
        return Objective(text)
    except ValueError:
        raise InputError(f"unknown objective '{text}'", hint="expected hourly, capex or tco", field="economics.objective") from None


def parse_pricing(text: str) -> PricingModel:
    """'on-demand', 'spot', 'reserved-1y' or 'reserved-3y'."""
    try:
        return PricingModel(text.strip().lower())
    except ValueError:
        raise InputError(f"unknown pricing model '{text}'", hint="expected on-demand, spot, reserved-1y or reserved-3y",
                         field="pricing") from None


def parse_redundancy(text: str) -> int:
    """'N+1' (or 'n+2', or a bare count of spare units) as the number of spares."""
    raw = text.strip().lower().replace(" ", "")
    raw = raw[2:] if raw.startswith("n+") else raw
    if not raw.isdigit():
        raise InputError(f"redundancy '{text}' is not N+k", hint="e.g. --redundancy N+1 (one spare unit)", field="redundancy")
    return int(raw)


def parse_percent(text: str, what: str = "quality loss", example: str = "--max-quality-loss 3 or 3%") -> float:
    """'3', '3%' or '2.5 %' as a number of percent (range checked by the question)."""
    raw = text.strip().rstrip("%").strip()
    try:
        value = float(raw)
    except ValueError:
        raise InputError(f"{what} '{text}' is not a percentage", hint=f"e.g. {example}") from None
    if not math.isfinite(value):
        raise InputError(f"{what} '{text}' is not a finite percentage")
    return value


def _price_per(text: str, units: tuple[str, ...], per: str, what: str, example: str) -> float:
    """A dollar price per some unit ('$0.12/kWh', '0.12 USD', '184'), as a finite number."""
    raw = text.strip().lower().replace("$", "").replace("usd", "").strip()
    for unit in units:
        raw = raw.removesuffix(unit).strip()
    try:
        value = float(raw)
    except ValueError:
        raise InputError(f"{what} '{text}' is not a price per {per}", hint=f"e.g. {example}") from None
    if not math.isfinite(value):
        raise InputError(f"{what} '{text}' is not a finite price", hint=f"e.g. {example}")
    return value


def parse_colo_price(text: str) -> float:
    """'$184/kW-month', '184' or '0' as USD per kW per month (range checked by Economics)."""
    return _price_per(text, ("/kw-month", "/kw/month", "/kw-mo", "/kw"), "kW-month", "colocation price",
                      "--colo-price '$184/kW-month', or 0 for a data centre already paid for")


def parse_energy_price(text: str) -> float:
    """'$0.12/kWh', '0.12' or '0.12 USD/kWh' as USD per kWh."""
    value = _price_per(text, ("/kwh",), "kWh", "power price", "--power-price '$0.12/kWh'")
    if not 0 < value < MAX_POWER_USD_PER_KWH:
        raise InputError(f"power price '{text}' is outside 0 to $10 per kWh")
    return value


def parse_inventory(text: str, flag: str = "--available") -> dict[str, int] | None:
    """'h100-sxm=16,a100-sxm-80gb=64', or the path of a YAML file mapping GPU
    id to count (for --available and --owned)."""
    if not text.strip():
        return None
    if "=" in text:
        pairs: dict[str, int] = {}
        for item in text.split(","):
            gpu, sep, count = item.partition("=")
            if not sep or not gpu.strip():
                raise InputError(f"{flag} item '{item}' is not GPU=COUNT", hint=f"e.g. {flag} h100-sxm=16,a100-sxm-80gb=64")
            # 0 excludes a type, as it does in an inventory file
            pairs[gpu.strip().lower()] = 0 if count.strip() == "0" else parse_count(
                count, f"inventory count for {gpu.strip()}", maximum=MAX_GPU_COUNT)
        return pairs
    path = Path(text)
    if not path.is_file():
        raise InputError(f"{flag} '{text}' is neither GPU=COUNT pairs nor a readable file",
                         hint=f"e.g. {flag} h100-sxm=16,a100-sxm-80gb=64 or {flag} fleet.yaml")
    return inventory_counts(read_mapping_file(path, "inventory"), f"{text}: ", "h100-sxm: 16")


def inventory_counts(data: Mapping[Any, Any], where: str = "", example: str = "h100-sxm: 16") -> dict[str, int]:
    """GPU id -> count from a mapping (an inventory file's, a scenario's),
    each count a whole number from 0 to MAX_GPU_COUNT; ``where`` leads the
    error message."""
    result: dict[str, int] = {}
    for gpu, count in data.items():
        if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= MAX_GPU_COUNT:
            raise InputError(f"{where}count for '{gpu}' must be a whole number from 0 to {MAX_GPU_COUNT:,}, got {count!r}",
                             hint=f"e.g. {example}")
        result[str(gpu).strip().lower()] = count
    return result
