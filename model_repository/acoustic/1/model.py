"""Triton adapter for the acoustic stage (phoneme ids → latent frames) on ONNX Runtime."""

from tritontts.stages import AcousticStage
from tritontts.triton_model import ModelArgs, run_batched_stage


class TritonPythonModel:
    def initialize(self, args):
        model = ModelArgs(args)
        self.stage = AcousticStage(model.path("onnx_model"), threads=int(model.param("threads")),
                                   max_batch=int(model.param("sub_batch")))

    def execute(self, requests):
        return run_batched_stage(requests, ("phoneme_ids", "phoneme_lengths", "scales"),
                                 self._compute)

    def _compute(self, phoneme_ids, lengths, scales):
        latent, frames = self.stage.run(phoneme_ids, lengths.reshape(-1), scales)
        return [("latent", latent, frames), ("frame_lengths", frames.reshape(-1, 1), None)]
