"""Triton adapter for the vocoder stage (latent frames → waveform) on ONNX Runtime or
OpenVINO (its `runtime` and `precision` parameters), a compiled graph per voice of the
repository."""

import numpy as np

from tritontts.piper.stages import VocoderStage, run_per_voice
from tritontts.piper.triton import (
    log_stage_runtime,
    log_warm_up,
    stage_runtime,
    stage_threads_and_sub_batch,
    voices,
)
from tritontts.serving.adapter import ModelArgs, run_batched_stage
from tritontts_client import contract as c


class TritonPythonModel:
    def initialize(self, args):
        model = ModelArgs(args)
        threads, sub_batch = stage_threads_and_sub_batch(model)
        runtime, precision = stage_runtime(model)
        self.stages = [
            VocoderStage(model.version_dir / voice[c.VOICE_GRAPH_FILE],
                         hop_length=int(voice[c.VOICE_HOP_LENGTH]), threads=threads,
                         max_batch=sub_batch,
                         latent_channels=int(voice[c.VOICE_LATENT_CHANNELS]),
                         speaker_embedding_channels=int(
                             voice[c.VOICE_SPEAKER_EMBEDDING_CHANNELS]),
                         runtime=runtime, precision=precision)
            for voice in voices(model)]
        log_stage_runtime(model, [s.runner for s in self.stages])
        log_warm_up(model, [s.warm_up() for s in self.stages])

    def execute(self, requests):
        return run_batched_stage(requests, (c.LATENT.name,), self._compute,
                                 optional_names=(c.FRAME_LENGTHS.name, c.SPEAKER_EMBEDDING.name,
                                                 c.VOICE_INDEX.name))

    def _compute(self, latent, frame_lengths=None, speaker_embedding=None, voice_index=None):
        count = latent.shape[0]
        if frame_lengths is None:  # a streaming window: every frame is a true frame
            frames = np.full(count, latent.shape[-1], dtype=np.int64)
        else:
            frames = frame_lengths.reshape(-1)
        voices_of = np.zeros(count, dtype=np.int64) if voice_index is None else voice_index

        def run(voice, rows):
            stage = self.stages[voice]
            embedding = None if speaker_embedding is None else speaker_embedding[rows]
            return (stage.run(latent[rows], frames[rows], embedding),
                    frames[rows] * stage.hop_length)

        waveform, samples = run_per_voice(voices_of, run)
        return [(c.WAVEFORM.name, waveform, samples)]
