"""Triton adapter for the text frontend: TEXT + options → phoneme ids of each sentence chunk,
with the speaking scales of each chunk and the pause after it."""

from tritontts.frontend import encode_request
from tritontts.triton_model import (
    ModelArgs,
    load_frontend,
    request_options,
    respond_each,
    text_input,
)


class TritonPythonModel:
    def initialize(self, args):
        self.frontend = load_frontend(ModelArgs(args))

    def execute(self, requests):
        return respond_each(requests, self._handle)

    def _handle(self, request):
        batch, scales = encode_request(self.frontend, text_input(request),
                                       **request_options(request))
        return {
            "PHONEME_IDS": batch.ids,
            "PHONEME_LENGTHS": batch.lengths.reshape(-1, 1),
            "SCALES": scales,
            "PAUSES": batch.pauses_s.reshape(-1, 1),
        }
