"""Triton adapter for the vocoder stage (latent frames → waveform) on ONNX Runtime."""

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
        return run_batched_stage(requests, ("LATENT", "FRAME_LENGTHS"), self._compute)

    def _compute(self, latent, frame_lengths):
        frames = frame_lengths.reshape(-1)
        waveform = self.stage.run(latent, frames)
        return [("WAVEFORM", waveform, frames * self.stage.hop_length)]
