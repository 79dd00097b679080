"""Triton adapter for the acoustic stage (phoneme ids → latent frames) on ONNX Runtime, one
session per voice of the repository."""

import numpy as np

from tritontts.stages import AcousticStage, run_per_voice
from tritontts.triton_model import ModelArgs, run_batched_stage


class TritonPythonModel:
    def initialize(self, args):
        model = ModelArgs(args)
        threads, sub_batch = int(model.param("threads")), int(model.param("sub_batch"))
        self.stages = [AcousticStage(model.version_dir / voice["onnx_model"], threads=threads,
                                     max_batch=sub_batch) for voice in model.voices()]
        # A repository with a multi-speaker voice hands every chunk's vocoder an embedding
        # (zeros for the voices that have none).
        self.embedding_shape = next(
            (tuple(o["dims"]) for o in model.config["output"]
             if o["name"] == "speaker_embedding"), None)

    def execute(self, requests):
        return run_batched_stage(requests, ("phoneme_ids", "phoneme_lengths", "scales"),
                                 self._compute, optional_names=("speaker_id", "voice_index"))

    def _compute(self, phoneme_ids, lengths, scales, speaker_id=None, voice_index=None):
        lengths = lengths.reshape(-1)
        speakers = None if speaker_id is None else speaker_id.reshape(-1)
        voices = np.zeros(len(lengths), dtype=np.int64) if voice_index is None else voice_index

        def run(voice, rows):
            return self.stages[voice].run(phoneme_ids[rows], lengths[rows], scales[rows],
                                          None if speakers is None else speakers[rows])

        latent, frames, embedding = run_per_voice(voices, run)
        outputs = [("latent", latent, frames), ("frame_lengths", frames.reshape(-1, 1), None)]
        if self.embedding_shape is not None:
            if embedding is None:
                embedding = np.zeros((len(lengths), *map(int, self.embedding_shape)),
                                     dtype=np.float32)
            outputs.append(("speaker_embedding", embedding, None))
        return outputs
