"""The vocoder on a runner that prepares kernels per input shape (OpenVINO) runs latents padded
to a few widths, prepared at load (stages.frame_bucket, VocoderStage.warm_up)."""

from __future__ import annotations

import numpy as np
import pytest

from tritontts.piper.frontend import TextFrontend
from tritontts.piper.stages import (
    LONG_LATENT_WINDOWS,
    MIN_BUCKET_STEP,
    WARM_UP_FRAMES,
    AcousticStage,
    VocoderStage,
    bucket_widths,
    frame_bucket,
)
from tritontts.piper.voice import ExportedVoice, PiperVoiceConfig
from tritontts.piper.windows import plan_windows
from tritontts_client import contract as c


@pytest.mark.parametrize("frames", [*range(1, 300), 511, 512, 513, 1000, 1025, 4000])
def test_a_bucket_holds_the_frames_with_at_most_an_eighth_more(frames: int) -> None:
    width = frame_bucket(frames)
    assert frames <= width and width % MIN_BUCKET_STEP == 0
    assert width <= max(frames * 9 / 8, MIN_BUCKET_STEP * np.ceil(frames / MIN_BUCKET_STEP))
    assert frame_bucket(width) == width  # a bucket is its own bucket


def test_the_warm_up_widths_are_every_bucket_up_to_the_bound() -> None:
    widths = bucket_widths(WARM_UP_FRAMES)
    assert widths == sorted(set(frame_bucket(f) for f in range(1, WARM_UP_FRAMES + 1)))
    assert widths[-1] == WARM_UP_FRAMES and len(widths) == 24


def voice_stage(voice: ExportedVoice, runtime: str, precision: str) -> VocoderStage:
    return VocoderStage(voice.vocoder, voice.hop_length, 1, latent_channels=voice.latent_channels,
                        runtime=runtime, precision=precision)


@pytest.mark.slow  # OpenVINO prepares 24 widths
def test_openvino_pads_to_buckets_and_keeps_the_audio(exported_voice: ExportedVoice) -> None:
    reference = voice_stage(exported_voice, c.RUNTIME_ONNXRUNTIME, c.PRECISION_F32)
    bucketed = voice_stage(exported_voice, c.RUNTIME_OPENVINO, c.PRECISION_F32)
    assert reference.warm_up() == 0  # ONNX Runtime needs none
    assert bucketed.warm_up() == len(bucket_widths(WARM_UP_FRAMES))
    # Two sentences' latents in one acoustic batch (zeros past the shorter one's frames).
    config = PiperVoiceConfig.load(exported_voice.config)
    batch = TextFrontend(config).encode("Hello! The next train leaves in five minutes.")
    scales = np.tile(np.array([[0.0, config.length_scale, 0.0]], np.float32),
                     (len(batch.lengths), 1))
    acoustic = AcousticStage(exported_voice.acoustic).run(batch.ids, batch.lengths, scales)
    latent, frames = acoustic.latent, acoustic.frame_lengths
    assert len(frames) == 2 and all(frame_bucket(int(f)) > f for f in frames)  # both padded
    want = reference.run(latent, frames)
    got = bucketed.run(latent, frames)
    assert got.shape == want.shape == (2, latent.shape[-1] * exported_voice.hop_length)
    for item, count in enumerate(frames):
        samples = count * exported_voice.hop_length
        assert not got[item, samples:].any()  # trimmed to the item's own frames
        error = got[item, :samples] - want[item, :samples]
        snr = 10 * np.log10(np.sum(want[item, :samples] ** 2) / np.sum(error ** 2))
        # The zeros past the end reach the last frames' samples through the convolutions, as
        # in any padded batch: the FP16 variant's waveform bound, not equality. (On random
        # latents, which no acoustic stage makes, the tail of a short item differs more.)
        assert snr >= 30.0, (item, snr)


@pytest.mark.slow  # OpenVINO prepares 24 widths
def test_latents_longer_than_the_prepared_widths_are_decoded_in_windows(
        exported_voice: ExportedVoice) -> None:
    config = PiperVoiceConfig.load(exported_voice.config)
    batch = TextFrontend(config).encode(
        "The meeting has been moved to the large conference room on the third floor")
    slow = np.array([[0.0, 4.0 * config.length_scale, 0.0]], np.float32)  # a quarter the speed
    acoustic = AcousticStage(exported_voice.acoustic).run(batch.ids, batch.lengths, slow)
    frames = int(acoustic.frame_lengths[0])
    assert len(plan_windows(frames, LONG_LATENT_WINDOWS)) >= 3
    reference = voice_stage(exported_voice, c.RUNTIME_ONNXRUNTIME, c.PRECISION_F32)
    windowed = voice_stage(exported_voice, c.RUNTIME_OPENVINO, c.PRECISION_F32)
    want = reference.run(acoustic.latent, acoustic.frame_lengths)[0]
    got = windowed.run(acoustic.latent, acoustic.frame_lengths)[0]
    # Away from the padded tail the windows give the one-shot samples (f32 rounding aside).
    body = (frames - 32) * exported_voice.hop_length
    np.testing.assert_allclose(got[:body], want[:body], atol=1e-3)
    error = got - want
    assert 10 * np.log10(np.sum(want ** 2) / np.sum(error ** 2)) >= 30.0
