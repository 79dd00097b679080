"""GPU hosts: the Maya1 LM served by Triton's vLLM backend (`maya1_lm`), generated here.

The vLLM backend takes text and returns text: the prompt ids are handed over as the text they
decode to (special tokens kept), and the generated `<custom_token_N>` pieces are parsed back
into ids (`tokens.ids_from_custom_tokens`) and unpacked with the same band checks, so a
wrong-band id is refused there too. vLLM has no slot-band constraint; CODE_END is passed as
the stop token. Nothing here runs on the development machines: the config is rendered and
parsed with Triton's schema in tests.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tritonclient.grpc import model_config_pb2 as mc

from tritontts import contract
from tritontts.maya1.sampling import SamplingSettings
from tritontts.maya1.tokens import CODE_END


@dataclass(frozen=True)
class VllmEngine:
    """vLLM engine arguments (the backend's model.json)."""

    model: str  # the snapshot folder as the container sees it
    dtype: str = "bfloat16"
    gpu_memory_utilization: float = 0.85
    max_model_len: int = 4096
    max_num_seqs: int = 64
    enforce_eager: bool = False


def vllm_config(instances: int = 1) -> mc.ModelConfig:
    config = mc.ModelConfig(name=contract.MAYA1_LM_MODEL, backend="vllm", max_batch_size=0)
    config.model_transaction_policy.decoupled = True
    for name, dtype, dims, optional in (
            ("text_input", "TYPE_STRING", [1], False), ("stream", "TYPE_BOOL", [1], True),
            ("sampling_parameters", "TYPE_STRING", [1], True),
            ("exclude_input_in_output", "TYPE_BOOL", [1], True)):
        config.input.add(name=name, data_type=mc.DataType.Value(dtype), dims=dims,
                         optional=optional)
    config.output.add(name="text_output", data_type=mc.TYPE_STRING, dims=[-1])
    # KIND_MODEL: vLLM places the model on the GPUs itself.
    config.instance_group.add(count=instances, kind=mc.ModelInstanceGroup.KIND_MODEL)
    return config


def write_vllm_model(repository: Path, engine: VllmEngine) -> Path:
    from google.protobuf import text_format

    folder = repository / contract.MAYA1_LM_MODEL
    (folder / "1").mkdir(parents=True, exist_ok=True)
    (folder / "config.pbtxt").write_text(text_format.MessageToString(vllm_config()))
    (folder / "1" / "model.json").write_text(json.dumps(asdict(engine), indent=2))
    return folder


def sampling_parameters(settings: SamplingSettings) -> str:
    """A request's `sampling_parameters` JSON: Maya1's sampling, stopping only at CODE_END."""
    return json.dumps({
        "temperature": settings.temperature, "top_p": settings.top_p,
        "repetition_penalty": settings.repetition_penalty,
        "max_tokens": settings.code_limit, "min_tokens": settings.min_new_tokens,
        "stop_token_ids": [CODE_END], "skip_special_tokens": False,
        **({} if settings.seed is None else {"seed": settings.seed})})


def prompt_text(ids: Sequence[int], tokenizer: Any) -> str:
    """The prompt ids as the text vLLM re-tokenizes into the same ids (special tokens kept)."""
    return tokenizer.decode(list(ids), skip_special_tokens=False)
