"""`tritontts phonemize`: what the frontend makes of a text, chunk by chunk.

The same path the server runs (normalization or SSML, the pronunciation dictionary, espeak-ng,
chunking), for finding out why a word is pronounced the way it is.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "print the normalized text and the phonemes of each chunk, as the server reads TEXT"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Read TEXT as the server does and print, for every chunk sent to the acoustic stage, "
        "the words it came from, its phonemes, its id count, its speaking rate and the pause "
        "after it.")
    parser.add_argument("text", help="plain text or SSML (<speak>...</speak>); `-` reads stdin")
    parser.add_argument("--voice-config", type=Path, default=None,
                        help="a Piper .onnx.json (default: the bundled en_US-joe-medium)")
    parser.add_argument("--lexicon", type=Path, default=None,
                        help="a pronunciation dictionary: one `word<TAB>IPA` per line")


def run(args: argparse.Namespace) -> int:
    from tritontts.frontend import TextFrontend
    from tritontts.text import load_lexicon
    from tritontts.voice import InvalidInputError, PiperVoiceConfig

    if args.voice_config is None:
        from tritontts.export.voice import default_voice

        args.voice_config = default_voice()[1]
    lexicon = load_lexicon(args.lexicon) if args.lexicon else None
    frontend = TextFrontend(PiperVoiceConfig.load(args.voice_config), lexicon=lexicon)
    text = sys.stdin.read() if args.text == "-" else args.text
    try:
        sentences = frontend.sentences(text)
    except InvalidInputError as exc:
        print(f"tritontts phonemize: {exc}", file=sys.stderr)
        return 2
    number = 0
    for sentence in sentences:
        words = " ".join(p.text if p.text else f"/{p.ipa}/" for p in sentence.pieces)
        chunks = frontend.chunk(frontend.phonemize(sentence))
        for index, chunk in enumerate(chunks):
            number += 1
            pause = sentence.pause_after_s if index == len(chunks) - 1 else 0.0
            pause = frontend.sentence_pause_s if pause is None else pause
            print(f"[{number}] text:     {words if index == 0 else '(continued)'}")
            print(f"    phonemes: {''.join(chunk)}")
            print(f"    ids: {len(frontend.phoneme_ids(chunk))}  rate: {sentence.rate:g}  "
                  f"pause after: {pause:g} s")
    return 0
