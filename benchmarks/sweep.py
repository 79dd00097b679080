"""A sweep over cpu-profile repository settings (`CpuTuning`), each on a server of its own.

Not the full grid (that would take an hour): one factor at a time away from the defaults
(instances × threads of the two ONNX stages, the dynamic-batching delay, items per ONNX Runtime
call), then the combination of the best value of each factor. All the servers are up at once
(an idle server takes no CPU) and are timed interleaved, request by request for latency and
point by point for throughput, together with the direct baseline: background load on the
machine then falls on every setting alike, and each is read as a ratio to the server on the
defaults. A second server on the defaults (A/A) shows how large a difference noise alone makes.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

from latency import Speak, direct_speaker, time_interleaved, triton_speaker, warm_up
from throughput import DIRECT_SEQUENTIAL, Side, measure_throughput

from tritontts.piper.baseline import PiperBaseline
from tritontts.piper.cpu import CPU_TUNINGS, CpuTuning
from tritontts.piper.runtimes import cpu_features
from tritontts.piper.tuning import AUTO_RUNTIME
from tritontts_client import TTSClient
from tritontts_client.contract import STAGES

from common import SENTENCES, start_server

SWEEP_CONCURRENCY = 4
# Differences smaller than this are not taken as real even when the A/A pair looks quieter:
# two servers on the same settings have differed by up to 6% here in single-stream latency.
MIN_NOISE = 0.05
# Servers starting at once: starting is CPU-bound, and there are two cores.
STARTS_AT_ONCE = 2
REFERENCE = "defaults"


@dataclass(frozen=True)
class Setting:
    label: str
    factor: str  # which knob this setting moves away from the defaults ("" for the defaults)
    tuning: CpuTuning


@dataclass(frozen=True)
class Rounds:
    latency: int  # passes over the sentences, every server and the baseline in turn
    throughput: int  # points per server at SWEEP_CONCURRENCY


# What `tritontts repository` serves by default on this CPU (its runtime depends on the CPU).
DEFAULT = CpuTuning().with_runtime(AUTO_RUNTIME)
# With take_turns_on_cpu an instance holds one "cpu" unit per thread and the server has one
# unit per core, so two single-threaded instances may run at once on two cores.
THROUGHPUT = "throughput tuning"
OPENVINO_BF16 = "OpenVINO bf16 (acoustic mixed)"
ONE_FACTOR = [
    Setting(REFERENCE, "", DEFAULT),
    Setting("defaults (A/A)", "", DEFAULT),
    Setting("no CPU turns", "stages", DEFAULT.with_stages(1, 2, False)),
    Setting("1 instance × 1 thread", "stages", DEFAULT.with_stages(1, 1)),
    Setting(THROUGHPUT, "stages", CPU_TUNINGS["throughput"]),
    Setting("2 inst. × 1 thread, no turns", "stages",
            DEFAULT.with_stages(2, 1, False)),
    Setting("2 inst. × 2 threads, no turns", "stages",
            DEFAULT.with_stages(2, 2, False)),
    Setting("delay 1000 µs", "delay", dataclasses.replace(DEFAULT, max_queue_delay_us=1000)),
    Setting("delay 5000 µs", "delay", dataclasses.replace(DEFAULT, max_queue_delay_us=5000)),
    Setting("sub-batch 4", "sub_batch", dataclasses.replace(DEFAULT, stage_sub_batch=4)),
    *([Setting("ONNX Runtime f32", "runtime", DEFAULT.with_runtime("onnxruntime"))]
      if DEFAULT.with_runtime("onnxruntime") != DEFAULT else []),
    Setting("OpenVINO f32", "runtime", DEFAULT.with_runtime("openvino")),
    # Only where the CPU computes bf16: elsewhere it would run in f32, a second "OpenVINO f32"
    # server costing memory and minutes for nothing.
    *([Setting(OPENVINO_BF16, "runtime", DEFAULT.with_runtime("openvino-bf16"))]
      if cpu_features().bf16 else []),
]
QUICK = [ONE_FACTOR[0], ONE_FACTOR[2], ONE_FACTOR[4]]  # defaults, no turns, throughput


def describe(tuning: CpuTuning) -> dict[str, Any]:
    """The knobs the sweep moves, as they appear in the tables."""
    return {"acoustic_instances": tuning.acoustic.instances,
            "acoustic_threads": tuning.acoustic.threads,
            "vocoder_instances": tuning.vocoder.instances,
            "vocoder_threads": tuning.vocoder.threads,
            "take_turns_on_cpu": tuning.take_turns_on_cpu,
            "max_queue_delay_us": tuning.max_queue_delay_us,
            "stage_sub_batch": tuning.stage_sub_batch,
            "acoustic_runtime": tuning.acoustic.runtime,
            "acoustic_precision": tuning.acoustic.precision,
            "vocoder_runtime": tuning.vocoder.runtime,
            "vocoder_precision": tuning.vocoder.precision}


def with_described(tuning: CpuTuning, fields: dict[str, Any]) -> CpuTuning:
    """`tuning` with some of the knobs `describe` names set to other values."""
    stages = {}
    for stage in STAGES:
        own = {knob: fields[f"{stage}_{knob}"]
               for knob in ("instances", "threads", "runtime", "precision")
               if f"{stage}_{knob}" in fields}
        stages[stage] = dataclasses.replace(tuning.stage(stage), **own)
    flat = {k: v for k, v in fields.items() if not k.startswith(("acoustic_", "vocoder_"))}
    return dataclasses.replace(tuning, **stages, **flat)


def _start_alone(tuning: CpuTuning) -> tuple[ExitStack, str]:
    """A server on its own stack (so that servers can start in parallel threads)."""
    own = ExitStack()
    try:
        return own, start_server(own, tuning).grpc_url
    except BaseException:
        own.close()
        raise


def start_all(stack: ExitStack, settings: list[Setting]) -> dict[str, Speak]:
    """{label: speaker} of every setting whose server started; each is stopped by `stack`."""
    speakers = {}
    with ThreadPoolExecutor(STARTS_AT_ONCE) as pool:
        futures = [(setting, pool.submit(_start_alone, setting.tuning)) for setting in settings]
        for setting, future in futures:  # every started server goes to `stack` at once
            try:
                own, url = future.result()
            except Exception as exc:  # one bad setting must not cost the others their minutes
                print(f"sweep: {setting.label} skipped: its server did not start: {exc}",
                      file=sys.stderr)
                continue
            stack.enter_context(own)
            speakers[setting.label] = triton_speaker(stack.enter_context(TTSClient(url)))
    return speakers


def measure_all(speakers: dict[str, Speak], direct: Speak,
                rounds: Rounds) -> dict[str, dict]:
    """{label: figures}: single-stream latency (sum of per-sentence medians) of every server
    and the direct baseline, interleaved request by request; then throughput at
    SWEEP_CONCURRENCY of every server, with the direct baseline run sequentially among them."""
    warm_up(list(speakers.values()))
    timings = time_interleaved({**speakers, "direct": direct}, rounds.latency)
    latency_ms = {side: sum(timings.median_ms(side, t) for t in SENTENCES)
                  for side in timings.seconds}
    points = measure_throughput(
        {**{label: Side(speak) for label, speak in speakers.items()},
         DIRECT_SEQUENTIAL: Side(direct, fixed_concurrency=1)},
        (SWEEP_CONCURRENCY,), rounds.throughput)
    rate = {side: by_c[SWEEP_CONCURRENCY]["audio_s_per_s"] for side, by_c in points.items()}
    reference_ms, reference_rate = latency_ms[REFERENCE], rate[REFERENCE]
    return {label: {
        "latency_ms": latency_ms[label], "direct_latency_ms": latency_ms["direct"],
        "latency_vs_reference": latency_ms[label] / reference_ms,
        "latency_vs_direct": latency_ms[label] / latency_ms["direct"],
        "throughput": rate[label], "direct_sequential_throughput": rate[DIRECT_SEQUENTIAL],
        "throughput_vs_reference": rate[label] / reference_rate,
        "throughput_vs_direct_sequential": rate[label] / rate[DIRECT_SEQUENTIAL],
        "foreign_cores": max([*timings.foreign_cores,
                              *points[label][SWEEP_CONCURRENCY]["foreign_cores_rounds"]]),
    } for label in speakers}


def noise_margin(rows: list[dict[str, Any]]) -> float:
    """How far the defaults measured against themselves strayed from 1, at least MIN_NOISE."""
    same = [r for r in rows if r["tuning"] == describe(DEFAULT)]
    strays = [abs(r[k] - 1) for r in same for k in ("latency_vs_reference",
                                                     "throughput_vs_reference")]
    return max([MIN_NOISE, *strays])


def best(rows: list[dict[str, Any]], margin: float) -> tuple[dict[str, Any] | None, str]:
    """The setting to recommend, and why. A setting qualifies when it is not measurably worse
    than the defaults in either figure: single-stream latency (the SLO) and throughput at
    concurrency 4 (capacity) are not traded for each other beyond the noise. Among those, the
    highest throughput wins when its gain is larger than the noise; otherwise the lowest
    latency, when that gain is larger than the noise; otherwise the defaults stay (None)."""
    qualified = [r for r in rows if r["latency_vs_reference"] <= 1 + margin
                 and r["throughput_vs_reference"] >= 1 - margin]
    if not qualified:
        return None, "no setting kept both figures within the noise of the defaults"
    fastest = max(qualified, key=lambda r: r["throughput_vs_reference"])
    if fastest["throughput_vs_reference"] > 1 + margin:
        return fastest, (f"{fastest['throughput_vs_reference']:.2f}× the defaults' throughput "
                         f"at concurrency {SWEEP_CONCURRENCY} with single-stream latency "
                         f"{fastest['latency_vs_reference']:.2f}× theirs "
                         f"(noise margin ±{margin:.0%})")
    quickest = min(qualified, key=lambda r: r["latency_vs_reference"])
    if quickest["latency_vs_reference"] < 1 - margin:
        return quickest, (f"single-stream latency {quickest['latency_vs_reference']:.2f}× the "
                          f"defaults' with throughput {quickest['throughput_vs_reference']:.2f}× "
                          f"theirs (noise margin ±{margin:.0%})")
    return None, (f"no setting beat the defaults by more than the noise (±{margin:.0%}) in "
                  "throughput or single-stream latency")


def combined(rows: list[dict[str, Any]], margin: float) -> Setting | None:
    """The best value of each factor together, when that is a setting not yet measured."""
    tuning = DEFAULT
    for factor in ("stages", "delay", "sub_batch", "runtime"):
        winner, _ = best([r for r in rows if r["factor"] in ("", factor)], margin)
        if winner is not None:
            tuning = with_described(tuning, _factor_fields(winner, factor))
    if describe(tuning) in [r["tuning"] for r in rows]:
        return None
    return Setting("best of each factor", "combined", tuning)


def _factor_fields(row: dict[str, Any], factor: str) -> dict[str, Any]:
    names = {"stages": ("acoustic_instances", "acoustic_threads", "vocoder_instances",
                        "vocoder_threads", "take_turns_on_cpu"),
             "delay": ("max_queue_delay_us",), "sub_batch": ("stage_sub_batch",),
             "runtime": ("acoustic_runtime", "acoustic_precision", "vocoder_runtime",
                         "vocoder_precision")}[factor]
    return {name: row["tuning"][name] for name in names}


def sweep_pass(stack: ExitStack, settings: list[Setting], reference: Speak | None,
               direct: Speak, rounds: Rounds) -> tuple[list[dict[str, Any]], Speak | None]:
    """Start the settings' servers and measure them together; (rows, the reference speaker).
    A later pass brings its own settings and reuses the reference server of the first."""
    speakers = start_all(stack, settings)
    if reference is not None:
        speakers[REFERENCE] = reference
    if REFERENCE not in speakers:
        return [], None
    figures = measure_all(speakers, direct, rounds)
    rows = [{"label": s.label, "factor": s.factor, "tuning": describe(s.tuning),
             **figures[s.label]} for s in settings if s.label in figures]
    return rows, speakers[REFERENCE]


def run_sweep(baseline: PiperBaseline, quick: bool) -> dict[str, Any]:
    """Measure every setting against the defaults, then the best of each factor together;
    recommend one."""
    started = time.perf_counter()
    rounds = Rounds(1, 1) if quick else Rounds(3, 2)
    direct = direct_speaker(baseline)
    with ExitStack() as stack:
        rows, reference = sweep_pass(stack, QUICK if quick else ONE_FACTOR, None, direct,
                                     rounds)
        if reference is None:
            return {"error": "the server on the default settings did not start"}
        margin = noise_margin(rows)
        extra = None if quick else combined(rows, margin)
        if extra is not None:
            print(f"sweep: {extra.label}: {describe(extra.tuning)}", file=sys.stderr)
            more, _ = sweep_pass(stack, [extra], reference, direct, rounds)
            rows += more
    winner, why = best(rows, margin)
    recommended = winner["tuning"] if winner else describe(DEFAULT)
    return {"concurrency": SWEEP_CONCURRENCY, "rounds": dataclasses.asdict(rounds),
            "noise_margin": margin,
            "defaults": describe(DEFAULT), "settings": rows,
            "recommended": {"label": winner["label"] if winner else REFERENCE,
                            "tuning": recommended, "why": why},
            "seconds": time.perf_counter() - started}


def print_sweep(sweep: dict[str, Any]) -> None:
    if "error" in sweep:
        print(f"\nsweep not run: {sweep['error']}")
        return
    print(f"\nsweep ({sweep['seconds']:.0f} s), all servers interleaved, ratios to the one on "
          f"the defaults; noise margin ±{sweep['noise_margin']:.0%}")
    print(f"{'setting':<30} {'latency ms':>10} {'vs ref':>7} {'vs direct':>9} "
          f"{'audio s/s @4':>12} {'vs ref':>7} {'vs seq':>7} {'other cores':>11}")
    for r in sweep["settings"]:
        print(f"{r['label']:<30} {r['latency_ms']:10.0f} {r['latency_vs_reference']:7.2f} "
              f"{r['latency_vs_direct']:9.2f} {r['throughput']:12.1f} "
              f"{r['throughput_vs_reference']:7.2f} {r['throughput_vs_direct_sequential']:7.2f} "
              f"{r['foreign_cores']:11.2f}")
    rec = sweep["recommended"]
    print(f"recommended: {rec['label']} {rec['tuning']}: {rec['why']}")
