"""Removing what has outlived its time to live: the result and any chunks in the store, and
the job's records in Redis. Every worker runs it now and then; any store works (the S3
lifecycle rule is only a day-granular backstop)."""

from __future__ import annotations

import logging
import time

from tritontts.jobs.records import JobBook
from tritontts.jobs.store import ResultStore, job_prefix

log = logging.getLogger(__name__)


def sweep(book: JobBook, store: ResultStore, now: float | None = None) -> list[str]:
    """Remove every job whose expiry has passed; returns their ids."""
    removed = []
    for job_id in book.due(time.time() if now is None else now):
        objects = store.delete_prefix(job_prefix(job_id))
        book.remove(job_id)
        removed.append(job_id)
        log.info("sweeper: %s expired (%d objects removed)", job_id, objects)
    return removed
