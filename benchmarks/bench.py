"""`make bench`: the Triton ensemble against the direct baseline, in one run.

1. single-stream latency and real-time factor per sentence (benchmarks/latency.py);
2. throughput in seconds of audio per second at concurrency 1, 2, 4, 8, for the ensemble (client
   threads share one gRPC client) and the direct baseline (threads share one ONNX Runtime
   session), with the baseline run sequentially as the reference and two single-threaded
   baseline sessions side by side as the ceiling of this machine (benchmarks/throughput.py);
3. time to first audio when streaming, and playback underruns (benchmarks/streaming.py);
4. Piper's own HTTP server (piper-tts, `python -m piper.http_server`) on the same voice as a
   third side of 1. and 2.: latency per sentence, requests/s and audio-s/s, and 40 sentences
   said once each, every length new to the server (benchmarks/peer.py);
5. where a request's time goes: Triton's per-model statistics at concurrency 1 and 4 beside
   the same stages in-process (benchmarks/budget.py), on a server of its own; skipped with
   --url;
6. the served runtime's audio against the f32 stages as speech: STOI and mel-cepstral distance
   (benchmarks/quality.py); skipped with --url;
7. the stage graphs alone in-process, on each runtime, the vocoder as exported and with its
   upsampling as polyphase convolutions (benchmarks/stage_graphs.py); skipped with --url;
8. a sweep over cpu-profile repository settings, each on a server of its own, all timed
   interleaved (benchmarks/sweep.py); skipped with --url.

Writes benchmarks/results/bench.json, bench.md (goals and whether they were met) and PNG charts
(latency.png, throughput.png, peer.png, sweep.png). The machine may be shared: every figure
records how much CPU other work took meanwhile, and disturbed measurements are repeated
(cpu_meter.py).

    python benchmarks/bench.py                  # starts its own servers (~8 min on 2 quiet cores)
    python benchmarks/bench.py --quick          # fewer rounds, three sweep settings: a smoke run
    python benchmarks/bench.py --url host:8001  # against a running server; no sweep
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
from contextlib import ExitStack
from importlib.metadata import version
from pathlib import Path
from typing import Any

import cpu_meter
import plots
from budget import budget_markdown, measure_budget, print_budget
from latency import direct_speaker, measure_latency, print_latency, triton_speaker
from peer import (
    PIPER,
    PiperHttpServer,
    measure_unseen,
    peer_goals,
    peer_speaker,
    print_peer,
    summarize,
)
from quality import measure_quality, print_quality, quality_markdown
from report import THROUGHPUT_GOAL, THROUGHPUT_GOAL_CONCURRENCY, judge, markdown
from stage_graphs import measure_stage_graphs, print_stage_graphs, stage_graphs_markdown
from streaming import measure_ttfa, measure_underruns, print_streaming
from sweep import print_sweep, run_sweep
from throughput import (
    CONCURRENCIES,
    DIRECT_PAIR,
    DIRECT_SEQUENTIAL,
    DIRECT_THREADS,
    TRITON,
    Side,
    measure_throughput,
    print_throughput,
    session_pool_speaker,
    summarize_throughput,
)

from tritontts.export.voice import default_voice
from tritontts.piper.baseline import PiperBaseline
from tritontts.piper.tuning import AUTO_RUNTIME, CPU_RUNTIMES, CpuTuning, resolve_runtime
from tritontts_client import TTSClient

from common import (
    PARAGRAPH_60_WORDS,
    RESULTS,
    SENTENCES,
    save,
    start_server,
    unseen_sentences,
)


def measure_server(baseline: PiperBaseline, client: TTSClient, args: argparse.Namespace,
                   peer: PiperHttpServer) -> dict[str, Any]:
    """Latency, throughput and streaming against one server, Piper's own server beside it."""
    speak_peer = peer_speaker(peer)
    latency = measure_latency(baseline, client, args.rounds, others={"piper": speak_peer})
    print_latency(latency)
    unseen = measure_unseen({TRITON: triton_speaker(client), PIPER: speak_peer},
                            unseen_sentences(8 if args.quick else 40))
    direct = direct_speaker(baseline)
    pair = session_pool_speaker([PiperBaseline(*default_voice(), threads=1) for _ in range(2)])
    points = measure_throughput(
        {TRITON: Side(triton_speaker(client)), PIPER: Side(speak_peer),
         DIRECT_THREADS: Side(direct), DIRECT_SEQUENTIAL: Side(direct, fixed_concurrency=1),
         DIRECT_PAIR: Side(pair, fixed_concurrency=2)},
        CONCURRENCIES, args.throughput_rounds)
    peer_result = summarize(latency, points, CONCURRENCIES, direct=DIRECT_THREADS)
    peer_result["unseen"] = unseen
    throughput = summarize_throughput(points, args.throughput_rounds,
                                      THROUGHPUT_GOAL_CONCURRENCY)
    print_throughput(throughput)
    print_peer(peer_result)
    ttfa = measure_ttfa(client, PARAGRAPH_60_WORDS, args.stream_runs)
    underruns = measure_underruns(client, PARAGRAPH_60_WORDS)
    print_streaming(ttfa, underruns)
    return {"latency": latency, "throughput": throughput, "peer": peer_result,
            "streaming": {"ttfa": ttfa, "underruns": underruns}}


def source_state() -> str:
    """The commit measured, and whether the tree had changes on top (read-only git)."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "--no-optional-locks", *args], capture_output=True,
                              text=True, cwd=Path(__file__).parent).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    changed = len(git("status", "--porcelain", "--untracked-files=no").splitlines())
    return f"commit {commit}" + (f" with {changed} changed files" if changed else "")


def write_outputs(results: dict[str, Any]) -> None:
    save("bench.json", results)  # the figures first: nothing below may lose them
    goals = judge(results) + peer_goals(results["peer"])
    results["goals"] = goals
    save("bench.json", results)
    plots.latency_chart(results["latency"], RESULTS / "latency.png")
    plots.throughput_chart(results["throughput"]["points"],
                           results["throughput"]["direct_sequential"], THROUGHPUT_GOAL,
                           RESULTS / "throughput.png",
                           results["throughput"].get("ceiling_vs_sequential"))
    plots.peer_chart(results["peer"], RESULTS / "peer.png")
    if results["sweep"] and "settings" in results["sweep"]:
        plots.sweep_chart(results["sweep"], RESULTS / "sweep.png")
    extra = []
    if results.get("budget"):
        extra += ["", "## Where a request's time goes", "", *budget_markdown(results["budget"])]
    if results.get("quality"):
        extra += ["", "## Audio of the served runtime", "", *quality_markdown(results["quality"])]
    if results.get("stage_graphs"):
        extra += ["", "## The stage graphs in-process", "",
                  *stage_graphs_markdown(results["stage_graphs"])]
    (RESULTS / "bench.md").write_text(markdown(results, goals) + "\n".join(extra) + "\n")
    print(f"\nwrote {RESULTS / 'bench.md'} and charts")
    for goal in goals:
        print(f"  {'MET   ' if goal['met'] else 'MISSED'} {goal['goal']}: {goal['measured']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="gRPC HOST:PORT of a running server (default: start one; "
                                      "the sweep needs servers of its own and is skipped)")
    parser.add_argument("--quick", action="store_true",
                        help="fewer rounds, two sweep settings: a smoke run, not for decisions")
    parser.add_argument("--no-sweep", action="store_true", help="skip the settings sweep")
    parser.add_argument("--patience", type=float, default=600,
                        help="seconds the run may spend waiting for, and repeating "
                             "measurements because of, other work on the machine")
    parser.add_argument("--runtime", choices=(*CPU_RUNTIMES, AUTO_RUNTIME), default=AUTO_RUNTIME,
                        help="start the server with the stages on this runtime (default: auto, "
                             "the one `tritontts repository` serves on this CPU)")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 when a goal is missed (default: report only)")
    args = parser.parse_args()
    args.rounds = 2 if args.quick else 5
    args.throughput_rounds = 1 if args.quick else 3
    args.stream_runs = 5 if args.quick else 20

    cpu_meter.PATIENCE.left_s = args.patience
    started = datetime.datetime.now().astimezone()
    baseline = PiperBaseline(*default_voice())
    with ExitStack() as stack:
        args.runtime = resolve_runtime(args.runtime)
        url = args.url or start_server(stack, CpuTuning().with_runtime(args.runtime)).grpc_url
        client = stack.enter_context(TTSClient(url))
        RESULTS.mkdir(exist_ok=True)
        peer = stack.enter_context(PiperHttpServer(Path(default_voice()[0]),
                                                   log_file=RESULTS / "piper_http.log"))
        results = measure_server(baseline, client, args, peer)
    results.update({
        "started": started.isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}",
        "server": args.url or ("started by the benchmark, default CpuTuning"
                               f" on the {args.runtime} runtime"),
        "peer_server": f"piper-tts {version('piper-tts')} http_server, "
                       f"{default_voice()[0].name}",
        "source": source_state(),
        "quick": args.quick, "sweep": None})
    write_outputs(results)  # now: a sweep that fails half-way must not take these figures along
    # Both need to know what the server runs: the budget reads the statistics of a server
    # started for it, the audio comparison runs the same stages in-process.
    if not args.url:
        sentences = SENTENCES[:2] if args.quick else SENTENCES
        results["budget"] = measure_budget("latency", args.runtime, 1 if args.quick else 3,
                                           (1, 2) if args.quick else (1, 4), sentences)
        print_budget(results["budget"])
        results["quality"] = measure_quality(args.runtime)
        print_quality(results["quality"])
        results["stage_graphs"] = measure_stage_graphs(rounds=2 if args.quick else 5,
                                                       sentences=sentences)
        print_stage_graphs(results["stage_graphs"])
        write_outputs(results)
    if args.url or args.no_sweep:
        print("sweep skipped: it starts servers of its own with each setting "
              "(run without --url / --no-sweep)", file=sys.stderr)
    else:
        results["sweep"] = run_sweep(baseline, args.quick)
        print_sweep(results["sweep"])
        write_outputs(results)
    return 0 if not args.check or all(g["met"] for g in results["goals"]) else 1


if __name__ == "__main__":
    sys.exit(main())
