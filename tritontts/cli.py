"""The `tritontts` command. Each subcommand lives in its own module, imported only when used."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

# name -> (module, configure function, run function, help attribute)
SUBCOMMANDS = {
    "serve": ("tritontts.serve", "configure", "run", "HELP"),
    "speak": ("tritontts.client.cli", "configure", "run", "HELP"),
    "phonemize": ("tritontts.phonemize", "configure", "run", "HELP"),
    "export": ("tritontts.export.cli", "configure_export", "run_export", "EXPORT_HELP"),
    "repository": ("tritontts.export.cli", "configure_repository", "run_repository",
                   "REPOSITORY_HELP"),
    "gateway": ("tritontts.gateway.cli", "configure", "run", "HELP"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tritontts",
        description="Text-to-speech on NVIDIA Triton Inference Server.",
        epilog="Run `tritontts COMMAND --help` for the options of a command.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, configure, run, help_attr) in SUBCOMMANDS.items():
        module = importlib.import_module(module_name)
        sub = commands.add_parser(name, help=getattr(module, help_attr))
        getattr(module, configure)(sub)
        sub.set_defaults(run=getattr(module, run))
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s",
                        stream=sys.stderr)
    args = build_parser().parse_args(argv)
    return int(args.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
