"""What model the user named, through one chain: a catalog id or alias, else
a bare parameter count ("13B"). `size` needs only the counts; `predict`, `fit`
and `validate` need an architecture, derived for a bare count."""

from __future__ import annotations

from dataclasses import dataclass

from planner.catalog.load import Catalog
from planner.catalog.schema import Model
from planner.core.units import parse_params
from planner.catalog.architecture import count_params
from planner.model.derive import derive_architecture
from planner.model.workload import ModelSpec


@dataclass(frozen=True)
class ModelRef:
    """What the user named: a catalog model, or a bare parameter count."""

    label: str
    parameters: int
    active_parameters: int
    matmul_parameters: int | None  # per-token GEMM parameters when the architecture is known
    model: Model | None

    @property
    def exact(self) -> bool:
        return self.model is not None


def resolve_model(catalog: Catalog, text: str) -> ModelRef:
    """A catalog model by id or alias, else a parameter count such as "13B"."""
    found = catalog.lookup("models", text)
    if found is not None:
        counts = count_params(found)
        return ModelRef(found.id, counts.total, counts.active, counts.matmul_active, found)
    parameters = parse_params(text)
    return ModelRef(text.strip(), parameters, parameters, None, None)


def resolve_spec(catalog: Catalog, text: str) -> ModelSpec:
    """An architecture to predict with: the catalog's, or one derived for a bare count."""
    ref = resolve_model(catalog, text)
    if ref.model is not None:
        return ModelSpec(ref.model, approximate=False, label=ref.label)
    return ModelSpec(derive_architecture(catalog, ref.parameters), approximate=True, label=ref.label)
