"""Request lengths: how many prompt (input) and generated (output) tokens
each simulated request has.

Fixed counts, a named distribution with its parameters, or samples from a
file of (input, output) pairs. Every draw takes the caller's seeded
``random.Random``; nothing here holds state between calls.
"""

from __future__ import annotations

import csv
import io
import json
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist

from planner.core.errors import InputError

# Policy bounds, not facts: a length file is read whole into memory, so it is
# refused above these sizes rather than exhausting it.
MAX_LENGTH_FILE_BYTES = 64 * 10**6  # 64 MB
MAX_LENGTH_ROWS = 1_000_000
MAX_TOKENS = 10_000_000  # tokens in one prompt or one output (larger is a typo)

Z99 = NormalDist().inv_cdf(0.99)  # 2.3263...: the standard normal's 99th percentile


@dataclass(frozen=True)
class Fixed:
    """Every request has ``tokens`` tokens."""

    tokens: int

    def __post_init__(self) -> None:
        _check_count("tokens", self.tokens)

    def sample(self, rng: random.Random) -> int:
        return self.tokens

    @property
    def mean(self) -> float:
        return float(self.tokens)


@dataclass(frozen=True)
class Uniform:
    """Whole numbers from ``low`` to ``high``, both included, equally likely."""

    low: int
    high: int

    def __post_init__(self) -> None:
        _check_count("low", self.low)
        _check_count("high", self.high)
        if self.high < self.low:
            raise InputError(f"uniform lengths: high {self.high} is below low {self.low}", hint="give low <= high")

    def sample(self, rng: random.Random) -> int:
        return rng.randint(self.low, self.high)

    @property
    def mean(self) -> float:
        return (self.low + self.high) / 2


@dataclass(frozen=True)
class Lognormal:
    """Lengths whose logarithm is normal, given by their mean and 99th percentile.

    For X = exp(mu + sigma Z), Z standard normal:
        mean = exp(mu + sigma^2 / 2),  p99 = exp(mu + z sigma),  z = 2.3263
    Subtracting the logarithms, sigma^2 / 2 - z sigma + ln(p99 / mean) = 0, so
        sigma = z - sqrt(z^2 - 2 ln(p99 / mean)),  mu = ln(mean) - sigma^2 / 2
    (the smaller root: the larger one matches the same two figures with a far
    heavier tail). A real root needs mean < p99 <= mean x exp(z^2 / 2)
    (about 15 x the mean). Draws are rounded to whole tokens, at least 1, at
    most ``most`` when given (a context window, say).
    """

    mean_tokens: float
    p99_tokens: float
    most: int | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.mean_tokens) and math.isfinite(self.p99_tokens)) or self.mean_tokens < 1:
            raise InputError(f"lognormal lengths: mean {self.mean_tokens} must be a finite number of at least 1 token")
        if self.p99_tokens <= self.mean_tokens:
            raise InputError(f"lognormal lengths: p99 {self.p99_tokens:g} must exceed the mean {self.mean_tokens:g}",
                             hint="use fixed lengths for requests that all have the same length")
        if math.log(self.p99_tokens / self.mean_tokens) > Z99 * Z99 / 2:
            raise InputError(f"lognormal lengths: p99 {self.p99_tokens:g} is more than {math.exp(Z99 * Z99 / 2):.1f} x "
                             f"the mean {self.mean_tokens:g}, which no lognormal has",
                             hint="lower the p99 or raise the mean")
        if self.most is not None:
            _check_count("most", self.most)

    @property
    def sigma(self) -> float:
        return Z99 - math.sqrt(Z99 * Z99 - 2 * math.log(self.p99_tokens / self.mean_tokens))

    @property
    def mu(self) -> float:
        return math.log(self.mean_tokens) - self.sigma**2 / 2

    def sample(self, rng: random.Random) -> int:
        tokens = max(1, round(rng.lognormvariate(self.mu, self.sigma)))
        return tokens if self.most is None else min(tokens, self.most)

    @property
    def mean(self) -> float:
        return self.mean_tokens


Distribution = Fixed | Uniform | Lognormal


@dataclass(frozen=True)
class Lengths:
    """Input and output lengths drawn independently."""

    input: Distribution
    output: Distribution

    def sample(self, rng: random.Random) -> tuple[int, int]:
        return self.input.sample(rng), self.output.sample(rng)


@dataclass(frozen=True)
class Samples:
    """(input, output) pairs measured elsewhere, drawn uniformly with
    replacement (as benchmark clients sample a dataset)."""

    pairs: tuple[tuple[int, int], ...]
    origin: str = "samples"

    def __post_init__(self) -> None:
        if not self.pairs:
            raise InputError(f"{self.origin}: no (input, output) pairs", hint="give at least one row")

    def sample(self, rng: random.Random) -> tuple[int, int]:
        return self.pairs[rng.randrange(len(self.pairs))]


LengthSource = Lengths | Samples


def fixed(input_tokens: int, output_tokens: int) -> Lengths:
    return Lengths(Fixed(input_tokens), Fixed(output_tokens))


def _check_count(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_TOKENS:
        raise InputError(f"{name} {value!r} must be a whole number of tokens between 1 and {MAX_TOKENS:,}")


# --- files ----------------------------------------------------------------------


def read_lengths(path: str | Path) -> Samples:
    """(input, output) pairs from a CSV file with a header naming ``input``
    and ``output`` columns, or a JSONL file (``.jsonl``) of objects with
    those keys. Every problem is one InputError naming the file, the line
    and the fix."""
    path = Path(path)
    name = path.name
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InputError(f"cannot read length file '{path}': {exc.strerror or exc}", hint="check the path") from None
    if size > MAX_LENGTH_FILE_BYTES:
        raise InputError(f"length file '{name}' is {size / 1e6:.0f} MB, over the {MAX_LENGTH_FILE_BYTES / 1e6:.0f} MB limit",
                         hint="sample it down to fewer rows")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise InputError(f"cannot read length file '{path}': {exc.strerror or exc}", hint="check the path") from None
    except UnicodeDecodeError:
        raise InputError(f"length file '{name}' is not UTF-8 text", hint="save it as UTF-8 CSV or JSONL") from None
    rows = _jsonl_rows(text, name) if path.suffix.lower() in (".jsonl", ".ndjson") else _csv_rows(text, name)
    return Samples(tuple(rows), origin=name)


def _csv_rows(text: str, name: str) -> list[tuple[int, int]]:
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise InputError(f"length file '{name}' is empty", hint="give a header line 'input,output' and one row per request") from None
    except csv.Error as exc:
        raise InputError(f"length file '{name}', line 1: {exc}", hint="save it as CSV") from None
    columns = [h.strip().lower() for h in header]
    missing = [c for c in ("input", "output") if c not in columns]
    if missing:
        raise InputError(f"length file '{name}' has no '{missing[0]}' column (header: {','.join(header)[:80]})",
                         hint="name the columns 'input' and 'output' in the first line")
    at_in, at_out = columns.index("input"), columns.index("output")
    rows: list[tuple[int, int]] = []
    try:
        for line_no, row in enumerate(reader, start=2):
            if not row or all(not cell.strip() for cell in row):
                continue
            if len(row) <= max(at_in, at_out):
                raise InputError(f"length file '{name}', line {line_no}: {len(row)} fields, the header has {len(columns)}",
                                 hint="give every row an input and an output count")
            rows.append((_count(row[at_in], name, line_no, "input"), _count(row[at_out], name, line_no, "output")))
            _check_rows(rows, name)
    except csv.Error as exc:
        raise InputError(f"length file '{name}', line {reader.line_num}: {exc}", hint="save it as CSV") from None
    if not rows:
        raise InputError(f"length file '{name}' has a header but no rows", hint="give one row per request")
    return rows


def _jsonl_rows(text: str, name: str) -> list[tuple[int, int]]:
    rows: list[tuple[int, int]] = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except (json.JSONDecodeError, RecursionError) as exc:
            reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
            raise InputError(f"length file '{name}', line {line_no}: not JSON ({reason})",
                             hint='write one object per line, e.g. {"input": 512, "output": 128}') from None
        if not isinstance(item, dict):
            raise InputError(f"length file '{name}', line {line_no}: a JSON {type(item).__name__}, not an object",
                             hint='write one object per line, e.g. {"input": 512, "output": 128}')
        for key in ("input", "output"):
            if key not in item:
                raise InputError(f"length file '{name}', line {line_no}: no '{key}' key",
                                 hint="give every object 'input' and 'output' token counts")
        rows.append((_count(item["input"], name, line_no, "input"), _count(item["output"], name, line_no, "output")))
        _check_rows(rows, name)
    if not rows:
        raise InputError(f"length file '{name}' is empty", hint='write one object per line, e.g. {"input": 512, "output": 128}')
    return rows


def _check_rows(rows: Sequence[object], name: str) -> None:
    if len(rows) > MAX_LENGTH_ROWS:
        raise InputError(f"length file '{name}' has more than {MAX_LENGTH_ROWS:,} rows", hint="sample it down")


def _count(value: object, name: str, line_no: int, column: str) -> int:
    """A token count from a CSV cell (text) or a JSON value (int; a float
    only when whole, as JSON writers emit 512.0)."""
    where = f"length file '{name}', line {line_no}"
    number: int | None = None
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("+-").isdigit() and text.isascii():
            number = int(text)
    elif isinstance(value, bool):
        number = None
    elif isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    if number is None:
        shown = value if isinstance(value, str) else json.dumps(value)
        raise InputError(f"{where}: {column} {str(shown)[:40]!r} is not a whole number", hint="give token counts as integers")
    if number < 0:
        raise InputError(f"{where}: {column} {number} is negative", hint="token counts are at least 1")
    if number == 0:
        raise InputError(f"{where}: {column} is 0", hint="token counts are at least 1 (drop requests with an empty prompt or output)")
    if number > MAX_TOKENS:
        raise InputError(f"{where}: {column} {number:,} is over {MAX_TOKENS:,} tokens", hint="check the column")
    return number


# --- text ---------------------------------------------------------------------------

_FORMS = "a count (512), 'uniform:low=100,high=2000' or 'lognormal:mean=1024,p99=4096[,max=8192]'"


def parse_distribution(text: str) -> Distribution:
    """A length distribution from text, as a flag would give it: a whole
    count, or a name and its parameters (``_FORMS``)."""
    raw = text.strip()
    if raw.isdigit() and raw.isascii():
        return Fixed(int(raw))
    name, sep, rest = raw.partition(":")
    name = name.strip().lower()
    if not sep or name not in ("uniform", "lognormal", "fixed"):
        raise InputError(f"length distribution {raw[:60]!r} is not understood", hint=f"give {_FORMS}")
    params: dict[str, float] = {}
    for part in rest.split(","):
        key, eq, value = part.partition("=")
        key = key.strip().lower()
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not eq or not key or not math.isfinite(number):
            raise InputError(f"length distribution {raw[:60]!r}: '{part.strip()[:30]}' is not name=number", hint=f"give {_FORMS}")
        if key in params:
            raise InputError(f"length distribution {raw[:60]!r} gives '{key}' twice")
        params[key] = number
    wanted = {"fixed": ({"tokens"}, set()), "uniform": ({"low", "high"}, set()),
              "lognormal": ({"mean", "p99"}, {"max"})}[name]
    missing = sorted(wanted[0] - set(params))
    unknown = sorted(set(params) - wanted[0] - wanted[1])
    if missing or unknown:
        problem = f"needs {', '.join(missing)}" if missing else f"has no parameter {', '.join(unknown)}"
        raise InputError(f"length distribution {raw[:60]!r}: {name} {problem}", hint=f"give {_FORMS}")

    def whole(key: str) -> int:
        value = params[key]
        if not value.is_integer():
            raise InputError(f"length distribution {raw[:60]!r}: {key} {value:g} is not a whole number of tokens")
        return int(value)

    if name == "fixed":
        return Fixed(whole("tokens"))
    if name == "uniform":
        return Uniform(whole("low"), whole("high"))
    return Lognormal(params["mean"], params["p99"], most=whole("max") if "max" in params else None)
