"""Bring your own multi-speaker Piper voice: exported, split, served; VOICE picks the speaker."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
import pytest

from tritontts.export.optimize import FP16_TOLERANCE
from tritontts.export.tensorrt import FramesPerPhoneme, stage_profiles
from tritontts.export.voice import PARITY_TOLERANCE, parity_max_abs_diff
from tritontts.piper.baseline import PiperBaseline
from tritontts.piper.cpu import cpu_models
from tritontts.piper.frontend import GPU_LIMITS, TextFrontend
from tritontts.piper.gpu import gpu_models
from tritontts.piper.stages import AcousticStage
from tritontts.piper.voice import ExportedVoice, PiperVoiceConfig
from tritontts.repository import parse, write_repository
from tritontts.serving.server import TritonServer
from tritontts_client import InvalidRequestError, TTSClient

from helpers import assert_speech, contract_io, graph_io, max_abs_diff, running_server
from voices import SPEAKERS

TEXT = "Every speaker of this voice reads the same sentence."
DETERMINISTIC = {"noise_scale": 0.0, "noise_w": 0.0}


@pytest.fixture(scope="module")
def multi_voice(multi_speaker_voice) -> tuple[Path, Path, ExportedVoice]:
    return multi_speaker_voice


@pytest.fixture(scope="module")
def multi_server(multi_voice, tmp_path_factory: pytest.TempPathFactory
                 ) -> Iterator[TritonServer]:
    _, _, exported = multi_voice
    repository = write_repository(cpu_models(exported),
                                  tmp_path_factory.mktemp("multi-repo") / "repo")
    with running_server(repository) as server:
        yield server


def test_split_carries_the_speaker(multi_voice) -> None:
    model, config, exported = multi_voice
    assert exported.num_speakers == len(SPEAKERS)
    assert exported.speaker_embedding_channels > 0
    assert parity_max_abs_diff(model, exported, PiperVoiceConfig.load(config),
                               TEXT) <= PARITY_TOLERANCE
    # The durations cross the cut too, and every speaker's add up to its frames.
    stage = AcousticStage(exported.acoustic)
    batch = TextFrontend(PiperVoiceConfig.load(config)).encode(TEXT)
    for speaker in SPEAKERS.values():
        _, frames, durations, embedding = stage.run(
            batch.ids, batch.lengths, np.tile(np.array([0.0, 1.0, 0.0], np.float32),
                                              (batch.chunks, 1)),
            np.full(batch.chunks, speaker))
        assert embedding is not None
        np.testing.assert_array_equal(durations.sum(axis=1), frames)


def test_repository_wires_speaker_tensors(multi_voice, tmp_path: Path) -> None:
    _, _, exported = multi_voice
    repository = write_repository(cpu_models(exported), tmp_path / "repo")
    acoustic = parse((repository / "acoustic" / "config.pbtxt").read_text())
    assert "speaker_id" in [i.name for i in acoustic.input]
    assert "speaker_embedding" in [o.name for o in acoustic.output]
    tts = parse((repository / "tts" / "config.pbtxt").read_text())
    vocoder_step = next(s for s in tts.ensemble_scheduling.step if s.model_name == "vocoder")
    assert vocoder_step.input_map["speaker_embedding"] == "speaker_embedding"


@pytest.mark.slow  # the whole export with FP16 variants and their parity per speaker
def test_export_with_variants_end_to_end(multi_voice, tmp_path: Path) -> None:
    """`tritontts export` of a multi-speaker voice, variants included (the default): the
    cleaned and FP16 graphs keep the speaker tensors, FP16 parity is measured for every
    speaker and passes, and the gpu profile and TensorRT profiles take the variants."""
    model, _, _ = multi_voice
    done = subprocess.run([sys.executable, "-m", "tritontts.cli", "export", "--voice", str(model),
                           "--out", str(tmp_path)], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    exported = ExportedVoice.load(tmp_path / model.stem)
    for stage in ("acoustic", "vocoder"):
        for variant in ("opt", "fp16"):
            graph = onnx.load(str(exported.stage_graph(stage, variant)))
            onnx.checker.check_model(graph, full_check=True)
            assert graph_io(graph) == contract_io(stage, exported), (stage, variant)
    # The parity table has a row per speaker and chunk, and its verdict line passes.
    rows = [line.split() for line in done.stdout.splitlines()
            if re.match(r"\s*\d+\s+\d+\s+\d+/\d+", line)]
    assert {int(row[0]) for row in rows} == set(SPEAKERS.values())
    verdict = done.stdout.strip().splitlines()[-1]
    assert verdict.startswith("pass: 0 frame and 0 duration mismatches"), verdict
    min_snr = float(re.search(r"min SNR ([\d.]+) dB", verdict)[1])
    assert min_snr >= FP16_TOLERANCE.min_snr_db
    # The gpu profile serves the cleaned graphs with the speaker tensors, and the engine
    # profiles cover them.
    configs = {m.name: m for m in gpu_models(exported, {
        "acoustic": exported.stage_graph("acoustic", "opt"),
        "vocoder": exported.stage_graph("vocoder", "opt")})}
    assert "speaker_id" in [t.name for t in configs["acoustic"].inputs]
    assert "speaker_embedding" in [t.name for t in configs["vocoder"].inputs]
    frames = FramesPerPhoneme(slowest=15.2, typical=3.0, slowest_speed=0.25)
    profiles = stage_profiles(GPU_LIMITS, frames,
                              exported.latent_channels,
                              speaker_embedding_channels=exported.speaker_embedding_channels)
    assert "speaker_id" in [p.input for p in profiles["acoustic"]]
    assert "speaker_embedding" in [p.input for p in profiles["vocoder"]]


@pytest.mark.e2e
def test_speaker_choice_changes_the_voice(multi_voice, multi_server: TritonServer) -> None:
    model, config, _ = multi_voice
    baseline = PiperBaseline(model, config)
    with TTSClient(multi_server.grpc_url) as client:
        default = client.synthesize(TEXT, **DETERMINISTIC)
        by_speaker = {name: client.synthesize(TEXT, voice=name, **DETERMINISTIC)
                      for name in SPEAKERS}
        qualified = client.synthesize(TEXT, voice="en_US-test-multi/ben", **DETERMINISTIC)
        streamed = np.concatenate([c.audio for c in client.stream(TEXT, voice="cho",
                                                                  **DETERMINISTIC)])
    for name, result in by_speaker.items():
        assert result.sample_rate == 16000  # the voice's own rate, not the default voice's
        assert_speech(result.audio, result.sample_rate, TEXT)
        # Each speaker is exactly the original multi-speaker graph with that sid.
        reference = baseline.synthesize(TEXT, speaker=SPEAKERS[name], **DETERMINISTIC)
        assert max_abs_diff(result.audio, reference) <= 1e-4
    assert np.array_equal(default.audio, by_speaker["ana"].audio)
    assert np.array_equal(qualified.audio, by_speaker["ben"].audio)
    assert max_abs_diff(by_speaker["ana"].audio, by_speaker["ben"].audio) > 0.01
    assert max_abs_diff(streamed, by_speaker["cho"].audio) < 1e-3


@pytest.mark.e2e
def test_unknown_speaker_is_invalid(multi_server: TritonServer) -> None:
    with TTSClient(multi_server.grpc_url) as client:
        with pytest.raises(InvalidRequestError, match="ana, ben, cho"):
            client.synthesize(TEXT, voice="zed")
        with pytest.raises(InvalidRequestError, match="zed"):
            list(client.stream(TEXT, voice="zed"))
    assert multi_server.is_ready()


@pytest.mark.e2e
def test_single_speaker_voice_refuses_other_speakers(server: TritonServer) -> None:
    with TTSClient(server.grpc_url) as client:
        assert client.synthesize("Hello.", voice="en_US-joe-medium").duration_s > 0.3
        with pytest.raises(InvalidRequestError, match="one speaker only"):
            client.synthesize("Hello.", voice="somebody")
