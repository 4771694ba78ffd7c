"""Load on one replica, as users and benchmark clients describe it.

* ``Burst(B)``: B requests at time 0 (a static batch, as offline throughput
  benchmarks send them).
* ``Closed(C)``: a client keeps C requests in flight; each completion sends
  the next at once (no think time), as ``--max-concurrency`` clients do.
* ``Open(rate, cv)``: arrivals at ``rate`` requests/s with independent
  inter-arrival times. cv = 1 is a Poisson process (exponential gaps);
  other cv draw gamma gaps with shape k = 1/cv^2 and mean 1/rate, whose
  coefficient of variation is 1/sqrt(k) = cv (cv > 1 is burstier than
  Poisson, cv < 1 smoother), as vLLM's benchmark ``--burstiness`` does
  with burstiness = k.

``parse_load`` reads the forms a command line gives (``burst:16``,
``concurrency:64``, ``rate:5/s``) into a ``LoadForm``: the load's shape
without its request count, which the caller chooses (``LoadForm.load``).
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass
from typing import Literal

from planner.core.errors import InputError, alternatives, closest

MAX_REQUESTS = 10_000_000  # requests one simulation may be asked for (a bound, not a fact)


@dataclass(frozen=True)
class Burst:
    requests: int

    def __post_init__(self) -> None:
        _check_requests(self.requests)


@dataclass(frozen=True)
class Closed:
    concurrency: int
    requests: int
    # seconds between the client's first ``concurrency`` requests (a ramp-up);
    # 0 sends them at once. With equal lengths, clients started together stay
    # in lockstep (they finish in the same step and resend together).
    stagger_s: float = 0.0

    def __post_init__(self) -> None:
        _check_requests(self.requests)
        if not (isinstance(self.stagger_s, (int, float)) and math.isfinite(self.stagger_s) and 0 <= self.stagger_s <= 3600):
            raise InputError(f"stagger {self.stagger_s!r} must be between 0 and 3,600 s")
        if isinstance(self.concurrency, bool) or not isinstance(self.concurrency, int) or not 1 <= self.concurrency <= MAX_REQUESTS:
            raise InputError(f"concurrency {self.concurrency!r} must be a whole number of at least 1")


@dataclass(frozen=True)
class Open:
    rate: float  # requests/s
    requests: int
    cv: float = 1.0  # coefficient of variation of the gaps; 1 = Poisson

    def __post_init__(self) -> None:
        _check_requests(self.requests)
        if not (isinstance(self.rate, (int, float)) and math.isfinite(self.rate) and self.rate > 0):
            raise InputError(f"arrival rate {self.rate!r} must be a positive number of requests/s")
        if not (isinstance(self.cv, (int, float)) and math.isfinite(self.cv) and 0 < self.cv <= 100):
            raise InputError(f"burstiness cv {self.cv!r} must be above 0 and at most 100", hint="cv 1 is Poisson")

    def arrivals(self, rng: random.Random) -> list[float]:
        """Arrival times in seconds, the first after one gap."""
        shape = 1 / (self.cv * self.cv)
        scale = 1 / (self.rate * shape)  # gamma mean = shape x scale = 1 / rate
        t = 0.0
        times = []
        for _ in range(self.requests):
            t += rng.expovariate(self.rate) if self.cv == 1 else rng.gammavariate(shape, scale)
            times.append(t)
        return times


Load = Burst | Closed | Open


def _check_requests(requests: object) -> None:
    if isinstance(requests, bool) or not isinstance(requests, int) or not 1 <= requests <= MAX_REQUESTS:
        raise InputError(f"requests {requests!r} must be a whole number between 1 and {MAX_REQUESTS:,}")


# --- text: the load forms a command line gives ----------------------------------------

LoadKind = Literal["burst", "concurrency", "rate"]
LOAD_FORMS = "burst:16 (16 requests at once), concurrency:64 (64 clients) or rate:5/s (5 requests/s; also /min, /h)"
# Policy bounds, not facts: larger is surely a typo, and would take minutes to simulate.
MAX_CLIENTS = 100_000  # requests in one burst, or clients of a closed loop
MAX_RATE_PER_S = 1_000_000.0  # arrivals per second
MIN_RATE_PER_S = 1e-6  # under one request in 11 days
_PER_SECONDS = {"s": 1.0, "sec": 1.0, "second": 1.0, "min": 60.0, "minute": 60.0, "h": 3600.0, "hour": 3600.0}
_NUMBER = r"[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?|\.[0-9]+(?:[eE][+-]?[0-9]+)?"


@dataclass(frozen=True)
class LoadForm:
    """A load as the user names it, without a request count: ``size`` is the
    burst's requests or the closed loop's clients; ``rate`` the open loop's
    arrivals per second; ``cv`` the open loop's burstiness (1 = Poisson)."""

    kind: LoadKind
    size: int | None = None
    rate: float | None = None  # requests/s
    cv: float = 1.0
    text: str = ""  # as typed, for reports

    def __post_init__(self) -> None:
        if self.kind == "rate":
            if self.rate is None or not (math.isfinite(self.rate) and MIN_RATE_PER_S <= self.rate <= MAX_RATE_PER_S):
                raise InputError(f"load rate {self.rate!r} requests/s must be from {MIN_RATE_PER_S:g} to "
                                 f"{MAX_RATE_PER_S:,.0f}",
                                 hint=f"give {LOAD_FORMS}")
            if not (math.isfinite(self.cv) and 0 < self.cv <= 100):
                raise InputError(f"burstiness {self.cv!r} must be above 0 and at most 100",
                                 hint="1 is Poisson arrivals, above 1 burstier, below 1 smoother")
        else:
            if self.size is None or isinstance(self.size, bool) or not 1 <= self.size <= MAX_CLIENTS:
                raise InputError(f"load {self.kind}:{self.size!r} must be a whole number from 1 to {MAX_CLIENTS:,}",
                                 hint=f"give {LOAD_FORMS}")
            if self.cv != 1.0:
                raise InputError(f"burstiness applies to an open-loop rate, not to {self.kind}:{self.size}",
                                 hint="leave --burstiness out, or give --load rate:N/s")

    def default_requests(self) -> int:
        """Requests to simulate when the user names none: a burst is its own
        size; a closed loop sends 20 per client (so the summary window spans
        many request lifetimes), at least 2,000 and at most DEFAULT_MAX_REQUESTS;
        an open loop 2,000 arrivals."""
        if self.kind == "burst":
            assert self.size is not None
            return self.size
        if self.kind == "concurrency":
            assert self.size is not None
            return min(max(DEFAULT_MIN_REQUESTS, 20 * self.size), DEFAULT_MAX_REQUESTS)
        return DEFAULT_MIN_REQUESTS

    def default_rule(self) -> str:
        """``default_requests`` in words."""
        if self.kind == "burst":
            return "a burst is its own size"
        if self.kind == "concurrency":
            return (f"the default for a closed loop: 20 per client, at least {DEFAULT_MIN_REQUESTS:,}, "
                    f"at most {DEFAULT_MAX_REQUESTS:,}")
        return f"the default for a rate: {DEFAULT_MIN_REQUESTS:,} arrivals"

    def load(self, requests: int | None = None) -> Load:
        """The load with ``requests`` requests (default ``default_requests``)."""
        n = self.default_requests() if requests is None else requests
        if self.kind == "burst":
            if n != self.size:
                raise InputError(f"burst:{self.size} is {self.size} requests; --requests {n} does not apply",
                                 hint="leave --requests out, or give --load burst:N with the requests you want")
            return Burst(n)
        if self.kind == "concurrency":
            assert self.size is not None
            return Closed(self.size, n)
        assert self.rate is not None
        return Open(self.rate, n, cv=self.cv)

    def describe(self) -> str:
        """The load in words: "a burst of 16 requests at once"."""
        if self.kind == "burst":
            return f"a burst of {self.size:,} requests at once"
        if self.kind == "concurrency":
            return f"{self.size:,} clients in a closed loop, each sending its next request when one finishes"
        if self.cv == 1:
            return f"open-loop Poisson arrivals at {self.rate:,.6g} requests/s"
        return f"open-loop arrivals at {self.rate:,.6g} requests/s, gamma gaps of burstiness cv {self.cv:g}"


DEFAULT_MIN_REQUESTS = 2_000
DEFAULT_MAX_REQUESTS = 50_000  # about one second of simulation


def parse_load(text: str, burstiness: float | None = None) -> LoadForm:
    """``burst:B``, ``concurrency:C`` or ``rate:R`` (``R``, ``R/s``,
    ``R/min``, ``R/h``; requests per unit time). ``burstiness`` is the open
    loop's gap coefficient of variation, refused for the other forms."""
    raw = text.strip()
    name, sep, value = raw.partition(":")
    name, value = name.strip().lower(), value.strip()
    kinds: dict[str, LoadKind] = {"burst": "burst", "concurrency": "concurrency", "rate": "rate"}
    if name not in kinds:
        near = closest(name, {k: k for k in kinds}, limit=1)
        guess = f"did you mean {alternatives([n + ':' + (value or 'N') for n in near])}? " if near else ""
        what = f"load {raw[:40]!r}" + (" names no load form" if sep else " is not form:number")
        raise InputError(f"{what}", hint=f"{guess}give {LOAD_FORMS}")
    kind = kinds[name]
    if value.startswith("-"):
        raise InputError(f"load {raw[:40]!r}: the {'rate' if kind == 'rate' else 'number'} must be above 0",
                         hint=f"give {LOAD_FORMS}")
    if not value:
        raise InputError(f"load {raw[:40]!r} gives no number", hint=f"give {LOAD_FORMS}")
    if kind == "rate":
        m = re.fullmatch(rf"(?P<n>{_NUMBER})\s*(?:(?:req|requests?|rps)?\s*/\s*(?P<per>[a-z]+))?", value.lower())
        if m is None or (m.group("per") is not None and m.group("per") not in _PER_SECONDS):
            raise InputError(f"load {raw[:40]!r}: '{value[:30]}' is not a rate", hint="give rate:5, rate:5/s, rate:300/min or rate:2000/h")
        per = _PER_SECONDS[m.group("per") or "s"]
        rate = float(m.group("n")) / per
        if not rate > 0:
            raise InputError(f"load {raw[:40]!r}: the rate must be above 0", hint="give rate:5/s, say")
        if not MIN_RATE_PER_S <= rate <= MAX_RATE_PER_S:
            raise InputError(f"load {raw[:40]!r}: {rate:.3g} requests/s is outside {MIN_RATE_PER_S:g} to "
                             f"{MAX_RATE_PER_S:,.0f}", hint="check the number and its unit (/s, /min, /h)")
        return LoadForm("rate", rate=rate, cv=1.0 if burstiness is None else burstiness, text=raw)
    if not (value.isascii() and value.isdigit()):
        raise InputError(f"load {raw[:40]!r}: '{value[:30]}' is not a whole number of "
                         f"{'requests' if kind == 'burst' else 'clients'}", hint=f"give {LOAD_FORMS}")
    if burstiness is not None:
        raise InputError(f"--burstiness applies to an open-loop rate, not to {kind}:{value}",
                         hint="leave --burstiness out, or give --load rate:N/s")
    size = int(value)
    if not 1 <= size <= MAX_CLIENTS:
        raise InputError(f"load {raw[:40]!r}: {size:,} must be from 1 to {MAX_CLIENTS:,}", hint=f"give {LOAD_FORMS}")
    return LoadForm(kind, size=size, text=raw)
