"""Streaming synthesis: windows, the decoupled `tts_stream` model, cancellation, the client."""

from __future__ import annotations

import asyncio
import itertools
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import soundfile
import tritonclient.grpc as grpcclient

from tritontts.piper.frontend import TextFrontend, encode_request
from tritontts.piper.stages import AcousticStage, VocoderStage, join_with_pauses, pause_samples
from tritontts.piper.streaming import stream_chunks
from tritontts.piper.voice import ExportedVoice, PiperVoiceConfig
from tritontts.piper.windows import WindowPlan, plan_windows
from tritontts.serving.server import TritonServer
from tritontts_client import AsyncTTSClient, InvalidRequestError, TTSClient
from tritontts_client.contract import STREAM_FIRST_AUDIO_MS, STREAM_MODEL

from helpers import assert_speech

DETERMINISTIC = {"noise_scale": 0.0, "noise_w": 0.0}
TEXT = ("Streaming lets a voice agent start talking right away. The rest of the answer follows "
        "while it is still being computed. Nobody hears the seams.")
MIN_SNR_DB = 40.0


def snr_db(reference: np.ndarray, test: np.ndarray) -> float:
    assert reference.shape == test.shape, (reference.shape, test.shape)
    noise = np.sum((reference.astype(np.float64) - test) ** 2)
    return float(10 * np.log10(np.sum(reference.astype(np.float64) ** 2) / max(noise, 1e-30)))


@pytest.mark.parametrize("frames", [1, 15, 16, 17, 48, 300, 1000])
def test_windows_cover_every_frame_once(frames: int) -> None:
    plan = WindowPlan()
    windows = plan_windows(frames, plan)
    assert windows[0].start == 0 and windows[-1].end == frames
    assert windows[0].end - windows[0].start == min(frames, plan.first_frames)
    for before, after in itertools.pairwise(windows):
        assert before.end == after.start
        assert after.end - after.start <= plan.max_frames
    for w in windows:
        assert w.context_start == max(0, w.start - plan.context_frames)
        assert w.context_end == min(frames, w.end + plan.context_frames)


def test_window_plan_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        WindowPlan(first_frames=0)
    with pytest.raises(ValueError):
        WindowPlan(first_frames=64, max_frames=32)


def test_windowed_vocoder_equals_one_shot(exported_voice: ExportedVoice) -> None:
    """Plain-module check, no server: joined windows equal the one-shot audio."""
    voice = PiperVoiceConfig.load(exported_voice.config)
    batch, scales = encode_request(TextFrontend(voice), TEXT, **DETERMINISTIC)
    pauses = pause_samples(batch.pauses_s, voice.sample_rate)
    latent, frames, *_ = AcousticStage(exported_voice.acoustic).run(batch.ids, batch.lengths,
                                                                    scales)
    vocoder = VocoderStage(exported_voice.vocoder, exported_voice.hop_length)
    one_shot = join_with_pauses(
        [w[: f * exported_voice.hop_length]
         for w, f in zip(vocoder.run(latent, frames), frames, strict=True)], pauses)

    async def latents():
        for i in range(batch.chunks):
            yield latent[i, :, : frames[i]]

    async def vocode(x: np.ndarray) -> np.ndarray:
        return vocoder.runner.run({"latent": x})[0]

    async def collect() -> list:
        return [c async for c in stream_chunks(latents(), pauses, vocode,
                                               exported_voice.hop_length, WindowPlan())]

    chunks = asyncio.run(collect())
    assert [c.final for c in chunks].count(True) == 1 and chunks[-1].final
    assert snr_db(one_shot, np.concatenate([c.audio for c in chunks])) > MIN_SNR_DB


@pytest.mark.e2e
def test_stream_matches_one_shot_tts(server: TritonServer) -> None:
    with TTSClient(server.grpc_url) as client:
        one_shot = client.synthesize(TEXT, **DETERMINISTIC).audio
        chunks = list(client.stream(TEXT, **DETERMINISTIC))
    joined = np.concatenate([c.audio for c in chunks])
    assert snr_db(one_shot, joined) > MIN_SNR_DB
    # No click at any seam: around every boundary the streamed audio follows the one-shot.
    boundaries = np.cumsum([len(c.audio) for c in chunks])[:-1]
    for boundary in boundaries:
        around = slice(max(0, boundary - 64), boundary + 64)
        assert np.abs(joined[around] - one_shot[around]).max() < 1e-3
    # Order and the final flag: numbered in order, only the last one final.
    assert [c.index for c in chunks] == list(range(len(chunks)))
    assert [c.final for c in chunks] == [False] * (len(chunks) - 1) + [True]
    assert chunks[0].duration_s <= WindowPlan().first_frames * 256 / 22050 + 1e-6
    assert all(c.sample_rate == 22050 for c in chunks)


@pytest.mark.e2e
def test_async_stream(server: TritonServer) -> None:
    async def collect() -> tuple[list, np.ndarray]:
        async with AsyncTTSClient(server.grpc_url) as client:
            chunks = [c async for c in client.stream(TEXT, **DETERMINISTIC)]
            one_shot = (await client.synthesize(TEXT, **DETERMINISTIC)).audio
        return chunks, one_shot

    chunks, one_shot = asyncio.run(collect())
    assert chunks[-1].final
    assert snr_db(one_shot, np.concatenate([c.audio for c in chunks])) > MIN_SNR_DB


@pytest.mark.e2e
@pytest.mark.parametrize("text,options,words", [
    ("   ", {}, "empty"), ("x" * 100_000, {}, "limit"), ("Hello.", {"SPEED": -1.0}, "SPEED")])
def test_bad_input_is_a_stream_error(server: TritonServer, text: str, options: dict,
                                     words: str) -> None:
    # Raw stream, bypassing the client's checks, so that the server's refusal is what is seen.
    client = grpcclient.InferenceServerClient(server.grpc_url)
    errors: list = []
    client.start_stream(callback=lambda result, error: errors.append(error))
    inputs = [grpcclient.InferInput("TEXT", [1], "BYTES")]
    inputs[0].set_data_from_numpy(np.array([text.encode()], dtype=np.object_))
    for name, value in options.items():
        inputs.append(grpcclient.InferInput(name, [1], "FP32"))
        inputs[-1].set_data_from_numpy(np.array([value], dtype=np.float32))
    client.async_stream_infer("tts_stream", inputs)
    deadline = time.monotonic() + 30
    while not errors and time.monotonic() < deadline:
        time.sleep(0.05)
    client.stop_stream()
    assert errors and errors[0] is not None
    assert errors[0].message().startswith("INVALID_ARG: ") and words in errors[0].message()
    assert server.is_ready()


@pytest.mark.e2e
def test_client_raises_invalid_request_for_stream_refusal(server: TritonServer) -> None:
    with TTSClient(server.grpc_url) as client, pytest.raises(InvalidRequestError, match="SPEED"):
        list(client.stream("Hello.", speed=10.0))


def _vocoder_calls(server: TritonServer) -> int:
    client = grpcclient.InferenceServerClient(server.grpc_url)
    stats = client.get_inference_statistics("vocoder", as_json=True)
    return int(stats["model_stats"][0].get("inference_count", 0))


@pytest.mark.e2e
def test_cancelling_stops_server_side_work(server: TritonServer) -> None:
    sentences = " ".join(f"This is sentence number {n} of a long story." for n in range(1, 41))
    cancelled_before = server.metric("tritontts_stream_cancelled_total")
    calls_before = _vocoder_calls(server)
    with TTSClient(server.grpc_url) as client:
        stream = client.stream(sentences)
        first = next(stream)
        assert first.audio.size > 0
        stream.close()  # the listener hung up
    deadline = time.monotonic() + 20
    while server.metric("tritontts_stream_cancelled_total") <= cancelled_before:
        assert time.monotonic() < deadline, "the server never noticed the cancellation"
        time.sleep(0.1)
    settled = _vocoder_calls(server)
    time.sleep(2.0)
    assert _vocoder_calls(server) == settled, "vocoder work went on after the cancellation"
    # 40 sentences need at least 80 vocoder windows; only a few ran.
    assert settled - calls_before < 20
    assert server.is_ready()


@pytest.mark.e2e
def test_eight_concurrent_streams(server: TritonServer) -> None:
    texts = [f"Stream number {n} says hello. It also says goodbye." for n in range(8)]
    with TTSClient(server.grpc_url) as client, ThreadPoolExecutor(8) as pool:
        streamed = list(pool.map(lambda t: list(client.stream(t, **DETERMINISTIC)), texts))
        one_shot = [client.synthesize(t, **DETERMINISTIC).audio for t in texts]
    for chunks, reference in zip(streamed, one_shot, strict=True):
        assert chunks[-1].final
        assert snr_db(reference, np.concatenate([c.audio for c in chunks])) > MIN_SNR_DB


@pytest.mark.e2e
def test_first_audio_histogram_is_exported(server: TritonServer) -> None:
    """This test's own stream is counted once, with a first-audio time within its bounds."""
    count, total = f"{STREAM_FIRST_AUDIO_MS}_count", f"{STREAM_FIRST_AUDIO_MS}_sum"
    before = server.metric(count, STREAM_MODEL), server.metric(total, STREAM_MODEL)
    started = time.perf_counter()
    with TTSClient(server.grpc_url) as client:
        chunks = client.stream("Count me.")
        next(chunks)
        first_audio_ms = (time.perf_counter() - started) * 1e3
        list(chunks)
    after = server.metric(count, STREAM_MODEL), server.metric(total, STREAM_MODEL)
    assert after[0] - before[0] == 1
    # The server's own first-audio time lies within the client's (which adds the network).
    assert 0 < after[1] - before[1] <= first_audio_ms


@pytest.mark.e2e
@pytest.mark.parametrize("to_stdout", [False, True])
def test_speak_stream(server: TritonServer, tmp_path, to_stdout: bool) -> None:
    import subprocess

    out = "-" if to_stdout else str(tmp_path / "stream.wav")
    result = subprocess.run(
        [sys.executable, "-m", "tritontts.cli", "speak", TEXT, "--stream", "-o", out,
         "--url", server.grpc_url], capture_output=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr.decode()
    if to_stdout:
        audio = np.frombuffer(result.stdout, dtype="<i2").astype(np.float32) / 32767.0
        rate = 22050
    else:
        audio, rate = soundfile.read(out, dtype="float32")
    assert_speech(audio, rate, TEXT)


@pytest.mark.e2e
def test_sync_and_async_clients_read_streams_alike(server: TritonServer) -> None:
    """One response reader: chunks are numbered 0, 1, 2, ... in both clients, the last one
    final, and both clients report readiness the same way."""
    text = "Both clients number the chunks they yield the same way, one after another."
    with TTSClient(server.grpc_url) as client:
        assert client.is_ready()
        sync_chunks = list(client.stream(text, **DETERMINISTIC))

    async def collect() -> tuple[bool, list]:
        async with AsyncTTSClient(server.grpc_url) as client:
            await client.wait_until_ready(5)
            return await client.is_ready(), [c async for c in client.stream(text, **DETERMINISTIC)]

    ready, async_chunks = asyncio.run(collect())
    assert ready
    for chunks in (sync_chunks, async_chunks):
        assert [c.index for c in chunks] == list(range(len(chunks)))
        assert [c.final for c in chunks] == [False] * (len(chunks) - 1) + [True]
    assert [len(c.audio) for c in sync_chunks] == [len(c.audio) for c in async_chunks]


def test_async_client_reports_an_unreachable_server_as_unavailable() -> None:
    from tritontts.serving.server import free_port
    from tritontts_client import ServerUnavailableError

    url = f"127.0.0.1:{free_port()}"

    async def attempt() -> None:
        async with AsyncTTSClient(url, deadline_s=1.0) as client:
            assert not await client.is_ready()
            with pytest.raises(ServerUnavailableError, match="not ready"):
                await client.wait_until_ready(0.5)
            with pytest.raises(ServerUnavailableError):
                await client.synthesize("Hello.")

    asyncio.run(attempt())
