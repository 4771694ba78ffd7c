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
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from planner.core.errors import InputError

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
