"""A scenario file: many workloads, each with its load over the day, planned
together under shared limits (`fit --scenario`, planner/plan/fleet.py).

The file (YAML; read as safely as a catalog overlay: size limit, safe
loader, no anchors or aliases, no repeated keys; unknown keys are errors)::

    name: platform-2027            # optional; default the file's stem
    shared:                        # all optional; each means what the flag of `planner fit` means
      owned: {h100-sxm: 16}        # or 'h100-sxm=16', or an inventory file beside the scenario
      available: {h100-sxm: 64, l40s: 0}
      providers: [aws, gcp]
      region: us-east
      pricing: on-demand           # what flexible (hourly) capacity is rented at: on-demand or spot
      commit: reserved-1y          # committed capacity may also be rented at this reserved price (base load)
      autoscale: true              # rented on-demand capacity follows the hourly load; false sizes it for the peak
      budget: $400/h               # rent per hour (hourly objective), or capital ($2M) with capex/tco
      max_gpus: 256
      max_power: 60kW
      redundancy: N+1              # spare units per stream (N+k)
      objective: hourly            # hourly | capex | tco (buying: sized for the peak, nothing autoscales)
      years: 5
      power_price: $0.09/kWh
      pue: 1.4
      colo_price: $150/kW-month
      headroom: 10%
    workloads:
      - name: chat
        model: llama-3.1-70b
        engine: vllm               # optional
        load: {rate: 20 req/s}     # or {profile: [24 rates, hour 0..23 local time], unit: req/s}
                                   # or {trace: arrivals.csv}: arrival times in seconds of one day
        input: 1024
        output: 256
        classes:                   # optional: request-size classes; shares of the requests sum to 1
          - {name: short, share: 0.8, input: 512, output: 256}
          - {name: long, share: 0.2, input: 8192, output: 512}
        latency: p99:50ms          # TPOT for decoders (one forward pass for encoders), as --latency
        ttft: p99:2s
        e2e: p99:30s
        max_quality_loss: 3%
        gpus: [h100-sxm, l40s]     # optional, as are precisions, kv_precisions, segments, burstiness,
                                   # max_batch, rope_scaling, gpus_per_node, memory_utilization

Each workload, or each request-size class of one, is a demand stream
(``chat``, ``chat/long``); `Scenario.questions` gives each stream the
`Question` of its peak hour (its throughput target the stream's peak rate)
and its 24 hourly rates. Budget, max_gpus and max_power are fleet-wide:
they are left out of the streams' questions and enforced jointly; every
other shared limit applies to each stream as it does to one `fit`.

A load's rates are per second in the kind its unit names: requests
(req/s, the default; requests of an encoder are its samples), output
tokens (tok/s) or samples. Classes share a workload's requests, so with
classes a tok/s load is turned into requests/s at the classes' mean output
length. A trace is a CSV of arrival times in seconds from midnight, one per
line or in a column ``arrival_s``: binned into hourly rates (arrivals in the
hour / 3,600 s). Relative file paths are read from the scenario's folder.

Every bad value is one `InputError` naming where it is
(``workloads[2].load.profile``) and the fix.
"""

from __future__ import annotations

import csv
from contextvars import ContextVar
import io
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from pydantic import (
    BaseModel,
    ConfigDict,
    StrictBool,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from planner.catalog.load import read_mapping_file
from planner.catalog.schema import PricingModel
from planner.core.errors import Field, InputError, PlannerError
from planner.core.units import (
    MAX_RATE_PER_SECOND,
    Money,
    Rate,
    RateKind,
    parse_count,
    parse_money,
    parse_power,
    parse_rate,
)
from planner.model.slo import Statistic, parse_target
from planner.model.workload import DEFAULT_ENGINE, DEFAULT_INPUT_TOKENS, DEFAULT_OUTPUT_TOKENS, MAX_GPU_COUNT
from planner.plan.question import (
    DEFAULT_COLO_USD_PER_KW_MONTH,
    DEFAULT_MAX_QUALITY_LOSS,
    DEFAULT_POWER_USD_PER_KWH,
    DEFAULT_PUE,
    DEFAULT_YEARS,
    MAX_TOKENS,
    Economics,
    Objective,
    Question,
    Targets,
    inventory_counts,
    parse_colo_price,
    parse_energy_price,
    parse_inventory,
    parse_objective,
    parse_percent,
    parse_pricing,
    parse_redundancy,
)

HOURS_PER_DAY = 24
SECONDS_PER_HOUR = 3600
SECONDS_PER_DAY = HOURS_PER_DAY * SECONDS_PER_HOUR

# Bounds: what a scenario can sensibly hold, so an absurd file is an input
# error rather than hours of solving. Policy, not physics.
MAX_WORKLOADS = 5_000
MAX_CLASSES = 32  # request-size classes of one workload
MAX_NAME_CHARS = 64
MAX_RATE = float(MAX_RATE_PER_SECOND)  # one hour's rate, per second: the rate parser's own bound
MAX_TRACE_BYTES = 64_000_000  # a day at ~70 req/s of 10-character lines is 60 MB
MAX_TRACE_ARRIVALS = 10_000_000
SHARE_TOLERANCE = 1e-6  # classes' shares must sum to 1 within this
TRACE_COLUMN = "arrival_s"
DEFAULT_LOAD_UNIT = "req/s"
# Names become stream names ("chat/long") and table cells: letters, digits
# and . _ - and space, no slash.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]*$")


def _fail(message: str, hint: str | None = None, at: str | None = None) -> PydanticCustomError:
    """An error for pydantic to carry to `_scenario_error` with its place:
    ``at`` names a field below the one validated (the model validators')."""
    return PydanticCustomError("scenario", "{message}", {"message": message, "hint": hint or "", "at": at or ""})


def _parsed(parse: Any, value: Any, *args: Any) -> Any:
    """A planner parser's result, its InputError turned into a pydantic error
    (so the place in the file is named)."""
    try:
        return parse(value, *args)
    except PlannerError as exc:
        raise _fail(exc.message, exc.hint) from None


def _text(value: Any) -> str:
    """A scalar as the text a flag would take (numbers as written)."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise _fail(f"expected text or a number, got {type(value).__name__}")
    return str(value)


def _names(value: Any) -> Any:
    """A list of names, or one comma-separated string; an empty one is None."""
    if value is None or isinstance(value, tuple):
        return value
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list):
        raise _fail(f"expected a list of names, got {type(value).__name__}", "e.g. [h100-sxm, l40s]")
    names = tuple(_text(v).strip().lower() for v in value if _text(v).strip())
    return names or None


def _count(value: Any, what: str, maximum: int = MAX_TOKENS) -> Any:
    """A whole number, as 2048 or '8k'."""
    if isinstance(value, int) and not isinstance(value, bool):
        if not 1 <= value <= maximum:
            raise _fail(f"{value} must be between 1 and {maximum:,}")
        return value
    return _parsed(parse_count, _text(value), what, maximum)


def _or_parsed(value: Any, parsed: type | tuple[type, ...], parse: Any, *args: Any) -> Any:
    """``value`` as given when it is already ``parsed`` (built in Python),
    else parsed from its text as the flag takes it."""
    return value if isinstance(value, parsed) else _parsed(parse, _text(value), *args)


def _percent(value: Any, what: str, example: str) -> float:
    """'3%', '3' or 3 as a number of percent (as the flags take them)."""
    return float(_parsed(parse_percent, _text(value), what, example))


def _target(value: Any, key: str) -> Any:
    """'p99:50ms' or '50ms' as (statistic, seconds)."""
    return _or_parsed(value, (tuple, type(None)), parse_target, key)


# What validators read while a scenario is validated (the folder relative
# paths are read from). pydantic calls a model's own __init__ for its parts
# without the validation context, so it travels here too.
_CONTEXT: ContextVar[dict[str, Any] | None] = ContextVar("scenario_context", default=None)


class _Value(BaseModel):
    """A frozen, validated part of a scenario. Built from Python, a bad value
    is one InputError naming its field, as from a file."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)
    _where: ClassVar[str] = ""  # this part's place in a file, for errors raised on it alone

    def __init__(self, **data: Any) -> None:
        context = _CONTEXT.get()
        if context is not None:  # a part of a scenario being validated: pydantic names the place of an error
            self.__pydantic_validator__.validate_python(data, self_instance=self, context=context)
            return
        token = _CONTEXT.set({})
        try:
            self.__pydantic_validator__.validate_python(data, self_instance=self, context={})
        except ValidationError as exc:
            raise _scenario_error(exc, type(self)._where) from None
        finally:
            _CONTEXT.reset(token)


# --- load ------------------------------------------------------------------


@dataclass(frozen=True)
class Trace:
    """Arrivals of one day read from a file, binned by hour."""

    path: str
    arrivals: int
    hourly: tuple[float, ...]  # requests/s in each hour


def read_trace(path: Path) -> Trace:
    """A CSV of arrival times in seconds from midnight (one per line, or a
    column ``arrival_s`` under a header), binned into 24 hourly rates."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InputError(f"cannot read trace file '{path}': {exc.strerror or exc}",
                         hint="give a CSV of arrival times in seconds, relative to the scenario's folder") from None
    if not path.is_file():
        raise InputError(f"trace '{path}' is not a regular file")
    if size > MAX_TRACE_BYTES:
        raise InputError(f"trace '{path}' is {size:,} bytes, over the {MAX_TRACE_BYTES:,}-byte limit",
                         hint="bin it into a 24-value profile instead")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(f"trace '{path}' is not UTF-8 text", hint="a CSV of arrival times in seconds") from None
    except OSError as exc:
        raise InputError(f"cannot read trace file '{path}': {exc.strerror or exc}") from None
    counts = [0] * HOURS_PER_DAY
    arrivals = 0
    column = 0
    first = True  # the first row with text may be a header
    try:
        for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
            cells = [cell.strip() for cell in row]
            if not any(cells):
                continue
            if first:
                first = False
                if not _is_number(cells[0]):
                    if TRACE_COLUMN not in cells:
                        raise InputError(f"trace '{path}' line {number}: a header without a column '{TRACE_COLUMN}'",
                                         hint=f"one arrival time in seconds a line, or a column named {TRACE_COLUMN}")
                    column = cells.index(TRACE_COLUMN)
                    continue
            counts[_hour(path, number, cells[column] if column < len(cells) else "")] += 1
            arrivals += 1
            if arrivals > MAX_TRACE_ARRIVALS:
                raise InputError(f"trace '{path}' has over {MAX_TRACE_ARRIVALS:,} arrivals",
                                 hint="bin it into a 24-value profile instead")
    except csv.Error as exc:
        raise InputError(f"trace '{path}': not CSV ({exc})") from None
    if arrivals == 0:
        raise InputError(f"trace '{path}' holds no arrival", hint="one arrival time in seconds from midnight a line")
    return Trace(str(path), arrivals, tuple(c / SECONDS_PER_HOUR for c in counts))


def _hour(path: Path, number: int, cell: str) -> int:
    """The hour of the day (0 to 23) of one arrival time in seconds from midnight."""
    try:
        seconds = float(cell)
    except ValueError:
        raise InputError(f"trace '{path}' line {number}: '{cell[:40]}' is not a number of seconds",
                         hint="one arrival time in seconds from midnight a line") from None
    if not (math.isfinite(seconds) and 0 <= seconds < SECONDS_PER_DAY):
        raise InputError(f"trace '{path}' line {number}: {cell[:40]} s is outside one day",
                         hint=f"arrival times are seconds from midnight, 0 to {SECONDS_PER_DAY:,}")
    return int(seconds // SECONDS_PER_HOUR)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _unit(text: str) -> Rate:
    """A load unit ('req/s', 'tok/s', 'samples/s', 'req/h') as the rate of 1 of it."""
    return parse_rate("1 " + text.strip())


class Load(_Value):
    """What a workload is asked to serve over the day: one ``rate``, a
    ``profile`` of 24 hourly rates (hour 0 to 23, local time) in ``unit``, or
    a ``trace`` of arrival times."""

    _where: ClassVar[str] = "load"

    rate: Rate | None = None
    profile: tuple[float, ...] | None = None
    unit: str | None = None  # the profile's; default req/s
    trace: Trace | None = None

    @field_validator("rate", mode="before")
    @classmethod
    def _rate(cls, value: Any) -> Any:
        return _or_parsed(value, (Rate, type(None)), parse_rate)

    @field_validator("profile", mode="before")
    @classmethod
    def _profile(cls, value: Any) -> Any:
        if value is None:
            return value
        if not isinstance(value, (list, tuple)):
            raise _fail(f"expected a list of {HOURS_PER_DAY} rates, got {type(value).__name__}",
                        "e.g. profile: [2, 1, 1, ... 24 values, hour 0 to 23]")
        if len(value) != HOURS_PER_DAY:
            raise _fail(f"{len(value)} values; a profile has exactly {HOURS_PER_DAY}, one per hour 0 to 23",
                        "give one rate per hour of the day, local time")
        rates = []
        for hour, v in enumerate(value):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not 0 <= v <= MAX_RATE:
                raise _fail(f"hour {hour}: {v!r} is not a rate", f"rates are finite numbers from 0 to {MAX_RATE:g}")
            rates.append(float(v))
        return tuple(rates)

    @field_validator("unit", mode="before")
    @classmethod
    def _unit_known(cls, value: Any) -> Any:
        if value is None:
            return value
        text = _text(value).strip()
        _parsed(_unit, text)
        return text

    @field_validator("trace", mode="before")
    @classmethod
    def _trace(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None or isinstance(value, Trace):
            return value
        base = (info.context or {}).get("base_dir")
        path = Path(_text(value))
        return _parsed(read_trace, path if path.is_absolute() or base is None else Path(base) / path)

    @model_validator(mode="after")
    def _one_form(self) -> Load:
        given = [name for name in ("rate", "profile", "trace") if getattr(self, name) is not None]
        if len(given) != 1:
            raise _fail(f"give one of rate, profile or trace, not {' and '.join(given) or 'none'}",
                        "e.g. load: {rate: 20 req/s}")
        if self.unit is not None and self.profile is None:
            raise _fail("unit applies to a profile only", "write the unit in the rate ('20 req/s'); a trace is requests",
                        at="unit")
        if max(self.hourly) <= 0:
            raise _fail("no request in any hour", "give a positive rate for some hour")
        return self

    @property
    def kind(self) -> RateKind:
        """What the rates count: requests, tokens (output) or samples."""
        if self.rate is not None:
            return self.rate.kind
        return _unit(self.unit or DEFAULT_LOAD_UNIT).kind if self.profile is not None else "requests"

    @property
    def hourly(self) -> tuple[float, ...]:
        """Per second, in `kind`, each hour of the day."""
        if self.rate is not None:
            return (self.rate.per_second,) * HOURS_PER_DAY
        if self.profile is not None:
            per = _unit(self.unit or DEFAULT_LOAD_UNIT).per_second
            return tuple(v * per for v in self.profile)
        assert self.trace is not None
        return self.trace.hourly


# --- workloads -------------------------------------------------------------


def _name(value: Any) -> Any:
    text = _text(value).strip()
    if not (_NAME.match(text) and len(text) <= MAX_NAME_CHARS):
        raise _fail(f"'{text[:MAX_NAME_CHARS]}' is not a name",
                    f"letters, digits, space, . _ or -, at most {MAX_NAME_CHARS} characters, no slash")
    return text


class RequestClass(_Value):
    """A share of a workload's requests with its own lengths."""

    _where: ClassVar[str] = "classes"

    name: str
    share: float
    input: int | None = None  # default the workload's
    output: int | None = None

    @field_validator("name", mode="before")
    @classmethod
    def _named(cls, value: Any) -> Any:
        return _name(value)

    @field_validator("share", mode="before")
    @classmethod
    def _share(cls, value: Any) -> Any:
        if isinstance(value, str):
            share = _percent(value, "share", "share: 0.8 or 80%") / (100 if "%" in value else 1)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            share = float(value)
        else:
            raise _fail(f"expected a number, got {type(value).__name__}", "e.g. share: 0.8")
        if not (math.isfinite(share) and 0 < share <= 1):
            raise _fail(f"{value} is not a share of the requests", "a number above 0 and at most 1 (or 80%)")
        return share

    @field_validator("input", "output", mode="before")
    @classmethod
    def _lengths(cls, value: Any, info: ValidationInfo) -> Any:
        return None if value is None else _count(value, f"{info.field_name} length")


class Workload(_Value):
    """One model with its load, request lengths, targets and limits."""

    _where: ClassVar[str] = "workloads"

    name: str
    model: str
    load: Load
    engine: str = DEFAULT_ENGINE
    input: int = DEFAULT_INPUT_TOKENS
    output: int = DEFAULT_OUTPUT_TOKENS
    classes: tuple[RequestClass, ...] | None = None
    latency: tuple[Statistic, float] | None = None  # TPOT for decoders; one forward pass for encoders
    ttft: tuple[Statistic, float] | None = None
    e2e: tuple[Statistic, float] | None = None
    max_quality_loss: float = DEFAULT_MAX_QUALITY_LOSS  # percent
    gpus: tuple[str, ...] | None = None
    segments: tuple[str, ...] | None = None
    precisions: tuple[str, ...] | None = None
    kv_precisions: tuple[str, ...] | None = None
    burstiness: float = 1.0
    max_batch: int | None = None
    rope_scaling: StrictBool = False
    gpus_per_node: int | None = None
    memory_utilization: float | None = None

    @field_validator("name", mode="before")
    @classmethod
    def _named(cls, value: Any) -> Any:
        return _name(value)

    @field_validator("model", "engine", mode="before")
    @classmethod
    def _id(cls, value: Any) -> Any:
        text = _text(value).strip()
        if not text:
            raise _fail("is empty", "a catalog id, e.g. llama-3.1-8b")
        return text

    @field_validator("input", "output", mode="before")
    @classmethod
    def _lengths(cls, value: Any, info: ValidationInfo) -> Any:
        return _count(value, f"{info.field_name} length")

    @field_validator("latency", "ttft", "e2e", mode="before")
    @classmethod
    def _targets(cls, value: Any, info: ValidationInfo) -> Any:
        return _target(value, str(info.field_name))

    @field_validator("max_quality_loss", mode="before")
    @classmethod
    def _quality(cls, value: Any) -> Any:
        return _percent(value, "quality loss", "max_quality_loss: 3%")

    @field_validator("gpus", "segments", "precisions", "kv_precisions", mode="before")
    @classmethod
    def _name_lists(cls, value: Any) -> Any:
        return _names(value)

    @field_validator("burstiness", "memory_utilization", mode="before")
    @classmethod
    def _number(cls, value: Any) -> Any:
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise _fail(f"expected a number, got {value!r}")
        return value

    @field_validator("max_batch", "gpus_per_node", mode="before")
    @classmethod
    def _whole(cls, value: Any, info: ValidationInfo) -> Any:
        return None if value is None else _count(value, str(info.field_name), MAX_GPU_COUNT)

    @model_validator(mode="after")
    def _classes(self) -> Workload:
        if self.classes is None:
            return self
        if not 1 <= len(self.classes) <= MAX_CLASSES:
            raise _fail(f"{len(self.classes)} classes; give 1 to {MAX_CLASSES}", at="classes")
        seen: set[str] = set()
        for i, c in enumerate(self.classes):
            if c.name in seen:
                raise _fail(f"class '{c.name}' is named twice", "give each class its own name", at=f"classes[{i}].name")
            seen.add(c.name)
        total = sum(c.share for c in self.classes)
        if abs(total - 1) > SHARE_TOLERANCE:
            raise _fail(f"shares sum to {total:g}, not 1", "each class's share of the requests; together 1",
                        at="classes")
        return self

    def lengths_of(self, c: RequestClass | None) -> tuple[int, int]:
        """(input, output) tokens of a class, or of the workload without one."""
        if c is None:
            return self.input, self.output
        return (c.input if c.input is not None else self.input, c.output if c.output is not None else self.output)


# --- shared limits ---------------------------------------------------------


def _inventory(value: Any, key: str, base: str | None) -> Any:
    """GPU counts: a mapping, 'gpu=n,...' pairs, or an inventory file."""
    if value is None:
        return None
    if isinstance(value, dict):
        return _parsed(inventory_counts, value, "", f"{key}: {{h100-sxm: 16}}")
    text = _text(value)
    if "=" not in text and base is not None and not Path(text).is_absolute():
        text = str(Path(base) / text)
    return _parsed(parse_inventory, text, key)


class Shared(_Value):
    """Limits and prices every workload shares. Budget, max_gpus and
    max_power hold for the fleet as a whole in every hour; the others apply
    to each workload as they do to one `fit`."""

    _where: ClassVar[str] = "shared"

    owned: dict[str, int] | None = None
    available: dict[str, int] | None = None
    providers: tuple[str, ...] | None = None
    region: str | None = None
    pricing: PricingModel = PricingModel.ON_DEMAND  # flexible capacity's; reserved-* makes all rented capacity committed
    commit: PricingModel | None = None  # a reserved price committed capacity may also be rented at
    autoscale: StrictBool = True
    budget: Money | None = None
    max_gpus: int | None = None
    max_power: float | None = None  # watts
    redundancy: int = 0
    objective: Objective = Objective.HOURLY
    years: float = DEFAULT_YEARS
    power_price: float = DEFAULT_POWER_USD_PER_KWH  # USD per kWh
    pue: float = DEFAULT_PUE
    colo_price: float = DEFAULT_COLO_USD_PER_KW_MONTH  # USD per kW-month
    headroom: float | None = None  # a share (0.1 is 10%)

    @field_validator("owned", "available", mode="before")
    @classmethod
    def _counts(cls, value: Any, info: ValidationInfo) -> Any:
        return _inventory(value, str(info.field_name), (info.context or {}).get("base_dir"))

    @field_validator("providers", mode="before")
    @classmethod
    def _providers(cls, value: Any) -> Any:
        return _names(value)

    @field_validator("region", mode="before")
    @classmethod
    def _region(cls, value: Any) -> Any:
        if value is None:
            return value
        text = _text(value).strip()
        if not text:
            raise _fail("is empty", "a region such as us-east-1, or leave it out")
        return text

    @field_validator("pricing", "commit", mode="before")
    @classmethod
    def _pricing(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None or isinstance(value, PricingModel):
            return value
        pricing = _parsed(parse_pricing, _text(value))
        if info.field_name == "commit" and pricing not in (PricingModel.RESERVED_1Y, PricingModel.RESERVED_3Y):
            raise _fail(f"'{value}' is not a commitment", "reserved-1y or reserved-3y; flexible capacity's price is pricing")
        return pricing

    @field_validator("budget", mode="before")
    @classmethod
    def _budget(cls, value: Any) -> Any:
        return _or_parsed(value, (Money, type(None)), parse_money)

    @field_validator("max_gpus", mode="before")
    @classmethod
    def _max_gpus(cls, value: Any) -> Any:
        return None if value is None else _count(value, "max_gpus", MAX_GPU_COUNT)

    @field_validator("max_power", mode="before")
    @classmethod
    def _power(cls, value: Any) -> Any:
        if value is None or isinstance(value, float):
            return value
        if not isinstance(value, str):
            raise _fail(f"{value!r} has no unit", "e.g. max_power: 60kW")
        return _parsed(parse_power, value)

    @field_validator("redundancy", mode="before")
    @classmethod
    def _redundancy(cls, value: Any) -> Any:
        return value if isinstance(value, int) and not isinstance(value, bool) else _parsed(parse_redundancy, _text(value))

    @field_validator("objective", mode="before")
    @classmethod
    def _objective(cls, value: Any) -> Any:
        return _or_parsed(value, Objective, parse_objective)

    @field_validator("power_price", mode="before")
    @classmethod
    def _power_price(cls, value: Any) -> Any:
        return _or_parsed(value, float, parse_energy_price)

    @field_validator("colo_price", mode="before")
    @classmethod
    def _colo_price(cls, value: Any) -> Any:
        return _or_parsed(value, float, parse_colo_price)

    @field_validator("years", "pue", mode="before")
    @classmethod
    def _number(cls, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _fail(f"expected a number, got {value!r}")
        return value

    @field_validator("headroom", mode="before")
    @classmethod
    def _headroom(cls, value: Any) -> Any:
        if value is None or isinstance(value, float):
            return value
        return _percent(value, "headroom", "headroom: 10%") / 100

    @model_validator(mode="after")
    def _consistent(self) -> Shared:
        try:
            self.economics()
        except PlannerError as exc:
            field = {"economics.years": "years", "economics.pue": "pue", "economics.power_usd_per_kwh": "power_price",
                     "economics.colo_usd_per_kw_month": "colo_price"}.get(exc.field or "", "")
            raise _fail(exc.message.removeprefix(exc.field or "").strip(), exc.hint, at=field) from None
        if self.budget is not None:
            renting = self.objective is Objective.HOURLY
            if renting and not self.budget.per_hour:
                raise _fail(f"{self.budget} is capital, but the objective rents by the hour",
                            "give it per hour, month or year ($400/h, $20k/month), or buy with objective: capex",
                            at="budget")
            if not renting and self.budget.per_hour:
                raise _fail(f"{self.budget} is recurring rent, but the objective buys servers",
                            "give a capital amount ($2M), or rent with objective: hourly", at="budget")
        if self.commit is not None and self.objective is not Objective.HOURLY:
            raise _fail(f"commit {self.commit.value} rents, but the objective buys servers",
                        "leave commit out, or rent with objective: hourly", at="commit")
        return self

    def economics(self) -> Economics:
        return Economics(objective=self.objective, years=self.years, power_usd_per_kwh=self.power_price, pue=self.pue,
                         colo_usd_per_kw_month=self.colo_price)

    @property
    def flexible(self) -> bool:
        """Whether rented capacity may follow the hourly load: rented by the
        hour (on demand or spot) with autoscaling; bought and reserved
        capacity is held all day."""
        return (self.autoscale and self.objective is Objective.HOURLY
                and self.pricing in (PricingModel.ON_DEMAND, PricingModel.SPOT))


# --- the scenario ----------------------------------------------------------


@dataclass(frozen=True)
class StreamQuestion:
    """One demand stream: a workload, or one request-size class of it, with
    the question of its peak hour and its rate in every hour."""

    name: str  # "chat", or "chat/long" for a class
    workload: str
    share: float  # of the workload's requests (1.0 without classes)
    question: Question  # targets.throughput: the stream's peak rate; no fleet-wide limit (budget, max_gpus, max_power)
    demand: tuple[float, ...]  # per second, in the question's throughput kind, each hour 0..23

    @property
    def peak(self) -> float:
        return max(self.demand)


class Scenario(_Value):
    """Workloads and the limits they share (module note)."""

    name: str
    shared: Shared = Shared()
    workloads: tuple[Workload, ...]
    path: str | None = None  # where it was read from

    @field_validator("name", mode="before")
    @classmethod
    def _named(cls, value: Any) -> Any:
        return _name(value)

    @field_validator("workloads", mode="before")
    @classmethod
    def _bounded(cls, value: Any) -> Any:
        if not isinstance(value, (list, tuple)):
            raise _fail(f"expected a list of workloads, got {type(value).__name__}",
                        "workloads: [{name: chat, model: llama-3.1-8b, load: {rate: 5 req/s}}]")
        if not 1 <= len(value) <= MAX_WORKLOADS:
            raise _fail(f"{len(value):,} workloads; give 1 to {MAX_WORKLOADS:,}")
        return value

    @model_validator(mode="after")
    def _whole(self) -> Scenario:
        seen: dict[str, int] = {}
        for i, w in enumerate(self.workloads):
            if w.name in seen:
                raise _fail(f"'{w.name}' is also workloads[{seen[w.name]}]'s name", "give each workload its own name",
                            at=f"workloads[{i}].name")
            seen[w.name] = i
        for i, w in enumerate(self.workloads):
            try:
                self._streams_of(w)
            except PlannerError as exc:
                field = WORKLOAD_KEYS.get(exc.field or "", exc.field or "")
                text = exc.message
                if exc.field and text.startswith(exc.field):
                    text = text[len(exc.field):].strip()
                raise _fail(text, exc.hint, at=f"workloads[{i}]" + (f".{field}" if field else "")) from None
        return self

    def questions(self) -> tuple[StreamQuestion, ...]:
        """Every demand stream, in file order (a workload's classes in order)."""
        return tuple(s for w in self.workloads for s in self._streams_of(w))

    def _streams_of(self, w: Workload) -> list[StreamQuestion]:
        hourly, kind = w.load.hourly, w.load.kind
        if not w.classes:
            return [StreamQuestion(w.name, w.name, 1.0, self._question(w, None, max(hourly), kind), hourly)]
        if kind == "tokens":  # classes share requests: tok/s (output tokens) at the classes' mean output
            mean_output = sum(c.share * max(w.lengths_of(c)[1], 1) for c in w.classes)
            hourly, kind = tuple(r / mean_output for r in hourly), "requests"
        streams = []
        for c in w.classes:
            demand = tuple(r * c.share for r in hourly)
            streams.append(StreamQuestion(f"{w.name}/{c.name}", w.name, c.share,
                                          self._question(w, c, max(demand), kind), demand))
        return streams

    def _question(self, w: Workload, c: RequestClass | None, peak: float, kind: RateKind) -> Question:
        s = self.shared
        input_tokens, output_tokens = w.lengths_of(c)
        latency, ttft, e2e = (t or (Statistic.P99, None) for t in (w.latency, w.ttft, w.e2e))
        targets = Targets(latency_s=latency[1], ttft_s=ttft[1], e2e_s=e2e[1], throughput=Rate(peak, kind),
                          latency_statistic=latency[0], ttft_statistic=ttft[0], e2e_statistic=e2e[0])
        return Question(
            model=w.model, targets=targets, input_tokens=input_tokens, output_tokens=output_tokens,
            rope_scaling=w.rope_scaling, engine=w.engine, gpus=w.gpus, segments=w.segments, precisions=w.precisions,
            kv_precisions=w.kv_precisions, max_quality_loss=w.max_quality_loss, owned=s.owned, available=s.available,
            providers=s.providers, pricing=s.pricing, region=s.region, redundancy=s.redundancy,
            gpus_per_node=w.gpus_per_node, memory_utilization=w.memory_utilization, max_batch=w.max_batch,
            headroom=s.headroom, burstiness=w.burstiness, economics=s.economics(),
        )

    @classmethod
    def from_question(cls, q: Question, name: str | None = None) -> Scenario:
        """The one-workload scenario a single question asks, at a flat load
        (the flags of `planner fit`). Its throughput target is the load."""
        if q.targets.throughput is None:
            raise InputError("a fleet plan needs a load", hint=["give ", Field("targets.throughput"), ", e.g. '20 req/s'"],
                             field="targets.throughput")
        if q.zones > 1:
            raise InputError("zones are not planned for a fleet", hint=["leave ", Field("zones"), " at 1"], field="zones")
        t = q.targets
        e = q.economics
        shared = Shared(
            owned=q.owned, available=q.available, providers=q.providers, region=q.region, pricing=q.pricing,
            budget=q.budget, max_gpus=q.max_gpus, max_power=q.max_power_w, redundancy=q.redundancy,
            objective=e.objective, years=e.years, power_price=e.power_usd_per_kwh, pue=e.pue,
            colo_price=e.colo_usd_per_kw_month, headroom=q.headroom,
        )
        workload = Workload(
            name=_stream_name(q.model), model=q.model, load=Load(rate=t.throughput), engine=q.engine,
            input=q.input_tokens, output=q.output_tokens,
            latency=None if t.latency_s is None else (t.latency_statistic, t.latency_s),
            ttft=None if t.ttft_s is None else (t.ttft_statistic, t.ttft_s),
            e2e=None if t.e2e_s is None else (t.e2e_statistic, t.e2e_s),
            max_quality_loss=q.max_quality_loss, gpus=q.gpus, segments=q.segments, precisions=q.precisions,
            kv_precisions=q.kv_precisions, burstiness=q.burstiness, max_batch=q.max_batch,
            rope_scaling=q.rope_scaling, gpus_per_node=q.gpus_per_node, memory_utilization=q.memory_utilization,
        )
        return cls(name=name or workload.name, shared=shared, workloads=(workload,))

    @property
    def fleet_limits(self) -> tuple[str, ...]:
        """The fleet-wide limits set, as the file names them."""
        s = self.shared
        return tuple(k for k, v in (("budget", s.budget), ("max_gpus", s.max_gpus), ("max_power", s.max_power))
                     if v is not None)


def _stream_name(model: str) -> str:
    """A workload name from a model name (a parameter count such as 13B is one too)."""
    text = re.sub(r"[^A-Za-z0-9 ._-]", "-", model.strip())[:MAX_NAME_CHARS].lstrip(" ._-")
    return text or "workload"


# A question's field, as a scenario's workload spells it (for errors that
# `fit` raises on a stream's question).
WORKLOAD_KEYS = {
    "input_tokens": "input", "output_tokens": "output", "targets.latency_s": "latency", "targets.ttft_s": "ttft",
    "targets.e2e_s": "e2e", "targets.throughput": "load", "targets.latency_statistic": "latency",
    "targets.ttft_statistic": "ttft", "targets.e2e_statistic": "e2e", "gpus": "gpus", "precisions": "precisions",
    "kv_precisions": "kv_precisions", "engine": "engine", "rope_scaling": "rope_scaling",
    "available": "shared.available", "owned": "shared.owned", "providers": "shared.providers",
    "region": "shared.region", "pricing": "shared.pricing", "economics.objective": "shared.objective", "max_quality_loss": "max_quality_loss",
    "burstiness": "burstiness", "max_batch": "max_batch", "segments": "segments", "gpus_per_node": "gpus_per_node",
    "memory_utilization": "memory_utilization", "model": "model", "headroom": "shared.headroom",
    "redundancy": "shared.redundancy",
}


# --- errors and loading ----------------------------------------------------


def _place(loc: tuple[Any, ...]) -> str:
    """('workloads', 2, 'load', 'profile') as workloads[2].load.profile."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + str(part)
    return text


# a part's name in the file -> its model (for unknown-key hints)
_KEYS: dict[str, type[BaseModel]] = {"": Scenario, "shared": Shared, "workloads": Workload, "load": Load,
                                     "classes": RequestClass}


def _scenario_error(exc: ValidationError, where: str = "") -> InputError:
    """The first problem pydantic found, as one line naming its place."""
    first = exc.errors()[0]
    loc = tuple(p for p in first["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    ctx = first.get("ctx") or {}
    place = _place(loc)
    if where and not place.startswith(where):
        place = where + ("." + place if place and not place.startswith("[") else place)
    at = ctx.get("at") if first["type"] == "scenario" else ""
    if at:
        place = place + ("" if not place or at.startswith("[") else ".") + at if place else at
    hint = ctx.get("hint") or None if first["type"] == "scenario" else None
    if first["type"] == "scenario":
        message = str(ctx.get("message"))
    elif first["type"] == "extra_forbidden":
        parent = next((p for p in reversed(loc[:-1]) if isinstance(p, str)), where or "")
        model = _KEYS.get(parent, Scenario)
        message = "unknown key"
        hint = f"expected any of {', '.join(k for k in model.model_fields if k != 'path')}"
    elif first["type"] == "missing":
        message = "is required"
    else:
        message = first["msg"][0].lower() + first["msg"][1:]
        if "input" in first:
            shown = repr(first["input"])
            message += f", got {shown if len(shown) <= 40 else shown[:37] + '...'}"
    text = f"{place}: {message}" if place else message
    return InputError(text, hint=hint, field=place or None)


def load_scenario(path: str | Path) -> Scenario:
    """A scenario file, validated (module note). Raises InputError naming
    the first problem and where it is."""
    path = Path(path)
    data = read_mapping_file(path, "scenario", shape="holds name, shared and workloads")
    if "path" in data:
        raise InputError(f"{path}: path: unknown key", hint="expected any of name, shared, workloads", field="path")
    data = {"name": _stream_name(path.stem), **data} if "name" not in data else data
    context = {"base_dir": str(path.parent)}
    token = _CONTEXT.set(context)
    try:
        scenario = Scenario.model_validate(data, context=context)
    except ValidationError as exc:
        error = _scenario_error(exc)
        raise InputError(f"{path}: {error.message}", hint=error.hint, field=error.field) from None
    finally:
        _CONTEXT.reset(token)
    return scenario.model_copy(update={"path": str(path)})
