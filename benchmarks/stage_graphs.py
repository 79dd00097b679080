"""The stage graphs alone, in-process, runtime by runtime: what each way of running the acoustic
and vocoder graphs costs on this CPU, timed interleaved on the same inputs.

The rows: ONNX Runtime f32 (the reference), OpenVINO f32 and bf16, each with the vocoder's
transposed convolutions as OpenVINO compiles them ("as exported") and rewritten as polyphase
convolutions (tritontts/piper/polyphase.py, what the served runner does). Each latent is the
f32 acoustic stage's output for one of the held-out sentences; each row runs every sentence
once per round, rows alternating, and a row's figure is the sum over sentences of its median.

`--isa` caps the instruction sets OpenVINO's CPU plugin may use (oneDNN's ONEDNN_MAX_CPU_ISA,
which the plugin honours) to estimate an older CPU on this one. ONNX Runtime keeps every
instruction set of this CPU, so against a capped OpenVINO its row is an upper bound of what it
would do there.

    python benchmarks/stage_graphs.py                # this CPU as it is
    python benchmarks/stage_graphs.py --isa AVX2     # OpenVINO as on an AVX2-only CPU
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from tritontts_client import contract as c  # no runtime import: --isa must come first

from common import RESULTS, SENTENCES

# oneDNN names; AVX512_CORE_BF16 is AVX-512 with bf16 instructions but no AMX.
ISAS = ("AVX2", "AVX512_CORE", "AVX512_CORE_BF16")


def stage_inputs(voice, sentences: list[str]) -> tuple[list[dict], list[dict]]:
    """The acoustic stage's feeds per sentence, and the f32 latent each one makes."""
    from tritontts.piper.frontend import TextFrontend
    from tritontts.piper.runtimes import ort_session
    from tritontts.piper.voice import PiperVoiceConfig

    config = PiperVoiceConfig.load(voice.config)
    frontend = TextFrontend(config)
    reference = ort_session(voice.acoustic, 1)
    acoustic, vocoder = [], []
    for text in sentences:
        batch = frontend.encode(text)
        for i, length in enumerate(batch.lengths):
            feeds = {c.PHONEME_IDS.name: batch.ids[i:i + 1, :length],
                     c.PHONEME_LENGTHS.name: batch.lengths[i:i + 1],
                     c.SCALES.name: np.array([[0.0, config.length_scale, 0.0]], np.float32)}
            latent, frames, _ = reference.run(None, feeds)
            acoustic.append(feeds)
            vocoder.append({c.LATENT.name: latent[:, :, :int(frames[0])]})
    return acoustic, vocoder


def row(stage: str, runtime: str, precision: str = c.PRECISION_F32,
        polyphase: bool | None = None) -> str:
    """A row's name: "vocoder, openvino bf16, polyphase"."""
    form = "" if polyphase is None else ", polyphase" if polyphase else ", as exported"
    return f"{stage}, {runtime} {precision}{form}"


def runners(voice, threads: int, bf16: bool) -> dict[str, tuple[str, Any]]:
    """Row name → (stage, runner)."""
    from tritontts.piper.runtimes import OnnxRuntimeRunner, OpenVinoRunner

    rows: dict[str, tuple[str, Any]] = {
        row(c.ACOUSTIC_MODEL, c.RUNTIME_ONNXRUNTIME): (
            c.ACOUSTIC_MODEL, OnnxRuntimeRunner(voice.acoustic, threads)),
        row(c.ACOUSTIC_MODEL, c.RUNTIME_OPENVINO): (c.ACOUSTIC_MODEL, OpenVinoRunner(
            voice.acoustic, threads, c.PRECISION_F32, c.ACOUSTIC_MODEL)),
        row(c.VOCODER_MODEL, c.RUNTIME_ONNXRUNTIME): (
            c.VOCODER_MODEL, OnnxRuntimeRunner(voice.vocoder, threads)),
    }
    for precision in (c.PRECISION_F32, *((c.PRECISION_BF16,) if bf16 else ())):
        for polyphase in (False, True):
            runner = OpenVinoRunner(voice.vocoder, threads, precision, c.VOCODER_MODEL,
                                    polyphase=polyphase)
            rows[row(c.VOCODER_MODEL, c.RUNTIME_OPENVINO, precision, polyphase)] = (
                c.VOCODER_MODEL, runner)
    return rows


def measure(threads: int, rounds: int, sentences: list[str], bf16: bool) -> dict[str, Any]:
    from tritontts.export.voice import default_voice, export_piper_voice

    with tempfile.TemporaryDirectory(prefix="tritontts-stages-") as folder:
        voice = export_piper_voice(*default_voice(), Path(folder), progress=lambda _: None)
        feeds = dict(zip((c.ACOUSTIC_MODEL, c.VOCODER_MODEL), stage_inputs(voice, sentences),
                         strict=True))
        rows = runners(voice, threads, bf16)
        times: dict[str, list[list[float]]] = {name: [] for name in rows}
        for stage, runner in rows.values():  # warm-up: first shapes compile kernels
            for feed in feeds[stage]:
                runner.run(feed)
        for _ in range(rounds):
            for index in range(len(feeds[c.VOCODER_MODEL])):
                for name, (stage, runner) in rows.items():
                    start = time.perf_counter()
                    runner.run(feeds[stage][index])
                    elapsed = time.perf_counter() - start
                    if len(times[name]) <= index:
                        times[name].append([])
                    times[name][index].append(elapsed)
        # What OpenVINO's CPU plugin picked for the vocoder's convolutions: shows an --isa cap.
        _, polyphase = rows[row(c.VOCODER_MODEL, c.RUNTIME_OPENVINO, c.PRECISION_F32, True)]
        kernels = sorted({op.get_rt_info()["primitiveType"].astype(str)
                          for op in polyphase.compiled.get_runtime_model().get_ops()
                          if op.get_rt_info()["layerType"].astype(str) == "Convolution"})
    return {"items": len(feeds[c.VOCODER_MODEL]), "openvino_convolution_kernels": kernels,
            "ms": {name: 1000 * sum(statistics.median(runs) for runs in per_item)
                   for name, per_item in times.items()}}


def measure_stage_graphs(threads: int = 2, rounds: int = 5,
                         sentences: list[str] = SENTENCES) -> dict[str, Any]:
    """Every row on this CPU (as far as ONEDNN_MAX_CPU_ISA, if set, lets OpenVINO see it)."""
    from tritontts.piper.runtimes import cpu_features

    isa = os.environ.get("ONEDNN_MAX_CPU_ISA")
    bf16 = cpu_features().bf16 and isa in (None, "AVX512_CORE_BF16")
    return {"threads": threads, "rounds": rounds,
            "isa": isa or f"native ({cpu_features().describe()})",
            **measure(threads, rounds, sentences, bf16)}


def table_lines(result: dict[str, Any]) -> list[str]:
    lines = [f"stage graphs in-process, {result['threads']} threads, sum over "
             f"{result['items']} sentence chunks of the median of {result['rounds']} rounds "
             f"(OpenVINO ISA: {result['isa']}; its convolution kernels: "
             f"{', '.join(result['openvino_convolution_kernels'])})"]
    ms = result["ms"]
    for stage in (c.ACOUSTIC_MODEL, c.VOCODER_MODEL):
        reference = ms[row(stage, c.RUNTIME_ONNXRUNTIME)]
        lines += [f"  {name:<40} {value:8.1f} ms  {value / reference:5.2f}× onnxruntime"
                  for name, value in ms.items() if name.startswith(stage)]
    return lines


def print_stage_graphs(result: dict[str, Any]) -> None:
    print("", *table_lines(result), sep="\n")


def stage_graphs_markdown(result: dict[str, Any]) -> list[str]:
    return ["```", *table_lines(result), "```"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2, help="threads per graph (default 2)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--isa", choices=ISAS, help="cap OpenVINO's instruction sets (see top)")
    parser.add_argument("--quick", action="store_true", help="two sentences, two rounds")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for stage_graphs.json")
    args = parser.parse_args()
    if args.isa:  # read by oneDNN when OpenVINO's CPU plugin loads: before the first import
        os.environ["ONEDNN_MAX_CPU_ISA"] = args.isa
    result = measure_stage_graphs(args.threads, 2 if args.quick else args.rounds,
                                  SENTENCES[:2] if args.quick else SENTENCES)
    print_stage_graphs(result)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "stage_graphs.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
