"""Maya1's gpu profile, as far as a CPU can check it: every config renders and parses with
Triton's schema (vLLM and TensorRT-LLM for `maya1_lm`, TensorRT or ONNX Runtime for
`maya1_snac`, the BLS stream model), the prompt text survives vLLM's tokenization as the
exact prompt ids, and what an LLM backend returns is read and band-checked (refused, never
folded). The models themselves need a GPU and are not run here."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tritonclient.grpc import model_config_pb2 as mc

from tritontts.maya1.gpu import (
    Maya1GpuSetup,
    TensorrtLlmEngine,
    maya1_gpu_models,
    vllm_tokenizer_files,
)
from tritontts.maya1.llm_wire import (
    CustomTokenReader,
    OutputIdsReader,
    TensorrtLlmWire,
    VllmWire,
    prompt_text,
    sampling_parameters,
)
from tritontts.maya1.prompt import PromptBuilder
from tritontts.maya1.remote import FrameAssembler, RemoteGenerator
from tritontts.maya1.sampling import SamplingSettings
from tritontts.maya1.tokens import (
    BOS,
    CODE_END,
    CUSTOM_TOKEN_BASE,
    START_OF_HUMAN,
    InvalidCodeError,
    slot_band,
)
from tritontts.repository import parse, render, write_repository
from tritontts.repository.engines import StagePlans
from tritontts_client import contract as c

DESCRIPTION = "Female voice in her 30s, warm, calm pacing"


def frame(codes: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7)) -> tuple[int, ...]:
    return tuple(slot_band(slot)[0] + code for slot, code in enumerate(codes))


def as_text(ids: list[int]) -> str:
    return " ".join(f"<custom_token_{i - CUSTOM_TOKEN_BASE}>" for i in ids)


@pytest.fixture(scope="module")
def tokenizer(maya1_checkpoint: Path) -> Any:
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(maya1_checkpoint / "tokenizer.json"))


def setup_for(maya1_checkpoint: Path, snac_graph: Path, tmp_path: Path,
              **overrides: Any) -> Maya1GpuSetup:
    return Maya1GpuSetup(maya1_checkpoint, snac_graph, repository_dir=tmp_path / "repo",
                         **overrides)


# --- configs ----------------------------------------------------------------------------------


def test_vllm_profile_configs_parse_with_tritons_schema(maya1_checkpoint: Path,
                                                        snac_graph: Path,
                                                        tmp_path: Path) -> None:
    setup = setup_for(maya1_checkpoint, snac_graph, tmp_path)
    repository = write_repository(maya1_gpu_models(setup), setup.repository_dir)
    configs = {folder.name: parse((folder / "config.pbtxt").read_text())
               for folder in repository.iterdir()}
    assert set(configs) == {c.MAYA1_LM_MODEL, c.MAYA1_SNAC_MODEL, c.MAYA1_STREAM_MODEL,
                            c.MAYA1_MODEL}
    lm = configs[c.MAYA1_LM_MODEL]
    assert lm.backend == "vllm" and lm.model_transaction_policy.decoupled
    assert lm.max_batch_size == 0
    assert lm.instance_group[0].kind == mc.ModelInstanceGroup.KIND_MODEL
    assert [(i.name, i.optional) for i in lm.input] == [
        ("text_input", False), ("stream", True), ("sampling_parameters", True),
        ("exclude_input_in_output", True)]
    assert [o.name for o in lm.output] == ["text_output"]
    engine = json.loads((repository / c.MAYA1_LM_MODEL / "1" / "model.json").read_text())
    assert engine["model"] == str(maya1_checkpoint.resolve())
    assert engine["tokenizer"] == str(repository / c.MAYA1_LM_MODEL / "1" / "tokenizer")
    assert (repository / c.MAYA1_LM_MODEL / "1" / "tokenizer" / "tokenizer.json").is_file()

    snac = configs[c.MAYA1_SNAC_MODEL]
    assert snac.platform == "onnxruntime_onnx" and snac.default_model_filename == "model.onnx"
    assert snac.instance_group[0].kind == mc.ModelInstanceGroup.KIND_GPU
    assert [i.name for i in snac.input] == list(c.MAYA1_SNAC_INPUTS)
    assert (repository / c.MAYA1_SNAC_MODEL / "1" / "model.onnx").is_file()

    stream = configs[c.MAYA1_STREAM_MODEL]
    parameters = {k: v.string_value for k, v in stream.parameters.items()}
    assert parameters[c.PARAM_LM_BACKEND] == "vllm"
    assert parameters[c.PARAM_LM_MODEL] == c.MAYA1_LM_MODEL
    assert parameters[c.PARAM_SNAC_MODEL] == c.MAYA1_SNAC_MODEL
    # The stream model holds no weights on this profile: only the tokenizer.
    assert [p.name for p in (repository / c.MAYA1_STREAM_MODEL / "1" / "maya1").iterdir()] == [
        "tokenizer.json"]
    # The client contract is the cpu profile's.
    assert [i.name for i in configs[c.MAYA1_MODEL].input][:2] == ["TEXT", "DESCRIPTION"]


def test_tensorrtllm_config_parses_with_tritons_schema(maya1_checkpoint: Path,
                                                       snac_graph: Path,
                                                       tmp_path: Path) -> None:
    setup = setup_for(maya1_checkpoint, snac_graph, tmp_path, lm_backend="tensorrtllm",
                      tensorrtllm=TensorrtLlmEngine("/engines/maya1", max_batch_size=32))
    models = {m.name: m for m in maya1_gpu_models(setup)}
    lm = parse(render(models[c.MAYA1_LM_MODEL]))
    assert lm.backend == "tensorrtllm" and lm.model_transaction_policy.decoupled
    assert lm.max_batch_size == 32
    assert lm.instance_group[0].kind == mc.ModelInstanceGroup.KIND_CPU
    inputs = {i.name: i for i in lm.input}
    assert inputs["input_ids"].data_type == mc.TYPE_INT32 and inputs["input_ids"].allow_ragged_batch
    assert not inputs["request_output_len"].optional and inputs["end_id"].optional
    assert inputs["random_seed"].data_type == mc.TYPE_UINT64
    assert list(inputs["input_lengths"].reshape.shape) == []
    assert {o.name: list(o.dims) for o in lm.output} == {"output_ids": [-1, -1],
                                                       "sequence_length": [-1]}
    parameters = {k: v.string_value for k, v in lm.parameters.items()}
    assert parameters["gpt_model_path"] == "/engines/maya1"
    assert parameters["gpt_model_type"] == "inflight_fused_batching"
    assert parameters["exclude_input_in_output"] == "true"
    stream = parse(render(models[c.MAYA1_STREAM_MODEL]))
    assert stream.parameters[c.PARAM_LM_BACKEND].string_value == "tensorrtllm"


def test_snac_engines_are_served_as_tensorrt_plans(maya1_checkpoint: Path, snac_graph: Path,
                                                   tmp_path: Path) -> None:
    folder = tmp_path / "engines"
    folder.mkdir()
    for name in ("model.plan", "model_sm90.plan"):
        (folder / name).write_bytes(b"engine")  # contents are not read here
    setup = setup_for(maya1_checkpoint, snac_graph, tmp_path,
                      snac_plans=StagePlans(folder, {"9.0": "model_sm90.plan"}))
    snac = parse(render({m.name: m for m in maya1_gpu_models(setup)}[c.MAYA1_SNAC_MODEL]))
    assert snac.platform == "tensorrt_plan" and snac.default_model_filename == "model.plan"
    assert dict(snac.cc_model_filenames) == {"9.0": "model_sm90.plan"}
    assert snac.max_batch_size > 1 and snac.HasField("dynamic_batching")


# --- vLLM: the prompt as text, the codes as text ----------------------------------------------


def llama3_like(maya1_checkpoint: Path, folder: Path) -> Path:
    """The tiny tokenizer with Llama 3's BOS template, as the real snapshot has it."""
    tokenizer = json.loads((maya1_checkpoint / "tokenizer.json").read_text())
    tokenizer["post_processor"] = {
        "type": "TemplateProcessing",
        "single": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}},
                   {"Sequence": {"id": "A", "type_id": 0}}],
        "pair": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}},
                 {"Sequence": {"id": "A", "type_id": 0}},
                 {"Sequence": {"id": "B", "type_id": 1}}],
        "special_tokens": {"<|begin_of_text|>": {"id": "<|begin_of_text|>", "ids": [BOS],
                                                 "tokens": ["<|begin_of_text|>"]}}}
    folder.mkdir()
    (folder / "tokenizer.json").write_text(json.dumps(tokenizer))
    (folder / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<|begin_of_text|>"}))
    (folder / "config.json").write_text("{}")
    return folder


def test_the_prompt_text_tokenizes_back_to_the_exact_ids_as_vllm_does(
        maya1_checkpoint: Path, tokenizer: Any, tmp_path: Path) -> None:
    from transformers import AutoTokenizer  # what vLLM loads the tokenizer with

    snapshot = llama3_like(maya1_checkpoint, tmp_path / "snapshot")
    ids = PromptBuilder(tokenizer).prompt_ids(DESCRIPTION, "Hi <laugh> there <sigh>.")
    text = prompt_text(ids, tokenizer)
    # The ids carry the BOS the snapshot's tokenizer put in front; vLLM with that tokenizer
    # would put a third.
    assert ids[:3] == [BOS, START_OF_HUMAN, BOS]
    assert AutoTokenizer.from_pretrained(str(snapshot)).encode(text) == [BOS, *ids]
    served = tmp_path / "vllm-tokenizer"
    served.mkdir()
    for name, content in vllm_tokenizer_files(snapshot).items():
        (served / name).write_text(content)
    assert AutoTokenizer.from_pretrained(str(served)).encode(text) == ids


def test_vllm_request_asks_for_codes_only_up_to_code_end(tokenizer: Any) -> None:
    ids = PromptBuilder(tokenizer).prompt_ids(DESCRIPTION, "Hello.")
    inputs = VllmWire(tokenizer).inputs(ids, SamplingSettings(max_new_tokens=70, seed=3))
    assert inputs["text_input"][0].decode() == prompt_text(ids, tokenizer)
    assert inputs["stream"][0] and inputs["exclude_input_in_output"][0]
    parameters = json.loads(inputs["sampling_parameters"][0])
    assert parameters == json.loads(sampling_parameters(SamplingSettings(max_new_tokens=70,
                                                                         seed=3)))
    assert parameters["stop_token_ids"] == [CODE_END] and parameters["ignore_eos"]
    assert parameters["max_tokens"] == 70 and parameters["skip_special_tokens"] is False
    assert json.loads(sampling_parameters(SamplingSettings()))["max_tokens"] == 2044


def test_custom_tokens_are_read_across_pieces() -> None:
    ids = [*frame(), *frame((9, 8, 7, 6, 5, 4, 3))]
    text = as_text(ids)
    reader = CustomTokenReader()
    got = []
    for start in range(0, len(text), 5):  # every token straddles a cut
        got += reader.feed_text(text[start : start + 5])
    reader.finish()
    assert got == ids


@pytest.mark.parametrize("text", ["hello <custom_token_10>", "<custom_token_10> <laugh>",
                                  "<custom_token_10>, "])
def test_text_that_is_not_a_code_is_refused(text: str) -> None:
    with pytest.raises(InvalidCodeError, match="not a SNAC code"):
        CustomTokenReader().feed_text(text)


def test_text_ending_inside_a_token_is_refused() -> None:
    reader = CustomTokenReader()
    assert reader.feed_text("<custom_token_10> <custom_tok") == [CUSTOM_TOKEN_BASE + 10]
    with pytest.raises(InvalidCodeError, match="inside a token"):
        reader.finish()


# --- TensorRT-LLM: ids both ways --------------------------------------------------------------


def test_tensorrtllm_request_and_output_ids() -> None:
    settings = SamplingSettings(max_new_tokens=30, seed=5)
    inputs = TensorrtLlmWire().inputs([1, 2, 3], settings)
    assert inputs["input_ids"].tolist() == [[1, 2, 3]] and inputs["input_ids"].dtype == np.int32
    assert inputs["input_lengths"].tolist() == [[3]]
    assert inputs["request_output_len"].tolist() == [[28]]  # whole frames
    assert inputs["end_id"].tolist() == [[CODE_END]]
    assert inputs["random_seed"].dtype == np.uint64 and inputs["streaming"].tolist() == [[True]]
    assert "random_seed" not in TensorrtLlmWire().inputs([1], SamplingSettings())
    ids = np.array([[[*frame()[:3]]]], dtype=np.int32)  # [batch, beam, new tokens]
    assert OutputIdsReader().feed({"output_ids": ids}) == list(frame()[:3])


# --- frames: the band check after the backend -------------------------------------------------


@pytest.mark.parametrize(("ids", "frames", "refusal"), [
    ([*frame(), *frame()], 2, None),
    ([*frame(), CODE_END, *frame()], 1, None),  # nothing after CODE_END is decoded
    ([*frame()[:3], slot_band(0)[0], *frame()[4:]], 0, "frame 0 slot 3"),  # wrong band
    ([*frame(), *frame()[:4], CODE_END], 1, "CODE_END"),  # inside a frame
    ([*frame(), 200], 1, "frame 1 slot 0"),  # a text id where a code belongs
    ([*frame(), *frame()[:5]], 1, "stopped after 5 ids"),  # a partial last frame
])
def test_frame_assembler_table(ids: list[int], frames: int, refusal: str | None) -> None:
    assembler = FrameAssembler(code_limit=70)
    # The frames before a refusal are delivered: no valid audio is lost.
    assert assembler.push(ids) == [frame()] * frames
    if refusal is None:
        assert assembler.finish() == "end"
    else:
        with pytest.raises(InvalidCodeError, match=refusal):
            assembler.finish()


def test_frame_assembler_stops_at_the_limit() -> None:
    frames = FrameAssembler(code_limit=14)
    assert len(frames.push([*frame(), *frame(), *frame()])) == 2
    assert frames.done and frames.finish() == "limit"


def test_remote_generator_refuses_a_stray_id_and_counts_it() -> None:
    stray = [*frame()[:2], slot_band(4)[0], *frame()[3:]]
    refused: list[InvalidCodeError] = []
    closed: list[bool] = []

    async def backend(prompt, settings):
        try:
            for piece in ([*frame(), *frame()[:3]], [*frame()[3:]], stray, [*frame()]):
                yield piece
        finally:
            closed.append(True)

    async def run() -> tuple[list, list]:
        frames, done = [], asyncio.get_running_loop().create_future()
        RemoteGenerator(backend, on_refused=refused.append).start(
            [1, 2], SamplingSettings(), frames.append,
            lambda reason, error: done.set_result((reason, error)))
        return frames, await done

    frames, (reason, error) = asyncio.run(run())
    assert frames == [frame(), frame()]  # the frames before the stray one were delivered
    assert reason is None and isinstance(error, InvalidCodeError)
    assert "frame 2 slot 2" in str(error) and refused == [error]
    assert closed == [True]  # the backend's stream was closed, not left running
