"""Where a request's time goes: Triton's own per-model statistics beside the same work done
in-process.

For single-stream requests and for a concurrent load, every request's wall time (as the client
sees it) is split into
- client + gRPC: the wall time outside the `tts` ensemble (Triton's success time of `tts`),
- ensemble hops: the ensemble's time not spent inside a step (scheduling, tensors handed on),
- per stage: queue wait, compute input/output (tensors into and out of the python model) and
  compute infer, which is split again into the stage's own work (the same code, timed
  in-process on the same sentences) and the rest (the python backend's IPC, serialization).

Triton stops a request's clock when it releases the request, after the response is on its
way, so "client + gRPC" can come out a millisecond or two below zero: it is that small.

Triton counts a batch's whole execution against each request in it, so under load the shares
are per request as Triton reports them and can add up to more than the wall time when batches
form; the table says how many requests shared each execution.

    python benchmarks/budget.py              # the served defaults, 1 and 4 clients
    python benchmarks/budget.py --runtime onnxruntime --tuning latency
    python benchmarks/budget.py --quick --out DIR   # two sentences, 1 and 2 clients: a smoke run
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tritontts.export.voice import default_voice, export_piper_voice
from tritontts.piper.cpu import CPU_RUNTIMES, CPU_TUNINGS, CpuTuning, cpu_models
from tritontts.piper.frontend import TextFrontend, encode_request
from tritontts.piper.runtimes import cpu_features
from tritontts.piper.stages import AcousticStage, VocoderStage, join_chunks, pause_samples
from tritontts.piper.tuning import AUTO_RUNTIME, resolve_runtime
from tritontts.piper.voice import ExportedVoice, PiperVoiceConfig
from tritontts.repository import write_repository
from tritontts.serving.server import ServerOptions, TritonServer, free_port
from tritontts_client import TTSClient
from tritontts_client import contract as c

from common import RESULTS, SENTENCES

DETERMINISTIC = {"noise_scale": 0.0, "noise_w": 0.0}
PIPELINE = (c.FRONTEND_MODEL, c.ACOUSTIC_MODEL, c.VOCODER_MODEL, c.POSTPROCESS_MODEL)
STAT_PARTS = ("queue", "compute_input", "compute_infer", "compute_output")


def model_stats(http_url: str) -> dict[str, dict[str, float]]:
    """Cumulative nanoseconds and counts of every model, from /v2/models/stats."""
    with urllib.request.urlopen(f"http://{http_url}/v2/models/stats", timeout=10) as response:
        body = json.load(response)
    stats = {}
    for model in body["model_stats"]:
        inference = model["inference_stats"]
        entry = {part: float(inference[part]["ns"]) for part in STAT_PARTS}
        entry["success_ns"] = float(inference["success"]["ns"])
        entry["requests"] = float(inference["success"]["count"])
        entry["executions"] = float(model["execution_count"])
        stats[model["name"]] = entry
    return stats


def stats_delta(before: dict[str, dict[str, float]], after: dict[str, dict[str, float]]
                ) -> dict[str, dict[str, float]]:
    return {name: {key: value - before.get(name, {}).get(key, 0.0)
                   for key, value in entry.items()}
            for name, entry in after.items()}


@dataclass
class InProcess:
    """The pipeline's stages in one process, timed span by span: the compute each Triton model
    does, without Triton."""

    frontend: TextFrontend
    acoustic: AcousticStage
    vocoder: VocoderStage
    hop_length: int
    sample_rate: int

    @classmethod
    def load(cls, voice: ExportedVoice, tuning: CpuTuning) -> InProcess:
        """Each stage with the runtime, precision and threads its Triton model has."""
        config = PiperVoiceConfig.load(voice.config)
        acoustic, vocoder = tuning.acoustic, tuning.vocoder
        vocoder_stage = VocoderStage(
            voice.vocoder, voice.hop_length, vocoder.threads,
            latent_channels=voice.latent_channels,
            speaker_embedding_channels=voice.speaker_embedding_channels,
            runtime=vocoder.runtime, precision=vocoder.precision)
        vocoder_stage.warm_up()  # as the Triton model does at load
        return cls(TextFrontend(config),
                   AcousticStage(voice.acoustic, acoustic.threads, runtime=acoustic.runtime,
                                 precision=acoustic.precision),
                   vocoder_stage, voice.hop_length, config.sample_rate)

    def spans(self, text: str) -> dict[str, float]:
        """Seconds of each stage's work for one request."""
        clock = time.perf_counter
        start = clock()
        batch, scales = encode_request(self.frontend, text, None, **DETERMINISTIC)
        encoded = clock()
        acoustic = self.acoustic.run(batch.ids, batch.lengths, scales)
        latent = clock()
        waveform = self.vocoder.run(acoustic.latent, acoustic.frame_lengths)
        vocoded = clock()
        join_chunks(waveform, acoustic.frame_lengths, self.hop_length,
                    pause_samples(batch.pauses_s, self.sample_rate))
        joined = clock()
        return {c.FRONTEND_MODEL: encoded - start, c.ACOUSTIC_MODEL: latent - encoded,
                c.VOCODER_MODEL: vocoded - latent, c.POSTPROCESS_MODEL: joined - vocoded}


def median_spans(pipeline: InProcess, sentences: list[str], rounds: int) -> dict[str, float]:
    """Mean over sentences of each stage's median seconds: what one request's stage costs."""
    per_stage: dict[str, list[float]] = {stage: [] for stage in PIPELINE}
    for text in sentences:
        runs = [pipeline.spans(text) for _ in range(rounds)]
        for stage in PIPELINE:
            per_stage[stage].append(statistics.median(run[stage] for run in runs))
    return {stage: statistics.fmean(values) for stage, values in per_stage.items()}


def load_run(client_url: str, http_url: str, sentences: list[str], concurrency: int,
             rounds: int, pipeline: InProcess) -> dict[str, Any]:
    """`rounds` passes over the sentences by `concurrency` clients; Triton's statistics over
    exactly those requests. With one client, each request is followed by the same work
    in-process, so that both see the same machine (it may be shared)."""
    clients = [TTSClient(client_url) for _ in range(concurrency)]
    walls: list[float] = []
    spans: dict[str, list[float]] = {stage: [] for stage in PIPELINE}

    def work(index: int) -> None:
        client = clients[index]
        for round_ in range(rounds):
            for offset in range(len(sentences)):
                text = sentences[(offset + index + round_) % len(sentences)]
                start = time.perf_counter()
                client.synthesize(text, **DETERMINISTIC)
                walls.append(time.perf_counter() - start)
                if concurrency == 1:
                    for stage, seconds in pipeline.spans(text).items():
                        spans[stage].append(seconds)

    before = model_stats(http_url)
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(work, range(concurrency)))
    elapsed = time.perf_counter() - started
    delta = stats_delta(before, model_stats(http_url))
    for client in clients:
        client.close()
    result = {"concurrency": concurrency, "requests": len(walls), "wall_s": elapsed,
              "mean_wall_ms": statistics.fmean(walls) * 1e3, "stats": delta}
    # The in-process side's time is not the server's: requests/s only where nothing else ran.
    result["requests_per_s"] = len(walls) / (elapsed - sum(map(sum, spans.values())))
    if concurrency == 1:
        result["compute_s"] = {stage: statistics.fmean(v) for stage, v in spans.items()}
    return result


def budget_rows(run: dict[str, Any], compute_s: dict[str, float]) -> list[tuple[str, float]]:
    """(share, ms per request) rows whose sum is the mean wall time (up to batch sharing)."""
    stats, requests = run["stats"], run["requests"]

    def per_request_ms(model: str, key: str) -> float:
        return stats[model][key] / requests / 1e6

    ensemble_ms = per_request_ms(c.TTS_MODEL, "success_ns")
    rows = [("client + gRPC (outside the ensemble)", run["mean_wall_ms"] - ensemble_ms)]
    inside_steps = 0.0
    for model in PIPELINE:
        queue = per_request_ms(model, "queue")
        tensors = per_request_ms(model, "compute_input") + per_request_ms(model, "compute_output")
        infer = per_request_ms(model, "compute_infer")
        own = compute_s[model] * 1e3
        # Triton charges a batch's whole execution to every request in it.
        mates = own * (stats[model]["requests"] / max(stats[model]["executions"], 1) - 1)
        rows += [(f"{model}: queue", queue), (f"{model}: tensors in/out", tensors),
                 (f"{model}: compute (in-process)", own),
                 (f"{model}: batch mates' compute", mates),
                 (f"{model}: python backend + contention", infer - own - mates)]
        inside_steps += queue + tensors + infer
    rows.insert(1, ("ensemble hops (ensemble - steps)", ensemble_ms - inside_steps))
    return rows


def print_budget(result: dict[str, Any]) -> None:
    runs = result["runs"]
    header = "share".ljust(44) + "".join(f"{'c=' + str(r['concurrency']):>18}" for r in runs)
    print(f"\nTime budget per request, ms (and % of the wall time), {result['setting']}; "
          f"CPU: {result['cpu']}")
    print(header)
    tables = [dict(budget_rows(run, result["compute_s"])) for run in runs]
    for share in tables[0]:
        cells = "".join(f"{t[share]:>10.1f} ({100 * t[share] / r['mean_wall_ms']:>4.0f}%)"
                        for t, r in zip(tables, runs, strict=True))
        print(share.ljust(44) + cells)
    print("wall time (client)".ljust(44)
          + "".join(f"{r['mean_wall_ms']:>18.1f}" for r in runs))
    print("requests/s".ljust(44) + "".join(f"{r['requests_per_s']:>18.2f}" for r in runs))
    for run in runs:
        shared = {m: run["stats"][m]["requests"] / max(run["stats"][m]["executions"], 1)
                  for m in PIPELINE}
        print(f"c={run['concurrency']}: requests per execution "
              + ", ".join(f"{m} {v:.2f}" for m, v in shared.items()))
    print(f"in-process, same stages sequentially: {sum(result['compute_s'].values()) * 1e3:.1f}"
          " ms per request")


def measure_budget(setting: str, runtime: str, rounds: int, concurrencies: tuple[int, ...],
                   sentences: list[str] = SENTENCES) -> dict[str, Any]:
    """The budget of a server with the named tuning and runtime (AUTO_RUNTIME: this CPU's
    default), started for the purpose and stopped."""
    runtime = resolve_runtime(runtime)
    tuning = CPU_TUNINGS[setting].with_runtime(runtime)
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tritontts-budget-")))
        voice = export_piper_voice(*default_voice(), work / "voices", progress=lambda _: None)
        repository = write_repository(cpu_models(voice, tuning), work / "model_repository")
        server = stack.enter_context(TritonServer(
            ServerOptions(repository, http_port=free_port(), grpc_port=free_port(),
                          metrics_port=free_port()), log_file=work / "tritonserver.log"))
        pipeline = InProcess.load(voice, tuning)
        with TTSClient(server.grpc_url) as client:  # warm-up: sessions, arenas, connections
            for text in sentences:
                client.synthesize(text, **DETERMINISTIC)
        median_spans(pipeline, sentences, 1)
        runs = [load_run(server.grpc_url, server.http_url, sentences, n, rounds, pipeline)
                for n in sorted(set(concurrencies) | {1})]
    compute_s = runs[0]["compute_s"]
    threads = f"{tuning.acoustic.instances}×{tuning.acoustic.threads} acoustic, " \
              f"{tuning.vocoder.instances}×{tuning.vocoder.threads} vocoder " \
              f"(instances × threads), CPU turns {'on' if tuning.take_turns_on_cpu else 'off'}"
    return {"setting": f"tuning {setting}, runtime {runtime}, {threads}",
            "cpu": cpu_features().describe(), "sentences": len(sentences),
            "compute_s": compute_s, "runs": runs}


def budget_markdown(result: dict[str, Any]) -> list[str]:
    """The table as Markdown lines (bench.md, the docs)."""
    runs = result["runs"]
    tables = [dict(budget_rows(run, result["compute_s"])) for run in runs]
    lines = [f"Time budget per request, ms (% of the wall time): {result['setting']}; "
             f"CPU: {result['cpu']}", "",
             "| share | " + " | ".join(f"c={r['concurrency']}" for r in runs) + " |",
             "| --- |" + " ---: |" * len(runs)]
    for share in tables[0]:
        lines.append(f"| {share} | " + " | ".join(
            f"{t[share]:.1f} ({100 * t[share] / r['mean_wall_ms']:.0f}%)"
            for t, r in zip(tables, runs, strict=True)) + " |")
    lines.append("| wall time (client) | "
                 + " | ".join(f"{r['mean_wall_ms']:.1f}" for r in runs) + " |")
    lines.append("| requests/s | " + " | ".join(f"{r['requests_per_s']:.2f}" for r in runs)
                 + " |")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tuning", choices=sorted(CPU_TUNINGS), default="latency")
    parser.add_argument("--runtime", choices=(*CPU_RUNTIMES, AUTO_RUNTIME), default=AUTO_RUNTIME)
    parser.add_argument("--rounds", type=int, default=3, help="passes over the sentences")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--quick", action="store_true",
                        help="two sentences, one round, 1 and 2 clients: a smoke run, not for "
                             "decisions")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for budget.json")
    args = parser.parse_args()
    sentences = SENTENCES[:2] if args.quick else SENTENCES
    rounds = 1 if args.quick else args.rounds
    concurrencies = (1, 2) if args.quick else tuple(args.concurrency)
    result = measure_budget(args.tuning, args.runtime, rounds, concurrencies, sentences)
    print_budget(result)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "budget.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"saved {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    sys.exit(main())
