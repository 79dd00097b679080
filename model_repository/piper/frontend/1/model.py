"""Triton adapter for the text frontend: TEXT + options → phoneme ids of each sentence chunk,
with the speaking scales of each chunk and the pause after it, in the voice VOICE chooses
(and, when the repository needs them, the speaker and voice of every chunk), and the spoken
words with their ids (for word timestamps)."""

import numpy as np

from tritontts.piper.triton import load_frontends, request_options
from tritontts.serving.adapter import ModelArgs, optional_text, respond_each, text_input
from tritontts_client import contract as c


class TritonPythonModel:
    def initialize(self, args):
        self.frontends = load_frontends(ModelArgs(args))

    def execute(self, requests):
        return respond_each(requests, self._handle)

    def _handle(self, request):
        encoded = self.frontends.encode(text_input(request),
                                        optional_text(request, c.VOICE.name),
                                        **request_options(request))
        batch = encoded.batch
        outputs = {
            c.PHONEME_IDS_OUT.name: batch.ids,
            c.PHONEME_LENGTHS_OUT.name: batch.lengths.reshape(-1, 1),
            c.SCALES_OUT.name: encoded.scales,
            c.PAUSES_OUT.name: batch.pauses_s.reshape(-1, 1),
            c.WORDS.name: np.array([w.encode("utf-8") for w in batch.words], dtype=np.object_),
            c.WORD_SPANS_OUT.name: batch.word_spans,
        }
        if self.frontends.multi_speaker:
            outputs[c.SPEAKER_IDS_OUT.name] = encoded.per_chunk(encoded.speaker)
        if self.frontends.multi_voice:
            outputs[c.VOICE_INDEX_OUT.name] = encoded.per_chunk(encoded.voice)
        return outputs
