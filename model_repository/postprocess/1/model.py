"""Triton adapter for the postprocess: trim each chunk, join with its pause → AUDIO."""

import numpy as np

from tritontts.stages import join_chunks, pause_samples
from tritontts.triton_model import ModelArgs, optional_input, required_input, respond_each


class TritonPythonModel:
    def initialize(self, args):
        self.voices = [(int(v["hop_length"]), int(v["sample_rate"]))
                       for v in ModelArgs(args).voices()]

    def execute(self, requests):
        return respond_each(requests, self._handle)

    def _handle(self, request):
        voice_index = optional_input(request, "VOICE_INDEX")
        voice = 0 if voice_index is None else int(voice_index.reshape(-1)[0])
        hop_length, sample_rate = self.voices[voice]
        pauses = pause_samples(required_input(request, "PAUSES"), sample_rate)
        audio = join_chunks(required_input(request, "WAVEFORM"),
                            required_input(request, "FRAME_LENGTHS"), hop_length, pauses)
        return {"AUDIO": audio, "SAMPLE_RATE": np.array([sample_rate], dtype=np.int32)}
