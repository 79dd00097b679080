"""Triton adapter for the postprocess: trim each chunk, join with its pause → AUDIO."""

import numpy as np

from tritontts import contract as c
from tritontts.piper.stages import join_chunks, pause_samples
from tritontts.piper.triton import voices
from tritontts.serving.adapter import ModelArgs, optional_input, required_input, respond_each


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
        audio = join_chunks(required_input(request, c.WAVEFORM_IN.name),
                            required_input(request, c.FRAME_LENGTHS_IN.name), hop_length, pauses)
        return {c.AUDIO.name: audio,
                c.SAMPLE_RATE.name: np.array([sample_rate], dtype=np.int32)}
