"""planner.plan.candidates: each shape is scored or rejected, and says which."""

from __future__ import annotations

import dataclasses

import pytest

from planner.model.resolve import resolve_spec
from planner.model.workload import Shape
from planner.plan.candidates import (
    Constraint,
    DeploymentShape,
    RejectedShape,
    ScoredShape,
    Targets,
    evaluate,
)


def _evaluate(catalog, model, gpu, targets, *, precision="bf16", tp=1, pp=1):
    shape = DeploymentShape(catalog.gpu(gpu), catalog.precision(precision), catalog.precision("fp16"), tp, pp)
    return evaluate(resolve_spec(catalog, model), Shape(512, 256), targets, shape, catalog.engine("vllm"))


def test_a_shape_that_works_is_scored_at_its_largest_batch(catalog):
    c = _evaluate(catalog, "llama-3.1-8b", "h100-sxm", Targets(latency_s=0.05))
    assert isinstance(c, ScoredShape)
    assert c.batch >= 1 and c.prediction.tpot_s <= 0.05 and c.memory.fits
    assert c.key == "h100-sxm tp1 pp1 bf16 kv=fp16" and c.gpus == 1


def test_a_model_too_big_for_the_gpu_is_rejected_on_memory(catalog):
    c = _evaluate(catalog, "llama-3.1-70b", "l4", Targets())
    assert isinstance(c, RejectedShape)
    assert c.constraint is Constraint.MEMORY and c.batch_one_timing is None
    assert c.reason.startswith("weights ")


def test_a_latency_miss_keeps_the_batch_one_timing(catalog):
    c = _evaluate(catalog, "llama-3.1-8b", "l4", Targets(latency_s=0.001))
    assert isinstance(c, RejectedShape)
    assert c.constraint is Constraint.LATENCY and c.reason.endswith("even at batch 1")
    assert c.batch_one_timing is not None and c.batch_one_timing.tpot_s > 0.001


def test_a_shape_that_cannot_run_is_rejected_as_not_runnable(catalog):
    c = _evaluate(catalog, "llama-3.1-8b", "h100-sxm", Targets(), tp=3)
    assert isinstance(c, RejectedShape) and c.constraint is Constraint.RUNNABLE


def test_results_are_frozen(catalog):
    c = _evaluate(catalog, "llama-3.1-8b", "h100-sxm", Targets(latency_s=0.05))
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.batch = 1  # type: ignore[misc]
