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
                                 self._compute, optional_names=("speaker_id",))

    def _compute(self, phoneme_ids, lengths, scales, speaker_id=None):
        speakers = None if speaker_id is None else speaker_id.reshape(-1)
        latent, frames, embedding = self.stage.run(phoneme_ids, lengths.reshape(-1), scales,
                                                   speakers)
        outputs = [("latent", latent, frames), ("frame_lengths", frames.reshape(-1, 1), None)]
        if embedding is not None:
            outputs.append(("speaker_embedding", embedding, None))
        return outputs
