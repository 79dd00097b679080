"""Maya1 in the gpu profile: the LM on a real LLM backend behind the same client contract.

- `maya1_lm`: Triton's **vLLM backend** (text in, text out; `llm_wire.VllmWire`) or its
  **TensorRT-LLM backend** (ids in, ids out; `llm_wire.TensorrtLlmWire`). Both batch
  continuously across requests on the GPU.
- `maya1_snac`: the SNAC decoder as a TensorRT plan when `export.snac.build_snac_engine`
  built one, else the ONNX graph on ONNX Runtime, on a KIND_GPU instance with dynamic
  batching (streaming windows of many requests share a call).
- `maya1_stream` / `maya1`: the same python models and client contract as the cpu profile;
  the stream model builds the prompts (tritontts' prompt builder, unchanged), calls
  `maya1_lm` over BLS, checks every returned frame against the slot bands
  (`remote.RemoteGenerator`) and decodes through `maya1_snac`.

Nothing here runs without a GPU: tests render every config and parse it with Triton's
schema; the BLS path is run on CPU against a test double of `maya1_lm` (tests/doubles/).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tritontts.maya1.checkpoint import CheckpointError
from tritontts.maya1.prompt import PromptLimits
from tritontts.maya1.repository import (
    CHECKPOINT_FOLDER,
    SNAC_GRAPH,
    speech_model,
    stream_model,
)
from tritontts.repository import BackendModel, Batching, GraphModel, Model, PythonModel, Tensor
from tritontts.repository.engines import StagePlans, graph_files
from tritontts_client import contract as c

TOKENIZER_FILE = "tokenizer.json"
SNAC_MAX_BATCH = 16  # windows per SNAC call (the engine's profile: export.snac.snac_profiles)


@dataclass(frozen=True)
class VllmEngine:
    """vLLM engine arguments (the backend's model.json, which Triton's vLLM backend hands to
    vLLM's `AsyncEngineArgs`). Prefix caching and chunked prefill are on, as the model card
    recommends for serving: every request starts with the same [BOS, SOH, BOS,
    <description="...">] run for one voice, so requests with the same description share
    its KV-cache blocks instead of prefilling them again."""

    model: str  # the snapshot folder as the serving container sees it
    tokenizer: str | None = None  # set by vllm_model: the BOS-free tokenizer folder
    dtype: str = "bfloat16"
    gpu_memory_utilization: float = 0.85
    max_model_len: int = 4096
    max_num_seqs: int = 64
    enforce_eager: bool = False
    enable_prefix_caching: bool = True
    enable_chunked_prefill: bool = True


@dataclass(frozen=True)
class TensorrtLlmEngine:
    """The TensorRT-LLM backend's settings (its config.pbtxt parameters). The engine is built
    on the GPU host with TensorRT-LLM's `trtllm-build` from the snapshot (not here)."""

    engine_dir: str  # the built engine folder as the serving container sees it
    max_batch_size: int = 64
    kv_cache_free_gpu_mem_fraction: float = 0.85
    # Admit a request only when its whole generation fits the KV cache: a stream is never
    # paused halfway for lack of cache.
    batch_scheduler_policy: str = "guaranteed_no_evict"
    max_queue_delay_us: int = 0


@dataclass(frozen=True)
class Maya1GpuSetup:
    checkpoint_dir: Path  # the local snapshot (tokenizer.json is read from it)
    snac_graph: Path  # the SNAC decoder exported by export/snac.py
    repository_dir: Path  # where the repository is served from (vLLM's tokenizer path)
    lm_backend: str = c.LM_BACKEND_VLLM
    vllm: VllmEngine | None = None  # default: the snapshot at checkpoint_dir
    tensorrtllm: TensorrtLlmEngine | None = None  # required for lm_backend "tensorrtllm"
    snac_plans: StagePlans | None = None  # TensorRT engines of SNAC, when built
    limits: PromptLimits = field(default_factory=PromptLimits)
    snac_instances: int = 1
    speech_instances: int = 1
    speech_batch: int = 8


# --- maya1_lm on vLLM -----------------------------------------------------------------------


def vllm_tokenizer_files(checkpoint_dir: Path) -> dict[str, str]:
    """The snapshot's tokenizer for vLLM, with nothing added to an encoded text.

    The prompt builder's ids already are what the reference feeds the model: the reference
    string tokenized by the snapshot's tokenizer, whose post-processor prepended one
    <|begin_of_text|> ([BOS, SOH, BOS, ...]). maya1_stream sends those ids as text
    (`llm_wire.prompt_text`, the leading BOS included); vLLM tokenizes `text_input` with
    add_special_tokens on (the backend has no switch), so here the post-processor is dropped
    and tokenizer_config.json asks for no BOS / EOS: the text comes back as exactly those
    ids, no third BOS (tested with transformers' AutoTokenizer, which vLLM uses)."""
    source = Path(checkpoint_dir) / TOKENIZER_FILE
    if not source.is_file():
        raise CheckpointError(f"{checkpoint_dir} lacks {TOKENIZER_FILE} of the Maya1 snapshot")
    tokenizer = json.loads(source.read_text())
    tokenizer["post_processor"] = None
    config_path = Path(checkpoint_dir) / "tokenizer_config.json"
    config = json.loads(config_path.read_text()) if config_path.is_file() else {
        "tokenizer_class": "PreTrainedTokenizerFast"}
    config.update(add_bos_token=False, add_eos_token=False)
    files = {TOKENIZER_FILE: json.dumps(tokenizer, ensure_ascii=False),
             "tokenizer_config.json": json.dumps(config, indent=2)}
    special = Path(checkpoint_dir) / "special_tokens_map.json"
    if special.is_file():
        files[special.name] = special.read_text()
    return files


def vllm_model(setup: Maya1GpuSetup) -> BackendModel:
    folder = c.VLLM_TOKENIZER_FOLDER
    engine = setup.vllm or VllmEngine(model=str(Path(setup.checkpoint_dir).resolve()))
    engine = VllmEngine(**{**asdict(engine), "tokenizer": str(
        Path(setup.repository_dir) / c.MAYA1_LM_MODEL / "1" / folder)})
    texts = {f"{folder}/{name}": text
             for name, text in vllm_tokenizer_files(setup.checkpoint_dir).items()}
    texts[c.VLLM_ENGINE_FILE] = json.dumps(asdict(engine), indent=2)
    return BackendModel(
        name=c.MAYA1_LM_MODEL, backend="vllm",
        inputs=tuple(Tensor.of(t, (1,), optional=t.optional) for t in c.VLLM_INPUTS),
        outputs=(Tensor.of(c.VLLM_TEXT_OUTPUT, (-1,)),),
        # vLLM batches on its own (continuous batching): Triton hands every request on.
        max_batch_size=0, decoupled=True,
        # KIND_MODEL: vLLM places the model on the GPUs itself.
        instances=1, instance_kind="KIND_MODEL", texts=texts)


# --- maya1_lm on TensorRT-LLM ---------------------------------------------------------------


def tensorrtllm_model(engine: TensorrtLlmEngine) -> BackendModel:
    scalar = {"reshape": ()}
    return BackendModel(
        name=c.MAYA1_LM_MODEL, backend="tensorrtllm",
        inputs=(
            Tensor.of(c.TRTLLM_INPUT_IDS, (-1,), ragged=True),
            Tensor.of(c.TRTLLM_INPUT_LENGTHS, (1,), **scalar),
            Tensor.of(c.TRTLLM_REQUEST_OUTPUT_LEN, (1,)),
            *(Tensor.of(t, (1,), optional=True, **scalar) for t in (
                c.TRTLLM_END_ID, c.TRTLLM_PAD_ID, c.TRTLLM_TEMPERATURE, c.TRTLLM_TOP_P,
                c.TRTLLM_TOP_K, c.TRTLLM_REPETITION_PENALTY, c.TRTLLM_MIN_LENGTH,
                c.TRTLLM_RANDOM_SEED)),
            Tensor.of(c.TRTLLM_STREAMING, (1,), optional=True),
        ),
        outputs=(Tensor.of(c.TRTLLM_OUTPUT_IDS, (-1, -1)),
                 Tensor.of(c.TRTLLM_SEQUENCE_LENGTH, (-1,))),
        max_batch_size=engine.max_batch_size, decoupled=True,
        batching=Batching(max_queue_delay_us=engine.max_queue_delay_us,
                          preferred_batch_sizes=(engine.max_batch_size,)),
        # The backend's own convention: one KIND_CPU instance that drives the GPUs itself.
        instances=1, instance_kind="KIND_CPU",
        parameters={
            c.TRTLLM_PARAM_ENGINE_DIR: engine.engine_dir,
            c.TRTLLM_PARAM_BATCHING: "inflight_fused_batching",
            c.TRTLLM_PARAM_BEAM_WIDTH: "1",
            c.TRTLLM_PARAM_SCHEDULER: engine.batch_scheduler_policy,
            c.TRTLLM_PARAM_KV_CACHE_FRACTION: str(engine.kv_cache_free_gpu_mem_fraction),
            # Streamed responses carry only the new ids, never the prompt.
            c.TRTLLM_PARAM_EXCLUDE_INPUT: "true",
            c.TRTLLM_PARAM_CPU_INPUTS: "no",
        })


# --- maya1_snac -----------------------------------------------------------------------------


def snac_model(graph: Path, plans: StagePlans | None = None, instances: int = 1) -> GraphModel:
    codes = tuple(Tensor(name, "TYPE_INT64", (-1,)) for name in c.MAYA1_SNAC_INPUTS)
    served = graph_files(plans, graph)
    return GraphModel(
        name=c.MAYA1_SNAC_MODEL, platform=served.platform,
        default_model_filename=served.filename, files=served.files,
        cc_model_filenames=served.engines, inputs=codes,
        outputs=(Tensor(c.MAYA1_SNAC_OUTPUT, "TYPE_FP32", (1, -1)),),
        max_batch_size=SNAC_MAX_BATCH, instances=instances,
        # Windows of one size from different streams meet here; a short wait is enough.
        batching=Batching(max_queue_delay_us=500))


# --- the set --------------------------------------------------------------------------------


def remote_stream_model(setup: Maya1GpuSetup, snac_in_process: bool = False) -> PythonModel:
    """maya1_stream calling maya1_lm over BLS. SNAC through maya1_snac (gpu profile), or in
    its own ONNX Runtime session with `snac_in_process` (what the CPU tests run)."""
    if setup.lm_backend not in (c.LM_BACKEND_VLLM, c.LM_BACKEND_TENSORRTLLM):
        raise ValueError(f"lm_backend must be {c.LM_BACKEND_VLLM} or "
                         f"{c.LM_BACKEND_TENSORRTLLM}, got {setup.lm_backend!r}")
    tokenizer = Path(setup.checkpoint_dir) / TOKENIZER_FILE
    if not tokenizer.is_file():
        raise CheckpointError(f"{setup.checkpoint_dir} lacks {TOKENIZER_FILE} of the Maya1 "
                              "snapshot")
    files = {f"{CHECKPOINT_FOLDER}/{TOKENIZER_FILE}": tokenizer}
    parameters = {c.PARAM_LM_BACKEND: setup.lm_backend, c.PARAM_LM_MODEL: c.MAYA1_LM_MODEL,
                  c.PARAM_TOKENIZER: f"{CHECKPOINT_FOLDER}/{TOKENIZER_FILE}"}
    if snac_in_process:
        files[SNAC_GRAPH] = Path(setup.snac_graph)
        parameters |= {c.PARAM_SNAC_ONNX: SNAC_GRAPH, c.PARAM_THREADS: "1"}
    else:
        parameters |= {c.PARAM_SNAC_MODEL: c.MAYA1_SNAC_MODEL,
                       c.PARAM_SNAC_MAX_BATCH: str(SNAC_MAX_BATCH)}
    return stream_model(parameters, files, setup.limits)


def lm_model(setup: Maya1GpuSetup) -> BackendModel:
    if setup.lm_backend == c.LM_BACKEND_VLLM:
        return vllm_model(setup)
    if setup.tensorrtllm is None:
        raise ValueError("lm_backend tensorrtllm needs the engine folder (TensorrtLlmEngine)")
    return tensorrtllm_model(setup.tensorrtllm)


def maya1_gpu_models(setup: Maya1GpuSetup) -> list[Model]:
    if not Path(setup.snac_graph).is_file():
        raise CheckpointError(f"{setup.snac_graph} does not exist: export SNAC first")
    return [lm_model(setup),
            snac_model(setup.snac_graph, setup.snac_plans, setup.snac_instances),
            remote_stream_model(setup),
            speech_model(setup.speech_instances, setup.speech_batch)]
