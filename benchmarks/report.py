"""The goals `make bench` judges, and its markdown summary (benchmarks/results/bench.md)."""

from __future__ import annotations

import os
from typing import Any

from peer import peer_markdown
from streaming import GOAL_RATIO as TTFA_GOAL_RATIO
from sweep import MIN_NOISE, THROUGHPUT
from throughput import DIRECT_PAIR, DIRECT_SEQUENTIAL, DIRECT_THREADS, TRITON

LATENCY_GOAL = 1.10  # ensemble single-stream latency at most this × the direct baseline
THROUGHPUT_GOAL = 1.2  # ensemble throughput at concurrency 4 at least this × direct sequential
THROUGHPUT_GOAL_CONCURRENCY = 4
TTFA_P50_GOAL_MS = 76  # streaming first audio for 60 words, as measured before the runtimes


def judge(results: dict[str, Any]) -> list[dict[str, Any]]:
    """[{goal, measured, met}] for every goal the run had figures for."""
    goals = []
    latency = results["latency"]
    goals.append({"goal": f"ensemble single-stream latency ≤ {LATENCY_GOAL:.2f}× direct baseline",
                  "measured": f"{latency['ratio']:.3f}× ({latency['triton_ms_total']:.0f} ms vs "
                              f"{latency['direct_ms_total']:.0f} ms, sum of medians)",
                  "met": latency["ratio"] <= LATENCY_GOAL})
    throughput = results["throughput"]
    ratio = throughput["triton_vs_sequential_at_goal"]
    goals.append({
        "goal": f"ensemble throughput at concurrency {THROUGHPUT_GOAL_CONCURRENCY} ≥ "
                f"{THROUGHPUT_GOAL}× direct baseline run sequentially",
        "measured": f"{ratio:.3f}× ({throughput['triton_at_goal']:.1f} vs "
                    f"{throughput['direct_sequential']:.1f} s of audio per s)"
                    + _throughput_context(results),
        "met": ratio >= THROUGHPUT_GOAL})
    streaming = results["streaming"]
    underruns = sum(r["underruns"] for r in streaming["underruns"].values())
    goals.append({
        "goal": f"streaming: TTFA p50 ≤ {TTFA_GOAL_RATIO}× full latency p50, no underruns",
        "measured": f"{streaming['ttfa']['ratio_p50']:.3f}×, {underruns} underruns",
        "met": streaming["ttfa"]["ratio_p50"] <= TTFA_GOAL_RATIO and underruns == 0})
    ttfa_ms = streaming["ttfa"]["ttfa_p50_s"] * 1e3
    goals.append({"goal": f"streaming: time to first audio p50 ≤ {TTFA_P50_GOAL_MS} ms (60 words)",
                  "measured": f"{ttfa_ms:.0f} ms", "met": ttfa_ms <= TTFA_P50_GOAL_MS})
    return goals


def _throughput_context(results: dict[str, Any]) -> str:
    """The throughput tuning's figure from the sweep, and the machine's ceiling."""
    parts = []
    sweep = results.get("sweep") or {}
    tuned = [r for r in sweep.get("settings", []) if r["label"] == THROUGHPUT]
    if tuned:
        parts.append(f"{THROUGHPUT}: {tuned[0]['throughput_vs_direct_sequential']:.3f}× "
                     "in the sweep")
    ceiling = results["throughput"].get("ceiling_vs_sequential")
    if ceiling:
        parts.append(f"ceiling of this machine ({DIRECT_PAIR}): {ceiling:.3f}×")
    return "; " + "; ".join(parts) if parts else ""


def _cores(values: list[float]) -> str:
    """Other work's CPU over several measurements, as 'median X, max Y cores'."""
    ordered = sorted(values)
    return f"median {ordered[len(ordered) // 2]:.2f}, max {ordered[-1]:.2f} cores"


def _tick(met: bool) -> str:
    return "**met**" if met else "**missed**"


def markdown(results: dict[str, Any], goals: list[dict[str, Any]]) -> str:
    lines = ["# tritontts benchmark", "",
             f"{results['started']}, {results['machine']}; {results['source']}; server: "
             f"{results['server']}; peer: {results.get('peer_server', 'none')}.", "",
             "The machine is shared: \"other work\" below is the CPU that processes other than "
             "the benchmark and its servers took while a figure was measured (in cores; each "
             "part waits for a quiet machine first, and a latency round or throughput point "
             "taken under more than 0.5 cores is measured again, twice at most, while the run's "
             "patience lasts; the least disturbed attempt counts). Ratios "
             "compare sides measured interleaved, so they suffer less than absolute figures.",
             "",
             "## Goals", "", "| goal | measured | verdict |", "| --- | --- | --- |"]
    lines += [f"| {g['goal']} | {g['measured']} | {_tick(g['met'])} |" for g in goals]
    lines += _latency_section(results["latency"])
    lines += _throughput_section(results["throughput"])
    if "peer" in results:
        lines += peer_markdown(results["peer"])
    lines += _streaming_section(results["streaming"])
    lines += _sweep_section(results.get("sweep"))
    return "\n".join(lines) + "\n"


def _latency_section(latency: dict[str, Any]) -> list[str]:
    lines = ["", "## Single-stream latency", "",
             f"Median of {latency['rounds']} rounds, baseline and ensemble interleaved sentence "
             "by sentence, noise scales 0 (same work, same audio).", "",
             "| sentence | audio s | direct ms | Triton ms | ratio |",
             "| --- | ---: | ---: | ---: | ---: |"]
    lines += [f"| {r['sentence']} | {r['audio_s']:.2f} | {r['direct_ms']:.1f} | "
              f"{r['triton_ms']:.1f} | {r['ratio']:.2f} |" for r in latency["sentences"]]
    lines += [f"| **all (sum of medians)** | {latency['audio_s_total']:.2f} | "
              f"{latency['direct_ms_total']:.1f} | {latency['triton_ms_total']:.1f} | "
              f"**{latency['ratio']:.2f}** |", "",
              f"Real-time factor (compute s per audio s): direct {latency['rtf_direct']:.3f}, "
              f"Triton {latency['rtf_triton']:.3f}. Other work on the machine during the "
              f"rounds: {_cores(latency['foreign_cores'])}.", "", "![latency](latency.png)"]
    return lines


def _throughput_section(throughput: dict[str, Any]) -> list[str]:
    points = throughput["points"]
    lines = ["", "## Throughput", "",
             f"Seconds of audio per wall-clock second; each client thread speaks the "
             f"{throughput['sentences_per_thread']} sentences once; median of "
             f"{throughput['rounds']} rounds, the sides interleaved point by point, and the "
             "direct baseline also run sequentially (one thread) beside every point; the "
             f"reference is the median of all those sequential runs: "
             f"{throughput['direct_sequential']:.1f} s/s.", "",
             "| concurrency | Triton (threads share a client) | direct (threads share a "
             "session) | direct sequential, run beside | Triton ÷ direct sequential (median) "
             "| other work, cores |",
             "| ---: | ---: | ---: | ---: | ---: | --- |"]
    for c in sorted(points[TRITON]):
        foreign = [x for side in points.values() for x in side[c]["foreign_cores_rounds"]]
        lines.append(f"| {c} | {points[TRITON][c]['audio_s_per_s']:.1f} | "
                     f"{points[DIRECT_THREADS][c]['audio_s_per_s']:.1f} | "
                     f"{points[DIRECT_SEQUENTIAL][c]['audio_s_per_s']:.1f} | "
                     f"{throughput['triton_vs_sequential'][c]:.2f} | {_cores(foreign)} |")
    lines += ["", f"CPU the benchmark and its servers kept busy while the direct baseline ran "
              f"sequentially: {throughput['direct_sequential_cores']:.2f} cores of "
              f"{os.cpu_count()}; throughput can grow with concurrency only as far as the idle "
              "rest allows."]
    ceiling = throughput.get("ceiling_vs_sequential")
    if ceiling:
        lines += ["", f"Ceiling: two single-threaded sessions of the original graph side by side "
                  f"(concurrency 2, one per core) made {ceiling:.2f}× the sequential baseline's "
                  "audio per second, run beside every point. A pipeline of the same graphs "
                  "cannot do more work per core than that."]
    lines += ["", "![throughput](throughput.png)"]
    return lines


def _streaming_section(streaming: dict[str, Any]) -> list[str]:
    ttfa = streaming["ttfa"]
    lines = ["", "## Streaming", "",
             f"60-word paragraph, {ttfa['runs']} runs of `tts_stream` and `tts` alternating.", "",
             "| | p50 ms | p95 ms |", "| --- | ---: | ---: |",
             f"| time to first audio (`tts_stream`) | {ttfa['ttfa_p50_s'] * 1e3:.0f} | "
             f"{ttfa['ttfa_p95_s'] * 1e3:.0f} |",
             f"| full latency (`tts`) | {ttfa['full_p50_s'] * 1e3:.0f} | "
             f"{ttfa['full_p95_s'] * 1e3:.0f} |", "",
             f"Other work on the machine meanwhile: {ttfa['foreign_cores']:.2f} cores.", "",
             "| concurrent streams | streams | underruns | smallest playback margin ms |",
             "| ---: | ---: | ---: | ---: |"]
    lines += [f"| {c} | {r['streams']} | {r['underruns']} | {r['min_margin_s'] * 1e3:.0f} |"
              for c, r in streaming["underruns"].items()]
    return lines


def _sweep_section(sweep: dict[str, Any] | None) -> list[str]:
    if sweep is None:
        return ["", "## Repository settings sweep", "",
                "Not run: the sweep starts servers of its own (it is skipped with `--url` and "
                "`--no-sweep`, and written once the rest is done)."]
    if "error" in sweep:
        return ["", "## Repository settings sweep", "", f"Not run: {sweep['error']}."]
    lines = ["", "## Repository settings sweep", "",
             f"Each setting on a server of its own; all servers up at once and timed "
             f"interleaved (request by request for latency, point by point for throughput at "
             f"concurrency {sweep['concurrency']}) with the direct baseline; ratios are to the "
             f"server on the defaults. A second server on the defaults (A/A) sets the noise "
             f"margin (at least {MIN_NOISE:.0%}): ±{sweep['noise_margin']:.0%}. "
             f"Rounds: {sweep['rounds']['latency']} for latency, "
             f"{sweep['rounds']['throughput']} for throughput; took {sweep['seconds']:.0f} s.",
             "",
             "| setting | acoustic inst × thr | vocoder inst × thr | CPU turns | delay µs "
             "| sub-batch | latency ms | × defaults | × direct | audio s/s @4 | × defaults "
             "| × direct seq. | other work, cores (max) |",
             "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
             "| ---: |"]
    for r in sweep["settings"]:
        t = r["tuning"]
        lines.append(
            f"| {r['label']} | {t['acoustic_instances']} × {t['acoustic_threads']} | "
            f"{t['vocoder_instances']} × {t['vocoder_threads']} | "
            f"{'yes' if t['take_turns_on_cpu'] else 'no'} | {t['max_queue_delay_us']} | "
            f"{t['stage_sub_batch']} | {r['latency_ms']:.0f} | {r['latency_vs_reference']:.2f} "
            f"| {r['latency_vs_direct']:.2f} | {r['throughput']:.1f} | "
            f"{r['throughput_vs_reference']:.2f} | {r['throughput_vs_direct_sequential']:.2f} "
            f"| {r['foreign_cores']:.2f} |")
    rec = sweep["recommended"]
    tuning = ", ".join(f"{k}={v}" for k, v in rec["tuning"].items())
    lines += ["", "CPU turns: `take_turns_on_cpu`, one global rate-limiter slot for acoustic and "
              "vocoder; while it is on, a second instance of a stage never runs, so the settings "
              "with two instances turn it off.",
              "", f"**Recommended cpu defaults: {rec['label']}** (`CpuTuning({tuning})`): "
              f"{rec['why']}.", "",
              "Rule: a setting qualifies only when neither its single-stream latency (the SLO) "
              "nor its throughput at concurrency 4 is worse than the defaults' by more than the "
              "noise margin; among those the highest throughput wins if it beats the noise, "
              "else the lowest latency if it beats the noise, else the defaults stay. The best "
              "value of each factor is then measured together (\"best of each factor\") when "
              "that is a new setting.", "",
              "![sweep](sweep.png)"]
    return lines
