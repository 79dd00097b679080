"""The typed description of a Triton model: what `config.pbtxt` is rendered from.

Each model of the repository is one of these objects (a python model, a graph on a native
backend, or an ensemble); `render.py` turns them into model-config protobufs, so a misspelt
field or a wrong enum fails at build time, not at server start.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from tritontts.errors import TritonTTSError
from tritontts_client.contract import TensorSpec


class RenderError(TritonTTSError, ValueError):
    """A model description is incomplete or inconsistent."""


@dataclass(frozen=True)
class Tensor:
    """A tensor of a model's config: the wire shape per item (without the batch axis when the
    model batches)."""

    name: str
    dtype: str  # a model_config DataType name, e.g. "TYPE_FP32"
    dims: tuple[int, ...]
    optional: bool = False
    ragged: bool = False  # requests of different shapes may share a dynamic batch
    # The shape the model sees when it differs from the wire shape (e.g. [1] → [] per item).
    reshape: tuple[int, ...] | None = None

    @classmethod
    def of(cls, spec: TensorSpec, dims: tuple[int, ...], *, optional: bool = False,
           ragged: bool = False, reshape: tuple[int, ...] | None = None) -> Tensor:
        """The config tensor of a contract tensor, with its shape in this model."""
        return cls(spec.name, spec.config_type, dims, optional=optional, ragged=ragged,
                   reshape=reshape)


TimeoutAction = Literal["REJECT", "DELAY"]


@dataclass(frozen=True)
class Batching:
    """Dynamic batching of one model, with the policy of its request queue.

    The queue fields are Triton's `default_queue_policy`; 0 means "no limit", as in Triton.
    A request that finds the queue full is refused at once (UNAVAILABLE, "Exceeds maximum
    queue size"); one that waits longer than `queue_timeout_us` is refused (REJECT) or left
    queued at a lower priority (DELAY).

    `priority_levels` > 0 gives the queue that many levels (1 is served first); requests that
    name no priority (0) get `default_priority_level`. Each level has its own queue under the
    same policy.
    """

    max_queue_delay_us: int
    preferred_batch_sizes: tuple[int, ...] = ()
    max_queue_size: int = 0
    queue_timeout_us: int = 0
    timeout_action: TimeoutAction = "REJECT"
    allow_timeout_override: bool = False
    priority_levels: int = 0
    default_priority_level: int = 0

    @property
    def has_queue_policy(self) -> bool:
        return bool(self.max_queue_size or self.queue_timeout_us or self.allow_timeout_override)


@dataclass(frozen=True)
class RateLimit:
    """Triton's rate limiter for a model's instances (the server runs with
    --rate-limit=execution_count): an instance runs a batch only while it holds `resources`
    (name -> count, shared by all models that name them); when several instances wait, one
    with priority 2 gets half the turns of one with priority 1."""

    resources: Mapping[str, int]
    priority: int = 1


@dataclass(frozen=True)
class PythonModel:
    name: str
    inputs: tuple[Tensor, ...]
    outputs: tuple[Tensor, ...]
    max_batch_size: int
    instances: int
    parameters: Mapping[str, str] = field(default_factory=dict)
    batching: Batching | None = None
    rate_limit: RateLimit | None = None
    # Decoupled models send any number of responses per request (streaming).
    decoupled: bool = False
    # Files placed in the version folder beside model.py: {name in folder: source path}.
    files: Mapping[str, Path] = field(default_factory=dict)
    # The folder holding `1/model.py`; None: model_repository/<name>.
    source_dir: Path | None = None


@dataclass(frozen=True)
class Warmup:
    """One warm-up request run at load time; inputs named here are zeros of the given dims,
    except those in `data`, raw little-endian bytes placed in the model's warmup/ folder."""

    name: str
    batch_size: int
    zeros: Mapping[str, tuple[str, tuple[int, ...]]]  # input -> (dtype, dims)
    data: Mapping[str, tuple[str, tuple[int, ...], bytes]] = field(default_factory=dict)


@dataclass(frozen=True)
class GraphModel:
    """A stage graph served by a native backend: TensorRT plan or ONNX Runtime (gpu profile),
    or Triton's OpenVINO backend on CPU instances (ngc-cpu profile)."""

    name: str
    platform: str  # "tensorrt_plan", "onnxruntime_onnx", or "openvino" (rendered as backend)
    inputs: tuple[Tensor, ...]
    outputs: tuple[Tensor, ...]
    max_batch_size: int
    instances: int
    batching: Batching
    default_model_filename: str
    files: Mapping[str, Path]
    # TensorRT engines per GPU compute capability: {"8.0": "model_sm80.plan"}.
    cc_model_filenames: Mapping[str, str] = field(default_factory=dict)
    warmup: tuple[Warmup, ...] = ()
    # CUDA graphs captured for these fixed shapes ({input: dims}, batch size 1 each).
    cuda_graph_shapes: tuple[Mapping[str, tuple[int, ...]], ...] = ()
    kind: Literal["KIND_GPU", "KIND_CPU"] = "KIND_GPU"
    # The backend's own string parameters (the OpenVINO backend's threads, streams, bf16 hint).
    parameters: Mapping[str, str] = field(default_factory=dict)


InstanceKind = Literal["KIND_CPU", "KIND_GPU", "KIND_MODEL"]


@dataclass(frozen=True)
class BackendModel:
    """A model served by another Triton backend that brings its own code (the vLLM or
    TensorRT-LLM backend): its tensors and parameters are that backend's, and `texts` are
    files written into the version folder (the vLLM backend's model.json)."""

    name: str
    backend: str
    inputs: tuple[Tensor, ...]
    outputs: tuple[Tensor, ...]
    max_batch_size: int
    instances: int
    instance_kind: InstanceKind
    decoupled: bool = False
    batching: Batching | None = None
    parameters: Mapping[str, str] = field(default_factory=dict)
    files: Mapping[str, Path] = field(default_factory=dict)
    texts: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Step:
    model: str
    inputs: Mapping[str, str]  # model input -> ensemble tensor
    outputs: Mapping[str, str]  # model output -> ensemble tensor


@dataclass(frozen=True)
class Ensemble:
    name: str
    inputs: tuple[Tensor, ...]
    outputs: tuple[Tensor, ...]
    steps: tuple[Step, ...]
    # Triton's response cache: identical requests (same inputs, byte for byte) are answered
    # from the cache; it only works when the server runs with --cache-config.
    response_cache: bool = False


Model = PythonModel | GraphModel | BackendModel | Ensemble
