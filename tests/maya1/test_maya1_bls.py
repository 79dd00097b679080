"""Maya1's gpu-profile path through a real tritonserver on CPU: `maya1_stream` and `maya1`
take their codes from `maya1_lm` over BLS, as they do on a GPU host with the vLLM backend.

`maya1_lm` here is a TEST DOUBLE (tests/doubles/maya1_lm_vllm): a python model with the vLLM
backend's exact tensors (taken from the generated vLLM config) that tokenizes the prompt text
as vLLM does and streams seeded random codes as `<custom_token_N>` text. SNAC runs in the
stream model's own ONNX Runtime session (the cpu server has no TensorRT / ONNX Runtime
backend for `maya1_snac`)."""

from __future__ import annotations

import queue
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from conftest import MAYA1_TEST_CHUNK_CHARS

from tritontts.maya1.codec import OnnxSnacDecoder, stream_audio
from tritontts.maya1.gpu import Maya1GpuSetup, remote_stream_model, vllm_model
from tritontts.maya1.llm_wire import CustomTokenReader, VllmWire
from tritontts.maya1.prompt import PromptBuilder, PromptLimits
from tritontts.maya1.remote import FrameAssembler
from tritontts.maya1.repository import speech_model
from tritontts.maya1.sampling import SamplingSettings
from tritontts.repository import PythonModel, write_repository
from tritontts.serving.server import TritonServer
from tritontts_client import TTSClient
from tritontts_client import contract as c
from tritontts_client.errors import InvalidRequestError, ServerError

from helpers import running_server

pytestmark = pytest.mark.e2e
DOUBLE = Path(__file__).resolve().parents[1] / "doubles" / "maya1_lm_vllm"
DESCRIPTION = "Female voice in her 30s, warm, calm pacing"
FRAME = 2048


@pytest.fixture(scope="module")
def bls_repository(maya1_checkpoint: Path, snac_graph: Path,
                   tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("maya1-bls")
    setup = Maya1GpuSetup(maya1_checkpoint, snac_graph, repository_dir=root / "repo",
                          limits=PromptLimits(chunk_chars=MAYA1_TEST_CHUNK_CHARS))
    vllm = vllm_model(setup)  # the real generated config: the double takes its contract
    tokenizer = root / "vllm-tokenizer"
    tokenizer.mkdir()
    for name, text in vllm.texts.items():
        if name.startswith(c.VLLM_TOKENIZER_FOLDER + "/"):
            (tokenizer / Path(name).name).write_text(text)
    double = PythonModel(
        name=vllm.name, inputs=vllm.inputs, outputs=vllm.outputs, max_batch_size=0,
        instances=1, decoupled=True, parameters={"tokenizer_dir": "tokenizer"},
        files={f"tokenizer/{p.name}": p for p in tokenizer.iterdir()}, source_dir=DOUBLE)
    models = [double, remote_stream_model(setup, snac_in_process=True), speech_model()]
    return write_repository(models, setup.repository_dir)


@pytest.fixture(scope="module")
def bls_server(bls_repository: Path) -> Iterator[TritonServer]:
    with running_server(bls_repository) as triton:
        yield triton


def _inputs(values: dict[str, np.ndarray]) -> list:
    inputs = []
    for name, array in values.items():
        dtype = "BYTES" if array.dtype == object else ("BOOL" if array.dtype == bool else
                                                       "INT32" if array.dtype == np.int32
                                                       else "INT64")
        tensor = grpcclient.InferInput(name, list(array.shape), dtype)
        tensor.set_data_from_numpy(array)
        inputs.append(tensor)
    return inputs


def stream_responses(server: TritonServer, model: str, values: dict[str, np.ndarray],
                     output: str) -> tuple[list[np.ndarray], str | None]:
    """One decoupled call: the outputs it streamed, and the error it ended with (if any)."""
    responses: queue.Queue = queue.Queue()
    client = grpcclient.InferenceServerClient(server.grpc_url)
    client.start_stream(callback=lambda result, error: responses.put((result, error)))
    try:
        client.async_stream_infer(model, _inputs(values), enable_empty_final_response=True)
        outputs = []
        while True:
            result, error = responses.get(timeout=120)
            if error is not None:
                return outputs, str(error)
            array = result.as_numpy(output)
            if array is not None:
                outputs.append(array)
            if result.get_response().parameters["triton_final_response"].bool_param:
                return outputs, None
    finally:
        client.stop_stream()
        client.close()


def speech_inputs(text: str, max_new_tokens: int, seed: int) -> dict[str, np.ndarray]:
    return {c.TEXT.name: np.array([text.encode()], dtype=object),
            c.DESCRIPTION.name: np.array([DESCRIPTION.encode()], dtype=object),
            c.MAX_NEW_TOKENS.name: np.array([max_new_tokens], dtype=np.int32),
            c.SEED.name: np.array([seed], dtype=np.int64)}


def double_frames(server: TritonServer, maya1_checkpoint: Path, text: str,
                  settings: SamplingSettings) -> list[tuple[int, ...]]:
    """What the double streams for the request the stream model makes, asked directly."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(maya1_checkpoint / "tokenizer.json"))
    prompt = PromptBuilder(tokenizer).prompt_ids(DESCRIPTION, text)
    pieces, error = stream_responses(server, c.MAYA1_LM_MODEL,
                                     VllmWire(tokenizer).inputs(prompt, settings),
                                     c.VLLM_TEXT_OUTPUT.name)
    assert error is None, error
    reader = CustomTokenReader()
    ids = [i for piece in pieces for i in reader.feed({c.VLLM_TEXT_OUTPUT.name: piece})]
    frames = FrameAssembler(settings.code_limit)
    decoded = frames.push(ids)
    frames.finish()
    return decoded


def refused_total(server: TritonServer) -> float:
    return server.metric(c.MAYA1_REFUSED_CODES_TOTAL, c.MAYA1_STREAM_MODEL)


def test_streamed_audio_decodes_exactly_the_codes_maya1_lm_returned(
        bls_server: TritonServer, maya1_checkpoint: Path, snac_graph: Path) -> None:
    chunks, error = stream_responses(bls_server, c.MAYA1_STREAM_MODEL,
                                     speech_inputs("Short one.", 70, seed=11), c.AUDIO.name)
    assert error is None, error
    # The stream model gives the first prompt the request's seed.
    frames = double_frames(bls_server, maya1_checkpoint, "Short one.",
                           SamplingSettings(max_new_tokens=70, seed=11))
    assert len(frames) == 10
    expected = np.concatenate(stream_audio(frames, OnnxSnacDecoder(snac_graph)))
    # Frames that arrive together share a chunk, so the cuts depend on the double's pace;
    # the audio does not: every frame, nothing lost at the ends, no step at a seam.
    assert len(chunks) > 1
    np.testing.assert_allclose(np.concatenate(chunks), expected, atol=1e-5)
    assert len(expected) == 9 * FRAME  # the warm-up frame is not sent


def test_whole_speech_over_bls_keeps_the_client_contract(bls_server: TritonServer) -> None:
    text = "The first sentence is here. A second one follows now."
    with TTSClient(bls_server.grpc_url, deadline_s=120) as client:
        synthesis = client.synthesize(text, description=DESCRIPTION)
        # The double gives every prompt the full token limit (292 frames): each sentence is
        # generated again in two halves, which hit the limit again and are kept; each drops
        # its warm-up frame.
        assert synthesis.sample_rate == 24_000
        assert len(synthesis.audio) == 2 * 2 * 291 * FRAME
        with pytest.raises(InvalidRequestError, match=r"<giggles>.*<laugh>"):
            client.synthesize("Hello <giggles>", description=DESCRIPTION)


def test_a_stray_id_refuses_the_sequence_and_is_counted(bls_server: TritonServer) -> None:
    before = refused_total(bls_server)
    # The double puts an id of slot 0's band in slot 3 of frame 5.
    chunks, error = stream_responses(bls_server, c.MAYA1_STREAM_MODEL,
                                     speech_inputs("A stray frame.", 140, seed=2), c.AUDIO.name)
    assert error is not None and "frame 5 slot 3" in error and "outside its band" in error
    # Frames 0-4 were valid: their audio had been sent (2048:5120 of window [0, 4), then
    # 3072:5120 of window [1, 5)).
    assert sum(len(chunk) for chunk in chunks) == 3072 + 2048
    assert refused_total(bls_server) == before + 1
    with TTSClient(bls_server.grpc_url, deadline_s=120) as client:
        with pytest.raises(ServerError, match="outside its band"):
            client.synthesize("Another stray one.", description=DESCRIPTION)
        # The server stays up and serves the next request.
        assert len(client.synthesize("Fine.", description=DESCRIPTION).audio) == 291 * FRAME
