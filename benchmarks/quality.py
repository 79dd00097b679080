"""The served runtime's audio against the f32 ONNX Runtime stages, judged as speech: STOI and
mel-cepstral distance per sentence (export/perceptual.py), beside the same distance for the f32
audio rounded to 16-bit and to 8-bit PCM (what an inaudible and an audible change score).

    python benchmarks/quality.py                         # the runtime `auto` picks here
    python benchmarks/quality.py --runtime openvino-bf16
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from tritontts.export.optimize import SAMPLE_SENTENCES
from tritontts.export.perceptual import mel_cepstral_distance, perceptual_parity
from tritontts.export.voice import default_voice, export_piper_voice
from tritontts.piper.baseline import PiperBaseline
from tritontts.piper.runtimes import cpu_features
from tritontts.piper.tuning import AUTO_RUNTIME, CPU_RUNTIMES, resolve_runtime

from common import RESULTS

DETERMINISTIC = {"noise_scale": 0.0, "noise_w": 0.0}
ANCHOR_BITS = (16, 8)


def pcm_anchors(sentences: tuple[str, ...]) -> dict[str, list[float]]:
    """{"16-bit PCM": [MCD dB per sentence], ...} of the f32 audio against itself rounded."""
    baseline = PiperBaseline(*default_voice())
    rate = baseline.voice.sample_rate
    anchors: dict[str, list[float]] = {f"{bits}-bit PCM": [] for bits in ANCHOR_BITS}
    with tempfile.TemporaryDirectory(prefix="tritontts-quality-") as folder:
        for text in sentences:
            audio = baseline.synthesize(text, **DETERMINISTIC)
            for bits in ANCHOR_BITS:
                scale = 2 ** (bits - 1) - 1
                rounded = (np.round(audio * scale) / scale).astype(np.float32)
                anchors[f"{bits}-bit PCM"].append(
                    mel_cepstral_distance(audio, rounded, rate, Path(folder)))
    return anchors


def measure_quality(runtime: str = AUTO_RUNTIME,
                    sentences: tuple[str, ...] = SAMPLE_SENTENCES) -> dict[str, Any]:
    resolved = resolve_runtime(runtime)
    result: dict[str, Any] = {"runtime": resolved, "cpu": cpu_features().describe(),
                              "anchors": pcm_anchors(sentences)}
    if resolved == "onnxruntime":
        result["note"] = "the runtime is the f32 reference itself: nothing to compare"
        return result
    with tempfile.TemporaryDirectory(prefix="tritontts-quality-") as folder:
        voice = export_piper_voice(*default_voice(), Path(folder), progress=lambda _: None)
        acoustic, vocoder = CPU_RUNTIMES[resolved]
        report = perceptual_parity(voice, acoustic, vocoder, sentences)
    result["report"] = report.as_dict()
    result["table"] = report.table()
    return result


def quality_markdown(quality: dict[str, Any]) -> list[str]:
    lines = [f"Audio of the `{quality['runtime']}` stages against the f32 ONNX Runtime stages "
             f"(CPU: {quality['cpu']}):", ""]
    anchors = "; ".join(f"{name}: MCD {min(v):.2f}–{max(v):.2f} dB"
                        for name, v in quality["anchors"].items())
    if "report" not in quality:
        return [*lines, f"{quality['note']} (anchors: {anchors})"]
    report = quality["report"]
    return [*lines,
            f"- {'passed' if report['passed'] else 'FAILED'}: min STOI {report['min_stoi']:.4f} "
            f"(bound ≥ {report['bounds']['min_stoi']}), MCD mean {report['mean_mcd_db']:.2f} dB, "
            f"max {report['max_mcd_db']:.2f} dB (bound ≤ {report['bounds']['max_mcd_db']})",
            f"- the f32 audio rounded, for scale: {anchors}"]


def print_quality(quality: dict[str, Any]) -> None:
    print(f"\nquality of the {quality['runtime']} stages against f32 ONNX Runtime")
    if "table" in quality:
        print(quality["table"])
    for name, values in quality["anchors"].items():
        print(f"  for scale, the f32 audio as {name}: MCD {min(values):.3f}–{max(values):.3f} dB")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runtime", choices=(*CPU_RUNTIMES, AUTO_RUNTIME), default=AUTO_RUNTIME)
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for quality.json")
    args = parser.parse_args()
    quality = measure_quality(args.runtime)
    print_quality(quality)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "quality.json").write_text(json.dumps(quality, indent=2) + "\n")
    return 0 if quality.get("report", {}).get("passed", True) else 1


if __name__ == "__main__":
    sys.exit(main())
