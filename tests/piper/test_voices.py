"""Several voices served from one repository, chosen per request by VOICE."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as grpcclient

from tritontts.export.voice import default_voice
from tritontts.piper.baseline import PiperBaseline
from tritontts.piper.cpu import cpu_models
from tritontts.piper.frontend import TextFrontend, VoiceFrontends
from tritontts.piper.pipeline import voice_list
from tritontts.piper.stages import run_per_voice
from tritontts.piper.voice import ExportedVoice, InvalidInputError, PiperVoiceConfig, choose_voice
from tritontts.repository import RenderError, parse, write_repository
from tritontts.serving.server import TritonServer
from tritontts_client import InvalidRequestError, TTSClient

from helpers import assert_speech, max_abs_diff, running_server
from voices import SPEAKERS

TEXT = "Two voices live in this repository, and each request picks one."
DETERMINISTIC = {"noise_scale": 0.0, "noise_w": 0.0}
JOE = "en_US-joe-medium"
MULTI = "en_US-test-multi"


@pytest.fixture(scope="module")
def two_voices(exported_voice: ExportedVoice, multi_speaker_voice) -> list[ExportedVoice]:
    return [exported_voice, multi_speaker_voice[2]]


@pytest.fixture(scope="module")
def voices_server(two_voices, tmp_path_factory: pytest.TempPathFactory
                  ) -> Iterator[TritonServer]:
    repository = write_repository(cpu_models(two_voices),
                                  tmp_path_factory.mktemp("voices-repo") / "repo")
    with running_server(repository) as server:
        yield server


# ---- choosing ------------------------------------------------------------------------------

def test_voice_names_pick_the_voice_and_speaker() -> None:
    joe = PiperVoiceConfig.load(default_voice()[1])
    multi = PiperVoiceConfig.from_dict({
        "audio": {"sample_rate": 16000}, "espeak": {"voice": "en-us"},
        "phoneme_id_map": joe.phoneme_id_map, "num_speakers": 3, "speaker_id_map": SPEAKERS})
    voices = [(JOE, joe), (MULTI, multi)]
    assert choose_voice(voices, None) == (0, 0)
    assert choose_voice(voices, "  ") == (0, 0)
    assert choose_voice(voices, JOE) == (0, 0)
    assert choose_voice(voices, MULTI) == (1, 0)
    assert choose_voice(voices, f"{MULTI}/cho") == (1, 2)
    assert choose_voice(voices, f"{MULTI}/1") == (1, 1)
    # A bare speaker name belongs to the default voice, which has none.
    with pytest.raises(InvalidInputError, match=f"voices served here: {JOE}, {MULTI}"):
        choose_voice(voices, "cho")
    with pytest.raises(InvalidInputError, match="ana, ben, cho"):
        choose_voice(voices, f"{MULTI}/zed")
    # With the multi-speaker voice first, bare speaker names are its own.
    assert choose_voice(voices[::-1], "ben") == (0, 1)


def test_frontends_check_the_voice_before_reading_text() -> None:
    frontend = TextFrontend(PiperVoiceConfig.load(default_voice()[1]), voice_name=JOE)
    frontends = VoiceFrontends([frontend])
    assert not frontends.multi_voice and not frontends.multi_speaker
    with pytest.raises(InvalidInputError, match="VOICE 'nobody'"):
        frontends.encode("", "nobody")  # an empty text would be refused second
    encoded = frontends.encode("Hello there.", JOE)
    assert (encoded.voice, encoded.speaker) == (0, 0)
    assert encoded.per_chunk(5).tolist() == [[5]] * encoded.batch.chunks


def test_run_per_voice_puts_rows_back_in_order_padded_to_the_widest() -> None:
    voice_ids = np.array([1, 0, 1, 0, 0])
    calls = []

    def run(voice, rows):
        calls.append((voice, rows.tolist()))
        channels = 2 if voice == 0 else 3  # another voice's latent may be wider
        latent = np.full((len(rows), channels, 4), voice + 1.0, dtype=np.float32)
        return latent, rows * 10, None

    latent, rows, nothing = run_per_voice(voice_ids, run)
    assert calls == [(0, [1, 3, 4]), (1, [0, 2])]
    assert latent.shape == (5, 3, 4)
    assert latent[1, :2].min() == 1.0 and latent[1, 2].max() == 0.0  # voice 0 padded
    assert latent[0].min() == 2.0
    assert rows.tolist() == [0, 10, 20, 30, 40]
    assert nothing is None
    single = run_per_voice(np.zeros(2, dtype=np.int64), run)
    assert single[0].shape == (2, 2, 4)


def test_voice_names_must_tell_voices_apart(exported_voice: ExportedVoice) -> None:
    with pytest.raises(RenderError, match="share a name"):
        voice_list([exported_voice, exported_voice])
    with pytest.raises(RenderError, match="at least one voice"):
        voice_list([])


# ---- the repository -----------------------------------------------------------------------

def test_every_stage_learns_each_chunks_voice(two_voices, tmp_path: Path) -> None:
    repository = write_repository(cpu_models(two_voices), tmp_path / "repo")
    config = {name: parse((repository / name / "config.pbtxt").read_text())
              for name in ("frontend", "acoustic", "vocoder", "postprocess", "tts")}
    assert "VOICE_INDEX" in [o.name for o in config["frontend"].output]
    for stage in ("acoustic", "vocoder"):
        assert "voice_index" in [i.name for i in config[stage].input]
        for voice in two_voices:  # each voice's own graph, in its own folder
            assert (repository / stage / "1" / voice.name / f"{stage}.onnx").is_file()
    assert "VOICE_INDEX" in [i.name for i in config["postprocess"].input]
    steps = {s.model_name: s for s in config["tts"].ensemble_scheduling.step}
    assert steps["vocoder"].input_map["voice_index"] == "voice_index"
    assert steps["postprocess"].input_map["VOICE_INDEX"] == "voice_index"
    # A single-voice repository carries no voice tensor at all.
    single = write_repository(cpu_models(two_voices[0]), tmp_path / "single")
    acoustic = parse((single / "acoustic" / "config.pbtxt").read_text())
    assert "voice_index" not in [i.name for i in acoustic.input]


def test_the_cli_renders_several_voices_the_first_the_default(two_voices,
                                                              tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tritontts.cli", "repository", "--tuning", "throughput",
         "--voice-dir", *(str(v.directory) for v in two_voices[::-1]), "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert f"voices {MULTI}, {JOE}" in result.stdout and "throughput tuning" in result.stdout
    frontend = parse((tmp_path / "frontend" / "config.pbtxt").read_text())
    served = json.loads(frontend.parameters["voices"].string_value)
    assert [v["name"] for v in served] == [MULTI, JOE]
    assert [v["sample_rate"] for v in served] == [16000, 22050]


def test_gpu_profile_refuses_several_voices(two_voices, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tritontts.cli", "repository", "--profile", "gpu",
         "--voice-dir", *(str(v.directory) for v in two_voices), "--out", str(tmp_path / "r")],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "one voice per repository" in result.stderr
    assert not (tmp_path / "r").exists()


# ---- served -------------------------------------------------------------------------------

@pytest.mark.e2e
def test_each_request_speaks_in_the_voice_it_names(two_voices, multi_speaker_voice,
                                                   voices_server: TritonServer) -> None:
    joe_baseline = PiperBaseline(*default_voice())
    multi_baseline = PiperBaseline(*multi_speaker_voice[:2])
    with TTSClient(voices_server.grpc_url) as client:
        default = client.synthesize(TEXT, **DETERMINISTIC)
        joe = client.synthesize(TEXT, voice=JOE, **DETERMINISTIC)
        ben = client.synthesize(TEXT, voice=f"{MULTI}/ben", **DETERMINISTIC)
        multi = client.synthesize(TEXT, voice=MULTI, **DETERMINISTIC)
    assert (default.sample_rate, joe.sample_rate, ben.sample_rate) == (22050, 22050, 16000)
    assert np.array_equal(default.audio, joe.audio)
    assert max_abs_diff(joe.audio, joe_baseline.synthesize(TEXT, **DETERMINISTIC)) <= 1e-4
    assert max_abs_diff(ben.audio, multi_baseline.synthesize(
        TEXT, speaker=SPEAKERS["ben"], **DETERMINISTIC)) <= 1e-4
    assert max_abs_diff(multi.audio, multi_baseline.synthesize(
        TEXT, speaker=0, **DETERMINISTIC)) <= 1e-4
    assert_speech(ben.audio, ben.sample_rate, TEXT)


def stage_executions(server: TritonServer) -> dict[str, int]:
    with grpcclient.InferenceServerClient(server.grpc_url) as client:
        return {name: client.get_inference_statistics(name).model_stats[0].execution_count
                for name in ("acoustic", "vocoder")}


@pytest.mark.e2e
def test_concurrent_requests_of_different_voices_batch_together_correctly(
        voices_server: TritonServer) -> None:
    """Requests of both voices at once meet in the stages' dynamic batches; each answer must
    be the one it gets alone."""
    choices = [JOE, f"{MULTI}/ana", f"{MULTI}/cho", JOE, f"{MULTI}/ben", JOE, f"{MULTI}/cho",
               JOE]
    texts = [f"{TEXT} Request number {i}." for i in range(len(choices))]
    with TTSClient(voices_server.grpc_url) as client:
        alone = [client.synthesize(t, voice=v, **DETERMINISTIC)
                 for t, v in zip(texts, choices, strict=True)]

    def one(args):
        text, voice = args
        with TTSClient(voices_server.grpc_url) as own:
            return own.synthesize(text, voice=voice, **DETERMINISTIC)

    before = stage_executions(voices_server)
    with ThreadPoolExecutor(len(choices)) as pool:
        together = list(pool.map(one, zip(texts, choices, strict=True)))
    after = stage_executions(voices_server)
    # Fewer stage runs than requests: requests (so voices) shared batches.
    assert after["acoustic"] - before["acoustic"] < len(choices)
    for single, concurrent in zip(alone, together, strict=True):
        assert single.sample_rate == concurrent.sample_rate
        assert max_abs_diff(single.audio, concurrent.audio) <= 1e-4


@pytest.mark.e2e
def test_streams_choose_their_voice_too(voices_server: TritonServer) -> None:
    with TTSClient(voices_server.grpc_url) as client:
        whole = client.synthesize(TEXT, voice=f"{MULTI}/cho", **DETERMINISTIC)
        chunks = list(client.stream(TEXT, voice=f"{MULTI}/cho", **DETERMINISTIC))
        joe_chunks = list(client.stream(TEXT, **DETERMINISTIC))
    assert {c.sample_rate for c in chunks} == {16000}
    assert {c.sample_rate for c in joe_chunks} == {22050}
    assert max_abs_diff(np.concatenate([c.audio for c in chunks]), whole.audio) < 1e-3


@pytest.mark.e2e
def test_unknown_voice_is_refused_with_the_voices_served(voices_server: TritonServer) -> None:
    with TTSClient(voices_server.grpc_url) as client:
        with pytest.raises(InvalidRequestError, match=f"voices served here: {JOE}, {MULTI}"):
            client.synthesize(TEXT, voice="de_DE-nobody-medium")
        with pytest.raises(InvalidRequestError, match="de_DE-nobody"):
            list(client.stream(TEXT, voice="de_DE-nobody-medium"))
        assert client.synthesize("Still here.").duration_s > 0.3
    assert voices_server.is_ready()
