"""Triton adapter for the text frontend: TEXT + options → phoneme ids of each sentence chunk,
with the speaking scales of each chunk and the pause after it, in the voice VOICE chooses
(and, when the repository needs them, the speaker and voice of every chunk)."""

from tritontts.triton_model import (
    ModelArgs,
    load_frontends,
    optional_text,
    request_options,
    respond_each,
    text_input,
)


class TritonPythonModel:
    def initialize(self, args):
        self.frontends = load_frontends(ModelArgs(args))

    def execute(self, requests):
        return respond_each(requests, self._handle)

    def _handle(self, request):
        encoded = self.frontends.encode(text_input(request), optional_text(request, "VOICE"),
                                        **request_options(request))
        batch = encoded.batch
        outputs = {
            "PHONEME_IDS": batch.ids,
            "PHONEME_LENGTHS": batch.lengths.reshape(-1, 1),
            "SCALES": encoded.scales,
            "PAUSES": batch.pauses_s.reshape(-1, 1),
        }
        if self.frontends.multi_speaker:
            outputs["SPEAKER_IDS"] = encoded.per_chunk(encoded.speaker)
        if self.frontends.multi_voice:
            outputs["VOICE_INDEX"] = encoded.per_chunk(encoded.voice)
        return outputs
