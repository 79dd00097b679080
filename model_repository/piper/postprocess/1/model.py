"""Triton adapter for the postprocess: trim each chunk, join with its pause → AUDIO; and
where each word lies in it (from the phoneme durations) → WORD_TIMES."""

import numpy as np

from tritontts.piper.stages import join_chunks, pause_samples
from tritontts.piper.triton import voices
from tritontts.piper.words import chunk_offsets, word_times
from tritontts.serving.adapter import ModelArgs, optional_input, required_input, respond_each
from tritontts_client import contract as c


class TritonPythonModel:
    def initialize(self, args):
        self.voices = [(int(v[c.VOICE_HOP_LENGTH]), int(v[c.VOICE_SAMPLE_RATE]))
                       for v in voices(ModelArgs(args))]

    def execute(self, requests):
        return respond_each(requests, self._handle)

    def _handle(self, request):
        voice_index = optional_input(request, c.VOICE_INDEX_OUT.name)
        voice = 0 if voice_index is None else int(voice_index.reshape(-1)[0])
        hop_length, sample_rate = self.voices[voice]
        pauses = pause_samples(required_input(request, c.PAUSES_OUT.name), sample_rate)
        frames = required_input(request, c.FRAME_LENGTHS_IN.name)
        audio = join_chunks(required_input(request, c.WAVEFORM_IN.name), frames, hop_length,
                            pauses)
        times = word_times(required_input(request, c.WORD_SPANS_OUT.name),
                           required_input(request, c.PHONEME_DURATIONS_IN.name),
                           chunk_offsets(frames.reshape(-1).tolist(), pauses, hop_length),
                           hop_length)
        return {c.AUDIO.name: audio,
                c.SAMPLE_RATE.name: np.array([sample_rate], dtype=np.int32),
                c.WORD_TIMES.name: times}
