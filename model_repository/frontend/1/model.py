"""Triton adapter for the text frontend: TEXT + options → phoneme ids of each sentence chunk."""

import numpy as np

from tritontts.frontend import TextFrontend
from tritontts.triton_model import ModelArgs, optional_scalar, respond_each, text_input
from tritontts.voice import PiperVoiceConfig, SynthesisOptions


class TritonPythonModel:
    def initialize(self, args):
        model = ModelArgs(args)
        self.frontend = TextFrontend(PiperVoiceConfig.load(model.path("voice_config")))

    def execute(self, requests):
        return respond_each(requests, self._handle)

    def _handle(self, request):
        options = SynthesisOptions.resolve(
            self.frontend.voice,
            speed=optional_scalar(request, "SPEED"),
            noise_scale=optional_scalar(request, "NOISE_SCALE"),
            noise_w=optional_scalar(request, "NOISE_W"),
        )
        batch = self.frontend.encode(text_input(request))
        scales = np.tile(np.asarray(options.as_scales(), dtype=np.float32), (batch.chunks, 1))
        return {
            "PHONEME_IDS": batch.ids,
            "PHONEME_LENGTHS": batch.lengths.reshape(-1, 1),
            "SCALES": scales,
        }
