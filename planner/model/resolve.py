"""What model the user named, through one chain for every command.

In order: a catalog id or alias; a Hugging Face id (``org/name``) listed in
a catalog model's ``hf_ids``; a release of a catalog architecture spelled
with a suffix (``-Instruct``, ``-chat``, ``-AWQ``, ``-FP8`` ...); a path to
a ``config.json`` or to a model directory holding one; a Hugging Face id
found in the local Hugging Face cache (offline); a bare parameter count
("13B"). Anything else is an unknown name, answered with the nearest names
("did you mean"). `size` needs only the counts; `predict`, `fit` and
`validate` need an architecture, derived for a bare count.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from planner.catalog.architecture import count_params
from planner.catalog.hf_config import CONFIG_NAME, ParsedModel, is_hf_id, load_config
from planner.catalog.load import Catalog
from planner.catalog.schema import Model
from planner.core.errors import InputError, alternatives, closest
from planner.core.units import parse_params
from planner.model.derive import derive_architecture
from planner.model.workload import ModelSpec


@dataclass(frozen=True)
class ModelRef:
    """What the user named: a catalog model, a parsed config, or a bare parameter count."""

    label: str
    parameters: int
    active_parameters: int
    matmul_parameters: int | None  # per-token GEMM parameters when the architecture is known
    model: Model | None
    # How the name was read, when not literally ("... taken as llama-3.1-8b");
    # and warnings about a parsed config (its count against the checkpoint's).
    note: str | None = None
    warnings: tuple[str, ...] = field(default=())

    @property
    def exact(self) -> bool:
        return self.model is not None


# Release suffixes that name the same architecture: tuned variants, and
# re-quantised checkpoints (whose format is then a precision to choose, not
# a different model). Longest first, so "-fp8-dynamic" goes before "-fp8".
_RELEASE_SUFFIXES = (
    "-instruct-2407", "-instruct-2411", "-fp8-dynamic", "-gptq-int4", "-gptq-int8", "-bnb-4bit", "-w4a16", "-w8a8",
    "-instruct", "-chat", "-base", "-it", "-hf", "-fp8", "-nvfp4", "-mxfp4", "-awq", "-gptq", "-int4", "-int8",
    "-gguf",
)
_QUANTISED = {s for s in _RELEASE_SUFFIXES if any(q in s for q in ("fp8", "int", "bnb", "w4", "w8", "fp4", "awq",
                                                                   "gptq", "gguf"))}
_COUNT = re.compile(r"^\s*[0-9][0-9_.,]*(?:[eE][-+]?[0-9]+)?\s*[A-Za-z]?\s*$")


def _ref(model: Model, label: str, note: str | None = None, warnings: tuple[str, ...] = ()) -> ModelRef:
    counts = count_params(model)
    return ModelRef(label, counts.total, counts.active, counts.matmul_active, model, note, warnings)


def _by_hf_id(catalog: Catalog, text: str) -> Model | None:
    wanted = text.strip().lower()
    for model in catalog.models.values():
        if any(hf.lower() == wanted for hf in model.hf_ids):
            return model
    return None


def _by_release(catalog: Catalog, text: str) -> tuple[Model, str | None, list[str]] | None:
    """The catalog model that ``text`` names with release suffixes: the
    model, the Hub repository whose name matched (if one did), the suffixes stripped."""
    name = text.strip().lower().split("/")[-1]
    stripped: list[str] = []
    while True:
        found = catalog.lookup("models", name)
        if found is not None:
            return found, None, stripped
        repo = _by_repo_name(catalog, name)
        if repo is not None:
            return repo[0], repo[1], stripped
        suffix = next((s for s in _RELEASE_SUFFIXES if name.endswith(s) and len(name) > len(s)), None)
        if suffix is None:
            return None
        stripped.append(suffix)
        name = name[: -len(suffix)]


def _by_repo_name(catalog: Catalog, name: str) -> tuple[Model, str] | None:
    """The catalog model one of whose hf_ids is ``*/name`` (any organisation:
    mirrors, re-uploads), and that id."""
    for model in catalog.models.values():
        for hf in model.hf_ids:
            if hf.lower().split("/")[-1] == name:
                return model, hf
    return None


def hf_cache_dir() -> Path:
    """Where the Hugging Face hub caches downloads: $HF_HUB_CACHE, else
    $HF_HOME/hub, else ~/.cache/huggingface/hub (huggingface_hub's order)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    return Path("~/.cache/huggingface/hub").expanduser()


def cached_config(hf_id: str) -> Path | None:
    """The config.json of ``org/name`` in the local Hugging Face cache, or None.

    Layout: ``models--{org}--{name}/refs/main`` holds the revision whose
    ``snapshots/<revision>/config.json`` is the file; without refs/main a
    single snapshot is taken.
    """
    org, name = hf_id.split("/", 1)
    repo = hf_cache_dir() / f"models--{org}--{name}"
    try:
        if not repo.is_dir():
            return None
        ref = repo / "refs" / "main"
        revision = None
        if ref.is_file() and ref.stat().st_size <= 256:
            revision = ref.read_text(encoding="utf-8", errors="replace").strip()
        snapshots = repo / "snapshots"
        if revision and re.fullmatch(r"[0-9A-Za-z._-]{1,128}", revision) and revision not in (".", ".."):
            candidate = snapshots / revision / CONFIG_NAME
            return candidate if candidate.is_file() else None
        found = [p / CONFIG_NAME for p in snapshots.iterdir() if (p / CONFIG_NAME).is_file()] if snapshots.is_dir() else []
        return found[0] if len(found) == 1 else None
    except OSError:
        return None


def _looks_like_path(text: str) -> bool:
    return text.endswith(".json") or text.startswith((".", "/", "~")) or os.sep in text.strip("/") and not is_hf_id(text)


def _suggestions(catalog: Catalog, text: str) -> list[str]:
    """Catalog names close to ``text``: ids, aliases and Hugging Face ids."""
    names: dict[str, str] = {}
    for model in catalog.models.values():
        for alias in (model.id, *model.aliases):
            names.setdefault(alias, model.id)
        for hf in model.hf_ids:
            names.setdefault(hf.lower(), hf)
            names.setdefault(hf.lower().split("/")[-1], hf)
    # an alias is shown as the id it names; a Hub id as the Hub spells it
    wanted = text.strip().lower()
    shown = closest(wanted, names, pool=6)
    if not shown and "/" in wanted:
        shown = closest(wanted.split("/")[-1], names, pool=6)
    return shown


def _parsed(parsed: ParsedModel) -> ModelRef:
    note = f"architecture read from {parsed.path}"
    return _ref(parsed.model, parsed.model.name, note, parsed.warnings)


def _unknown(catalog: Catalog, text: str) -> InputError:
    close = _suggestions(catalog, text)
    guess = f"did you mean {alternatives(close)}? " if close else ""
    if is_hf_id(text.strip()):
        org_name = text.strip()
        return InputError(
            f"model '{org_name}' is not in the catalog, not a local path, and not in the local Hugging Face cache "
            f"({hf_cache_dir()})",
            hint=f"{guess}get its config with `huggingface-cli download {org_name} config.json --local-dir DIR` "
                 "and pass DIR",
        )
    return InputError(
        f"unknown model '{text.strip()}'",
        hint=f"{guess}give a catalog id (see `planner catalog list models`), a Hugging Face id, a config.json "
             "or model directory, or a parameter count such as 13B",
    )


def resolve_model(catalog: Catalog, text: str) -> ModelRef:
    """The model ``text`` names, through the chain in this module's docstring."""
    wanted = text.strip()
    found = catalog.lookup("models", wanted)
    if found is not None:
        return _ref(found, found.id)
    if is_hf_id(wanted):
        found = _by_hf_id(catalog, wanted)
        if found is not None:
            return _ref(found, found.id, f"{wanted} is a release of {found.id} ({found.name})")
    release = _by_release(catalog, wanted) if wanted else None
    if release is not None:
        model, repo, stripped = release
        what = "-".join(s.lstrip("-") for s in reversed(stripped))
        if repo is not None:
            same = wanted.lower() == repo.lower() or "/" not in wanted and not stripped
            note = (f"{wanted} {'is' if same else 'taken as'} {repo}" + (f" ({what})" if what else "")
                    + f", a release of {model.id} ({model.name})")
        elif stripped:
            note = f"{wanted} taken as {model.id} ({model.name}), whose {what} release it names"
        else:
            note = f"{wanted} is {model.id} ({model.name})"
        if any(s in _QUANTISED for s in stripped):
            note += "; its weights are sized at the precision chosen, not the checkpoint's own format"
        return _ref(model, model.id, note)
    if wanted and not _COUNT.match(wanted):
        path = Path(wanted).expanduser()
        try:
            exists = path.exists() or path.is_symlink()
        except OSError:
            exists = True  # a name too long or a loop: load_config reports it in one line
        if exists:
            return _parsed(load_config(path))
        if _looks_like_path(wanted):
            raise InputError(f"no such file or directory '{wanted}'",
                             hint="pass a config.json, a model directory, or a catalog model id")
        if is_hf_id(wanted):
            cached = cached_config(wanted)
            if cached is not None:
                parsed = load_config(cached, name=wanted)
                return _ref(parsed.model, wanted, f"architecture read from the Hugging Face cache ({cached})",
                            parsed.warnings)
        raise _unknown(catalog, wanted)
    parameters = parse_params(text)
    return ModelRef(wanted, parameters, parameters, None, None)


def resolve_spec(catalog: Catalog, text: str) -> ModelSpec:
    """An architecture to predict with: the catalog's or a config's, or one derived for a bare count."""
    ref = resolve_model(catalog, text)
    if ref.model is not None:
        return ModelSpec(ref.model, approximate=False, label=ref.label, note=ref.note, warnings=ref.warnings)
    return ModelSpec(derive_architecture(catalog, ref.parameters), approximate=True, label=ref.label)
