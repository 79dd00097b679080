"""Real-time latency while a long-audio job renders: p95 of short speech requests through the
gateway with no job, with a job whose worker sends its chunks at the real-time level
(`--priority 0`), and with the worker at the batch level (the default,
contract.BATCH_PRIORITY), on one Triton, Redis and gateway started here. Writes
results/jobs_priority.json."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import httpx

from tritontts_client.contract import JOBS_ROUTE, SPEECH_ROUTE

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from common import SENTENCES, percentile, save, start_server
from gateway_servers import running_gateway, running_redis
from jobs_servers import running_worker


def speech_latency(http: httpx.Client, text: str) -> float:
    started = time.perf_counter()
    response = http.post(SPEECH_ROUTE, json={"model": "tts-1", "voice": "alloy",
                                                    "input": text, "response_format": "pcm"})
    response.raise_for_status()
    return time.perf_counter() - started


def measure(http: httpx.Client, requests: int, pause_s: float) -> list[float]:
    values = []
    for i in range(requests):
        values.append(speech_latency(http, SENTENCES[i % len(SENTENCES)]))
        time.sleep(pause_s)
    return values


def summary(values: list[float]) -> dict[str, float]:
    return {"requests": len(values), "p50_ms": round(percentile(values, 50) * 1e3, 1),
            "p95_ms": round(percentile(values, 95) * 1e3, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--pause", type=float, default=0.25,
                        help="seconds between real-time requests (default 0.25)")
    parser.add_argument("--job-sentences", type=int, default=400)
    args = parser.parse_args()
    job_text = " ".join((SENTENCES * (args.job_sentences // len(SENTENCES) + 1))
                        [:args.job_sentences])
    results: dict[str, object] = {"note": "shared 2-core machine; figures vary run to run"}
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        server = start_server(stack)
        redis_url = stack.enter_context(running_redis(work / "redis"))
        store = ["--jobs-dir", str(work / "jobs")]
        url = stack.enter_context(running_gateway(
            server.grpc_url, "--redis-url", redis_url, "--jobs", *store, "--noise-w", "0",
            "--no-cache", "--rate", "1000/second", "--characters", "100000000/minute",
            log=work / "gateway.log"))
        http = stack.enter_context(httpx.Client(base_url=url, timeout=60))
        measure(http, 4, 0)  # warm up
        results["no_job"] = summary(measure(http, args.requests, args.pause))
        print("no job:", results["no_job"], file=sys.stderr)
        for label, priority in (("job_same_priority", "0"), ("job_batch_priority", "2")):
            job = http.post(JOBS_ROUTE, json={"input": job_text,
                                                    "response_format": "mp3"}).json()
            with running_worker(server.grpc_url, redis_url, store, work / f"{label}.log",
                                "--priority", priority):
                while http.get(f"{JOBS_ROUTE}/{job['id']}").json()["progress"][
                        "chunks_done"] < 4:
                    time.sleep(0.1)
                values = measure(http, args.requests, args.pause)
                view = http.get(f"{JOBS_ROUTE}/{job['id']}").json()
                assert view["status"] == "running", "the job ended during the measurement"
                http.delete(f"{JOBS_ROUTE}/{job['id']}")
            results[label] = summary(values)
            print(f"{label}:", results[label], file=sys.stderr)
    save("jobs_priority.json", results)
    print(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
