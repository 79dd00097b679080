"""`tritontts repository`: every model of a profile rendered into a Triton model repository."""

from __future__ import annotations

import argparse
from pathlib import Path

from tritontts.errors import UsageError


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Render every model of a profile from its typed description into OUT: config.pbtxt, "
        "model.py and the exported graphs. cpu: python-backend models on ONNX Runtime (runs "
        "anywhere, from the nvidia-pytriton wheel); gpu: TensorRT plans (or ONNX Runtime) on "
        "KIND_GPU instances, for the NGC tritonserver container.")
    parser.add_argument("--profile", choices=("cpu", "gpu", "ngc-cpu"), default="cpu",
                        help="ngc-cpu: the stages on Triton's own OpenVINO backend, for the NGC "
                             "container on a CPU-only host (precision from --runtime)")
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
                             "under concurrent load, each request slower (docs/architecture.md)")
    parser.add_argument("--runtime", choices=("onnxruntime", "openvino", "openvino-bf16",
                                              "openvino-bf16-vocoder", "auto"),
                        default="auto",
                        help="cpu profile: the library that runs the stage graphs; "
                             "openvino-bf16 runs the vocoder in bf16 and acoustic mixed (its "
                             "durations f32) where the CPU computes bf16 natively, f32 "
                             "elsewhere; openvino-bf16-vocoder: acoustic f32, the vocoder "
                             "bf16; auto (default): openvino-bf16-vocoder on CPUs with AMX, "
                             "openvino on other CPUs with AVX-512, else onnxruntime "
                             "(docs/benchmarks-cpu.md)")
    parser.add_argument("--lexicon", type=Path, default=None,
                        help="pronunciation dictionary for this deployment (word<TAB>IPA lines)")
    parser.add_argument("--maya1", type=Path, default=None, metavar="DIR",
                        help="also serve Maya1 from this local Hugging Face snapshot "
                             "(config.json, *.safetensors, tokenizer.json); needs --snac")
    parser.add_argument("--snac", type=Path, default=None, metavar="DIR",
                        help="the SNAC 24 kHz folder (config.json, pytorch_model.bin) Maya1 "
                             "decodes with; exported to ONNX under build/maya1/")
    parser.add_argument("--maya1-lm", choices=("vllm", "tensorrtllm"), default="vllm",
                        help="gpu profile: the LLM backend maya1_lm runs on (docs/maya1.md; "
                             "default vllm)")
    parser.add_argument("--maya1-trtllm-engine", default=None, metavar="DIR",
                        help="gpu profile with --maya1-lm tensorrtllm: the TensorRT-LLM engine "
                             "folder built from the snapshot, as the server sees it")
    parser.add_argument("--maya1-continuity-frames", type=int, default=0, metavar="K",
                        help="Maya1 voice continuity across the chunks of a long text: each "
                             "chunk is prompted after the previous one with its last K frames "
                             "(7 K + 2 prompt tokens more, plus the previous prompt; chunks "
                             "then run one after the other). Default 0: off")
    parser.add_argument("--maya1-snac-engines", type=Path, default=Path("build/engines/maya1_snac"),
                        metavar="DIR", help="gpu profile: SNAC TensorRT engines "
                        "(model_sm*.plan, from export.snac.build_snac_engine); without them "
                        "maya1_snac runs the ONNX graph on ONNX Runtime")


def run(args: argparse.Namespace) -> int:
    from tritontts.piper.voice import ExportedVoice
    from tritontts.repository import write_repository

    if (args.maya1 is None) != (args.snac is None):
        raise UsageError("Maya1 needs both --maya1 DIR and --snac DIR")
    voices = [ExportedVoice.load(directory) for directory in args.voice_dir]
    if args.lexicon is not None:
        from tritontts.text import load_lexicon

        load_lexicon(args.lexicon)  # a malformed dictionary fails here, not at server start
    if args.profile in ("cpu", "ngc-cpu"):
        from tritontts.piper.tuning import resolve_runtime

        args.runtime = resolve_runtime(args.runtime)  # "auto": chosen for this CPU
    if args.profile == "cpu":
        from tritontts.piper.cpu import CPU_TUNINGS, cpu_models

        tuning = CPU_TUNINGS[args.tuning].with_runtime(args.runtime)
        models = cpu_models(voices, tuning, lexicon=args.lexicon)
        detail = f"{args.runtime} in python-backend models, {args.tuning} tuning"
    elif args.profile == "ngc-cpu":
        if len(voices) > 1:
            raise UsageError("the ngc-cpu profile serves one voice per repository")
        from tritontts.piper.gpu import served_graphs
        from tritontts.piper.openvino_backend import OpenVinoBackendTuning, openvino_backend_models
        from tritontts.piper.tuning import CPU_RUNTIMES

        (_, acoustic), (_, vocoder) = CPU_RUNTIMES[args.runtime]
        tuning = OpenVinoBackendTuning().with_precisions(acoustic, vocoder)
        models = openvino_backend_models(voices[0], served_graphs(voices[0]), tuning,
                                         lexicon=args.lexicon)
        detail = (f"Triton's OpenVINO backend, acoustic {acoustic}, vocoder {vocoder}")
    elif len(voices) > 1:
        raise UsageError("the gpu profile serves one voice per repository (its stages are "
                         "TensorRT engines of that voice): render one repository, and deploy "
                         "one release, per voice")
    else:
        from tritontts.piper.gpu import find_plans, gpu_models, served_graphs

        voice = voices[0]
        plans = find_plans(args.engines_dir or Path("build/engines") / voice.name)
        models = gpu_models(voice, served_graphs(voice), plans, lexicon=args.lexicon)
        detail = (f"TensorRT plans for {', '.join(sorted(plans))}" if plans
                  else "no TensorRT engines found, ONNX Runtime on GPU")
    if args.maya1 is not None:
        maya1, maya1_detail = _maya1_models(args)
        models += maya1
        detail += f"; {maya1_detail}"
    out = write_repository(models, args.out)
    names = ", ".join(v.name for v in voices)
    print(f"[repository] wrote {out} ({args.profile} profile, voices {names}: {detail})")
    return 0


def _maya1_models(args: argparse.Namespace) -> tuple[list, str]:
    from tritontts.export.snac import export_snac_decoder
    from tritontts.maya1.checkpoint import Maya1Checkpoint, SnacCheckpoint
    from tritontts.maya1.prompt import PromptLimits
    from tritontts.maya1.repository import Maya1Setup, maya1_models

    if args.profile == "gpu" and args.maya1_lm == "tensorrtllm" and not args.maya1_trtllm_engine:
        raise UsageError("--maya1-lm tensorrtllm needs --maya1-trtllm-engine DIR (the engine "
                         "trtllm-build made from the snapshot)")
    if args.maya1_continuity_frames < 0:
        raise UsageError("--maya1-continuity-frames must be >= 0")
    limits = PromptLimits(continuity_frames=args.maya1_continuity_frames)
    Maya1Checkpoint(args.maya1).check()  # a missing snapshot fails before the export
    SnacCheckpoint(args.snac).check()
    exported = export_snac_decoder(args.snac, Path("build/maya1/snac"))
    if args.profile == "cpu":
        return (maya1_models(Maya1Setup(args.maya1, exported.graph, limits)),
                "Maya1 (maya1, maya1_stream) on PyTorch + ONNX Runtime")
    from tritontts.maya1.gpu import Maya1GpuSetup, TensorrtLlmEngine, maya1_gpu_models
    from tritontts.repository.engines import StagePlans, cc_model_filenames

    engines = cc_model_filenames(args.maya1_snac_engines) if args.maya1_snac_engines.is_dir() \
        else {}
    setup = Maya1GpuSetup(
        args.maya1, exported.graph, repository_dir=args.out.resolve(), lm_backend=args.maya1_lm,
        limits=limits,
        tensorrtllm=(TensorrtLlmEngine(args.maya1_trtllm_engine)
                     if args.maya1_trtllm_engine else None),
        snac_plans=StagePlans(args.maya1_snac_engines, engines) if engines else None)
    snac = "TensorRT" if engines else "ONNX Runtime on GPU"
    return (maya1_gpu_models(setup),
            f"Maya1 (maya1, maya1_stream over BLS, maya1_lm on {args.maya1_lm}, "
            f"maya1_snac on {snac})")
