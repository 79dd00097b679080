"""Long-audio jobs end to end: the gateway's jobs API, `tritontts worker` processes, a real
redis-server, SeaweedFS's S3 gateway and a real tritonserver. Workers are killed with SIGKILL
and SIGTERM for real; every worker runs with noise_w 0, so a sentence's length is the same
however often and wherever it is rendered, and lengths can be compared to the sample."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import numpy as np
import pytest
import redis
import soundfile
from num2words import num2words

from tritontts.gateway.keystore import add_key
from tritontts.gateway.settings import ClientLimits, GatewaySettings
from tritontts.jobs.assemble import wav_with_sizes
from tritontts.jobs.chunks import split_job_text
from tritontts.jobs.leases import GlobalBudget, holder_id
from tritontts.jobs.settings import WorkerSettings
from tritontts.serving.server import TritonServer
from tritontts_client import TTSClient

from gateway_servers import running_gateway, running_redis
from jobs_servers import running_seaweedfs, running_worker

pytestmark = [pytest.mark.e2e, pytest.mark.redis, pytest.mark.s3]

BUCKET = "tts-jobs"
SENTENCE_PAUSE_S = 0.2
NUMBERS = [num2words(n) for n in range(1, 21)]
# Short sentences (the machine has two cores): 100 of them, all different.
SENTENCES = [f"Line {NUMBERS[i % 20]} of part {NUMBERS[i // 20]}." for i in range(100)]


def job_text(count: int) -> str:
    return " ".join(SENTENCES[:count])


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_redis(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    os.environ.update(AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test")
    try:
        with running_seaweedfs(tmp_path_factory.mktemp("seaweedfs")) as endpoint:
            yield endpoint, boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    keys_file = tmp_path_factory.mktemp("keys") / "keys.json"
    settings = GatewaySettings(keys_file=keys_file)
    roomy = ClientLimits("1000/second", ("100000000/minute",), 16)
    return keys_file, {name: asyncio.run(add_key(settings, name, limits=roomy))
                       for name in ("alice", "bob")}


@pytest.fixture(scope="module")
def store_args(s3: tuple[str, Any]) -> list[str]:
    return ["--s3-endpoint", s3[0], "--s3-bucket", BUCKET]


@pytest.fixture(scope="module")
def gateway(server: TritonServer, redis_url: str, keys: tuple[Path, dict[str, str]],
            store_args: list[str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_gateway(server.grpc_url, "--redis-url", redis_url, "--keys-file",
                         str(keys[0]), "--jobs", *store_args,
                         log=tmp_path_factory.mktemp("gateway") / "gateway.log") as url:
        yield url


@pytest.fixture(scope="module")
def reference(server: TritonServer) -> list[int]:
    """Samples of each sentence synthesized one by one (what a job must add up to)."""
    with TTSClient(server.grpc_url) as client:
        return [client.synthesize(s, noise_w=0.0).audio.size for s in SENTENCES]


@pytest.fixture
def worker_factory(server: TritonServer, redis_url: str, store_args: list[str],
                   tmp_path: Path) -> Iterator[Callable[..., Any]]:
    from contextlib import ExitStack

    with ExitStack() as stack:
        count = iter(range(100))

        def start(*extra: str, defaults: bool = False) -> Any:
            return stack.enter_context(running_worker(
                server.grpc_url, redis_url, store_args, tmp_path / f"worker{next(count)}.log",
                *extra, defaults=defaults))

        yield start


class Caller:
    def __init__(self, base: str, key: str) -> None:
        self.http = httpx.Client(base_url=base, headers={"authorization": f"Bearer {key}"},
                                 timeout=30)

    def submit(self, text: str, **fields: Any) -> httpx.Response:
        headers = fields.pop("headers", None)
        return self.http.post("/v1/audio/jobs", json={"input": text, **fields},
                              headers=headers)

    def job(self, job_id: str) -> httpx.Response:
        return self.http.get(f"/v1/audio/jobs/{job_id}")

    def wait(self, job_id: str, until: Callable[[dict[str, Any]], bool],
             timeout_s: float = 180) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while True:
            view = self.job(job_id).json()
            if until(view):
                return view
            assert view.get("status") not in ("failed",), view
            assert time.monotonic() < deadline, f"timed out waiting: {view}"
            time.sleep(0.1)


@pytest.fixture
def alice(gateway: str, keys: tuple[Path, dict[str, str]]) -> Caller:
    return Caller(gateway, keys[1]["alice"])


@pytest.fixture
def bob(gateway: str, keys: tuple[Path, dict[str, str]]) -> Caller:
    return Caller(gateway, keys[1]["bob"])


def succeeded(view: dict[str, Any]) -> bool:
    return view["status"] == "succeeded"


def expected_samples(reference: list[int], count: int, rate: int) -> int:
    return sum(reference[:count]) + (count - 1) * round(SENTENCE_PAUSE_S * rate)


def fetch_audio(view: dict[str, Any]) -> tuple[np.ndarray, int]:
    body = httpx.get(view["result"]["url"], timeout=30)
    assert body.status_code == 200, body.text
    audio, rate = soundfile.read(io.BytesIO(body.content), dtype="float32")
    return audio, rate


def job_objects(s3: tuple[str, Any], job_id: str) -> list[str]:
    listing = s3[1].list_objects_v2(Bucket=BUCKET, Prefix=f"jobs/{job_id}/")
    return [item["Key"] for item in listing.get("Contents", [])]


def wait_logged(worker: Any, text: str, timeout_s: float = 30) -> str:
    """The worker's log once it holds `text`: a worker logs a job's outcome after cleaning up
    its chunks, a moment after the job reads as succeeded."""
    deadline = time.monotonic() + timeout_s
    while text not in (log := worker.text()):
        assert time.monotonic() < deadline, log[-3000:]
        time.sleep(0.1)
    return log


# --- unit checks ------------------------------------------------------------------------------


def test_chunks_are_sentences_with_their_pauses() -> None:
    chunks = split_job_text("One here. Two here.\n\nThree here.", max_chunk_chars=100,
                            sentence_pause_s=0.2, paragraph_pause_s=0.6)
    assert [(c.text, c.pause_after_s) for c in chunks] == [
        ("One here.", 0.2), ("Two here.", 0.6), ("Three here.", 0.0)]
    ssml = split_job_text('<speak><p><s>A one.</s><s>B two.</s></p>Tail. <break time="1s"/> '
                          'end.</speak>', max_chunk_chars=100, sentence_pause_s=0.2,
                          paragraph_pause_s=0.6)
    assert [c.text for c in ssml] == ["<speak><s>A one.</s></speak>",
                                      "<speak><s>B two.</s></speak>",
                                      '<speak>Tail. <break time="1s" /> end.</speak>']
    assert [c.pause_after_s for c in ssml] == [0.2, 0.6, 0.0]


def test_wav_header_gets_real_sizes() -> None:
    from tritontts_client.audio import AudioEncoder

    encoder = AudioEncoder("wav", 22050, streaming=True)
    data = encoder.encode(np.zeros(22050, dtype=np.float32)) + encoder.finish()
    fixed = wav_with_sizes(data[:100], len(data)) + data[100:]
    audio, rate = soundfile.read(io.BytesIO(fixed))
    assert rate == 22050 and audio.size == 22050


def test_g711_wav_header_gets_real_sizes() -> None:
    from tritontts_client.audio import AudioEncoder

    encoder = AudioEncoder("mulaw_wav", 22050, streaming=True)
    data = encoder.encode(np.zeros(22050, dtype=np.float32)) + encoder.finish()
    fixed = wav_with_sizes(data[:100], len(data)) + data[100:]
    info = soundfile.info(io.BytesIO(fixed))
    assert (info.samplerate, info.frames, info.subtype) == (8000, 8000, "ULAW")


# --- end to end -------------------------------------------------------------------------------


def test_hundred_sentence_job_duration_and_offsets(alice: Caller, worker_factory: Any,
                                                   reference: list[int],
                                                   s3: tuple[str, Any]) -> None:
    response = alice.submit(job_text(100), response_format="wav")
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["status"] == "queued" and job["progress"]["chunks_total"] == 100
    assert job["url"].endswith(f"/v1/audio/jobs/{job['id']}")
    worker_factory()
    started = time.monotonic()
    view = alice.wait(job["id"], succeeded)
    print(f"100-sentence job: {time.monotonic() - started:.1f} s to render "
          f"{view['result']['duration_s']:.1f} s of audio")
    audio, rate = fetch_audio(view)
    one_by_one = sum(reference) / rate
    pauses = 99 * SENTENCE_PAUSE_S
    duration = audio.size / rate
    # Within 5% of the sentences one by one (plus the sentence pauses the job puts between
    # them, as one long request would); in fact equal to the sample.
    assert abs(duration - (one_by_one + pauses)) <= 0.05 * (one_by_one + pauses)
    assert audio.size == expected_samples(reference, 100, rate)
    offsets = [s["offset_s"] for s in view["sentences"]]
    lengths = [s["duration_s"] for s in view["sentences"]]
    assert len(offsets) == 100
    expected_offsets = np.concatenate([[0], np.cumsum(
        np.array(reference[:-1]) + round(SENTENCE_PAUSE_S * rate))]) / rate
    assert np.allclose(offsets, expected_offsets, atol=1e-5)
    assert np.allclose(lengths, np.array(reference) / rate, atol=1e-5)
    # Each sentence is where the offsets say: speech inside it, silence in the pause after.
    for start, length in zip(offsets[:5], lengths[:5], strict=True):
        a, b = int(start * rate), int((start + length) * rate)
        assert np.sqrt(np.mean(audio[a:b] ** 2)) > 0.01
        pause = audio[b + 50:b + round(SENTENCE_PAUSE_S * rate) - 50]
        assert np.abs(pause).max() < 1e-3
    # Uploaded with multipart upload; only the result is left (the chunks are removed).
    head = s3[1].head_object(Bucket=BUCKET, Key=f"jobs/{job['id']}/audio.wav")
    assert "-" in head["ETag"], head["ETag"]
    assert job_objects(s3, job["id"]) == [f"jobs/{job['id']}/audio.wav"]
    rule = s3[1].get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"][0]
    assert rule["Filter"]["Prefix"] == "jobs/" and rule["Expiration"]["Days"] == 7


def test_sigkill_worker_job_is_finished_by_another(alice: Caller, worker_factory: Any,
                                                   reference: list[int]) -> None:
    job = alice.submit(job_text(40), response_format="wav").json()
    first = worker_factory()
    alice.wait(job["id"], lambda v: v["progress"]["chunks_done"] >= 6, timeout_s=120)
    first.kill_group()
    killed_at = time.monotonic()
    first.wait(10)
    done_at_kill = alice.job(job["id"]).json()["progress"]["chunks_done"]
    assert done_at_kill < 40, "the worker finished before it was killed"
    second = worker_factory()
    alice.wait(job["id"], lambda v: v["progress"]["chunks_done"] > done_at_kill, timeout_s=60)
    print(f"\nworker SIGKILL (lease 3 s): its job's next chunk "
          f"{time.monotonic() - killed_at:.1f} s after the kill, from another worker")
    view = alice.wait(job["id"], succeeded, timeout_s=180)
    audio, rate = fetch_audio(view)
    # No chunk missing or doubled: the samples add up exactly to the 40 sentences.
    assert audio.size == expected_samples(reference, 40, rate)
    assert view["attempts"] >= 2
    log = wait_logged(second, f"{job['id']} succeeded (")
    rendered = int(log.split(f"{job['id']} succeeded (")[1].split(" chunks")[0])
    assert rendered <= 40 - done_at_kill + 4, (rendered, done_at_kill)  # +4 in flight


def wait_for_holders(budget: GlobalBudget, holders: list[str], failure: str,
                     timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while budget.holders() != holders:
        assert time.monotonic() < deadline, failure
        time.sleep(0.002)


def test_sigkill_of_a_worker_holding_the_whole_budget_stalls_others_one_lease_at_most(
        alice: Caller, bob: Caller, worker_factory: Any, redis_url: str) -> None:
    """With the settings users get (lease 30 s, budget 4 = chunks at once): a worker that
    holds every slot of the cluster-wide Triton budget is SIGKILLed (its process group), and
    another worker's job renders its next chunk within one lease (+15 s)."""
    defaults = WorkerSettings()
    budget = GlobalBudget(redis.Redis.from_url(redis_url), defaults.global_budget,
                          defaults.lease_s)
    deadline = time.monotonic() + defaults.lease_s + 5  # an earlier test's killed worker
    while budget.in_use():
        assert time.monotonic() < deadline, budget.holders()
        time.sleep(0.2)
    hog_job = alice.submit(" ".join(SENTENCES * 2), response_format="wav").json()
    hog = worker_factory(defaults=True)
    hog_holds = [holder_id(hog.pid)] * defaults.global_budget
    # Alone, the first worker takes every slot; it is killed at a moment it holds them all
    # (waiting for that moment while another worker competes for the slots was a race that
    # a fast run could lose). The other job then needs a slot to render at all.
    wait_for_holders(budget, hog_holds, "the first worker never held every slot")
    hog.kill_group()
    killed_at = time.monotonic()
    assert budget.holders() == hog_holds  # nobody took a slot between look and kill
    other_job = bob.submit(job_text(20), response_format="wav").json()
    other = worker_factory(defaults=True)
    try:
        hog.wait(10)
        view = bob.wait(other_job["id"], lambda v: v["progress"]["chunks_done"] >= 1,
                        timeout_s=240)
        stalled_s = time.monotonic() - killed_at
        print(f"\nworker SIGKILL holding {defaults.global_budget} of "
              f"{defaults.global_budget} slots: the other worker's next chunk "
              f"{stalled_s:.1f} s after the kill (lease {defaults.lease_s:.0f} s)")
        assert other.process.poll() is None
        assert view["progress"]["chunks_done"] >= 1
        assert stalled_s <= defaults.lease_s + 15, stalled_s
    finally:
        for job, caller in ((hog_job, alice), (other_job, bob)):
            caller.http.delete(f"/v1/audio/jobs/{job['id']}")


def test_sigterm_checkpoints_and_hands_back(alice: Caller, worker_factory: Any,
                                            reference: list[int]) -> None:
    job = alice.submit(job_text(40), response_format="wav").json()
    first = worker_factory()
    alice.wait(job["id"], lambda v: v["progress"]["chunks_done"] >= 4, timeout_s=120)
    first.signal(signal.SIGTERM)
    assert first.wait(30) == 0
    view = alice.job(job["id"]).json()
    assert view["status"] == "queued", view
    done = view["progress"]["chunks_done"]
    assert 4 <= done < 40
    assert f"handed {job['id']} back after {done} chunks" in first.text()
    second = worker_factory()
    view = alice.wait(job["id"], succeeded, timeout_s=180)
    audio, rate = fetch_audio(view)
    assert audio.size == expected_samples(reference, 40, rate)
    wait_logged(second, f"{job['id']} succeeded ({40 - done} chunks rendered here)")


def test_same_idempotency_key_same_job(alice: Caller, bob: Caller) -> None:
    first = alice.submit("Once only, please.", headers={"idempotency-key": "order-17"})
    again = alice.submit("Once only, please.", headers={"idempotency-key": "order-17"})
    in_body = alice.submit("Once only, please.", idempotency_key="order-17")
    other = alice.submit("Once only, please.", idempotency_key="order-18")
    assert first.status_code == 202 and again.status_code == 200
    assert first.json()["id"] == again.json()["id"] == in_body.json()["id"]
    assert other.json()["id"] != first.json()["id"]
    # Keys are per caller: bob's "order-17" is his own job.
    assert bob.submit("Once only, please.", idempotency_key="order-17").json()["id"] \
        != first.json()["id"]


def test_cancel_stops_the_worker_and_removes_audio(alice: Caller, worker_factory: Any,
                                                   s3: tuple[str, Any]) -> None:
    job = alice.submit(job_text(60), response_format="wav").json()
    worker = worker_factory()
    alice.wait(job["id"], lambda v: v["progress"]["chunks_done"] >= 2, timeout_s=120)
    deleted = alice.http.delete(f"/v1/audio/jobs/{job['id']}")
    assert deleted.status_code == 200 and deleted.json()["status"] == "cancelled"
    deadline = time.monotonic() + 30
    while f"{job['id']} cancelled" not in worker.text():
        assert time.monotonic() < deadline, worker.text()
        time.sleep(0.2)
    view = alice.job(job["id"]).json()
    assert view["status"] == "cancelled" and view["result"] is None
    assert view["progress"]["chunks_done"] < 60
    assert job_objects(s3, job["id"]) == []
    # A finished job's DELETE removes it.
    queued = alice.submit("Gone soon.").json()
    assert alice.http.delete(f"/v1/audio/jobs/{queued['id']}").status_code == 200


def test_results_expire(server: TritonServer, redis_url: str, store_args: list[str],
                        alice: Caller, s3: tuple[str, Any], tmp_path: Path) -> None:
    job = alice.submit("Short lived. Very short.", response_format="mp3").json()
    with running_worker(server.grpc_url, redis_url, store_args, tmp_path / "w.log",
                        "--result-ttl", "2"):
        view = alice.wait(job["id"], succeeded, timeout_s=120)
        assert job_objects(s3, job["id"]) == [f"jobs/{job['id']}/audio.mp3"]
        assert view["expires_at"] - view["finished_at"] == pytest.approx(2, abs=0.01)
        deadline = time.monotonic() + 20
        while alice.job(job["id"]).status_code != 404:
            assert time.monotonic() < deadline
            time.sleep(0.2)
    assert job_objects(s3, job["id"]) == []


def test_another_key_cannot_see_the_job(alice: Caller, bob: Caller) -> None:
    job = alice.submit("Alice's words only.").json()
    assert alice.job(job["id"]).status_code == 200
    for response in (bob.job(job["id"]), bob.http.get(f"/v1/audio/jobs/{job['id']}/audio"),
                     bob.http.delete(f"/v1/audio/jobs/{job['id']}")):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "job_not_found"
    assert job["id"] not in [j["id"] for j in bob.http.get("/v1/audio/jobs").json()["data"]]
    page = alice.http.get("/v1/audio/jobs", params={"limit": 1}).json()
    assert page["data"][0]["id"] == job["id"] and page["has_more"] is True
    assert httpx.get(alice.http.base_url.join(f"/v1/audio/jobs/{job['id']}")).status_code == 401


@pytest.mark.parametrize(("body", "code"), [
    ({"input": ""}, "invalid_value"),
    ({"input": "   \n "}, "invalid_input"),
    ({"input": "x" * ((1 << 20) + 1)}, "string_above_max_length"),
    ({"input": "<speak><p>Unclosed paragraph.</speak>"}, "invalid_input"),
    ({"input": "<speak><blink>no</blink></speak>"}, "invalid_input"),
    ({"input": "Fine.", "speed": 9}, "invalid_value"),
    ({"input": "Fine.", "colour": "blue"}, "unknown_parameter"),
    ({"input": "Fine.", "description": "a warm voice"}, "unsupported_parameter"),
    ({"input": "Fine.", "response_format": "mulaw", "sample_rate": 16000},
     "unsupported_sample_rate"),
    ({"input": "Fine.", "response_format": "pcm", "sample_rate": 22050}, "invalid_value"),
])
def test_bad_jobs_are_refused_at_submit(alice: Caller, body: dict[str, Any], code: str) -> None:
    response = alice.http.post("/v1/audio/jobs", json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == code and error["message"]


def test_local_directory_store_serves_the_result_to_its_key_only(
        server: TritonServer, redis_url: str, keys: tuple[Path, dict[str, str]],
        reference: list[int], tmp_path: Path) -> None:
    """Without S3 the result lives in a folder and the gateway serves it itself (the embedded
    default): to the key that owns the job, not to another."""
    store = ["--jobs-dir", str(tmp_path / "results")]
    with running_gateway(server.grpc_url, "--redis-url", redis_url, "--keys-file", str(keys[0]),
                         "--jobs", *store, log=tmp_path / "gateway.log") as base, \
            running_worker(server.grpc_url, redis_url, store, tmp_path / "worker.log"):
        alice, bob = Caller(base, keys[1]["alice"]), Caller(base, keys[1]["bob"])
        job = alice.submit(job_text(3), response_format="wav").json()
        view = alice.wait(job["id"], succeeded)
        assert view["result"]["url"].endswith(f"/v1/audio/jobs/{job['id']}/audio")
        served = alice.http.get(view["result"]["url"])
        assert served.status_code == 200, served.text
        audio, rate = soundfile.read(io.BytesIO(served.content), dtype="float32")
        assert audio.size == expected_samples(reference, 3, rate)
        assert bob.http.get(view["result"]["url"]).status_code == 404
        assert list((tmp_path / "results").rglob("audio.wav")), "the result is in the folder"


def test_a_job_in_mulaw_is_8khz_phone_audio(server: TritonServer, alice: Caller,
                                            worker_factory: Any, s3: tuple[str, Any]) -> None:
    """Raw G.711 μ-law from a job: 8 kHz, as long as its sentences and pauses, stored with
    RTP's media type and FFmpeg's extension."""
    import av

    with TTSClient(server.grpc_url) as client:
        samples = [client.synthesize(s, noise_w=0.0).audio.size for s in SENTENCES[:3]]
    worker_factory()
    job = alice.submit(job_text(3), response_format="mulaw").json()
    view = alice.wait(job["id"], succeeded)
    assert (view["result"]["format"], view["result"]["sample_rate"]) == ("mulaw", 8000)
    assert f"jobs/{job['id']}/audio.ul" in job_objects(s3, job["id"])
    body = httpx.get(view["result"]["url"], timeout=30)
    assert body.status_code == 200 and body.headers["content-type"] == "audio/PCMU"
    with av.open(io.BytesIO(body.content), format="mulaw",
                 options={"sample_rate": "8000"}) as container:
        stream = container.streams.audio[0]
        audio = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(stream)])
        assert stream.codec_context.name == "pcm_mulaw"
    assert len(body.content) == audio.size  # one byte a sample
    voice_samples = sum(samples) + 2 * round(SENTENCE_PAUSE_S * 22050)
    assert audio.size == pytest.approx(voice_samples * 8000 / 22050, abs=2)
    assert view["result"]["duration_s"] == pytest.approx(voice_samples / 22050, abs=1e-3)
    assert np.abs(audio).max() > 3000, "speech, not silence"
