"""A Piper voice: its `.onnx.json` config, and the defaults of a synthesis request."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tritontts.errors import InvalidInputError, MissingFileError
from tritontts_client.contract import ACOUSTIC_MODEL, NOISE_SCALE, NOISE_W, SPEED, VOCODER_MODEL

__all__ = ["ExportedVoice", "InvalidInputError", "OptionLimits", "PiperVoiceConfig",
           "SynthesisOptions", "choose_voice", "speaker_id", "variant_path"]


# The inputs of a Piper voice's own (uncut) graph, as Piper exports them; the stage graphs
# rename them into the contract's names (export/piper.py).
PIPER_PHONEME_IDS = "input"
PIPER_PHONEME_LENGTHS = "input_lengths"
PIPER_SCALES = "scales"
PIPER_SPEAKER_ID = "sid"


@dataclass(frozen=True)
class PiperVoiceConfig:
    """The parts of a Piper `*.onnx.json` that synthesis needs."""

    sample_rate: int
    espeak_voice: str
    phoneme_id_map: dict[str, list[int]]
    noise_scale: float = 0.667
    length_scale: float = 1.0
    noise_w: float = 0.8
    num_speakers: int = 1
    speaker_id_map: dict[str, int] = field(default_factory=dict)
    phoneme_type: str = "espeak"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PiperVoiceConfig:
        inference = data.get("inference", {})
        phoneme_type = data.get("phoneme_type", "espeak")
        if phoneme_type != "espeak":
            raise ValueError(f"phoneme_type {phoneme_type!r} is not supported (only espeak voices)")
        return cls(
            sample_rate=int(data["audio"]["sample_rate"]),
            espeak_voice=str(data["espeak"]["voice"]),
            phoneme_id_map={k: list(v) for k, v in data["phoneme_id_map"].items()},
            noise_scale=float(inference.get("noise_scale", 0.667)),
            length_scale=float(inference.get("length_scale", 1.0)),
            noise_w=float(inference.get("noise_w", 0.8)),
            num_speakers=int(data.get("num_speakers", 1)),
            speaker_id_map=dict(data.get("speaker_id_map", {})),
            phoneme_type=phoneme_type,
        )

    @classmethod
    def load(cls, path: str | Path) -> PiperVoiceConfig:
        with open(path, encoding="utf-8") as f:
            return cls.from_dict(json.load(f))


def speaker_id(voice: PiperVoiceConfig, voice_name: str, requested: str | None) -> int:
    """The speaker a request's VOICE names: empty or the voice's own name → the first speaker;
    `<speaker>` or `<voice>/<speaker>` → that speaker (by name, or by number)."""
    requested = (requested or "").strip()
    if requested in ("", voice_name):
        return 0
    prefix = f"{voice_name}/"
    name = requested.removeprefix(prefix)
    if name in voice.speaker_id_map:
        return voice.speaker_id_map[name]
    if name.isdigit() and int(name) < voice.num_speakers:
        return int(name)
    known = sorted(voice.speaker_id_map) or ["(one speaker only)"]
    raise InvalidInputError(f"VOICE {requested!r} is not served here; voice {voice_name!r} "
                            f"has speakers: {', '.join(known)}")


def choose_voice(voices: Sequence[tuple[str, PiperVoiceConfig]],
                 requested: str | None) -> tuple[int, int]:
    """(voice, speaker) a request's VOICE names among the voices of one repository: empty → the
    first voice's first speaker; `<voice>` or `<voice>/<speaker>` → that voice; a bare
    `<speaker>` → a speaker of the first voice."""
    requested = (requested or "").strip()
    for index, (name, config) in enumerate(voices):
        if requested == name or requested.startswith(f"{name}/"):
            return index, speaker_id(config, name, requested)
    name, config = voices[0]
    try:
        return 0, speaker_id(config, name, requested)
    except InvalidInputError as exc:
        if len(voices) == 1:
            raise
        served = ", ".join(n for n, _ in voices)
        raise InvalidInputError(f"{exc}; voices served here: {served} "
                                "(VOICE is `<voice>` or `<voice>/<speaker>`)") from None


@dataclass(frozen=True)
class OptionLimits:
    """Accepted ranges of the per-request options; values outside get INVALID_ARG."""

    speed: tuple[float, float] = (0.25, 4.0)
    noise_scale: tuple[float, float] = (0.0, 2.0)
    noise_w: tuple[float, float] = (0.0, 2.0)


@dataclass(frozen=True)
class SynthesisOptions:
    """Per-request knobs as Piper's graph takes them: the `scales` input [3]."""

    noise_scale: float
    length_scale: float
    noise_w: float

    def as_scales(self) -> list[float]:
        return [self.noise_scale, self.length_scale, self.noise_w]

    @classmethod
    def resolve(cls, voice: PiperVoiceConfig, speed: float | None = None,
                noise_scale: float | None = None, noise_w: float | None = None,
                limits: OptionLimits = OptionLimits()) -> SynthesisOptions:
        """Voice defaults overridden by whatever the request sent, each checked against limits."""
        speed = 1.0 if speed is None else _checked(SPEED.name, speed, limits.speed)
        if noise_scale is not None:
            noise_scale = _checked(NOISE_SCALE.name, noise_scale, limits.noise_scale)
        if noise_w is not None:
            noise_w = _checked(NOISE_W.name, noise_w, limits.noise_w)
        return cls(
            noise_scale=voice.noise_scale if noise_scale is None else noise_scale,
            length_scale=voice.length_scale / speed,
            noise_w=voice.noise_w if noise_w is None else noise_w,
        )


def _checked(name: str, value: float, bounds: tuple[float, float]) -> float:
    low, high = bounds
    value = float(value)
    if not math.isfinite(value) or not low <= value <= high:
        raise InvalidInputError(f"{name} must be a number in [{low:g}, {high:g}], got {value!r}")
    return value


def variant_path(stage_path: Path, variant: str) -> Path:
    """`acoustic.onnx` → `acoustic.<variant>.onnx` beside it."""
    return stage_path.with_name(f"{stage_path.stem}.{variant}{stage_path.suffix}")


@dataclass(frozen=True)
class ExportedVoice:
    """What `tritontts export` writes for one voice, read back by the repository builder."""

    name: str
    directory: Path
    sample_rate: int
    hop_length: int
    latent_channels: int
    num_speakers: int
    # Size of the speaker embedding the vocoder takes (multi-speaker voices), else 0.
    speaker_embedding_channels: int = 0

    MANIFEST = "export.json"
    ACOUSTIC = "acoustic.onnx"
    VOCODER = "vocoder.onnx"
    CONFIG = "voice.onnx.json"

    @property
    def acoustic(self) -> Path:
        return self.directory / self.ACOUSTIC

    @property
    def vocoder(self) -> Path:
        return self.directory / self.VOCODER

    @property
    def config(self) -> Path:
        return self.directory / self.CONFIG

    def stage_graph(self, stage: str, variant: str | None = None) -> Path:
        """A stage's graph, or its variant (`opt`, `fp16`) written beside it."""
        path = {ACOUSTIC_MODEL: self.acoustic, VOCODER_MODEL: self.vocoder}[stage]
        return path if variant is None else variant_path(path, variant)

    def save(self) -> None:
        data = {k: v for k, v in self.__dict__.items() if k != "directory"}
        (self.directory / self.MANIFEST).write_text(json.dumps(data, indent=2) + "\n")

    @classmethod
    def load(cls, directory: str | Path) -> ExportedVoice:
        directory = Path(directory)
        manifest = directory / cls.MANIFEST
        if not manifest.exists():
            raise MissingFileError(
                f"{manifest} not found: export the voice first (`make export`)")
        return cls(directory=directory, **json.loads(manifest.read_text()))
