"""Piper's own HTTP server (`python -m piper.http_server`, piper-tts) as the peer of `make bench`.

What a user would run instead of tritontts: Flask, threaded, one ONNX Runtime session, a whole
WAV per request. It serves the same voice file (the bundled en_US-joe-medium) and gets the same
noise settings as the other sides (noise scales 0, so every side does the same work). Its WAV
has no silence between sentences, ours has pauses: requests/s and latency compare the work,
and the audio lengths are reported beside them.

    python benchmarks/peer.py --quick     # a small three-sided run: peer, tritontts, direct
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import soundfile as sf
from latency import (
    DETERMINISTIC,
    Speak,
    direct_speaker,
    measure_latency,
    one_round,
    triton_speaker,
)
from throughput import DIRECT_SEQUENTIAL, TRITON, Side, measure_throughput

from tritontts.export.voice import default_voice
from tritontts.piper.baseline import PiperBaseline
from tritontts.serving.server import free_port
from tritontts_client import TTSClient

from common import SENTENCES, start_server

PIPER = "piper http_server"
DIRECT = "direct"
# The goals against the peer, on this machine.
PEER_THROUGHPUT_GOAL = 1.3  # tritontts requests/s at concurrency 4 at least this × the peer's
PEER_LATENCY_GOAL = 0.75  # tritontts single-stream latency at most this × the peer's
PEER_CONCURRENCY = 4


class PiperHttpServer:
    """`python -m piper.http_server -m VOICE.onnx` on a free loopback port; always stopped."""

    def __init__(self, model: Path, log_file: Path | None = None,
                 start_timeout_s: float = 120.0) -> None:
        self.model = model
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_file = log_file
        self.start_timeout_s = start_timeout_s
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> PiperHttpServer:
        out = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL
        self.process = subprocess.Popen(
            [sys.executable, "-m", "piper.http_server", "-m", str(self.model),
             "--host", "127.0.0.1", "--port", str(self.port)],
            stdout=out, stderr=subprocess.STDOUT, cwd=self.model.parent)
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"piper.http_server exited with {self.process.returncode}"
                                   + (f"; see {self.log_file}" if self.log_file else ""))
            try:
                with urllib.request.urlopen(f"{self.url}/info", timeout=2) as response:
                    if response.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.25)
        self.__exit__(None, None, None)
        raise TimeoutError(f"piper.http_server not ready after {self.start_timeout_s:.0f} s")

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def synthesize(self, text: str) -> tuple[Any, int]:
        """(samples, sample rate) of one request, with the benchmark's noise settings."""
        body = json.dumps({"text": text, "noise_scale": DETERMINISTIC["noise_scale"],
                           "noise_w_scale": DETERMINISTIC["noise_w"]}).encode()
        request = urllib.request.Request(f"{self.url}/synthesize", data=body,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=120) as response:
            audio, rate = sf.read(io.BytesIO(response.read()), dtype="float32")
        return audio, rate


def peer_speaker(server: PiperHttpServer) -> Speak:
    def speak(text: str) -> float:
        audio, rate = server.synthesize(text)
        return len(audio) / rate

    return speak


def three_sides(baseline: PiperBaseline, client: TTSClient, peer: PiperHttpServer,
                rounds: int, throughput_rounds: int, concurrencies: tuple[int, ...],
                sentences: list[str] = SENTENCES) -> dict[str, Any]:
    """Latency and throughput of the peer, tritontts and the direct baseline, interleaved."""
    speak_peer = peer_speaker(peer)
    latency = measure_latency(baseline, client, rounds, sentences, {"piper": speak_peer})
    points = measure_throughput(
        {TRITON: Side(triton_speaker(client)), PIPER: Side(speak_peer),
         DIRECT: Side(direct_speaker(baseline)),
         DIRECT_SEQUENTIAL: Side(direct_speaker(baseline), fixed_concurrency=1)},
        concurrencies, throughput_rounds, sentences)
    return summarize(latency, points, concurrencies)


def measure_unseen(speakers: dict[str, Speak], sentences: list[str]) -> dict[str, Any]:
    """Each sentence said once by each side, the sides taking turns: latency where every length
    is new to the server (common.unseen_sentences). One round only, and never repeated for
    other work on the machine: a second round would no longer be unseen."""
    seconds = one_round(speakers, sentences)
    times = {side: [1e3 * s for s in by_text.values()] for side, by_text in seconds.items()}
    return {"sentences": len(sentences),
            "ms_total": {side: sum(t) for side, t in times.items()},
            "ms_median": {side: statistics.median(t) for side, t in times.items()},
            "ms_p90": {side: float(np.percentile(t, 90)) for side, t in times.items()}}


def summarize(latency: dict[str, Any], points: dict[str, dict[int, dict]],
              concurrencies: tuple[int, ...], direct: str = DIRECT) -> dict[str, Any]:
    """The three sides' figures from a latency run with a "piper" side and throughput points
    of TRITON, PIPER, `direct` (threads sharing one session) and DIRECT_SEQUENTIAL."""
    rows = [{"sentence": r["sentence"], "triton_audio_s": r["audio_s"],
             "piper_audio_s": r["piper_audio_s"], "triton_ms": r["triton_ms"],
             "piper_ms": r["piper_ms"], "direct_ms": r["direct_ms"],
             "triton_vs_piper": r["triton_ms"] / r["piper_ms"]} for r in latency["sentences"]]
    throughput = {side: {str(c): {"requests_per_s": points[side][c]["requests_per_s"],
                                  "audio_s_per_s": points[side][c]["audio_s_per_s"],
                                  "foreign_cores_rounds": points[side][c]["foreign_cores_rounds"]}
                         for c in concurrencies}
                  for side in (TRITON, PIPER, direct)}
    ratios = {str(c): points[TRITON][c]["requests_per_s"] / points[PIPER][c]["requests_per_s"]
              for c in concurrencies}
    return {
        "sides": [TRITON, PIPER, direct], "rounds": latency["rounds"],
        "latency": {"sentences": rows, "triton_ms_total": latency["triton_ms_total"],
                    "piper_ms_total": latency["piper_ms_total"],
                    "direct_ms_total": latency["direct_ms_total"],
                    "triton_audio_s_total": latency["audio_s_total"],
                    "piper_audio_s_total": latency["piper_audio_s_total"],
                    "triton_vs_piper": latency["triton_ms_total"] / latency["piper_ms_total"],
                    "foreign_cores": latency["foreign_cores"]},
        "throughput": throughput, "triton_vs_piper_requests_per_s": ratios,
        "direct_sequential_requests_per_s": statistics.median(
            p["requests_per_s"] for p in points[DIRECT_SEQUENTIAL].values()),
    }


def peer_goals(peer: dict[str, Any]) -> list[dict[str, Any]]:
    goals = []
    ratio = peer["triton_vs_piper_requests_per_s"].get(str(PEER_CONCURRENCY))
    if ratio is not None:
        t = peer["throughput"]
        goals.append({
            "goal": f"throughput at concurrency {PEER_CONCURRENCY} ≥ {PEER_THROUGHPUT_GOAL}× "
                    "Piper's http_server (requests/s)",
            "measured": f"{ratio:.3f}× ({t[TRITON][str(PEER_CONCURRENCY)]['requests_per_s']:.2f}"
                        f" vs {t[PIPER][str(PEER_CONCURRENCY)]['requests_per_s']:.2f} requests/s)",
            "met": ratio >= PEER_THROUGHPUT_GOAL})
    lat = peer["latency"]
    goals.append({
        "goal": f"single-stream latency ≤ {PEER_LATENCY_GOAL}× Piper's http_server "
                "(sum of per-sentence medians)",
        "measured": f"{lat['triton_vs_piper']:.3f}× ({lat['triton_ms_total']:.0f} ms vs "
                    f"{lat['piper_ms_total']:.0f} ms)",
        "met": lat["triton_vs_piper"] <= PEER_LATENCY_GOAL})
    return goals


def unseen_line(unseen: dict[str, Any]) -> str:
    total, median = unseen["ms_total"], unseen["ms_median"]
    return (f"{unseen['sentences']} sentences said once each (every length new to the server): "
            f"tritontts {total[TRITON]:.0f} ms in all, median {median[TRITON]:.1f} ms; Piper "
            f"{total[PIPER]:.0f} ms, median {median[PIPER]:.1f} ms; tritontts ÷ Piper "
            f"{total[TRITON] / total[PIPER]:.2f}")


def print_peer(peer: dict[str, Any]) -> None:
    if "unseen" in peer:
        print("\n" + unseen_line(peer["unseen"]))
    lat = peer["latency"]
    print(f"\n{'sentence':<44} {'ours s':>6} {'piper s':>7} {'triton ms':>9} {'piper ms':>8} "
          f"{'direct ms':>9} {'t/p':>5}")
    for r in lat["sentences"]:
        print(f"{r['sentence'][:43]:<44} {r['triton_audio_s']:6.2f} {r['piper_audio_s']:7.2f} "
              f"{r['triton_ms']:9.1f} {r['piper_ms']:8.1f} {r['direct_ms']:9.1f} "
              f"{r['triton_vs_piper']:5.2f}")
    print(f"{'all (sum of medians)':<44} {lat['triton_audio_s_total']:6.2f} "
          f"{lat['piper_audio_s_total']:7.2f} {lat['triton_ms_total']:9.1f} "
          f"{lat['piper_ms_total']:8.1f} {lat['direct_ms_total']:9.1f} "
          f"{lat['triton_vs_piper']:5.2f}")
    print(f"\n{'concurrency':>11} " + " ".join(f"{s + ' req/s':>24}" for s in peer["sides"])
          + f" {'triton/piper':>12}")
    for c, ratio in peer["triton_vs_piper_requests_per_s"].items():
        cells = " ".join(f"{peer['throughput'][s][c]['requests_per_s']:11.2f} "
                         f"({peer['throughput'][s][c]['audio_s_per_s']:5.1f} a-s/s)"
                         for s in peer["sides"])
        print(f"{c:>11} {cells} {ratio:12.2f}")


def peer_markdown(peer: dict[str, Any]) -> list[str]:
    lat = peer["latency"]
    lines = ["", "## Against Piper's own server", "",
             f"`python -m piper.http_server` (piper-tts) on the same voice file, noise scales 0 "
             f"on every side; median of {peer['rounds']} rounds, the sides interleaved sentence "
             "by sentence. Audio lengths differ: Piper's WAV has no pause between sentences, "
             "ours has the sentence pauses.", "",
             "| sentence | our audio s | Piper audio s | tritontts ms | Piper ms | direct ms "
             "| tritontts ÷ Piper |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    lines += [f"| {r['sentence']} | {r['triton_audio_s']:.2f} | {r['piper_audio_s']:.2f} | "
              f"{r['triton_ms']:.1f} | {r['piper_ms']:.1f} | {r['direct_ms']:.1f} | "
              f"{r['triton_vs_piper']:.2f} |" for r in lat["sentences"]]
    lines += [f"| **all (sum of medians)** | {lat['triton_audio_s_total']:.2f} | "
              f"{lat['piper_audio_s_total']:.2f} | {lat['triton_ms_total']:.1f} | "
              f"{lat['piper_ms_total']:.1f} | {lat['direct_ms_total']:.1f} | "
              f"**{lat['triton_vs_piper']:.2f}** |", "",
              "| concurrency | tritontts req/s (audio s/s) | Piper req/s (audio s/s) | direct "
              "req/s (audio s/s) | tritontts ÷ Piper, req/s | other work, cores (max) |",
              "| ---: | ---: | ---: | ---: | ---: | ---: |"]
    t = peer["throughput"]
    for c, ratio in peer["triton_vs_piper_requests_per_s"].items():
        cells = " | ".join(f"{t[s][c]['requests_per_s']:.2f} ({t[s][c]['audio_s_per_s']:.1f})"
                           for s in peer["sides"])
        foreign = max(x for s in peer["sides"] for x in t[s][c]["foreign_cores_rounds"])
        lines.append(f"| {c} | {cells} | {ratio:.2f} | {foreign:.2f} |")
    if "unseen" in peer:
        lines += ["", unseen_line(peer["unseen"]) + "."]
    lines += ["", "![against Piper's server](peer.png)"]
    return lines


def main() -> int:
    import cpu_meter
    import plots

    from common import RESULTS

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="two sentences, one round, concurrency 1 and 2: checks the sides, "
                             "not for decisions")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for peer.json/md/png")
    parser.add_argument("--patience", type=float, default=None,
                        help="seconds the run may wait for a quiet machine (default: 30 with "
                             "--quick, else 600)")
    args = parser.parse_args()
    sentences = SENTENCES[:2] if args.quick else SENTENCES
    concurrencies = (1, 2) if args.quick else (1, 2, 4, 8)
    rounds, throughput_rounds = (1, 1) if args.quick else (5, 3)
    cpu_meter.PATIENCE.left_s = (args.patience if args.patience is not None
                                 else 30 if args.quick else 600)
    args.out.mkdir(parents=True, exist_ok=True)
    baseline = PiperBaseline(*default_voice())
    with ExitStack() as stack:
        client = stack.enter_context(TTSClient(start_server(stack).grpc_url))
        peer = stack.enter_context(PiperHttpServer(Path(default_voice()[0]),
                                                   log_file=args.out / "piper_http.log"))
        result = three_sides(baseline, client, peer, rounds, throughput_rounds, concurrencies,
                             sentences)
    result["goals"] = peer_goals(result)
    print_peer(result)
    (args.out / "peer.json").write_text(json.dumps(result, indent=2) + "\n")
    plots.peer_chart(result, args.out / "peer.png")
    (args.out / "peer.md").write_text("\n".join(
        ["# tritontts against Piper's own server", ""]
        + [f"- {'met' if g['met'] else 'missed'}: {g['goal']}: {g['measured']}"
           for g in result["goals"]] + peer_markdown(result)) + "\n")
    print(f"wrote {args.out / 'peer.md'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
