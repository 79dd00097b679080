"""`tritontts export`: a Piper voice cut into stage graphs, their variants and engines, checked."""

from __future__ import annotations

import argparse
from pathlib import Path

from tritontts.errors import TritonTTSError


class Fp16OutsideToleranceError(TritonTTSError):
    """The FP16 variants changed the speech more than the stated tolerance allows."""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Export a Piper voice into the `acoustic` and `vocoder` stage graphs under "
        "OUT/<voice>/, check that the two stages reproduce the original graph, write the "
        "cleaned (*.opt.onnx) and FP16 (*.fp16.onnx) variants and measure FP16 against FP32 "
        "(for every speaker of a multi-speaker voice). With --engines, also build TensorRT "
        "engines (needs an NVIDIA GPU and `tensorrt`) and compare each with ONNX Runtime "
        "(polygraphy) on the sample sentences.")
    parser.add_argument("--voice", default=None,
                        help="path to a Piper voice .onnx (its .onnx.json beside it); "
                             "default: the bundled en_US-joe-medium")
    parser.add_argument("--out", type=Path, default=Path("build/voices"),
                        help="folder for exported voices (default: build/voices)")
    parser.add_argument("--no-variants", action="store_true",
                        help="skip the cleaned / FP16 variants and their parity check")
    parser.add_argument("--engines", action="store_true",
                        help="build TensorRT engines into ENGINES_OUT/<voice>/ (GPU hosts only)")
    parser.add_argument("--engines-out", type=Path, default=Path("build/engines"),
                        help="folder for TensorRT engines (default: build/engines)")
    parser.add_argument("--int8-vocoder", action="store_true",
                        help="INT8 vocoder engine (calibrated; below FP16 quality: docs/gpu.md)")


def run(args: argparse.Namespace) -> int:
    from tritontts.export.voice import export_piper_voice, voice_paths

    model, config = voice_paths(args.voice)
    voice = export_piper_voice(model, config, args.out)
    if not args.no_variants:
        from tritontts.export.optimize import fp16_parity, write_stage_variants

        write_stage_variants(voice)
        report = fp16_parity(voice.directory)
        print(report.table())
        if not report.passed:
            raise Fp16OutsideToleranceError(
                "the FP16 variants are outside the tolerance (table above): do not serve them; "
                "serve the FP32 graphs (`make repository` uses them) or export with "
                "--no-variants")
    if args.engines:
        from tritontts.export.tensorrt import build_voice_engines, check_engines

        engines = build_voice_engines(voice, args.engines_out / voice.name,
                                      int8_vocoder=args.int8_vocoder,
                                      timing_cache=args.engines_out / "timing.cache")
        check_engines(voice, engines, int8_vocoder=args.int8_vocoder)
    return 0
