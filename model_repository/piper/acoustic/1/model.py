"""Triton adapter for the acoustic stage (phoneme ids → latent frames) on ONNX Runtime or
OpenVINO (its `runtime` and `precision` parameters), a compiled graph per voice of the
repository."""

import numpy as np

from tritontts.piper.stages import AcousticStage, run_per_voice
from tritontts.piper.triton import (
    log_stage_runtime,
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
        self.stages = [AcousticStage(model.version_dir / voice[c.VOICE_GRAPH_FILE],
                                     threads=threads, max_batch=sub_batch,
                                     runtime=runtime, precision=precision)
                       for voice in voices(model)]
        log_stage_runtime(model, [s.runner for s in self.stages])
        # A repository with a multi-speaker voice hands every chunk's vocoder an embedding
        # (zeros for the voices that have none).
        self.embedding_shape = next(
            (tuple(o["dims"]) for o in model.config["output"]
             if o["name"] == c.SPEAKER_EMBEDDING.name), None)

    def execute(self, requests):
        return run_batched_stage(
            requests, (c.PHONEME_IDS.name, c.PHONEME_LENGTHS.name, c.SCALES.name),
            self._compute, optional_names=(c.SPEAKER_ID.name, c.VOICE_INDEX.name))

    def _compute(self, phoneme_ids, lengths, scales, speaker_id=None, voice_index=None):
        lengths = lengths.reshape(-1)
        speakers = None if speaker_id is None else speaker_id.reshape(-1)
        voices_of = np.zeros(len(lengths), dtype=np.int64) if voice_index is None else voice_index

        def run(voice, rows):
            return self.stages[voice].run(phoneme_ids[rows], lengths[rows], scales[rows],
                                          None if speakers is None else speakers[rows])

        latent, frames, durations, embedding = run_per_voice(voices_of, run)
        outputs = [(c.LATENT.name, latent, frames),
                   (c.FRAME_LENGTHS.name, frames.reshape(-1, 1), None),
                   (c.PHONEME_DURATIONS.name, durations, lengths)]
        if self.embedding_shape is not None:
            if embedding is None:
                embedding = np.zeros((len(lengths), *map(int, self.embedding_shape)),
                                     dtype=np.float32)
            outputs.append((c.SPEAKER_EMBEDDING.name, embedding, None))
        return outputs
