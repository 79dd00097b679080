"""Triton adapter for the text frontend: TEXT + options → phoneme ids of each sentence chunk."""

from tritontts.frontend import TextFrontend, encode_request
from tritontts.triton_model import ModelArgs, request_options, respond_each, text_input
from tritontts.voice import PiperVoiceConfig


class TritonPythonModel:
    def initialize(self, args):
        model = ModelArgs(args)
        self.frontend = TextFrontend(PiperVoiceConfig.load(model.path("voice_config")))

    def execute(self, requests):
        return respond_each(requests, self._handle)

    def _handle(self, request):
        batch, scales = encode_request(self.frontend, text_input(request),
                                       **request_options(request))
        return {
            "PHONEME_IDS": batch.ids,
            "PHONEME_LENGTHS": batch.lengths.reshape(-1, 1),
            "SCALES": scales,
        }
