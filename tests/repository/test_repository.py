"""Every generated config.pbtxt parses with Triton's model-config schema and says what we mean."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from tritonclient.grpc import model_config_pb2 as mc

from tritontts.piper.cpu import CpuTuning, cpu_models
from tritontts.piper.frontend import FrontendLimits
from tritontts.piper.voice import ExportedVoice
from tritontts.repository import (
    Batching,
    Ensemble,
    PythonModel,
    RenderError,
    Step,
    Tensor,
    parse,
    render,
)


def configs(repository: Path) -> dict[str, mc.ModelConfig]:
    return {p.parent.name: parse(p.read_text()) for p in repository.glob("*/config.pbtxt")}


def test_cpu_repository_layout(repository: Path) -> None:
    found = configs(repository)
    assert set(found) == {"frontend", "acoustic", "vocoder", "postprocess", "tts", "tts_cached",
                          "tts_stream"}
    for name in ("frontend", "acoustic", "vocoder", "postprocess", "tts_stream"):
        assert (repository / name / "1" / "model.py").is_file()
        assert found[name].backend == "python"
    voice = "en_US-joe-medium"
    assert (repository / "acoustic" / "1" / voice / ExportedVoice.ACOUSTIC).is_file()
    assert (repository / "vocoder" / "1" / voice / ExportedVoice.VOCODER).is_file()
    assert (repository / "frontend" / "1" / voice / ExportedVoice.CONFIG).is_file()


def test_heavy_stages_batch_dynamically(repository: Path) -> None:
    found = configs(repository)
    for name in ("acoustic", "vocoder"):
        config = found[name]
        assert config.max_batch_size == FrontendLimits().max_chunks
        assert config.HasField("dynamic_batching")
        assert config.instance_group[0].kind == mc.ModelInstanceGroup.KIND_CPU
        # Different text lengths must still share a batch.
        assert config.input[0].allow_ragged_batch
    assert found["acoustic"].output[0].dims == [192, -1]


def test_ensemble_contract(repository: Path) -> None:
    tts = configs(repository)["tts"]
    assert tts.platform == "ensemble"
    inputs = {i.name: i for i in tts.input}
    assert list(inputs) == ["TEXT", "VOICE", "SPEED", "NOISE_SCALE", "NOISE_W"]
    assert inputs["TEXT"].data_type == mc.TYPE_STRING and not inputs["TEXT"].optional
    assert inputs["VOICE"].data_type == mc.TYPE_STRING and inputs["VOICE"].optional
    assert all(inputs[n].optional and inputs[n].data_type == mc.TYPE_FP32
               for n in ("SPEED", "NOISE_SCALE", "NOISE_W"))
    outputs = {o.name: o.data_type for o in tts.output}
    # WORDS and WORD_TIMES: word timestamps, sent to clients that ask for them.
    assert outputs == {"AUDIO": mc.TYPE_FP32, "SAMPLE_RATE": mc.TYPE_INT32,
                       "WORDS": mc.TYPE_STRING, "WORD_TIMES": mc.TYPE_INT64}
    assert [s.model_name for s in tts.ensemble_scheduling.step] == [
        "frontend", "acoustic", "vocoder", "postprocess"]
    frontend, acoustic, _, postprocess = tts.ensemble_scheduling.step
    assert frontend.output_map["WORDS"] == "WORDS"
    assert acoustic.output_map["phoneme_durations"] == "phoneme_durations"
    assert dict(postprocess.input_map)["PHONEME_DURATIONS"] == "phoneme_durations"
    assert dict(postprocess.input_map)["WORD_SPANS"] == frontend.output_map["WORD_SPANS"]
    assert postprocess.output_map["WORD_TIMES"] == "WORD_TIMES"


def test_tuning_reaches_the_configs(exported_voice: ExportedVoice) -> None:
    default = CpuTuning()
    tuning = CpuTuning(acoustic=replace(default.acoustic, instances=2),
                       vocoder=replace(default.vocoder, threads=1), max_queue_delay_us=5000)
    models = {m.name: parse(render(m)) for m in cpu_models(exported_voice, tuning)}
    assert models["acoustic"].instance_group[0].count == 2
    assert models["vocoder"].parameters["threads"].string_value == "1"
    assert models["vocoder"].dynamic_batching.max_queue_delay_microseconds == 5000


def test_render_fails_loudly() -> None:
    text = Tensor("TEXT", "TYPE_STRING", (1,))
    with pytest.raises(RenderError, match="has no value"):
        render(PythonModel("m", (text,), (text,), 0, 1, parameters={"voice_config": ""}))
    with pytest.raises(RenderError, match="max_batch_size"):
        render(PythonModel("m", (text,), (text,), 0, 1, batching=Batching(100)))
    with pytest.raises(ValueError):
        render(PythonModel("m", (Tensor("X", "TYPE_FLOAT", (1,)),), (text,), 0, 1))
    with pytest.raises(RenderError, match="before any step writes"):
        render(Ensemble("e", (text,), (text,), (Step("m", {"A": "missing"}, {"B": "TEXT"}),)))


def test_stream_model_is_decoupled(repository: Path) -> None:
    stream = configs(repository)["tts_stream"]
    assert stream.model_transaction_policy.decoupled
    assert [i.name for i in stream.input] == ["TEXT", "VOICE", "SPEED", "NOISE_SCALE", "NOISE_W"]
    # Every window parameter, as the default tuning's window plan and stream limit say.
    tuning = CpuTuning()
    windows = tuning.stream_windows
    expected = {"first_window_frames": windows.first_frames,
                "max_window_frames": windows.max_frames,
                "window_growth": windows.growth,
                "window_context_frames": windows.context_frames,
                "max_concurrent_streams": tuning.max_concurrent_streams}
    window_keys = {k for k in stream.parameters if "window" in k or k.startswith("max_conc")}
    assert window_keys == set(expected)
    assert {k: stream.parameters[k].string_value for k in expected} == {
        k: str(v) for k, v in expected.items()}
    assert (windows.first_frames, windows.context_frames) == (32, 16)


def test_heavy_stages_have_bounded_queues_that_reject(repository: Path) -> None:
    found = configs(repository)
    tuning = CpuTuning()
    expected = {stage: (tuning.stage(stage).queue_size, tuning.stage(stage).queue_timeout_us)
                for stage in ("acoustic", "vocoder")}
    for name, (size, timeout_us) in expected.items():
        policy = found[name].dynamic_batching.default_queue_policy
        assert policy.max_queue_size == size > 0
        assert policy.default_timeout_microseconds == timeout_us > 0
        assert policy.timeout_action == mc.ModelQueuePolicy.REJECT
        assert not policy.allow_timeout_override
    # The stage downstream holds paid-for work: its limits are the looser ones.
    assert expected["vocoder"] >= expected["acoustic"]


def test_only_the_cached_ensemble_uses_the_response_cache(repository: Path) -> None:
    found = configs(repository)
    assert found["tts_cached"].response_cache.enable
    assert not found["tts"].response_cache.enable
    assert found["tts_cached"].ensemble_scheduling == found["tts"].ensemble_scheduling


def test_queue_policy_fields_render() -> None:
    text = Tensor("TEXT", "TYPE_STRING", (1,))
    batching = Batching(500, max_queue_size=3, queue_timeout_us=250_000, timeout_action="DELAY",
                        allow_timeout_override=True)
    policy = parse(render(PythonModel("m", (text,), (text,), 4, 1, batching=batching)))
    queue = policy.dynamic_batching.default_queue_policy
    assert (queue.max_queue_size, queue.default_timeout_microseconds) == (3, 250_000)
    assert queue.timeout_action == mc.ModelQueuePolicy.DELAY and queue.allow_timeout_override
    plain = parse(render(PythonModel("m", (text,), (text,), 4, 1, batching=Batching(500))))
    assert not plain.dynamic_batching.HasField("default_queue_policy")
    with pytest.raises(RenderError, match=">= 0"):
        render(PythonModel("m", (text,), (text,), 4, 1, batching=Batching(500, max_queue_size=-1)))
    with pytest.raises(ValueError):
        render(PythonModel("m", (text,), (text,), 4, 1,
                           batching=Batching(500, queue_timeout_us=1, timeout_action="DROP")))


def test_heavy_stages_serve_real_time_before_batch(repository: Path) -> None:
    """Two priority levels on the heavy stages only; a request naming none is real-time."""
    from tritontts_client.contract import BATCH_PRIORITY, PRIORITY_LEVELS, REALTIME_PRIORITY

    for name, config in configs(repository).items():
        batching = config.dynamic_batching
        if name in ("acoustic", "vocoder"):
            assert batching.priority_levels == PRIORITY_LEVELS >= BATCH_PRIORITY
            assert batching.default_priority_level == REALTIME_PRIORITY < BATCH_PRIORITY
        else:
            assert batching.priority_levels == 0, name


def test_priority_fields_render() -> None:
    text = Tensor("TEXT", "TYPE_STRING", (1,))
    config = parse(render(PythonModel("m", (text,), (text,), 4, 1, batching=Batching(
        0, priority_levels=3, default_priority_level=2))))
    assert (config.dynamic_batching.priority_levels,
            config.dynamic_batching.default_priority_level) == (3, 2)
    with pytest.raises(RenderError, match="default_priority_level"):
        render(PythonModel("m", (text,), (text,), 4, 1, batching=Batching(
            0, priority_levels=2, default_priority_level=3)))
