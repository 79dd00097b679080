"""The `tritontts` command: one module per subcommand under `tritontts.commands`, imported only
when that subcommand runs, so that `tritontts speak` loads the client and nothing of the server.

A known failure (`TritonTTSError`) is printed as one line that says what to do, with the
error's exit code and no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from tritontts.errors import TritonTTSError

# name -> (module with configure(parser) and run(args), one-line help)
COMMANDS = {
    "serve": ("tritontts.commands.serve",
              "run tritonserver on the model repository until interrupted"),
    # The client distribution's own command (`tritontts-speak`), one implementation.
    "speak": ("tritontts_client.speak",
              "speak TEXT with a running tritontts server into an audio file (or raw PCM on "
              "stdout)"),
    "phonemize": ("tritontts.commands.phonemize",
                  "print the normalized text and the phonemes of each chunk, as the server "
                  "reads TEXT"),
    "export": ("tritontts.commands.export",
               "cut a Piper voice into acoustic + vocoder graphs (ONNX, FP16, TensorRT), check "
               "them"),
    "repository": ("tritontts.commands.repository",
                   "generate the Triton model repository (config.pbtxt + model.py + graphs)"),
    "gateway": ("tritontts.commands.gateway",
                "run the OpenAI-compatible HTTP speech gateway in front of Triton (or manage its "
                "keys)"),
    "worker": ("tritontts.commands.worker",
               "render long-audio jobs from the Redis queue with a running Triton (results to "
               "S3 or a local directory)"),
}


def _chosen(argv: list[str]) -> str | None:
    """The subcommand named on the command line (the first word that is not an option)."""
    return next((word for word in argv if not word.startswith("-")), None)


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tritontts",
        description="Text-to-speech on NVIDIA Triton Inference Server.",
        epilog="Run `tritontts COMMAND --help` for the options of a command.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    chosen = _chosen(argv)
    for name, (module_name, help_text) in COMMANDS.items():
        sub = commands.add_parser(name, help=help_text, description=help_text)
        if name == chosen:  # only the command that runs is imported
            module = importlib.import_module(module_name)
            module.configure(sub)
            sub.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s",
                        stream=sys.stderr)
    args = build_parser(argv).parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except TritonTTSError as exc:
        print(f"tritontts {args.command}: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
