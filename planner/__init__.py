"""planner: the cheapest accelerators and quantisation that run a model within a target.

The Python API mirrors the commands:

    from planner import load_catalog, predict, fit, Question, Targets
    catalog = load_catalog()
    plan = fit(catalog, Question("13B", Targets(latency_s=0.1)))
    one = predict(catalog, "llama-2-7b", "a100-sxm-80gb", precision="fp16")

Names are imported on first use, so `planner size` does not pay for the
solver's import.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

# `predict` is bound eagerly: it is the one name every caller uses first.
from planner.model.predict import Prediction, predict  # noqa: E402

_EXPORTS = {
    "load_catalog": "planner.catalog.load",
    "Catalog": "planner.catalog.load",
    "fit": "planner.plan.fit",
    "Question": "planner.plan.question",
    "FitResult": "planner.plan.fit",
    "Targets": "planner.plan.question",
    "Economics": "planner.plan.question",
    "validate": "planner.model.validation",
    "size_table": "planner.model.sizing",
    "PlannerError": "planner.core.errors",
    "support": "planner.catalog.support",
    "Support": "planner.catalog.support",
}

__all__ = ["__version__", "predict", "Prediction", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'planner' has no attribute {name!r}")
    return getattr(import_module(module), name)
