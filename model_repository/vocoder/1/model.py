"""Triton adapter for the vocoder stage (latent frames → waveform) on ONNX Runtime."""

import numpy as np

from tritontts.stages import VocoderStage
from tritontts.triton_model import ModelArgs, run_batched_stage


class TritonPythonModel:
    def initialize(self, args):
        model = ModelArgs(args)
        self.stage = VocoderStage(model.path("onnx_model"),
                                  hop_length=int(model.param("hop_length")),
                                  threads=int(model.param("threads")),
                                  max_batch=int(model.param("sub_batch")))

    def execute(self, requests):
        return run_batched_stage(requests, ("latent",), self._compute,
                                 optional_names=("frame_lengths", "speaker_embedding"))

    def _compute(self, latent, frame_lengths=None, speaker_embedding=None):
        if frame_lengths is None:  # a streaming window: every frame is a true frame
            frames = np.full(latent.shape[0], latent.shape[-1], dtype=np.int64)
        else:
            frames = frame_lengths.reshape(-1)
        waveform = self.stage.run(latent, frames, speaker_embedding)
        return [("waveform", waveform, frames * self.stage.hop_length)]

