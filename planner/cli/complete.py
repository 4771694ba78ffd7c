"""Shell completion of catalog ids and fixed choices (`planner --install-completion`).

Each function takes what the user has typed of one value and returns the
values that could follow. Options that take comma-separated lists complete
the item after the last comma, keeping what comes before it.

The built-in catalog is the source: a `--catalog` overlay is not read while
completing, since the shell asks before the command line is whole.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from planner.catalog.load import Catalog, load_catalog
from planner.catalog.schema import PricingModel
from planner.plan.question import SEGMENTS, Objective

PRICINGS = tuple(p.value for p in PricingModel)
OBJECTIVES = tuple(o.value for o in Objective)
# The formats and sections the commands accept (their checks are in app.py).
FIT_FORMATS = ("table", "json", "csv", "markdown", "html")
FORMATS = ("table", "json")
CSV_KINDS = ("bom", "candidates")
LOAD_FORMS = ("burst:", "concurrency:", "rate:")  # predict --load; the number follows
LENGTH_FORMS = ("uniform:low=", "lognormal:mean=")  # predict --input/--output distributions
SECTIONS = ("gpus", "precisions", "models", "engines", "support", "providers", "instances", "servers")


def _matching(candidates: Iterable[str], incomplete: str, *, listed: bool = False) -> list[str]:
    """The candidates that start with what is typed; with ``listed``, of its last
    comma-separated item, leaving out the items already listed before it."""
    head, item, chosen = "", incomplete, set()
    if listed and "," in incomplete:
        done, _, item = incomplete.rpartition(",")
        head, chosen = done + ",", set(done.split(","))
    return [head + value for value in dict.fromkeys(candidates) if value.startswith(item) and value not in chosen]


def _from_catalog(ids: Callable[[Catalog], Iterable[str]], *, listed: bool = False) -> Callable[[str], list[str]]:
    def complete(incomplete: str) -> list[str]:
        try:
            return _matching(ids(load_catalog()), incomplete, listed=listed)
        except Exception:  # noqa: BLE001 - a completion prints nothing rather than an error into the prompt
            return []

    return complete


def _fixed(choices: tuple[str, ...], *, listed: bool = False) -> Callable[[str], list[str]]:
    def complete(incomplete: str) -> list[str]:
        return _matching(choices, incomplete, listed=listed)

    return complete


models = _from_catalog(lambda cat: cat.models)
gpu = _from_catalog(lambda cat: cat.gpus)
gpus = _from_catalog(lambda cat: cat.gpus, listed=True)
precision = _from_catalog(lambda cat: cat.precisions)
precisions = _from_catalog(lambda cat: cat.precisions, listed=True)
kv_precision = _from_catalog(lambda cat: (key for key, p in cat.precisions.items() if p.kv_cache))
kv_precisions = _from_catalog(lambda cat: (key for key, p in cat.precisions.items() if p.kv_cache), listed=True)
engine = _from_catalog(lambda cat: cat.engines)
providers = _from_catalog(lambda cat: cat.providers, listed=True)
entry = _from_catalog(lambda cat: [*cat.gpus, *cat.precisions, *cat.models])
pricing = _fixed(PRICINGS)
objective = _fixed(OBJECTIVES)
segments = _fixed(SEGMENTS, listed=True)
fit_format = _fixed(FIT_FORMATS)
output_format = _fixed(FORMATS)
csv_kind = _fixed(CSV_KINDS)
section = _fixed(SECTIONS)
load_form = _fixed(LOAD_FORMS)
length_form = _fixed(LENGTH_FORMS)
