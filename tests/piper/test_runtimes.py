"""Stage runtimes: OpenVINO against the f32 ONNX Runtime stages (frame counts equal, SNR ≥ 30 dB),
the precision each stage may have, the fallback on CPUs without bf16, the rendered parameters
and the server log line naming runtime and precision."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import openvino as ov
import pytest

from tritontts.errors import UsageError
from tritontts.export.optimize import SAMPLE_SENTENCES
from tritontts.export.runtime_parity import runtime_parity
from tritontts.piper.cpu import cpu_models
from tritontts.piper.runtimes import (
    OV_KEEP_PRECISION,
    REDUCED_PRECISION_SCOPES,
    CpuFeatures,
    OpenVinoRunner,
    bf16_layers_outside,
    check_choice,
    cpu_features,
    resolve_precision,
    write_mixed_ir,
)
from tritontts.piper.tuning import AUTO_RUNTIME, CPU_RUNTIMES, CpuTuning, auto_runtime
from tritontts.piper.voice import ExportedVoice
from tritontts.repository import parse, render, write_repository
from tritontts_client import TTSClient
from tritontts_client import contract as c

from helpers import assert_speech, running_server

NO_BF16 = not cpu_features().bf16
BF16_SKIP = f"needs a CPU with native bf16; this one: {cpu_features().describe()}"
# A few sentences of the sample set: short, long, a question, one word.
PARITY_SENTENCES = (SAMPLE_SENTENCES[0], SAMPLE_SENTENCES[1], SAMPLE_SENTENCES[3],
                    SAMPLE_SENTENCES[6])

CHOICES = [
    pytest.param((c.RUNTIME_OPENVINO, c.PRECISION_F32), (c.RUNTIME_OPENVINO, c.PRECISION_F32),
                 id="openvino-f32"),
    pytest.param((c.RUNTIME_ONNXRUNTIME, c.PRECISION_F32),
                 (c.RUNTIME_OPENVINO, c.PRECISION_BF16), id="vocoder-bf16",
                 marks=pytest.mark.skipif(NO_BF16, reason=BF16_SKIP)),
    pytest.param((c.RUNTIME_OPENVINO, c.PRECISION_MIXED),
                 (c.RUNTIME_ONNXRUNTIME, c.PRECISION_F32), id="acoustic-mixed",
                 marks=pytest.mark.skipif(NO_BF16, reason=BF16_SKIP)),
    pytest.param((c.RUNTIME_OPENVINO, c.PRECISION_MIXED), (c.RUNTIME_OPENVINO, c.PRECISION_BF16),
                 id="openvino-bf16", marks=pytest.mark.skipif(NO_BF16, reason=BF16_SKIP)),
]


@pytest.mark.slow  # OpenVINO compiles both stages, parity on four sentences
@pytest.mark.parametrize(("acoustic", "vocoder"), CHOICES)
def test_runtime_matches_the_f32_onnx_stages(exported_voice: ExportedVoice,
                                             acoustic: tuple[str, str],
                                             vocoder: tuple[str, str]) -> None:
    report = runtime_parity(exported_voice, acoustic, vocoder, PARITY_SENTENCES)
    print("\n" + report.table())
    assert len(report.chunks) >= len(PARITY_SENTENCES)
    assert report.frame_mismatches == 0, report.table()
    assert report.passed, report.table()


def test_bf16_falls_back_to_f32_where_the_cpu_lacks_it(exported_voice: ExportedVoice) -> None:
    without = CpuFeatures(frozenset(), openvino_bf16=False)
    runner = OpenVinoRunner(exported_voice.vocoder, 1, c.PRECISION_BF16, c.VOCODER_MODEL,
                            features=without)
    assert runner.precision == c.PRECISION_F32
    assert runner.bf16_nodes == 0
    assert runner.fallback is not None and "running in f32" in runner.fallback
    assert resolve_precision(c.PRECISION_MIXED, without).precision == c.PRECISION_F32
    with_bf16 = CpuFeatures(frozenset({"avx512_bf16"}), openvino_bf16=True)
    assert resolve_precision(c.PRECISION_MIXED, with_bf16).fallback is None


@pytest.mark.slow  # OpenVINO compiles the mixed-precision acoustic stage
def test_the_mixed_path_compiles_and_keeps_the_frame_counts(
        exported_voice: ExportedVoice) -> None:
    """The IR with f32 marks, compiled with the bf16 hint (on a CPU without bf16 OpenVINO
    computes f32 anyway): the path a bf16 CPU takes must build a graph that runs."""
    claims_bf16 = CpuFeatures(frozenset({"avx512_bf16"}), openvino_bf16=True)
    runner = OpenVinoRunner(exported_voice.acoustic, 1, c.PRECISION_MIXED, c.ACOUSTIC_MODEL,
                            features=claims_bf16)
    # Mixed where OpenVINO keeps the f32 marks; f32, with the reason, where it drops them.
    assert ((runner.precision == c.PRECISION_MIXED and runner.fallback is None)
            or (runner.precision == c.PRECISION_F32 and "moves durations" in runner.fallback))
    reference = OpenVinoRunner(exported_voice.acoustic, 1, c.PRECISION_F32, c.ACOUSTIC_MODEL)
    ids = np.array([[1, 0, 20, 0, 30, 0, 40, 0, 2]], dtype=np.int64)
    feeds = {c.PHONEME_IDS.name: ids, c.PHONEME_LENGTHS.name: np.array([9]),
             c.SCALES.name: np.array([[0.0, 1.0, 0.0]], dtype=np.float32)}
    assert int(runner.run(feeds)[1][0]) == int(reference.run(feeds)[1][0])


@pytest.mark.slow  # OpenVINO compiles and profiles the mixed stage
@pytest.mark.skipif(NO_BF16, reason=BF16_SKIP)
def test_mixed_runs_nothing_outside_its_scopes_in_bf16(exported_voice: ExportedVoice) -> None:
    """What keeps the durations: either no layer of the duration path runs in bf16, or the
    stage fell back to f32 (and then nothing runs in bf16)."""
    runner = OpenVinoRunner(exported_voice.acoustic, 1, c.PRECISION_MIXED, c.ACOUSTIC_MODEL)
    print(f"\n{runner.description}; {runner.fallback or 'no fallback'}")
    if runner.precision == c.PRECISION_MIXED:
        assert runner.bf16_nodes > 0
        assert bf16_layers_outside(runner.compiled,
                                   REDUCED_PRECISION_SCOPES[c.ACOUSTIC_MODEL]) == []
    else:
        assert runner.bf16_nodes == 0 and "moves durations" in (runner.fallback or "")


def test_cpu_features_agree_with_openvino() -> None:
    capabilities = ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    assert cpu_features().bf16 == ("BF16" in capabilities)
    assert cpu_features() is cpu_features()  # read once per process


def test_mixed_ir_keeps_everything_but_the_flow_convolutions_f32(
        exported_voice: ExportedVoice, tmp_path: Path) -> None:
    xml = tmp_path / "model.xml"
    reduced = write_mixed_ir(exported_voice.acoustic, xml,
                             REDUCED_PRECISION_SCOPES[c.ACOUSTIC_MODEL])
    model = ov.Core().read_model(str(xml))
    key = f"{OV_KEEP_PRECISION[0]}_{OV_KEEP_PRECISION[1]}"
    free = [op for op in model.get_ops() if key not in op.get_rt_info()]
    # The IR reader turned the layers' rt_info into OpenVINO's attribute on every other node.
    assert 0 < reduced == len(free) < len(model.get_ops()) // 10
    assert all(op.get_friendly_name().startswith("/flow/flows.") for op in free)
    duration_path = [op for op in model.get_ops() if op.get_friendly_name().startswith("/dp/")]
    assert duration_path and all(key in op.get_rt_info() for op in duration_path)
    assert not any(op.get_type_name() in ("Exp", "Ceil", "CumSum") for op in free)


def test_each_stage_takes_only_the_precisions_that_keep_its_speech() -> None:
    check_choice(c.ACOUSTIC_MODEL, c.RUNTIME_OPENVINO, c.PRECISION_MIXED)
    check_choice(c.VOCODER_MODEL, c.RUNTIME_OPENVINO, c.PRECISION_BF16)
    with pytest.raises(UsageError, match="changes the durations"):
        check_choice(c.ACOUSTIC_MODEL, c.RUNTIME_OPENVINO, c.PRECISION_BF16)
    with pytest.raises(UsageError, match="needs the openvino runtime"):
        check_choice(c.VOCODER_MODEL, c.RUNTIME_ONNXRUNTIME, c.PRECISION_BF16)
    with pytest.raises(UsageError, match="unknown stage runtime"):
        check_choice(c.VOCODER_MODEL, "tvm", c.PRECISION_F32)


def _stage_parameters(voice: ExportedVoice, tuning: CpuTuning) -> dict[str, dict[str, str]]:
    models = {m.name: m for m in cpu_models(voice, tuning)}
    return {stage: {k: v.string_value for k, v in parse(render(models[stage])).parameters.items()}
            for stage in c.STAGES}


def test_defaults_render_no_runtime_parameters(exported_voice: ExportedVoice) -> None:
    for parameters in _stage_parameters(exported_voice, CpuTuning()).values():
        assert c.PARAM_RUNTIME not in parameters and c.PARAM_PRECISION not in parameters
    assert CpuTuning().with_runtime("onnxruntime") == CpuTuning()


def test_openvino_runtimes_render_into_the_stage_parameters(
        exported_voice: ExportedVoice) -> None:
    parameters = _stage_parameters(exported_voice, CpuTuning().with_runtime("openvino-bf16"))
    assert parameters[c.ACOUSTIC_MODEL][c.PARAM_RUNTIME] == c.RUNTIME_OPENVINO
    assert parameters[c.ACOUSTIC_MODEL][c.PARAM_PRECISION] == c.PRECISION_MIXED
    assert parameters[c.VOCODER_MODEL][c.PARAM_PRECISION] == c.PRECISION_BF16
    plain = _stage_parameters(exported_voice, CpuTuning().with_runtime("openvino"))
    assert plain[c.VOCODER_MODEL][c.PARAM_RUNTIME] == c.RUNTIME_OPENVINO
    assert c.PARAM_PRECISION not in plain[c.VOCODER_MODEL]


def test_the_cli_offers_every_named_runtime() -> None:
    import argparse

    from tritontts.commands import repository

    parser = argparse.ArgumentParser()
    repository.configure(parser)
    choices = next(a.choices for a in parser._actions if a.dest == "runtime")
    assert tuple(choices) == (*CPU_RUNTIMES, AUTO_RUNTIME)


@pytest.mark.e2e
def test_the_server_log_names_each_stage_runtime_and_precision(
        exported_voice: ExportedVoice, tmp_path: Path) -> None:
    tuning = CpuTuning().with_runtime("openvino-bf16")
    repository = write_repository(cpu_models(exported_voice, tuning),
                                  tmp_path / "model_repository")
    text = "The log says which library runs each stage."
    with running_server(repository) as server, TTSClient(server.grpc_url) as client:
        result = client.synthesize(text, noise_scale=0.0, noise_w=0.0)
    assert_speech(result.audio, result.sample_rate, text)
    log = (tmp_path / "tritonserver.log").read_text(errors="replace")
    for stage, precision in ((c.ACOUSTIC_MODEL, c.PRECISION_MIXED),
                             (c.VOCODER_MODEL, c.PRECISION_BF16)):
        lines = [line for line in log.splitlines()
                 if f"{stage}: stage runtime openvino, precision {precision} asked for" in line]
        assert len(lines) == 1, log[-3000:]
        # Where OpenVINO drops the f32 marks (fused nodes on some bf16 CPUs), the mixed stage
        # runs f32 and its log says why.
        dropped = f"{stage}: {precision} asked for, but OpenVINO" in log
        assert not dropped or (stage == c.ACOUSTIC_MODEL and "moves durations" in log)
        running = c.PRECISION_F32 if NO_BF16 or dropped else precision
        match = re.search(rf"running openvino {running} \(\d+ nodes run in bf16, (\d+) "
                          r"upsampling layers as polyphase convolutions\)", lines[0])
        assert match, lines[0]
        # The vocoder's three transposed convolutions run as polyphase ones (polyphase.py).
        assert int(match.group(1)) == (3 if stage == c.VOCODER_MODEL else 0)
        fallback = f"{stage}: {precision} asked for, but bf16 not available"
        assert (fallback in log) == NO_BF16


def test_auto_picks_openvino_by_the_cpu_features() -> None:
    amx = CpuFeatures(frozenset({"amx_bf16", "avx512_bf16", "avx512f"}), openvino_bf16=True)
    avx512_bf16 = CpuFeatures(frozenset({"avx512_bf16", "avx512f"}), openvino_bf16=True)
    avx512 = CpuFeatures(frozenset({"avx512f"}), openvino_bf16=False)
    avx2 = CpuFeatures(frozenset(), openvino_bf16=False)
    assert auto_runtime(amx) == "openvino-bf16-vocoder"
    assert CPU_RUNTIMES[auto_runtime(amx)] == ((c.RUNTIME_OPENVINO, c.PRECISION_F32),
                                               (c.RUNTIME_OPENVINO, c.PRECISION_BF16))
    # AVX-512 without AMX: f32 on OpenVINO (bf16 without AMX ran the vocoder slower than f32).
    assert auto_runtime(avx512_bf16) == auto_runtime(avx512) == "openvino"
    assert CPU_RUNTIMES["openvino"] == ((c.RUNTIME_OPENVINO, c.PRECISION_F32),
                                        (c.RUNTIME_OPENVINO, c.PRECISION_F32))
    assert auto_runtime(avx2) == "onnxruntime"
    # AMX flags with a plugin that does not offer BF16: f32, not a bf16 graph run in f32.
    assert auto_runtime(CpuFeatures(frozenset({"amx_bf16", "avx512f"}),
                                    openvino_bf16=False)) == "openvino"
    assert CpuTuning().with_runtime(AUTO_RUNTIME) == CpuTuning().with_runtime(auto_runtime())


@pytest.mark.skipif(auto_runtime() == "onnxruntime",
                    reason=f"the default runtime on this CPU is the f32 reference itself "
                           f"({cpu_features().describe()})")
def test_the_default_runtime_keeps_the_speech(exported_voice: ExportedVoice) -> None:
    """What `auto` serves on this CPU against the f32 ONNX Runtime stages, judged as speech
    (STOI, mel-cepstral distance) on the sample sentences."""
    pytest.importorskip("pystoi", reason="the bench extra (pystoi) is not installed")
    pytest.importorskip("mel_cepstral_distance",
                        reason="the bench extra (mel-cepstral-distance) is not installed")
    from tritontts.export.perceptual import perceptual_parity

    acoustic, vocoder = CPU_RUNTIMES[auto_runtime()]
    report = perceptual_parity(exported_voice, acoustic, vocoder, PARITY_SENTENCES)
    print("\n" + report.table())
    assert report.passed, report.table()

