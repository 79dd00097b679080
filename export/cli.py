"""`tritontts export` and `tritontts repository`: stage graphs, then the model repository."""

from __future__ import annotations

import argparse
from pathlib import Path

EXPORT_HELP = "cut a Piper voice into acoustic + vocoder ONNX graphs and check them"
REPOSITORY_HELP = "generate the Triton model repository (config.pbtxt + model.py + graphs)"


def configure_export(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Export a Piper voice into the `acoustic` and `vocoder` stage graphs under "
        "OUT/<voice>/, then check that the two stages reproduce the original graph.")
    parser.add_argument("--voice", default=None,
                        help="path to a Piper voice .onnx (its .onnx.json beside it); "
                             "default: the bundled en_US-joe-medium")
    parser.add_argument("--out", type=Path, default=Path("build/voices"),
                        help="folder for exported voices (default: build/voices)")


def run_export(args: argparse.Namespace) -> int:
    from tritontts.export.voice import export_piper_voice, voice_paths

    model, config = voice_paths(args.voice)
    export_piper_voice(model, config, args.out)
    return 0


def configure_repository(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Render every model of the cpu profile from its typed description into OUT: "
        "config.pbtxt, model.py and the exported graphs.")
    parser.add_argument("--voice-dir", type=Path,
                        default=Path("build/voices/en_US-joe-medium"),
                        help="an exported voice (default: build/voices/en_US-joe-medium)")
    parser.add_argument("--out", type=Path, default=Path("build/model_repository"),
                        help="repository folder to (re)write (default: build/model_repository)")
    parser.add_argument("--lexicon", type=Path, default=None,
                        help="pronunciation dictionary for this deployment (word<TAB>IPA lines)")


def run_repository(args: argparse.Namespace) -> int:
    from tritontts.repository import cpu_models, write_repository
    from tritontts.voice import ExportedVoice

    voice = ExportedVoice.load(args.voice_dir)
    if args.lexicon is not None:
        from tritontts.text import load_lexicon

        load_lexicon(args.lexicon)  # a malformed dictionary fails here, not at server start
    out = write_repository(cpu_models(voice, lexicon=args.lexicon), args.out)
    print(f"[repository] wrote {out} (cpu profile, voice {voice.name})")
    return 0
