"""Load, merge and look up the catalog: the built-in YAML plus user overlays.

An overlay file has the same sections as the built-in catalog (``gpus``,
``precisions``, ``models``, ``engines``, ``quality``, ``support``). An entry whose ``id``
already exists is merged field by field onto it (override a price); a new
``id`` adds an entry, which must then be complete. New support rules come
after the built-in ones, so they win where both match (the last matching
rule decides: planner/catalog/support.py). Files are read with a safe loader, a
size limit, and no anchors or aliases (so an alias bomb cannot expand).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import yaml
from pydantic import BaseModel, ValidationError

from planner.core.errors import CatalogError, InputError, alternatives, closest
from planner.catalog.architecture import PUBLISHED_TOLERANCE, published_mismatches
from planner.catalog.schema import (
    SECTIONS,
    Engine,
    Gpu,
    Instance,
    Model,
    Precision,
    Provider,
    QualityMeasurement,
    Server,
    SupportRule,
)
from planner.catalog.support import KV_CACHE, attach_rules

MAX_FILE_BYTES = 2_000_000
MAX_ENTRIES_PER_SECTION = 10_000  # any file, built-in or not: a bound on parsing

# New entries (ids the built-in catalog lacks) that overlays may add, per
# section, all --catalog files together; changing existing entries is not
# limited. Each GPU and precision is a set of candidate deployments that `fit`
# searches, and precisions count twice (weight format x KV-cache format), so
# these bound the search: with every section at its limit (200 GPUs, 20
# precisions, 200 models, 20 engines added, a 0.67 MB file) `planner fit 13B
# --latency 100ms` took 5.2-6.3 s and 169 MB, against 1.3 s for the built-in
# catalog alone (2-core machine, 2026-12; README, "The catalog"). Unbounded, a
# 2 MB overlay of 3,180 GPUs took 67 s and 640 MB, and 200 GPUs with 200
# precisions 219 s. The limits leave room: the built-in catalog has 38 GPUs,
# 15 precisions, 21 models and 7 engines.
# Quality figures do not widen the search (they only decide which formats
# pass --max-quality-loss), so their bound is only one on parsing.
# Support rules likewise only narrow what runs where; their bound is on
# parsing and matching work alone.
MAX_NEW_ENTRIES = {"gpus": 200, "precisions": 20, "models": 200, "engines": 20, "quality": 2000, "support": 1000,
                   "providers": 50, "instances": 2000, "servers": 500}

BUILTIN_FILES = ("gpus.yaml", "precisions.yaml", "models.yaml", "engines.yaml", "engines-fitted.yaml", "quality.yaml",
                 "support.yaml", "prices.yaml")


def builtin_dir() -> Path:
    """The built-in catalog: inside the installed package, or the source tree."""
    package = Path(__file__).resolve().parent.parent  # planner/
    for candidate in (package / "_catalog", package.parent / "catalog"):
        if (candidate / "gpus.yaml").is_file():
            return candidate
    raise CatalogError("the built-in catalog is missing from this installation", hint="reinstall planner")


# YAML 1.2 floats with an exponent and no dot or no exponent sign (6.74e9,
# 7e9), which YAML 1.1 reads as text; the schema is strict, so without this
# a count written the usual way would be refused as a string.
_FLOAT_12 = re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)[eE][-+]?[0-9]+$")


class _StrictMapping:
    """Mappings that refuse a repeated key (a mixin for the loaders below)."""

    def construct_mapping(self, node, deep=False):  # type: ignore[no-untyped-def]
        # A repeated key would silently replace the first (a second `gpus:`
        # drops every GPU above it): refuse it, naming both lines.
        seen: dict[Any, Any] = {}
        for key_node, _value in node.value:
            key = self.construct_object(key_node, deep=True)  # type: ignore[attr-defined]
            try:
                first = seen.get(key)
            except TypeError:
                continue  # an unhashable key: the base class reports it
            if first is not None:
                raise yaml.constructor.ConstructorError(
                    None, None,
                    f"duplicate key '{key}' (first at line {first.start_mark.line + 1}); each key may appear once",
                    key_node.start_mark,
                )
            seen[key] = key_node
        return super().construct_mapping(node, deep=deep)  # type: ignore[misc]


class _NoAliasLoader(_StrictMapping, yaml.SafeLoader):
    """SafeLoader that refuses anchors, aliases and duplicate keys outright,
    reads dates (``as_of: 2025-06-17``) as the text they are, and reads 7e9
    as the number it is."""

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    for _first in "-+.0123456789":
        yaml_implicit_resolvers.setdefault(_first, []).insert(0, ("tag:yaml.org,2002:float", _FLOAT_12))
    del _first

    def compose_node(self, parent, index):  # type: ignore[override]
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.constructor.ConstructorError(
                None, None, "YAML aliases are not allowed in catalog files; write the values out", event.start_mark
            )
        event = self.peek_event()
        if getattr(event, "anchor", None):
            raise yaml.constructor.ConstructorError(
                None, None, "YAML anchors are not allowed in catalog files; write the values out", event.start_mark
            )
        return super().compose_node(parent, index)


# The files shipped with planner are read by libyaml's parser where PyYAML
# has it (a fifth of the time of the pure-Python one, most of a cold start),
# with the same number and date rules and the same refusal of repeated keys.
# Its composer is in C, so the anchor and alias refusal is not applied to
# them: tests/test_catalog_hardening.py reads every built-in file with the
# strict loader too and requires the same data. User files always take the
# strict loader.
if getattr(yaml, "__with_libyaml__", False):
    class _BuiltinLoader(_StrictMapping, yaml.CSafeLoader):  # type: ignore[misc]
        yaml_implicit_resolvers = _NoAliasLoader.yaml_implicit_resolvers
else:  # pragma: no cover - PyYAML without libyaml
    _BuiltinLoader = _NoAliasLoader  # type: ignore[misc,assignment]


def read_yaml(path: Path, *, builtin: bool = False) -> dict[str, Any]:
    """Read one catalog file as a mapping of section -> list of entries
    (``builtin``: a file shipped with planner, see _BuiltinLoader)."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InputError(f"cannot read catalog file '{path}': {exc.strerror or exc}") from None
    if not path.is_file():
        raise InputError(f"catalog file '{path}' is not a regular file")
    if size > MAX_FILE_BYTES:
        raise CatalogError(f"{path}: file is {size:,} bytes, over the {MAX_FILE_BYTES:,}-byte limit for catalog files")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise CatalogError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise InputError(f"cannot read catalog file '{path}': {exc.strerror or exc}") from None
    try:
        data = yaml.load(text, Loader=_BuiltinLoader if builtin else _NoAliasLoader)  # noqa: S506 - safe loaders
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise CatalogError(f"{path}:{where}: not valid YAML: {problem}") from None
    except RecursionError:
        raise CatalogError(f"{path}: nested too deeply to be a catalog file") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise CatalogError(f"{path}: top level must be a mapping with sections {sorted(SECTIONS)}")
    unknown = sorted(str(k) for k in data if k not in SECTIONS)
    if unknown:
        raise CatalogError(f"{path}: unknown section(s) {unknown}; expected any of {sorted(SECTIONS)}")
    for section, entries in data.items():
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise CatalogError(f"{path}: section '{section}' must be a list of entries (mappings)")
        if len(entries) > MAX_ENTRIES_PER_SECTION:
            raise CatalogError(f"{path}: section '{section}' has over {MAX_ENTRIES_PER_SECTION} entries")
    return data


def read_mapping_file(path: Path, what: str, shape: str = "maps GPU ids to counts, e.g. 'h100-sxm: 16'") -> dict[str, Any]:
    """A small YAML file holding one mapping (an inventory, say), read as safely
    as a catalog; ``shape`` says what the mapping holds, for the error."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InputError(f"cannot read {what} file '{path}': {exc.strerror or exc}") from None
    if size > MAX_FILE_BYTES:
        raise InputError(f"{path}: {size:,} bytes is over the {MAX_FILE_BYTES:,}-byte limit")
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_NoAliasLoader)  # noqa: S506 - SafeLoader subclass
    except (yaml.YAMLError, UnicodeDecodeError, RecursionError) as exc:
        raise InputError(f"{path}: not a valid YAML {what} file ({str(exc).splitlines()[0]})") from None
    except OSError as exc:
        raise InputError(f"cannot read {what} file '{path}': {exc.strerror or exc}") from None
    if isinstance(data, dict) and set(data) == {what}:
        data = data[what]
    if not isinstance(data, dict):
        raise InputError(f"{path}: a {what} file {shape}")
    return data


def _deep_merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _describe(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(entry)"


@dataclass
class Catalog:
    """Validated catalog entries, looked up by id or alias."""

    gpus: dict[str, Gpu] = field(default_factory=dict)
    precisions: dict[str, Precision] = field(default_factory=dict)
    models: dict[str, Model] = field(default_factory=dict)
    engines: dict[str, Engine] = field(default_factory=dict)
    quality: dict[str, QualityMeasurement] = field(default_factory=dict)  # published figures per model and format
    support: dict[str, SupportRule] = field(default_factory=dict)  # in catalog order: the last match decides
    providers: dict[str, Provider] = field(default_factory=dict)  # the price book (planner/plan/offers.py)
    instances: dict[str, Instance] = field(default_factory=dict)
    servers: dict[str, Server] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)

    def lookup(self, section: str, key: str) -> Any:
        entries: dict[str, Any] = getattr(self, section)
        wanted = key.strip().lower()
        if wanted in entries:
            return entries[wanted]
        for entry in entries.values():
            if wanted in entry.aliases:
                return entry
        return None

    def suggestions(self, section: str, key: str, limit: int = 3) -> list[str]:
        """Catalog ids close to ``key`` (by id or alias), best first: for "did you mean"."""
        entries: dict[str, Any] = getattr(self, section)
        return closest(key, {name: entry.id for entry in entries.values() for name in (entry.id, *entry.aliases)}, limit)

    def _require(self, section: str, key: str, what: str) -> Any:
        found = self.lookup(section, key)
        if found is None:
            close = self.suggestions(section, key)
            entries = getattr(self, section)
            if close:
                hint = f"did you mean {alternatives(close)}? see `planner catalog list {section}`"
            elif len(entries) <= 20:
                hint = f"known: {', '.join(sorted(entries))}; see `planner catalog list {section}`"
            else:
                hint = f"see `planner catalog list {section}` for the {len(entries)} known"
            raise InputError(f"unknown {what} '{key}'", hint=hint)
        return found

    def gpu(self, key: str) -> Gpu:
        return self._require("gpus", key, "GPU")

    def precision(self, key: str) -> Precision:
        return self._require("precisions", key, "precision")

    def model(self, key: str) -> Model:
        return self._require("models", key, "model")

    def engine(self, key: str) -> Engine:
        return self._require("engines", key, "engine")

    def provider(self, key: str) -> Provider:
        return self._require("providers", key, "provider")

    def find(self, key: str) -> tuple[str, BaseModel] | None:
        for section in SECTIONS:
            found = self.lookup(section, key)
            if found is not None:
                return section, found
        return None


def _merge_files(
    files: Iterable[tuple[str, dict[str, Any]]], builtin: int = 0
) -> tuple[dict[str, dict[str, dict]], dict[tuple[str, str], str]]:
    """Merge raw sections by id; remember which file last touched each entry.
    Files after the first ``builtin`` are overlays, held to MAX_NEW_ENTRIES."""
    merged: dict[str, dict[str, dict]] = {section: {} for section in SECTIONS}
    origin: dict[tuple[str, str], str] = {}
    problems: list[str] = []
    added = {section: 0 for section in SECTIONS}
    for position, (name, data) in enumerate(files):
        for section, entries in data.items():
            for index, entry in enumerate(entries):
                raw_id = entry.get("id")
                if not isinstance(raw_id, str) or not raw_id.strip():
                    problems.append(f"{name}: {section}[{index}]: field 'id': missing or not a string")
                    continue
                key = raw_id.strip().lower()
                if key in merged[section]:
                    merged[section][key] = _deep_merge(merged[section][key], entry)
                else:
                    if position >= builtin:
                        added[section] += 1
                        if added[section] > MAX_NEW_ENTRIES[section]:
                            raise CatalogError(
                                f"{name}: {section}[{index}]: overlays may add at most {MAX_NEW_ENTRIES[section]} new "
                                f"{section} in all (each one widens the search); split the question, or keep only the "
                                f"{section} it needs"
                            )
                    merged[section][key] = copy.deepcopy(entry)
                origin[(section, key)] = name
    if problems:
        raise CatalogError(problems[0], problems)
    return merged, origin


def _validate(merged: dict[str, dict[str, dict]], origin: dict[tuple[str, str], str]) -> Catalog:
    catalog = Catalog()
    problems: list[str] = []
    invalid: set[tuple[str, str]] = set()
    for section, schema in SECTIONS.items():
        for key, raw in merged[section].items():
            try:
                entry = schema.model_validate(raw)
            except ValidationError as exc:
                for err in exc.errors():
                    problems.append(
                        f"{origin[(section, key)]}: {section} '{key}': field '{_describe(err['loc'])}': {err['msg']}"
                    )
                invalid.add((section, key))
                continue
            getattr(catalog, section)[getattr(entry, "id")] = entry  # every section's entries have an id
    problems.extend(_cross_check(catalog, origin, invalid))
    if problems:
        raise CatalogError(f"{len(problems)} problem(s) in the catalog", problems)
    attach_rules(catalog.engines, catalog.support.values())
    return catalog


def _count_check(catalog: Catalog, origin: dict[tuple[str, str], str]) -> list[str]:
    """Each model's architecture works out to its published parameter counts
    (within PUBLISHED_TOLERANCE): otherwise its sizes and times are fiction."""
    problems: list[str] = []
    for model in catalog.models.values():
        for name, computed, published in published_mismatches(model):
            problems.append(
                f"{origin[('models', model.id)]}: models '{model.id}': field '{name}': the architecture works out to "
                f"{computed:.4g} parameters against the published {published:.4g} ({computed / published:.3g}x); "
                f"correct the architecture fields or {name} (allowed: within {PUBLISHED_TOLERANCE:.0%})"
            )
    return problems


def _cross_check(catalog: Catalog, origin: dict[tuple[str, str], str],
                 invalid: set[tuple[str, str]] = frozenset()) -> list[str]:  # type: ignore[assignment]
    """Checks that span entries: aliases unique, engines named by precisions
    exist, architectures match their published parameter counts. A reference
    to an entry already reported ``invalid`` is not reported again."""
    problems: list[str] = _count_check(catalog, origin)
    for section in SECTIONS:
        seen: dict[str, str] = {}
        for entry in getattr(catalog, section).values():
            for name in [entry.id, *entry.aliases]:
                if name in seen and seen[name] != entry.id:
                    problems.append(
                        f"{origin[(section, entry.id)]}: {section} '{entry.id}': field 'aliases': "
                        f"'{name}' is already used by '{seen[name]}'"
                    )
                seen[name] = entry.id
    for engine in catalog.engines.values():
        for fmt in engine.kv_cache_formats:
            found = catalog.precisions.get(fmt)
            if ("precisions", fmt) in invalid:
                continue
            if found is None or not found.kv_cache:
                problems.append(
                    f"{origin[('engines', engine.id)]}: engines '{engine.id}': field 'kv_cache_formats': "
                    f"'{fmt}' is not a precision marked kv_cache"
                )
    problems.extend(_quality_check(catalog, origin, invalid))
    problems.extend(_support_check(catalog, origin, invalid))
    problems.extend(_price_book_check(catalog, origin, invalid))
    if catalog.engines:
        for precision in catalog.precisions.values():
            for engine_id in precision.engines:
                if engine_id not in catalog.engines and ("engines", engine_id) not in invalid:
                    problems.append(
                        f"{origin[('precisions', precision.id)]}: precisions '{precision.id}': field 'engines': "
                        f"unknown engine '{engine_id}'"
                    )
    return problems


def _quality_check(catalog: Catalog, origin: dict[tuple[str, str], str],
                   invalid: set[tuple[str, str]]) -> list[str]:
    """A quality figure names a format the catalog has, one that can hold the
    part it measured. A model id the catalog lacks is allowed (figures are
    written for models being added; ``family`` with ``params_b`` still place
    the figure), and where the id is in the catalog its family is the
    catalog's (planner/model/quality.py), so a differently spelt family is
    not an error either."""
    problems: list[str] = []
    if not catalog.precisions:
        return problems  # a catalog without precisions (tests, partial files) has nothing to check against
    for figure in catalog.quality.values():
        where = f"{origin[('quality', figure.id)]}: quality '{figure.id}'"
        fmt = catalog.precisions.get(figure.precision)
        if fmt is None:
            if ("precisions", figure.precision) not in invalid:
                problems.append(f"{where}: field 'precision': unknown precision '{figure.precision}'")
            continue
        if figure.part == "kv_cache" and not fmt.kv_cache:
            problems.append(f"{where}: field 'part': '{fmt.id}' is not a precision marked kv_cache")
        if figure.part == "weights" and not fmt.weight_format:
            problems.append(f"{where}: field 'part': '{fmt.id}' is not a weight format")
    return problems


def _support_check(catalog: Catalog, origin: dict[tuple[str, str], str], invalid: set[tuple[str, str]]) -> list[str]:
    """Support rules name engines, formats and GPUs that exist, and formats fit
    for their use (weights or the KV cache). Families are not checked: a rule
    may be written for hardware the catalog does not hold yet."""
    problems: list[str] = []
    for rule in catalog.support.values():
        where = f"{origin[('support', rule.id)]}: support '{rule.id}'"
        for engine in rule.engines:
            if engine not in catalog.engines and ("engines", engine) not in invalid:
                problems.append(f"{where}: field 'engines': unknown engine '{engine}'")
        for fmt in rule.formats:
            found = catalog.precisions.get(fmt)
            if found is None:
                if ("precisions", fmt) not in invalid:
                    problems.append(f"{where}: field 'formats': unknown precision '{fmt}'")
            elif rule.use == KV_CACHE and not found.kv_cache:
                problems.append(f"{where}: field 'formats': '{fmt}' is not a precision marked kv_cache")
            elif rule.use != KV_CACHE and not found.weight_format:
                problems.append(f"{where}: field 'formats': '{fmt}' is not a weight format (use: kv-cache for a cache format)")
        for gpu in rule.gpus:
            if catalog.lookup("gpus", gpu) is None and ("gpus", gpu) not in invalid:
                problems.append(f"{where}: field 'gpus': unknown GPU '{gpu}'")
    return problems


def _price_book_check(catalog: Catalog, origin: dict[tuple[str, str], str],
                      invalid: set[tuple[str, str]]) -> list[str]:
    """Instances name a provider and a GPU the catalog has; servers a GPU."""
    problems: list[str] = []
    for instance in catalog.instances.values():
        where = f"{origin[('instances', instance.id)]}: instances '{instance.id}'"
        if instance.provider not in catalog.providers and ("providers", instance.provider) not in invalid:
            problems.append(f"{where}: field 'provider': unknown provider '{instance.provider}'")
        if catalog.gpus and instance.gpu not in catalog.gpus and ("gpus", instance.gpu) not in invalid:
            problems.append(f"{where}: field 'gpu': unknown GPU '{instance.gpu}'")
    for server in catalog.servers.values():
        where = f"{origin[('servers', server.id)]}: servers '{server.id}'"
        if catalog.gpus and server.gpu not in catalog.gpus and ("gpus", server.gpu) not in invalid:
            problems.append(f"{where}: field 'gpu': unknown GPU '{server.gpu}'")
    return problems


# Validated catalogs by the identity of the files they were read from: a
# process that loads the same files again (the test suite, a library caller
# asking many questions) skips the YAML parse and the validation. Entries are
# frozen pydantic models, so sharing them is safe; each caller gets its own
# Catalog and dicts (see _fresh). Failed loads are not cached.
_LOADED: dict[tuple, Catalog] = {}
_MAX_LOADED = 32


def _file_identity(path: Path) -> tuple:
    """(resolved path, mtime_ns, size): changes when the file is edited or replaced."""
    try:
        st = path.stat()
    except OSError:
        return (str(path), None, None)  # read_yaml reports the problem
    return (str(path.resolve()), st.st_mtime_ns, st.st_size)


def _fresh(catalog: Catalog) -> Catalog:
    """A copy the caller may change without touching the cached one."""
    return Catalog(gpus=dict(catalog.gpus), precisions=dict(catalog.precisions), models=dict(catalog.models),
                   engines=dict(catalog.engines), quality=dict(catalog.quality), support=dict(catalog.support),
                   providers=dict(catalog.providers), instances=dict(catalog.instances), servers=dict(catalog.servers),
                   files=list(catalog.files))


def load_catalog(overlays: Iterable[str | Path] = (), *, builtin: bool = True) -> Catalog:
    """The built-in catalog with each overlay file merged on in order
    (cached per file path, modification time and size)."""
    sources: list[tuple[str, Path]] = []
    if builtin:
        base = builtin_dir()
        sources += [(f"catalog/{name}", base / name) for name in BUILTIN_FILES if (base / name).is_file()]
    list_overlays = [(str(Path(overlay)), Path(overlay)) for overlay in overlays]
    sources += list_overlays
    key = tuple((name, _file_identity(path)) for name, path in sources)
    cached = _LOADED.get(key)
    if cached is not None:
        return _fresh(cached)
    shipped = len(sources) - len(list_overlays)
    files = [(name, read_yaml(path, builtin=i < shipped)) for i, (name, path) in enumerate(sources)]
    merged, origin = _merge_files(files, builtin=len(sources) - len(list_overlays))
    catalog = _validate(merged, origin)
    catalog.files = [name for name, _path in sources]
    if len(_LOADED) >= _MAX_LOADED:
        _LOADED.clear()
    _LOADED[key] = catalog
    return _fresh(catalog)


def validate_file(path: str | Path) -> list[str]:
    """Every problem in ``path`` read as an overlay on the built-in catalog."""
    try:
        load_catalog([path])
    except CatalogError as exc:
        return exc.problems
    return []


def overlay_changes(path: str | Path) -> tuple[list[str], list[str]]:
    """(added, changed): the entries, as ``section/id``, that the valid overlay
    ``path`` adds to the built-in catalog or changes in it. Both empty: the
    file is empty, or says only what the built-in catalog already says."""
    base, overlaid = load_catalog(), load_catalog([path])
    added: list[str] = []
    changed: list[str] = []
    for section in SECTIONS:
        before: dict[str, Any] = getattr(base, section)
        for key, entry in getattr(overlaid, section).items():
            if key not in before:
                added.append(f"{section}/{key}")
            elif before[key].model_dump() != entry.model_dump():  # fields only: an engine's attached rules are not its own
                changed.append(f"{section}/{key}")
    return added, changed
