"""What is asked: the model, how it is deployed, and the request shape."""

from __future__ import annotations

from dataclasses import dataclass

from planner.catalog.schema import Engine, Gpu, Model, Precision


@dataclass(frozen=True)
class Deployment:
    """One replica's hardware and numerics.

    ``tp`` x ``pp`` GPUs make one replica; ``batch`` is the number of
    sequences that replica serves concurrently.
    """

    gpu: Gpu
    precision: Precision  # weights
    kv_precision: Precision  # KV cache
    engine: Engine
    tp: int = 1
    pp: int = 1
    batch: int = 1
    memory_utilization: float | None = None  # None: the engine's default

    @property
    def gpus(self) -> int:
        return self.tp * self.pp

    @property
    def utilization(self) -> float:
        return self.memory_utilization if self.memory_utilization is not None else self.engine.memory_utilization


@dataclass(frozen=True)
class Shape:
    """Request shape: ``input`` prompt tokens and ``output`` generated tokens per sequence."""

    input: int
    output: int

    @property
    def context(self) -> int:
        """Tokens held in the KV cache at the end of a request."""
        return self.input + self.output


@dataclass(frozen=True)
class ModelSpec:
    """An architecture to predict with, and whether it was derived from a bare count."""

    model: Model
    approximate: bool
    label: str
