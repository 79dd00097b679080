"""Clean up an exported stage graph; make its FP16 variant; measure FP16 against FP32.

The clean-up is a list of small edits on an `onnx.ModelProto`; each returns the new model and a
`GraphEdit` saying what it changed, so a report shows which steps did any work. The FP16 variant
is what a TensorRT 11 engine runs in half precision: TensorRT 11 builds every network strongly
typed, so the precision of each layer is the type the ONNX graph gives it (its builder has no
FP16 flag any more). Both keep the serving contract: the same input and output names, types
(FP32 / INT64) and axes, so the serving code does not change.
"""

from __future__ import annotations

import fnmatch
import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnx_graphsurgeon as gs
import onnxruntime as ort
from onnxruntime.transformers import float16
from polygraphy.backend.onnx import fold_constants as polygraphy_fold_constants
from polygraphy.logger import G_LOGGER

from tritontts.errors import MissingFileError, TritonTTSError
from tritontts.piper.frontend import TextFrontend
from tritontts.piper.precision import KEEP_FULL_PRECISION_OPS, REDUCED_PRECISION_SCOPES
from tritontts.piper.stages import ort_session
from tritontts.piper.voice import ExportedVoice, PiperVoiceConfig, variant_path
from tritontts_client.contract import (
    FRAME_LENGTHS,
    LATENT,
    PHONEME_DURATIONS,
    PHONEME_IDS,
    PHONEME_LENGTHS,
    SCALES,
    SPEAKER_EMBEDDING,
    SPEAKER_ID,
    STAGE_GRAPH_IO,
    STAGES,
    TensorSpec,
)

# The serving contract of each stage graph: {stage: (inputs, outputs)}, each tensor with the name
# of each dynamic axis (None: a static axis, such as the 3 columns of `scales`). Optional tensors
# (the speaker's) are in the graphs of multi-speaker voices only.
STAGE_IO = STAGE_GRAPH_IO


class GraphContractError(TritonTTSError):
    """The graph's inputs or outputs are not the ones the serving code expects."""


@dataclass(frozen=True)
class GraphEdit:
    step: str
    changed: int  # how many things the step changed (axes, nodes, value infos); 0 = no-op
    detail: str


@dataclass(frozen=True)
class OptimizeReport:
    stage: str
    nodes_before: int
    nodes_after: int
    edits: tuple[GraphEdit, ...]

    def summary(self) -> str:
        steps = ", ".join(f"{e.step}: {e.detail}" for e in self.edits)
        return f"{self.stage}: {self.nodes_before} → {self.nodes_after} nodes ({steps})"


Edit = Callable[[onnx.ModelProto], tuple[onnx.ModelProto, GraphEdit]]


def stage_name(model: onnx.ModelProto) -> str:
    """The split names each graph after its stage; anything else is not a stage graph."""
    name = model.graph.name
    if name not in STAGE_IO:
        raise GraphContractError(f"graph {name!r} is not a stage graph ({', '.join(STAGE_IO)})")
    return name


def expected_io(values: Sequence[onnx.ValueInfoProto],
                contract: Sequence[TensorSpec]) -> list[TensorSpec]:
    """The contract's tensors this graph must have, in order: every required one, and the
    optional ones (a multi-speaker voice's) that the graph has."""
    present = {v.name for v in values}
    return [spec for spec in contract if not spec.optional or spec.name in present]


def name_dynamic_axes(model: onnx.ModelProto) -> tuple[onnx.ModelProto, GraphEdit]:
    """Give every dynamic IO axis its contract name (Piper calls the input batch `batch_size`)."""
    inputs, outputs = STAGE_IO[stage_name(model)]
    renamed: list[str] = []
    for values, contract in ((model.graph.input, inputs), (model.graph.output, outputs)):
        names = [v.name for v in values]
        expected = expected_io(values, contract)
        if names != [spec.name for spec in expected]:
            raise GraphContractError(
                f"{model.graph.name} has {names}, expected {[s.name for s in expected]} "
                f"(optional: {[s.name for s in contract if s.optional]}); re-export the voice "
                "with `make export`")
        for value, spec in zip(values, expected, strict=True):
            dims = value.type.tensor_type.shape.dim
            axes = spec.axes
            if len(dims) != len(axes):
                raise GraphContractError(f"{value.name} has rank {len(dims)}, expected {len(axes)}")
            for index, (dim, axis) in enumerate(zip(dims, axes, strict=True)):
                if axis is None:
                    if not dim.HasField("dim_value"):
                        raise GraphContractError(f"{value.name}[{index}] should be static")
                elif dim.dim_param != axis:
                    renamed.append(f"{value.name}[{index}] {dim.dim_param or dim.dim_value}→{axis}")
                    dim.dim_param = axis
    return model, GraphEdit("name_dynamic_axes", len(renamed), ", ".join(renamed) or "as named")


def infer_shapes(model: onnx.ModelProto) -> tuple[onnx.ModelProto, GraphEdit]:
    """Re-derive every intermediate shape from the (renamed) inputs: stale value infos would
    still carry the old axis names."""
    stale = len(model.graph.value_info)
    del model.graph.value_info[:]
    model = onnx.shape_inference.infer_shapes(model, strict_mode=True, data_prop=True)
    fresh = len(model.graph.value_info)
    return model, GraphEdit("infer_shapes", fresh, f"{fresh} value infos (was {stale})")


def fold_constants(model: onnx.ModelProto) -> tuple[onnx.ModelProto, GraphEdit]:
    """Polygraphy's multi-pass folding (shape inference between passes folds static `Shape`s)."""
    before = len(model.graph.node)
    # Folding runs subgraphs on ONNX Runtime, whose optimizer warns about every node it cannot
    # simplify in them (hundreds of lines, none actionable): only its errors are shown.
    ort.set_default_logger_severity(3)
    # ONNX's shape inference, not ORT's symbolic one (that needs sympy, which is not installed).
    with G_LOGGER.verbosity(G_LOGGER.WARNING):
        model = polygraphy_fold_constants(model, error_ok=False,
                                          allow_onnxruntime_shape_inference=False)
    folded = before - len(model.graph.node)
    return model, GraphEdit("fold_constants", folded, f"{folded} nodes folded")


def remove_dead_nodes(model: onnx.ModelProto) -> tuple[onnx.ModelProto, GraphEdit]:
    """Nodes and initializers that no output depends on; graph inputs stay (they are the API)."""
    nodes, weights = len(model.graph.node), len(model.graph.initializer)
    graph = gs.import_onnx(model)
    graph.cleanup(remove_unused_graph_inputs=False).toposort()
    model = _export(graph, model)
    removed_nodes = nodes - len(model.graph.node)
    removed_weights = weights - len(model.graph.initializer)
    return model, GraphEdit("remove_dead_nodes", removed_nodes + removed_weights,
                            f"{removed_nodes} nodes, {removed_weights} initializers removed")


# Axes are named first so that the shapes inferred (and folded) carry the contract names.
CLEANUP_EDITS: tuple[Edit, ...] = (name_dynamic_axes, infer_shapes, fold_constants,
                                   remove_dead_nodes)


def optimize_model(model: onnx.ModelProto,
                   edits: Iterable[Edit] = CLEANUP_EDITS) -> tuple[onnx.ModelProto, OptimizeReport]:
    stage = stage_name(model)
    before = len(model.graph.node)
    done: list[GraphEdit] = []
    for edit in edits:
        model, change = edit(model)
        done.append(change)
    model = finish(model)
    return model, OptimizeReport(stage, before, len(model.graph.node), tuple(done))


def optimize_stage(path_in: Path, path_out: Path) -> OptimizeReport:
    """Clean up one stage graph file; the result keeps the stage's names, types and axes."""
    model, report = optimize_model(onnx.load(str(path_in)))
    path_out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path_out))
    return report


def finish(model: onnx.ModelProto) -> onnx.ModelProto:
    """Cleanup, topological order, and the ONNX checker: the last step of every rewrite."""
    graph = gs.import_onnx(model)
    graph.cleanup(remove_unused_graph_inputs=False).toposort()
    model = _export(graph, model)
    onnx.checker.check_model(model, full_check=True)
    return model


def _export(graph: gs.Graph, like: onnx.ModelProto) -> onnx.ModelProto:
    """Export keeping the source model's opset and IR version (gs would pick its own)."""
    model = gs.export_onnx(graph, do_type_check=True)
    model.ir_version = like.ir_version
    del model.opset_import[:]
    model.opset_import.extend(like.opset_import)
    return model


# ---- FP16 variant ----------------------------------------------------------------------------
# Where FP16 goes, and the ops kept FP32 inside it: the measured split of
# tritontts/piper/precision.py, which the bfloat16 runtimes read too.


@dataclass(frozen=True)
class Fp16Report:
    stage: str
    fp16_nodes: int
    fp32_nodes: int  # compute nodes kept in FP32 by scope or op type
    casts: int  # Cast nodes in the converted graph (precision boundaries and IO casts)
    kept_ops: dict[str, int]

    def summary(self) -> str:
        return (f"{self.stage}: {self.fp16_nodes} nodes FP16, {self.fp32_nodes} kept FP32, "
                f"{self.casts} casts")


def fp16_model(model: onnx.ModelProto, fp16_scopes: Iterable[str],
               keep_fp32_ops: Iterable[str]) -> tuple[onnx.ModelProto, Fp16Report]:
    """FP16 for the nodes whose names match a glob of `fp16_scopes`, except `keep_fp32_ops`;
    IO types unchanged (casts at the graph's edges)."""
    stage = stage_name(model)
    keep_ops = set(keep_fp32_ops) | set(float16.DEFAULT_OP_BLOCK_LIST)
    blocked = [n.name for n in model.graph.node
               if n.op_type in keep_ops
               or not any(fnmatch.fnmatchcase(n.name, scope) for scope in fp16_scopes)]
    converted = float16.convert_float_to_float16(
        model, keep_io_types=True, op_block_list=sorted(keep_ops), node_block_list=blocked)
    _drop_duplicate_casts(converted)
    graph = gs.import_onnx(converted)
    _bypass_round_trip_casts(graph)
    converted = finish(_export(graph, model))
    blocked_set = set(blocked)
    kept = Counter(n.op_type for n in model.graph.node if n.name in blocked_set)
    casts = sum(1 for n in converted.graph.node if n.op_type == "Cast")
    return converted, Fp16Report(stage, len(model.graph.node) - len(blocked_set), len(blocked_set),
                                 casts, dict(kept.most_common()))


def _drop_duplicate_casts(model: onnx.ModelProto) -> int:
    """ONNX Runtime's converter adds one identical Cast per FP32 consumer of an FP16 tensor, all
    with the same output name; the graph must have one producer per tensor."""
    seen: set[str] = set()
    duplicates = [n for n in model.graph.node if n.op_type == "Cast"
                  and (n.output[0] in seen or seen.add(n.output[0]))]
    for node in duplicates:
        model.graph.node.remove(node)
    return len(duplicates)


def _bypass_round_trip_casts(graph: gs.Graph) -> int:
    """FP32 → FP16 → FP32 between two FP32 nodes only loses precision: consumers of the second
    cast read the FP32 source instead (the converter casts every edge, even inside an FP32
    region, and before FP32 graph outputs made by FP32 nodes)."""
    bypassed = 0
    outputs = {id(t) for t in graph.outputs}
    for node in graph.nodes:
        if not _is_cast_to(node, onnx.TensorProto.FLOAT) or not node.inputs[0].inputs:
            continue
        upstream = node.inputs[0].inputs[0]
        source = upstream.inputs[0] if upstream.inputs else None
        if not _is_cast_to(upstream, onnx.TensorProto.FLOAT16) or source is None \
                or source.dtype != np.float32:
            continue
        if id(node.outputs[0]) in outputs:
            # A graph output keeps its name: the cast becomes an identity of the source.
            node.op, node.attrs = "Identity", {}
            node.inputs[0] = source
        else:
            for consumer in list(node.outputs[0].outputs):
                for index, tensor in enumerate(consumer.inputs):
                    if tensor is node.outputs[0]:
                        consumer.inputs[index] = source
        bypassed += 1
    return bypassed


def _is_cast_to(node: gs.Node, dtype: int) -> bool:
    return node.op == "Cast" and node.attrs.get("to") == dtype


def convert_fp16(path_in: Path, path_out: Path,
                 scopes: Mapping[str, tuple[str, ...]] = REDUCED_PRECISION_SCOPES,
                 keep_fp32_ops: Iterable[str] = KEEP_FULL_PRECISION_OPS) -> Fp16Report:
    """Write the FP16 variant of a (cleaned) stage graph; `scopes` by stage name."""
    model = onnx.load(str(path_in))
    converted, report = fp16_model(model, scopes[stage_name(model)], keep_fp32_ops)
    path_out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(converted, str(path_out))
    return report


@dataclass(frozen=True)
class StageVariants:
    stage: str
    cleaned: Path
    fp16: Path
    cleanup: OptimizeReport
    conversion: Fp16Report


def write_stage_variants(voice: ExportedVoice,
                         progress: Callable[[str], None] = print) -> dict[str, StageVariants]:
    """The cleaned (`*.opt.onnx`) and FP16 (`*.fp16.onnx`) graph of each stage, in the voice's
    folder, by stage name."""
    written: dict[str, StageVariants] = {}
    for stage, stage_path in zip(STAGES, (voice.acoustic, voice.vocoder), strict=True):
        cleaned, half = variant_path(stage_path, "opt"), variant_path(stage_path, "fp16")
        cleanup = optimize_stage(stage_path, cleaned)
        progress(f"[optimize] {cleanup.summary()}")
        conversion = convert_fp16(cleaned, half)
        progress(f"[optimize] {conversion.summary()}")
        written[stage] = StageVariants(stage, cleaned, half, cleanup, conversion)
    return written


# ---- FP16 against FP32 -----------------------------------------------------------------------

# Held-out text of different lengths and shapes (questions, lists, one word).
SAMPLE_SENTENCES: tuple[str, ...] = (
    "The quick brown fox jumps over the lazy dog.",
    "Would you like to hear the weather forecast for tomorrow morning?",
    "Numbers like seven hundred and twelve are read in words.",
    "She sells sea shells by the sea shore, and the shells she sells are surely sea shells.",
    "Please call Stella and ask her to bring these things with her from the store.",
    "It was the best of times, it was the worst of times.",
    "Hello!",
    "Yes.",
    "How much wood would a woodchuck chuck if a woodchuck could chuck wood?",
    "The meeting starts at nine thirty in the large conference room on the third floor.",
    "Artificial intelligence is transforming the way we work and live.",
    "Do not go gentle into that good night; rage, rage against the dying of the light.",
)


@dataclass(frozen=True)
class AudioTolerance:
    """How close a reduced-precision voice must stay to the FP32 one.

    Frame counts must be exact: a different count is a different utterance length, and the
    FP16 variant keeps durations in FP32 precisely so that it cannot change one (a mismatch
    means the precision split is wrong; with the whole acoustic stage in FP16, 4 of the 12
    sample sentences change length at speed 1, 7 at speed 0.25). The waveform SNR must be at
    least 30 dB: the FP16 vocoder alone reaches 60.5–66.7 dB (FP16's 11-bit mantissa), the
    chosen variant 41.4 dB at worst over the sample sentences at speeds 1, 0.25 and 4, so 30 dB
    keeps 11 dB of margin while still failing the variants that put the text encoder in FP16
    (24.5 dB at worst). Waveform SNR is a strict measure (a tiny phase shift costs many dB with
    no audible change), so it is a regression bound for the conversion, not a listening test.
    The max abs error is reported, not bounded (at most 0.031 on a waveform in [-1, 1] for the
    chosen variant): it is one sample's worst case, and the SNR covers the error's energy.
    """

    min_snr_db: float = 30.0
    max_frame_mismatches: int = 0


FP16_TOLERANCE = AudioTolerance()


@dataclass(frozen=True)
class ChunkParity:
    text: str
    phoneme_ids: int
    frames_reference: int
    frames_candidate: int
    # The candidate vocoder on the reference latent: its error alone, lengths always match.
    vocoder_snr_db: float
    vocoder_max_abs_error: float
    # The whole candidate chain; None when the frame counts differ (no sample-wise comparison).
    snr_db: float | None
    max_abs_error: float | None
    speaker: int | None = None  # a multi-speaker voice's speaker id; None: single speaker
    # Every phoneme id's frames equal (word timestamps are built from them).
    durations_match: bool = True

    @property
    def frames_match(self) -> bool:
        return self.frames_reference == self.frames_candidate


@dataclass(frozen=True)
class ParityReport:
    chunks: tuple[ChunkParity, ...]
    tolerance: AudioTolerance

    @property
    def frame_mismatches(self) -> int:
        return sum(not c.frames_match for c in self.chunks)

    @property
    def duration_mismatches(self) -> int:
        return sum(not c.durations_match for c in self.chunks)

    @property
    def min_snr_db(self) -> float:
        """Worst SNR over the chunks whose lengths match (inf when none)."""
        return min((c.snr_db for c in self.chunks if c.snr_db is not None), default=math.inf)

    @property
    def passed(self) -> bool:
        matched = [c for c in self.chunks if c.snr_db is not None]
        return (self.frame_mismatches <= self.tolerance.max_frame_mismatches
                and self.duration_mismatches <= self.tolerance.max_frame_mismatches
                and bool(matched) and self.min_snr_db >= self.tolerance.min_snr_db)

    def table(self) -> str:
        speakers = any(c.speaker is not None for c in self.chunks)
        lines = [f"{'spk ' if speakers else ''}{'ids':>4} {'frames':>9} {'SNR dB':>7} "
                 f"{'max|err|':>9} {'voc SNR':>7}  text"]
        for c in self.chunks:
            snr = "-" if c.snr_db is None else f"{c.snr_db:.1f}"
            err = "-" if c.max_abs_error is None else f"{c.max_abs_error:.2e}"
            speaker = f"{c.speaker:>3} " if speakers else ""
            lines.append(f"{speaker}{c.phoneme_ids:>4} "
                         f"{c.frames_reference:>4}/{c.frames_candidate:<4} {snr:>7} {err:>9} "
                         f"{c.vocoder_snr_db:>7.1f}  {c.text[:40]}")
        verdict = "pass" if self.passed else "FAIL"
        lines.append(f"{verdict}: {self.frame_mismatches} frame and {self.duration_mismatches} "
                     f"duration mismatches (allowed {self.tolerance.max_frame_mismatches}), "
                     f"min SNR {self.min_snr_db:.1f} dB "
                     f"(needed {self.tolerance.min_snr_db:g})")
        return "\n".join(lines)


@dataclass(frozen=True)
class StagePair:
    acoustic: Path
    vocoder: Path


def snr_db(reference: np.ndarray, candidate: np.ndarray) -> float:
    reference = reference.astype(np.float64)
    noise = float(np.sum(np.square(reference - candidate)))
    signal = float(np.sum(np.square(reference)))
    return math.inf if noise == 0.0 else 10.0 * math.log10(signal / noise)


def compare_stage_pairs(reference: StagePair, candidate: StagePair, voice: PiperVoiceConfig,
                        sentences: Iterable[str], tolerance: AudioTolerance = FP16_TOLERANCE,
                        speed: float = 1.0, threads: int = 1,
                        speakers: Sequence[int | None] = (None,)) -> ParityReport:
    """Run both stage pairs on ONNX Runtime CPU over each chunk of each sentence (batch 1,
    noise scales 0 so that both are deterministic) and compare the audio; a multi-speaker
    voice is compared as each of `speakers` in turn."""
    sessions = [ort_session(path, threads) for path in
                (reference.acoustic, reference.vocoder, candidate.acoustic, candidate.vocoder)]
    ref_acoustic, ref_vocoder, cand_acoustic, cand_vocoder = sessions
    frontend = TextFrontend(voice)
    scales = np.array([0.0, voice.length_scale / speed, 0.0], dtype=np.float32)
    batches = [(text, frontend.encode(text)) for text in sentences]

    def vocode(session: ort.InferenceSession, latent: np.ndarray,
               embedding: list[np.ndarray]) -> np.ndarray:
        feeds = {LATENT.name: latent}
        if embedding:
            feeds[SPEAKER_EMBEDDING.name] = embedding[0]
        return session.run(None, feeds)[0][0]

    chunks: list[ChunkParity] = []
    for speaker in speakers:
        for text, batch in batches:
            for row, length in enumerate(batch.lengths.tolist()):
                feeds = {PHONEME_IDS.name: batch.ids[row : row + 1, :length],
                         PHONEME_LENGTHS.name: batch.lengths[row : row + 1],
                         SCALES.name: scales[None]}
                if speaker is not None:
                    feeds[SPEAKER_ID.name] = np.array([speaker], dtype=np.int64)
                names = [LATENT.name, FRAME_LENGTHS.name, PHONEME_DURATIONS.name,
                         *([SPEAKER_EMBEDDING.name] if speaker is not None else [])]
                latent, frames, durations, *embedding = ref_acoustic.run(names, feeds)
                cand_latent, cand_frames, cand_durations, *cand_embedding = cand_acoustic.run(
                    names, feeds)
                audio = vocode(ref_vocoder, latent, embedding)
                vocoder_only = vocode(cand_vocoder, latent, embedding)
                cand_audio = (vocode(cand_vocoder, cand_latent, cand_embedding)
                              if cand_latent.shape == latent.shape else None)
                chunks.append(chunk_parity(text, length, int(frames[0]), int(cand_frames[0]),
                                           audio, vocoder_only, cand_audio,
                                           bool(np.array_equal(durations, cand_durations)),
                                           speaker))
    return ParityReport(tuple(chunks), tolerance)


def chunk_parity(text: str, phoneme_ids: int, frames: int, cand_frames: int,
                 audio: np.ndarray, vocoder_only: np.ndarray, cand_audio: np.ndarray | None,
                 durations_match: bool, speaker: int | None = None) -> ChunkParity:
    """One chunk's comparison: the candidate vocoder on the reference latent, and the whole
    candidate chain when its frame count matched (`cand_audio`, else None)."""
    snr = max_error = None
    if cand_audio is not None:
        snr = snr_db(audio, cand_audio)
        max_error = float(np.abs(audio - cand_audio).max())
    return ChunkParity(
        text=text, phoneme_ids=phoneme_ids, frames_reference=frames,
        frames_candidate=cand_frames, vocoder_snr_db=snr_db(audio, vocoder_only),
        vocoder_max_abs_error=float(np.abs(audio - vocoder_only).max()),
        snr_db=snr, max_abs_error=max_error, speaker=speaker, durations_match=durations_match)


def fp16_parity(exported_voice_dir: Path, sentences: Iterable[str] = SAMPLE_SENTENCES,
                tolerance: AudioTolerance = FP16_TOLERANCE, speed: float = 1.0) -> ParityReport:
    """The exported FP32 stages against their FP16 variants (`write_stage_variants`)."""
    voice = ExportedVoice.load(exported_voice_dir)
    half = StagePair(variant_path(voice.acoustic, "fp16"), variant_path(voice.vocoder, "fp16"))
    for path in (half.acoustic, half.vocoder):
        if not path.exists():
            raise MissingFileError(f"{path} not found: write the FP16 variants first "
                                    "(write_stage_variants)")
    speakers = tuple(range(voice.num_speakers)) if voice.num_speakers > 1 else (None,)
    return compare_stage_pairs(StagePair(voice.acoustic, voice.vocoder), half,
                               PiperVoiceConfig.load(voice.config), sentences, tolerance, speed,
                               speakers=speakers)
