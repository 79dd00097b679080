"""Graph clean-up keeps each stage exact; the FP16 variant stays within its stated tolerance."""

from __future__ import annotations

import fnmatch
import math
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from tritontts.export.optimize import (
    FP16_TOLERANCE,
    SAMPLE_SENTENCES,
    GraphContractError,
    StagePair,
    StageVariants,
    compare_stage_pairs,
    convert_fp16,
    fp16_parity,
    name_dynamic_axes,
    snr_db,
    write_stage_variants,
)
from tritontts.piper.frontend import TextFrontend
from tritontts.piper.precision import REDUCED_PRECISION_SCOPES
from tritontts.piper.stages import ort_session
from tritontts.piper.voice import ExportedVoice, PiperVoiceConfig

from helpers import contract_io, graph_io

# Every test here but one builds on the FP16 variants of both stages and compares them with
# ONNX Runtime on sample sentences: tens of seconds of CPU in all.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def variants(voice_copy: ExportedVoice) -> dict[str, StageVariants]:
    return write_stage_variants(voice_copy, progress=lambda _: None)


@pytest.fixture(scope="session")
def voice_config(voice_copy: ExportedVoice) -> PiperVoiceConfig:
    return PiperVoiceConfig.load(voice_copy.config)


@pytest.mark.parametrize("stage", ["acoustic", "vocoder"])
def test_variants_pass_the_checker_and_keep_the_serving_contract(
        variants: dict[str, StageVariants], voice_copy: ExportedVoice, stage: str) -> None:
    expected = contract_io(stage, voice_copy)
    for path in (variants[stage].cleaned, variants[stage].fp16):
        model = onnx.load(str(path))
        onnx.checker.check_model(model, full_check=True)
        assert graph_io(model) == expected, path.name


def test_cleanup_report_says_what_changed(variants: dict[str, StageVariants],
                                          voice_copy: ExportedVoice) -> None:
    for stage, original in (("acoustic", voice_copy.acoustic), ("vocoder", voice_copy.vocoder)):
        report = variants[stage].cleanup
        before = len(onnx.load(str(original)).graph.node)
        after = len(onnx.load(str(variants[stage].cleaned)).graph.node)
        assert (report.nodes_before, report.nodes_after) == (before, after)
        assert [e.step for e in report.edits] == ["name_dynamic_axes", "infer_shapes",
                                                  "fold_constants", "remove_dead_nodes"]
        folded = next(e for e in report.edits if e.step == "fold_constants").changed
        removed = next(e for e in report.edits if e.step == "remove_dead_nodes").detail
        assert before - after >= folded, report.summary()
        assert "nodes" in removed
    # Piper names the input batch axis `batch_size`; the contract calls every batch axis `batch`.
    renamed = variants["acoustic"].cleanup.edits[0]
    original_axes = {name: dims for name, _, dims in graph_io(onnx.load(str(voice_copy.acoustic)))}
    expected = sum(axis == "batch_size" for dims in original_axes.values() for axis in dims)
    assert renamed.changed == expected


@pytest.fixture(scope="session")
def sessions(variants: dict[str, StageVariants],
             voice_copy: ExportedVoice) -> dict[str, ort.InferenceSession]:
    paths = {"acoustic": voice_copy.acoustic, "vocoder": voice_copy.vocoder,
             "acoustic.opt": variants["acoustic"].cleaned,
             "vocoder.opt": variants["vocoder"].cleaned}
    return {name: ort_session(path, 1) for name, path in paths.items()}


@pytest.mark.parametrize("text", SAMPLE_SENTENCES[:3])
def test_cleaned_graphs_match_the_originals(sessions: dict[str, ort.InferenceSession],
                                            voice_config: PiperVoiceConfig, text: str) -> None:
    """A batch of two chunks of different lengths (padding included), noise scales 0."""
    batch = TextFrontend(voice_config).encode(text + " " + SAMPLE_SENTENCES[-1])
    feeds = {"phoneme_ids": batch.ids, "phoneme_lengths": batch.lengths,
             "scales": np.array([[0.0, voice_config.length_scale, 0.0]] * 2, dtype=np.float32)}
    latent, frames, durations = sessions["acoustic"].run(None, feeds)
    clean_latent, clean_frames, clean_durations = sessions["acoustic.opt"].run(None, feeds)
    np.testing.assert_array_equal(clean_frames, frames)
    np.testing.assert_array_equal(clean_durations, durations)
    np.testing.assert_array_equal(durations.sum(axis=1), frames)
    np.testing.assert_allclose(clean_latent, latent, rtol=0, atol=1e-5)
    waveform = sessions["vocoder"].run(None, {"latent": latent})[0]
    clean_waveform = sessions["vocoder.opt"].run(None, {"latent": latent})[0]
    np.testing.assert_allclose(clean_waveform, waveform, rtol=0, atol=1e-5)


def _tensor_types(model: onnx.ModelProto) -> dict[str, int]:
    inferred = onnx.shape_inference.infer_shapes(model)
    values = [*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output]
    return {v.name: v.type.tensor_type.elem_type for v in values}


def _cast_to(node: onnx.NodeProto) -> int | None:
    if node.op_type != "Cast":
        return None
    return next(onnx.helper.get_attribute_value(a) for a in node.attribute if a.name == "to")


@pytest.mark.parametrize("stage", ["acoustic", "vocoder"])
def test_fp16_only_inside_its_scopes(variants: dict[str, StageVariants], stage: str) -> None:
    model = onnx.load(str(variants[stage].fp16))
    types = _tensor_types(model)
    producers = [n for n in model.graph.node
                 if any(types.get(o) == onnx.TensorProto.FLOAT16 for o in n.output)]
    scopes = REDUCED_PRECISION_SCOPES[stage]
    in_scope = [n for n in producers
                if any(fnmatch.fnmatchcase(n.name, scope) for scope in scopes)]
    assert any(n.op_type == "Conv" for n in in_scope), "no convolution runs in FP16"
    # Outside the scopes only casts make FP16 tensors (into the scopes).
    assert {n.op_type for n in producers if n not in in_scope} <= {"Cast"}
    # No FP32 → FP16 → FP32 round trip is left between FP32 nodes.
    produced_by = {o: n for n in model.graph.node for o in n.output}
    for node in model.graph.node:
        upstream = produced_by.get(node.input[0]) if node.input else None
        if _cast_to(node) == onnx.TensorProto.FLOAT and upstream is not None:
            round_trip = (_cast_to(upstream) == onnx.TensorProto.FLOAT16
                          and types.get(upstream.input[0]) == onnx.TensorProto.FLOAT)
            assert not round_trip, node.name
    report = variants[stage].conversion
    assert report.fp16_nodes + report.fp32_nodes == len(
        onnx.load(str(variants[stage].cleaned)).graph.node)


def test_fp16_matches_fp32_on_sample_sentences(variants: dict[str, StageVariants],
                                               voice_copy: ExportedVoice) -> None:
    report = fp16_parity(voice_copy.directory, SAMPLE_SENTENCES)
    print("\n" + report.table())
    assert len(report.chunks) >= len(SAMPLE_SENTENCES)
    assert report.frame_mismatches == 0
    # Durations are computed in FP32 in the FP16 variant: every id's frames exactly equal.
    assert report.duration_mismatches == 0
    assert report.passed, report.table()
    # The vocoder alone is FP16 everywhere; its error must also stay under the bound.
    assert min(c.vocoder_snr_db for c in report.chunks) >= FP16_TOLERANCE.min_snr_db


def test_fp16_durations_hold_at_the_slowest_speed(variants: dict[str, StageVariants],
                                                  voice_copy: ExportedVoice) -> None:
    report = fp16_parity(voice_copy.directory, SAMPLE_SENTENCES[4:8], speed=0.25)
    print("\n" + report.table())
    assert report.duration_mismatches == 0
    assert report.passed, report.table()


def test_the_tolerance_fails_a_careless_conversion(variants: dict[str, StageVariants],
                                                   voice_copy: ExportedVoice,
                                                   voice_config: PiperVoiceConfig,
                                                   tmp_path: Path) -> None:
    """Everything FP16, durations included: the parity check must notice."""
    careless = tmp_path / "acoustic.all-fp16.onnx"
    convert_fp16(variants["acoustic"].cleaned, careless, scopes={"acoustic": ("*",)})
    report = compare_stage_pairs(StagePair(voice_copy.acoustic, voice_copy.vocoder),
                                 StagePair(careless, variants["vocoder"].fp16), voice_config,
                                 SAMPLE_SENTENCES)
    print("\n" + report.table())
    assert not report.passed
    assert report.duration_mismatches > 0


def test_snr_is_signal_over_error_energy() -> None:
    reference = np.sin(np.linspace(0, 20, 1000)).astype(np.float32)
    assert snr_db(reference, reference) == math.inf
    error = 0.01 * np.cos(np.linspace(0, 7, 1000)).astype(np.float32)
    expected = 10 * math.log10(np.sum(reference.astype(np.float64) ** 2)
                               / np.sum(error.astype(np.float64) ** 2))
    assert snr_db(reference, reference + error) == pytest.approx(expected, abs=1e-3)


def test_a_graph_off_contract_is_refused(variants: dict[str, StageVariants]) -> None:
    model = onnx.load(str(variants["vocoder"].cleaned))
    model.graph.input[0].name = "mel"
    with pytest.raises(GraphContractError, match="mel"):
        name_dynamic_axes(model)
    model.graph.name = "encoder"
    with pytest.raises(GraphContractError, match="not a stage graph"):
        name_dynamic_axes(model)
