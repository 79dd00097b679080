"""The realtime socket as a voice agent uses it: a simulated language model writes a reply at
30 tokens/s (words split into pieces, as tokenizers do) into 1, 4 and 8 sockets at once; each
reply is four sentences (PARAGRAPH_60_WORDS), flushed at its end. Reported, p50/p95:

- first audio: from sending the piece that ends the first sentence to its first audio byte;
- playback gaps: a listener that starts playing at the first byte and plays in real time hears
  silence the text did not ask for whenever the next audio arrives after the played audio ran
  out (pauses between sentences are audio, and count as audio);
- clear: a second reply is cleared once half a second of its audio has arrived; from sending
  `clear` to the last audio frame received before `cleared`;

and, in the same run at the same concurrency, the speech route's first byte for the whole first
sentence (POST /v1/audio/speech, pcm), so that the ratio against the goals is measured once.

    python benchmarks/realtime.py                  # starts its own Triton and gateway
    python benchmarks/realtime.py --rounds 2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import time
from contextlib import ExitStack
from dataclasses import dataclass, field

import httpx
from websockets.asyncio.client import connect

from tritontts_client import contract as c

from common import PARAGRAPH_60_WORDS, percentile, save, start_server
from gateway import start_gateway

TOKENS_PER_S = 30.0
PCM_RATE = 24000  # the socket's and the speech route's pcm: s16le mono
BYTES_PER_S = 2 * PCM_RATE
CLEAR_AFTER_S = 0.5  # of audio received before the barge-in
SETTLE_S = 1.0
GOALS = {"first_audio_ratio": 1.3, "gap_s_at_1": 0.0, "clear_p95_ms": 150.0}


def agent_tokens(text: str) -> list[str]:
    """Words with their leading space; words longer than five letters in two pieces."""
    pieces = []
    for word in re.findall(r"\s*\S+", text):
        core = word.strip()
        if len(core) > 5:
            cut = len(word) - len(core) // 2
            pieces += [word[:cut], word[cut:]]
        else:
            pieces.append(word)
    return pieces


FIRST_SENTENCE = PARAGRAPH_60_WORDS.split(". ")[0] + "."


@dataclass
class SocketRun:
    first_audio_s: float = 0.0
    gaps_s: list[float] = field(default_factory=list)
    clear_to_last_s: float = 0.0
    clear_to_marker_s: float = 0.0


async def feed(ws, pieces: list[str]) -> float:
    """Send the pieces at the agent's pace; returns when the first sentence's end was sent."""
    first_end = 0.0
    written = ""
    for piece in pieces:
        await ws.send(json.dumps({"type": c.RT_TEXT, "text": piece}))
        written += piece
        if not first_end and len(written.strip()) >= len(FIRST_SENTENCE):
            first_end = time.perf_counter()
        await asyncio.sleep(1 / TOKENS_PER_S)
    await ws.send(json.dumps({"type": c.RT_FLUSH}))
    return first_end


async def one_socket(url: str) -> SocketRun:
    run = SocketRun()
    pieces = agent_tokens(PARAGRAPH_60_WORDS)
    async with connect(url, max_size=None) as ws:
        await ws.recv()  # ready
        sender = asyncio.create_task(feed(ws, pieces))
        played_until = 0.0  # when the audio received so far will have been played
        first = 0.0
        while True:
            frame = await ws.recv()
            now = time.perf_counter()
            if isinstance(frame, bytes):
                if not first:
                    first = played_until = now
                elif now > played_until:
                    run.gaps_s.append(now - played_until)
                played_until = max(played_until, now) + len(frame) / BYTES_PER_S
                continue
            if json.loads(frame)["type"] == c.RT_FLUSHED:
                break
        run.first_audio_s = first - await sender
        # The barge-in: a second reply, cleared once some of its audio has come.
        sender = asyncio.create_task(feed(ws, pieces))
        received = 0
        last_audio = cleared_at = 0.0
        while True:
            frame = await ws.recv()
            now = time.perf_counter()
            if isinstance(frame, bytes):
                received += len(frame)
                last_audio = now
                if not cleared_at and received >= CLEAR_AFTER_S * BYTES_PER_S:
                    sender.cancel()
                    cleared_at = time.perf_counter()
                    await ws.send(json.dumps({"type": c.RT_CLEAR}))
                continue
            if json.loads(frame)["type"] == c.RT_CLEARED:
                run.clear_to_last_s = max(0.0, last_audio - cleared_at)
                run.clear_to_marker_s = now - cleared_at
                break
    return run


async def plain_first_byte(http: httpx.AsyncClient, url: str) -> float:
    started = time.perf_counter()
    async with http.stream("POST", url + c.SPEECH_ROUTE, json={
            "model": "tts-1", "voice": "alloy", "input": FIRST_SENTENCE,
            "response_format": "pcm"}) as response:
        response.raise_for_status()
        first = 0.0
        async for _ in response.aiter_bytes():
            first = first or time.perf_counter() - started
    return first


async def level(url: str, sockets: int, rounds: int) -> dict[str, object]:
    ws_url = url.replace("http://", "ws://") + c.REALTIME_ROUTE
    runs: list[SocketRun] = []
    plain: list[float] = []
    async with httpx.AsyncClient(timeout=300) as http:
        for _ in range(rounds):
            # A cleared stream's last window still runs in Triton for a moment: each side
            # starts on a settled server.
            await asyncio.sleep(SETTLE_S)
            runs += await asyncio.gather(*(one_socket(ws_url) for _ in range(sockets)))
            await asyncio.sleep(SETTLE_S)
            plain += await asyncio.gather(*(plain_first_byte(http, url)
                                            for _ in range(sockets)))
    first = [r.first_audio_s for r in runs]
    gap_totals = [sum(r.gaps_s) for r in runs]
    clears = [r.clear_to_last_s for r in runs]
    result = {
        "sockets": sockets, "samples": len(runs),
        "first_audio_ms": {"p50": 1000 * percentile(first, 50),
                           "p95": 1000 * percentile(first, 95)},
        "plain_first_byte_ms": {"p50": 1000 * percentile(plain, 50),
                                "p95": 1000 * percentile(plain, 95)},
        "gap_total_s": {"p50": percentile(gap_totals, 50), "p95": percentile(gap_totals, 95),
                        "max_single": max((g for r in runs for g in r.gaps_s), default=0.0),
                        "sockets_with_gaps": sum(1 for g in gap_totals if g > 0)},
        "clear_to_last_audio_ms": {"p50": 1000 * percentile(clears, 50),
                                   "p95": 1000 * percentile(clears, 95)},
        "clear_to_cleared_ms": {
            "p50": 1000 * percentile([r.clear_to_marker_s for r in runs], 50),
            "p95": 1000 * percentile([r.clear_to_marker_s for r in runs], 95)},
    }
    result["first_audio_ratio_p50"] = (result["first_audio_ms"]["p50"]
                                       / result["plain_first_byte_ms"]["p50"])
    return result


def report(results: list[dict]) -> None:
    print(f"\n{'sockets':>7} {'first audio p50/p95 ms':>23} {'plain p50/p95 ms':>17} "
          f"{'ratio':>6} {'gaps p50/p95 s':>15} {'max gap s':>9} {'clear p50/p95 ms':>17}")
    for r in results:
        f, p, g, k = (r["first_audio_ms"], r["plain_first_byte_ms"], r["gap_total_s"],
                      r["clear_to_last_audio_ms"])
        print(f"{r['sockets']:>7} {f['p50']:>11.0f} / {f['p95']:<9.0f} {p['p50']:>7.0f} / "
              f"{p['p95']:<7.0f} {r['first_audio_ratio_p50']:>6.2f} {g['p50']:>6.3f} / "
              f"{g['p95']:<6.3f} {g['max_single']:>9.3f} {k['p50']:>7.0f} / {k['p95']:<7.0f}")
    by = {r["sockets"]: r for r in results}
    print("\ngoals:")
    for n in (1, 4):
        if n in by:
            ratio = by[n]["first_audio_ratio_p50"]
            verdict = "met" if ratio <= GOALS["first_audio_ratio"] else "MISSED"
            print(f"  first audio p50 <= {GOALS['first_audio_ratio']}x the speech route at "
                  f"{n} socket(s): {ratio:.2f}x  {verdict}")
    if 1 in by:
        gaps = by[1]["gap_total_s"]["p95"]
        print(f"  no playback gap at 1 socket: p95 total {gaps:.3f} s  "
              f"{'met' if gaps <= GOALS['gap_s_at_1'] else 'MISSED'}")
    for r in results:
        p95 = r["clear_to_last_audio_ms"]["p95"]
        print(f"  clear to silence p95 <= {GOALS['clear_p95_ms']:.0f} ms at {r['sockets']} "
              f"socket(s): {p95:.0f} ms  {'met' if p95 <= GOALS['clear_p95_ms'] else 'MISSED'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--levels", default="1,4,8", help="sockets at once (default 1,4,8)")
    parser.add_argument("--rounds", type=int, default=0,
                        help="rounds per level (default: 8 at 1 socket, 3 at 4, 2 at 8)")
    args = parser.parse_args()
    levels = [int(n) for n in args.levels.split(",")]
    with ExitStack() as stack:
        server = start_server(stack)
        url = start_gateway(stack, server.grpc_url, "--concurrency", "64",
                            "--max-concurrency", "64")
        # One socket and one request first, so that no level pays for the first calls.
        asyncio.run(level(url, 1, 1))
        results = []
        for n in levels:
            rounds = args.rounds or {1: 8, 4: 3}.get(n, 2)
            results.append(asyncio.run(level(url, n, rounds)))
            print(json.dumps(results[-1]))
    save("realtime.json", {"tokens_per_s": TOKENS_PER_S, "text": PARAGRAPH_60_WORDS,
                           "levels": results})
    report(results)


if __name__ == "__main__":
    main()
