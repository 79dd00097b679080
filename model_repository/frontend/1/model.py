"""Triton adapter for the text frontend: TEXT + options → phoneme ids of each sentence chunk,
with the speaking scales of each chunk, the pause after it and (multi-speaker voices) the
speaker VOICE names."""

from tritontts.frontend import encode_request, speaker_ids
from tritontts.triton_model import (
    ModelArgs,
    load_frontend,
    optional_text,
    request_options,
    respond_each,
    text_input,
)


class TritonPythonModel:
    def initialize(self, args):
        self.frontend = load_frontend(ModelArgs(args))
        self.multi_speaker = self.frontend.voice.num_speakers > 1

    def execute(self, requests):
        return respond_each(requests, self._handle)

    def _handle(self, request):
        speakers_requested = optional_text(request, "VOICE")
        batch, scales = encode_request(self.frontend, text_input(request),
                                       **request_options(request))
        speakers = speaker_ids(self.frontend, batch, speakers_requested)
        outputs = {
            "PHONEME_IDS": batch.ids,
            "PHONEME_LENGTHS": batch.lengths.reshape(-1, 1),
            "SCALES": scales,
            "PAUSES": batch.pauses_s.reshape(-1, 1),
        }
        if self.multi_speaker:
            outputs["SPEAKER_IDS"] = speakers.reshape(-1, 1)
        return outputs
