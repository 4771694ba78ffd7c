"""What is asked: the model, how it is deployed, and the request shape."""

from __future__ import annotations

from dataclasses import dataclass

from planner.catalog.schema import Engine, Gpu, Model, Precision
from planner.core.errors import Field, InputError


@dataclass(frozen=True)
class Deployment:
    """One replica's hardware and numerics.

    ``tp`` x ``dp`` x ``pp`` GPUs make one replica; ``batch`` is the number
    of sequences that replica serves concurrently.

    A mixture of experts may run attention data-parallel (``dp`` ranks, each
    with its own requests and KV cache, attention split ``tp`` ways inside a
    rank) while all ``tp`` x ``dp`` GPUs of a pipeline stage share the
    expert layers: the experts split into ``ep`` groups (expert
    parallelism), each sharded ``tp x dp / ep`` ways (the engines' moe_tp).
    The names are the engines' (vLLM, SGLang and TensorRT-LLM: tp, dp, ep).
    """

    gpu: Gpu
    precision: Precision  # weights
    kv_precision: Precision  # KV cache
    engine: Engine
    tp: int = 1
    pp: int = 1
    batch: int = 1
    memory_utilization: float | None = None  # None: the engine's default
    dp: int = 1  # attention data-parallel ranks
    ep: int = 1  # expert-parallel groups the routed experts are split into

    @property
    def gpus(self) -> int:
        return self.tp * self.dp * self.pp

    @property
    def stage_gpus(self) -> int:
        """GPUs of one pipeline stage: they share its expert layers."""
        return self.tp * self.dp

    @property
    def moe_tp(self) -> int:
        """Ways each expert is sharded (tensor-parallel inside an EP group)."""
        return self.stage_gpus // self.ep

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


def context_window(model: Model, rope_scaling: bool = False) -> int:
    """Tokens a sequence may hold: the released context, or the longer one
    the model card documents with RoPE scaling when the user opts in."""
    if rope_scaling and model.max_context_extended is not None:
        return model.max_context_extended
    return model.max_context


def check_context(spec: ModelSpec, shape: Shape, rope_scaling: bool = False) -> None:
    """Refuse a request longer than the model's context window.

    Input plus output must fit: the engines refuse such a request (vLLM's
    max_model_len defaults to the config's max_position_embeddings), and a
    model run past its trained positions degrades. A count-only model ("13B")
    has no known window, so nothing is checked.
    """
    if spec.approximate:
        return
    model = spec.model
    window = context_window(model, rope_scaling)
    if shape.context <= window:
        return
    asked = f"{shape.input:,} tokens" if shape.output == 0 else (
        f"{shape.input:,} input + {shape.output:,} output = {shape.context:,} tokens")
    message: list[str | Field] = [f"{asked} exceed {model.id}'s context window of {window:,} tokens"]
    extended = model.max_context_extended
    if extended is not None and not rope_scaling and shape.context <= extended:
        hint: list[str | Field] = [f"its card documents {extended:,} tokens with RoPE scaling: add ",
                                   Field("rope_scaling"), " (the engine must be started with it)"]
    elif shape.output:
        hint = ["shorten ", Field("input_tokens"), " or ", Field("output_tokens"), f" to {window:,} tokens in all"]
    else:
        hint = ["shorten ", Field("input_tokens"), f" to {window:,} tokens"]
    raise InputError(message, hint=hint, field="input_tokens")


@dataclass(frozen=True)
class ModelSpec:
    """An architecture to predict with, and whether it was derived from a bare count."""

    model: Model
    approximate: bool
    label: str
    # How the name was read when not literally (a release suffix stripped, a
    # config.json parsed), and warnings about a parsed config: shown with the answer.
    note: str | None = None
    warnings: tuple[str, ...] = ()


# Defaults of a request, shared by `predict` and `fit` (and the reports that
# say when a default was used).
DEFAULT_INPUT_TOKENS = 512
DEFAULT_OUTPUT_TOKENS = 256
DEFAULT_ENGINE = "vllm"
# Search and input bounds: policy, not hardware facts; they keep an absurd
# request an input error instead of an overflow.
MAX_GPU_COUNT = 10**7  # GPUs in one deployment or plan
MAX_PARALLEL_DEGREE = 4096  # tensor or pipeline stages in one replica
MAX_BATCH = 1_000_000  # concurrent sequences a replica may be asked to hold


@dataclass(frozen=True)
class Parallelism:
    """How a deployment is split: ``tp`` x ``dp`` x ``pp`` GPUs make one
    replica (``dp``: attention data-parallel ranks of a mixture of experts,
    ``ep``: the expert-parallel groups of each stage's tp x dp GPUs), and
    ``replicas`` copies serve side by side."""

    tp: int = 1
    pp: int = 1
    replicas: int = 1
    dp: int = 1
    ep: int = 1

    def __post_init__(self) -> None:
        for name, most in (("tp", MAX_PARALLEL_DEGREE), ("pp", MAX_PARALLEL_DEGREE), ("replicas", MAX_GPU_COUNT),
                           ("dp", MAX_PARALLEL_DEGREE), ("ep", MAX_PARALLEL_DEGREE)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= most:
                raise InputError([Field(name), f" {value} must be a whole number between 1 and {most:,}"], field=name)

    @classmethod
    def for_gpus(cls, gpus: int | None, tp: int = 1, pp: int = 1, dp: int = 1, ep: int = 1) -> Parallelism:
        """``gpus`` in all (default one replica) split into replicas of tp x dp x pp."""
        one = cls(tp, pp, dp=dp, ep=ep)
        if gpus is None:
            return one
        if isinstance(gpus, bool) or not isinstance(gpus, int) or not 1 <= gpus <= MAX_GPU_COUNT:
            raise InputError([Field("gpus"), f" {gpus} must be a whole number between 1 and {MAX_GPU_COUNT:,}"], field="gpus")
        if gpus % one.gpus_per_replica:
            product = "tp x pp" if dp == 1 else "tp x dp x pp"
            raise InputError([Field("gpus"), f" {gpus} is not a multiple of {product} = {one.gpus_per_replica}"], field="gpus")
        return cls(tp, pp, gpus // one.gpus_per_replica, dp=dp, ep=ep)

    @property
    def gpus_per_replica(self) -> int:
        return self.tp * self.dp * self.pp

    @property
    def gpus(self) -> int:
        return self.gpus_per_replica * self.replicas
