"""One job, as a worker renders it: take the job's lease, send its remaining chunks to Triton
a few at a time (at the batch priority, within the global budget), store each chunk's audio
under its own key and record it (the checkpoint), then join, encode and upload the result.

A job that is cancelled stops before its next chunk; a worker that is told to stop (SIGTERM)
lets the chunks in flight finish, records them and hands the job back to the queue.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tritontts.jobs.assemble import assemble
from tritontts.jobs.chunks import Chunk
from tritontts.jobs.leases import GlobalBudget, JobLease
from tritontts.jobs.queue import enqueue
from tritontts.jobs.records import FINAL, Job, JobBook
from tritontts.jobs.settings import JobSettings
from tritontts.jobs.store import ResultStore, chunk_key, job_prefix
from tritontts_client import InvalidRequestError, TTSClient, TTSError

log = logging.getLogger(__name__)


class ChunkRefusedError(Exception):
    """Triton refused a chunk as invalid: retrying cannot help, the job fails."""


class ChunkFailedError(Exception):
    """A chunk kept failing through its retries."""


@dataclass
class Outcome:
    job_id: str
    result: str  # succeeded / cancelled / handed_back / leased_elsewhere / skipped / failed
    chunks_rendered: list[int] = field(default_factory=list)


class JobRunner:
    def __init__(self, settings: JobSettings, book: JobBook, store: ResultStore, broker: Any,
                 client: TTSClient, budget: GlobalBudget, stopping: threading.Event) -> None:
        self.settings, self.book, self.store, self.broker = settings, book, store, broker
        self.client, self.budget, self.stopping = client, budget, stopping
        # Leases of the jobs this process works on, renewed by the worker's heartbeat.
        self.leases: dict[str, JobLease] = {}
        self._leases_lock = threading.Lock()

    def renew_leases(self) -> None:
        with self._leases_lock:
            leases = list(self.leases.values())
        for lease in leases:
            if not lease.renew():
                log.warning("worker: lost the lease on %s", lease.key)

    def run(self, job_id: str, final_attempt: bool) -> Outcome:
        job = self.book.get(job_id)
        if job is None or job.status in FINAL:
            return Outcome(job_id, "skipped")
        lease = JobLease(self.book.redis, job_id, self.settings.worker.lease_s)
        if not lease.acquire():
            # Another worker holds it: alive, it finishes the job and this message finds it
            # done; dead, its lease runs out and this message takes the job over then.
            enqueue(self.broker, job_id, delay_ms=lease.remaining_ms() + 250)
            return Outcome(job_id, "leased_elsewhere")
        with self._leases_lock:
            self.leases[job_id] = lease
        try:
            if not self.book.start(job_id):
                return Outcome(job_id, "skipped")
            try:
                return self._render(job)
            except ChunkRefusedError as exc:
                self._fail(job_id, str(exc))
                return Outcome(job_id, "failed")
            except Exception as exc:
                if final_attempt:
                    self._fail(job_id, f"{type(exc).__name__}: {exc}")
                    return Outcome(job_id, "failed")
                self.book.hand_back(job_id)
                raise  # dramatiq retries the job later, with backoff
        finally:
            with self._leases_lock:
                self.leases.pop(job_id, None)
            lease.release()

    def _fail(self, job_id: str, reason: str) -> None:
        log.warning("worker: job %s failed: %s", job_id, reason)
        self.book.fail(job_id, reason, self.settings.result_ttl_s)
        self.store.delete_prefix(job_prefix(job_id) + "chunks/")

    def _render(self, job: Job) -> Outcome:
        chunks = self.book.chunks(job.id)
        done = self.book.done(job.id)
        todo = iter([i for i in range(len(chunks)) if i not in done])
        outcome = Outcome(job.id, "succeeded")
        width = max(1, self.settings.worker.chunks_at_once)
        stop: str | None = None
        error: BaseException | None = None
        with ThreadPoolExecutor(width, thread_name_prefix=f"chunks-{job.id}") as pool:
            pending: dict[Future[None], int] = {}
            while True:
                while len(pending) < width and stop is None and error is None:
                    if self.stopping.is_set():
                        stop = "handed_back"
                    elif self.book.status(job.id) == "cancelled":
                        stop = "cancelled"
                    elif (index := next(todo, None)) is not None:
                        pending[pool.submit(self._chunk, job, index, chunks[index])] = index
                        continue
                    break
                if not pending:
                    break
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    index = pending.pop(future)
                    try:
                        future.result()
                        outcome.chunks_rendered.append(index)
                    except BaseException as exc:  # the chunks in flight still finish
                        error = error or exc
        if error is not None:
            raise error
        if stop == "cancelled" or self.book.status(job.id) == "cancelled":
            self.store.delete_prefix(job_prefix(job.id))
            outcome.result = "cancelled"
            return outcome
        if stop == "handed_back":
            # Everything rendered so far is recorded; the next worker starts after it.
            self.book.hand_back(job.id)
            enqueue(self.broker, job.id)
            log.info("worker: handed %s back after %d chunks", job.id,
                     len(self.book.done(job.id)))
            outcome.result = "handed_back"
            return outcome
        self._finish(job, chunks)
        return outcome

    def _chunk(self, job: Job, index: int, chunk: Chunk) -> None:
        worker = self.settings.worker
        last: Exception | None = None
        for attempt in range(worker.chunk_retries + 1):
            if attempt:
                time.sleep(worker.chunk_backoff_s * 2 ** (attempt - 1) * random.uniform(0.5, 1))
            with self.budget.slot() as _:
                try:
                    synthesis = self.client.synthesize(
                        chunk.text, speed=job.options.speed, voice=job.options.voice,
                        noise_scale=worker.noise_scale, noise_w=worker.noise_w,
                        deadline_s=worker.chunk_deadline_s, priority=worker.priority)
                except InvalidRequestError as exc:
                    raise ChunkRefusedError(f"chunk {index} was refused: {exc}") from None
                except TTSError as exc:
                    last = exc
                    log.warning("worker: %s chunk %d, attempt %d: %s", job.id, index,
                                attempt + 1, exc)
                    continue
            audio = np.asarray(synthesis.audio, dtype=np.float32).reshape(-1)
            self.store.put(chunk_key(job.id, index), audio.tobytes())
            self.book.record_chunk(job.id, index, audio.size, synthesis.sample_rate)
            return
        raise ChunkFailedError(f"chunk {index} failed {worker.chunk_retries + 1} times: {last}")

    def _finish(self, job: Job, chunks: list[Chunk]) -> None:
        done = self.book.done(job.id)
        missing = [i for i in range(len(chunks)) if i not in done]
        if missing:
            raise ChunkFailedError(f"chunks {missing[:10]} are not recorded")
        voice_rate = self.book.voice_rate(job.id)
        result = assemble(self.store, job.id, chunks, voice_rate, job.options.response_format,
                          job.options.sample_rate, self.settings.store.part_bytes)
        if not self.book.succeed(job.id, self.settings.result_ttl_s, result_key=result.key,
                                 result_bytes=result.size, sample_rate=result.sample_rate,
                                 duration_s=result.duration_s,
                                 offsets=json.dumps(result.offsets)):
            self.store.delete_prefix(job_prefix(job.id))  # cancelled while it was encoded
            return
        self.store.delete_prefix(job_prefix(job.id) + "chunks/")
        log.info("worker: %s done: %d chunks, %.1f s of audio, %d bytes in %d parts", job.id,
                 len(chunks), result.duration_s, result.size, result.parts)
