"""`tritontts phonemize`: what the frontend makes of a text, chunk by chunk.

The same path the server runs (normalization or SSML, the pronunciation dictionary, espeak-ng,
chunking), for finding out why a word is pronounced the way it is.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


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
    from tritontts.piper.frontend import TextFrontend
    from tritontts.piper.voice import PiperVoiceConfig
    from tritontts.text import load_lexicon

    if args.voice_config is None:
        from tritontts.export.voice import default_voice

        args.voice_config = default_voice()[1]
    lexicon = load_lexicon(args.lexicon) if args.lexicon else None
    frontend = TextFrontend(PiperVoiceConfig.load(args.voice_config), lexicon=lexicon)
    text = sys.stdin.read() if args.text == "-" else args.text
    # The server's own planning: the same chunks, limits, merged breaks and pauses.
    for number, chunk in enumerate(frontend.plan(text), 1):
        words = " ".join(p.text if p.text else f"/{p.ipa}/" for p in chunk.sentence.pieces)
        print(f"[{number}] text:     {'(continued)' if chunk.continued else words}")
        print(f"    phonemes: {''.join(chunk.phonemes)}")
        print(f"    ids: {len(chunk.ids)}  rate: {chunk.rate:g}  pause after: {chunk.pause_s:g} s")
    return 0
