"""`planner predict`'s load and length options, parsed at the edge: each
bad value is one InputError naming its flag and the forms it takes."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Optional

from planner.core.errors import InputError
from planner.core.units import parse_count
from planner.model.lengths import Distribution, Fixed, LengthSource, Lengths, parse_distribution, read_lengths
from planner.model.traffic import LoadForm, parse_load

DEFAULT_INPUT_TOKENS = 512
DEFAULT_OUTPUT_TOKENS = 256
# A policy bound, not a fact: 10,000 requests take about 0.2 s, so a million about 20 s.
MAX_SIMULATED_REQUESTS = 1_000_000
MAX_SEED = 2**63 - 1


def _length(text: str, flag: str, what: str) -> Distribution:
    """A count ("512", "2k") or a distribution ("lognormal:mean=1024,p99=4096")."""
    if ":" not in text:
        return Fixed(parse_count(text, what))
    try:
        return parse_distribution(text)
    except InputError as exc:
        raise InputError(f"{flag}: {exc.message}", hint=exc.hint) from None


def lengths_option(input_text: Optional[str], output_text: Optional[str], file: Optional[Path]) -> tuple[int, int, LengthSource | None]:
    """(input tokens, output tokens, lengths): the counts when both are plain
    counts (lengths None, predict as ever); else the distribution or the file's
    samples, whose means predict uses for its static figures."""
    if file is not None:
        given = [flag for flag, text in (("--input", input_text), ("--output", output_text)) if text is not None]
        if given:
            raise InputError(f"--lengths and {' and '.join(given)} both give lengths",
                             hint=f"leave {' and '.join(given)} out: the file gives both")
        samples = read_lengths(file)
        return DEFAULT_INPUT_TOKENS, DEFAULT_OUTPUT_TOKENS, samples
    source_in = _length(input_text if input_text is not None else str(DEFAULT_INPUT_TOKENS), "--input", "input length")
    source_out = _length(output_text if output_text is not None else str(DEFAULT_OUTPUT_TOKENS), "--output", "output length")
    if isinstance(source_in, Fixed) and isinstance(source_out, Fixed):
        return source_in.tokens, source_out.tokens, None
    return DEFAULT_INPUT_TOKENS, DEFAULT_OUTPUT_TOKENS, Lengths(source_in, source_out)


def load_option(load: Optional[str], burstiness: Optional[str]) -> LoadForm | None:
    if load is None:
        if burstiness is not None:
            raise InputError("--burstiness needs an open-loop load", hint="add --load rate:N/s, or leave --burstiness out")
        return None
    cv = None
    if burstiness is not None:
        try:
            cv = float(burstiness.strip())
        except ValueError:
            cv = math.nan
        if not math.isfinite(cv) or not 0 < cv <= 100:
            raise InputError(f"--burstiness '{burstiness[:30]}' must be a number above 0 and at most 100",
                             hint="1 is Poisson arrivals, 2 burstier, 0.5 smoother")
    return parse_load(load, cv)


def requests_option(text: Optional[str]) -> int | None:
    if text is None:
        return None
    return parse_count(text, "--requests", maximum=MAX_SIMULATED_REQUESTS)


def seed_option(text: str) -> int:
    raw = text.strip()
    if not (raw.isascii() and raw.isdigit()) or int(raw) > MAX_SEED:
        raise InputError(f"--seed '{text[:30]}' is not a whole number from 0 to 2^63 - 1", hint="give --seed 0, say")
    return int(raw)
