"""Triton adapter for the vocoder stage (latent frames → waveform) on ONNX Runtime, one
session per voice of the repository."""

import numpy as np

from tritontts.stages import VocoderStage, run_per_voice
from tritontts.triton_model import ModelArgs, run_batched_stage


class TritonPythonModel:
    def initialize(self, args):
        model = ModelArgs(args)
        threads, sub_batch = int(model.param("threads")), int(model.param("sub_batch"))
        self.stages = [
            VocoderStage(model.version_dir / voice["onnx_model"],
                         hop_length=int(voice["hop_length"]), threads=threads, max_batch=sub_batch,
                         latent_channels=int(voice["latent_channels"]),
                         speaker_embedding_channels=int(voice["speaker_embedding_channels"]))
            for voice in model.voices()]

    def execute(self, requests):
        return run_batched_stage(requests, ("latent",), self._compute,
                                 optional_names=("frame_lengths", "speaker_embedding",
                                                 "voice_index"))

    def _compute(self, latent, frame_lengths=None, speaker_embedding=None, voice_index=None):
        count = latent.shape[0]
        if frame_lengths is None:  # a streaming window: every frame is a true frame
            frames = np.full(count, latent.shape[-1], dtype=np.int64)
        else:
            frames = frame_lengths.reshape(-1)
        voices = np.zeros(count, dtype=np.int64) if voice_index is None else voice_index

        def run(voice, rows):
            stage = self.stages[voice]
            embedding = None if speaker_embedding is None else speaker_embedding[rows]
            return (stage.run(latent[rows], frames[rows], embedding),
                    frames[rows] * stage.hop_length)

        waveform, samples = run_per_voice(voices, run)
        return [("waveform", waveform, samples)]
