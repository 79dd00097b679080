"""Bring your own multi-speaker Piper voice: exported, split, served; VOICE picks the speaker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from voices import SPEAKERS

from tritontts.baseline import PiperBaseline
from tritontts.client import InvalidRequestError, TTSClient
from tritontts.export.voice import PARITY_TOLERANCE, parity_max_abs_diff
from tritontts.repository import cpu_models, parse, write_repository
from tritontts.server import TritonServer
from tritontts.voice import ExportedVoice, PiperVoiceConfig

from helpers import assert_speech, max_abs_diff, running_server

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


def test_repository_wires_speaker_tensors(multi_voice, tmp_path: Path) -> None:
    _, _, exported = multi_voice
    repository = write_repository(cpu_models(exported), tmp_path / "repo")
    acoustic = parse((repository / "acoustic" / "config.pbtxt").read_text())
    assert "speaker_id" in [i.name for i in acoustic.input]
    assert "speaker_embedding" in [o.name for o in acoustic.output]
    tts = parse((repository / "tts" / "config.pbtxt").read_text())
    vocoder_step = next(s for s in tts.ensemble_scheduling.step if s.model_name == "vocoder")
    assert vocoder_step.input_map["speaker_embedding"] == "speaker_embedding"


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
