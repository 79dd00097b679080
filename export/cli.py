"""`tritontts export` and `tritontts repository`: stage graphs, then the model repository."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXPORT_HELP = "cut a Piper voice into acoustic + vocoder graphs (ONNX, FP16, TensorRT), check them"
REPOSITORY_HELP = "generate the Triton model repository (config.pbtxt + model.py + graphs)"


def configure_export(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Export a Piper voice into the `acoustic` and `vocoder` stage graphs under "
        "OUT/<voice>/, check that the two stages reproduce the original graph, write the "
        "cleaned (*.opt.onnx) and FP16 (*.fp16.onnx) variants and measure FP16 against FP32. "
        "With --engines, also build TensorRT engines (needs an NVIDIA GPU and `tensorrt`) and "
        "compare each with ONNX Runtime (polygraphy) on the sample sentences.")
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
                        help="INT8 vocoder engine (calibrated; below FP16 quality, see README)")


def run_export(args: argparse.Namespace) -> int:
    from tritontts.export.voice import export_piper_voice, voice_paths

    model, config = voice_paths(args.voice)
    voice = export_piper_voice(model, config, args.out)
    if not args.no_variants:
        from tritontts.export.optimize import fp16_parity, write_stage_variants

        write_stage_variants(voice)
        report = fp16_parity(voice.directory)
        print(report.table())
        if not report.passed:
            print("[export] FP16 variants are outside the tolerance; do not serve them",
                  file=sys.stderr)
            return 1
    if args.engines:
        from tritontts.export.tensorrt import (
            EngineParityError,
            GpuRequiredError,
            build_voice_engines,
            check_engines,
        )

        try:
            engines = build_voice_engines(voice, args.engines_out / voice.name,
                                          int8_vocoder=args.int8_vocoder,
                                          timing_cache=args.engines_out / "timing.cache")
            check_engines(voice, engines, int8_vocoder=args.int8_vocoder)
        except GpuRequiredError as exc:
            print(f"[export] {exc}", file=sys.stderr)
            return 3
        except EngineParityError as exc:
            print(f"[export] {exc}", file=sys.stderr)
            return 1
    return 0


def configure_repository(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Render every model of a profile from its typed description into OUT: config.pbtxt, "
        "model.py and the exported graphs. cpu: python-backend models on ONNX Runtime (runs "
        "anywhere, from the nvidia-pytriton wheel); gpu: TensorRT plans (or ONNX Runtime) on "
        "KIND_GPU instances, for the NGC tritonserver container.")
    parser.add_argument("--profile", choices=("cpu", "gpu"), default="cpu")
    parser.add_argument("--voice-dir", type=Path, nargs="+",
                        default=[Path("build/voices/en_US-joe-medium")],
                        help="exported voices to serve (default: build/voices/en_US-joe-medium); "
                             "several (cpu profile): the first is the default and VOICE picks "
                             "one per request")
    parser.add_argument("--engines-dir", type=Path, default=None,
                        help="gpu profile: TensorRT engines of this voice (default: "
                             "build/engines/<voice> when it exists, else ONNX Runtime)")
    parser.add_argument("--out", type=Path, default=Path("build/model_repository"),
                        help="repository folder to (re)write (default: build/model_repository)")
    parser.add_argument("--tuning", choices=("latency", "throughput"), default="latency",
                        help="cpu profile: latency (default) runs each heavy stage on all "
                             "cores for the fastest single request; throughput runs two "
                             "single-threaded instances per stage for more audio per second "
                             "under concurrent load, each request slower (README, cpu profile)")
    parser.add_argument("--lexicon", type=Path, default=None,
                        help="pronunciation dictionary for this deployment (word<TAB>IPA lines)")
    parser.add_argument("--maya1", type=Path, default=None, metavar="DIR",
                        help="also serve Maya1 from this local Hugging Face snapshot "
                             "(config.json, *.safetensors, tokenizer.json); needs --snac")
    parser.add_argument("--snac", type=Path, default=None, metavar="DIR",
                        help="the SNAC 24 kHz folder (config.json, pytorch_model.bin) Maya1 "
                             "decodes with; exported to ONNX under build/maya1/")


def run_repository(args: argparse.Namespace) -> int:
    from tritontts.repository import CPU_TUNINGS, cpu_models, write_repository
    from tritontts.voice import ExportedVoice

    voices = [ExportedVoice.load(directory) for directory in args.voice_dir]
    if args.lexicon is not None:
        from tritontts.text import load_lexicon

        load_lexicon(args.lexicon)  # a malformed dictionary fails here, not at server start
    if args.profile == "cpu":
        models = cpu_models(voices, CPU_TUNINGS[args.tuning], lexicon=args.lexicon)
        detail = f"ONNX Runtime in python-backend models, {args.tuning} tuning"
    elif len(voices) > 1:
        print("[repository] the gpu profile serves one voice per repository (its stages are "
              "TensorRT engines of that voice): render one repository, and deploy one release, "
              "per voice", file=sys.stderr)
        return 2
    else:
        models, detail = _gpu_models(voices[0], args)
    if (args.maya1 is None) != (args.snac is None):
        print("[repository] Maya1 needs both --maya1 DIR and --snac DIR", file=sys.stderr)
        return 2
    if args.maya1 is not None:
        models += _maya1_models(args.maya1, args.snac)
        detail += "; Maya1 (maya1, maya1_stream) on PyTorch + ONNX Runtime"
    out = write_repository(models, args.out)
    names = ", ".join(v.name for v in voices)
    print(f"[repository] wrote {out} ({args.profile} profile, voices {names}: {detail})")
    return 0


def _gpu_models(voice, args: argparse.Namespace) -> tuple[list, str]:
    from tritontts.export.optimize import variant_path
    from tritontts.export.tensorrt import cc_model_filenames
    from tritontts.gpu_profile import StagePlans, gpu_models

    graphs = {}
    for stage, path in (("acoustic", voice.acoustic), ("vocoder", voice.vocoder)):
        cleaned = variant_path(path, "opt")
        graphs[stage] = cleaned if cleaned.exists() else path
    engines_dir = args.engines_dir or Path("build/engines") / voice.name
    plans = {}
    for stage in ("acoustic", "vocoder"):
        folder = engines_dir / stage / "1"
        if folder.is_dir() and cc_model_filenames(folder):
            plans[stage] = StagePlans(folder, cc_model_filenames(folder))
    models = gpu_models(voice, graphs, plans, lexicon=args.lexicon)
    detail = (f"TensorRT plans for {', '.join(sorted(plans))}" if plans
              else "no TensorRT engines found, ONNX Runtime on GPU")
    return models, detail


def _maya1_models(checkpoint: Path, snac: Path) -> list:
    from tritontts.export.snac import export_snac_decoder
    from tritontts.maya1.checkpoint import Maya1Checkpoint, SnacCheckpoint
    from tritontts.maya1.repository import Maya1Setup, maya1_models

    Maya1Checkpoint(checkpoint).check()  # a missing snapshot fails before the export
    SnacCheckpoint(snac).check()
    exported = export_snac_decoder(snac, Path("build/maya1/snac"))
    return maya1_models(Maya1Setup(checkpoint, exported.graph))
