"""Where a job's audio lives: chunks under deterministic keys while it runs, then the encoded
result, uploaded in parts as it is encoded. S3-compatible storage through boto3 (multipart
upload, presigned GET, a lifecycle rule), or a local directory as the embedded default."""

from __future__ import annotations

import math
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol

from tritontts.jobs.settings import StoreSettings
from tritontts_client.contract import JOBS_STORE_PREFIX


def job_prefix(job_id: str) -> str:
    return f"{JOBS_STORE_PREFIX}{job_id}/"


def chunk_key(job_id: str, index: int) -> str:
    """The same chunk always lands on the same key: a repeated chunk (a job taken over after
    its worker died) overwrites itself instead of adding audio."""
    return f"{job_prefix(job_id)}chunks/{index:06d}.f32"


def result_key(job_id: str, extension: str) -> str:
    return f"{job_prefix(job_id)}audio{extension}"


class ResultStore(Protocol):
    def put(self, key: str, data: bytes) -> None: ...
    def get(self, key: str) -> bytes: ...
    def exists(self, key: str) -> bool: ...
    def upload_parts(self, key: str, parts: Iterable[bytes], content_type: str,
                     first_part: Any = None) -> int: ...
    def delete_prefix(self, prefix: str) -> int: ...
    def url(self, key: str, expires_s: int) -> str | None: ...
    def size(self, key: str) -> int | None: ...


class PartBuffer:
    """Encoded bytes in, upload parts of at least `part_bytes` out (the last may be short)."""

    def __init__(self, part_bytes: int) -> None:
        self.part_bytes = part_bytes
        self._pending = bytearray()

    def add(self, data: bytes) -> Iterator[bytes]:
        self._pending += data
        while len(self._pending) >= self.part_bytes:
            yield bytes(self._pending[:self.part_bytes])
            del self._pending[:self.part_bytes]

    def rest(self) -> Iterator[bytes]:
        if self._pending:
            yield bytes(self._pending)
            self._pending.clear()


class LocalStore:
    """Files under a directory; `url` is None (the gateway serves the file itself, to the
    key that owns the job)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError(f"key {key!r} leaves the store")
        return path

    def put(self, key: str, data: bytes) -> None:
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(path.name + ".part")
        temporary.write_bytes(data)
        temporary.replace(path)  # a reader never sees half a chunk

    def get(self, key: str) -> bytes:
        return self.path(key).read_bytes()

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def size(self, key: str) -> int | None:
        path = self.path(key)
        return path.stat().st_size if path.is_file() else None

    def upload_parts(self, key: str, parts: Iterable[bytes], content_type: str,
                     first_part: Any = None) -> int:
        """Write the parts in order; `first_part(bytes) -> bytes` may rewrite the first part
        once all are written (a wav header's sizes). Returns how many parts there were."""
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(path.name + ".part")
        count = 0
        first = b""
        with open(temporary, "wb") as sink:
            for part in parts:
                if count == 0:
                    first = part
                sink.write(part)
                count += 1
            if first_part is not None and first:
                sink.seek(0)
                sink.write(first_part(first))
        temporary.replace(path)
        return count

    def delete_prefix(self, prefix: str) -> int:
        path = self.path(prefix)
        if not path.exists():
            return 0
        count = sum(1 for p in path.rglob("*") if p.is_file())
        shutil.rmtree(path)
        return count

    def url(self, key: str, expires_s: int) -> str | None:
        return None


class S3Store:
    """An S3-compatible bucket (AWS, MinIO, SeaweedFS, ...) through boto3."""

    def __init__(self, settings: StoreSettings) -> None:
        import boto3
        from botocore.config import Config

        if not settings.s3_bucket:
            raise ValueError("an S3 store needs a bucket")
        self.settings = settings
        self.bucket = settings.s3_bucket
        self.client = boto3.client(
            "s3", endpoint_url=settings.s3_endpoint, region_name=settings.s3_region,
            aws_access_key_id=settings.s3_access_key,
            aws_secret_access_key=settings.s3_secret_key,
            # Path-style addressing: what self-hosted stores answer on a bare host:port.
            config=Config(s3={"addressing_style": "path"}, signature_version="s3v4",
                          retries={"max_attempts": 5, "mode": "standard"}))

    def ensure_bucket(self, ttl_s: int | None = None) -> None:
        from botocore.exceptions import ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError:
            self.client.create_bucket(Bucket=self.bucket)
        if ttl_s and self.settings.lifecycle_rule:
            self.put_lifecycle(ttl_s)

    def put_lifecycle(self, ttl_s: int) -> None:
        """Objects under the jobs prefix expire a day-rounded TTL after they were written,
        even if no sweeper runs (the sweeper removes them at the exact TTL)."""
        days = max(1, math.ceil(ttl_s / 86400))
        self.client.put_bucket_lifecycle_configuration(
            Bucket=self.bucket,
            LifecycleConfiguration={"Rules": [{
                "ID": "tritontts-job-results", "Status": "Enabled",
                "Filter": {"Prefix": JOBS_STORE_PREFIX}, "Expiration": {"Days": days}}]})

    def put(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data)

    def get(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def size(self, key: str) -> int | None:
        from botocore.exceptions import ClientError

        try:
            return int(self.client.head_object(Bucket=self.bucket, Key=key)["ContentLength"])
        except ClientError:
            return None

    def exists(self, key: str) -> bool:
        return self.size(key) is not None

    def upload_parts(self, key: str, parts: Iterable[bytes], content_type: str,
                     first_part: Any = None) -> int:
        """Multipart upload as the parts are made. With `first_part`, part 1 is held back
        and uploaded last, rewritten (S3 assembles parts by number, not arrival)."""
        upload = self.client.create_multipart_upload(Bucket=self.bucket, Key=key,
                                                     ContentType=content_type)
        upload_id = upload["UploadId"]
        done: list[dict[str, Any]] = []
        held: bytes | None = None
        try:
            for number, part in enumerate(parts, start=1):
                if number == 1 and first_part is not None:
                    held = part
                    continue
                done.append(self._part(key, upload_id, number, part))
            if held is not None:
                done.insert(0, self._part(key, upload_id, 1, first_part(held)))
            if not done:  # nothing encoded: still a (empty) object
                done.append(self._part(key, upload_id, 1, b""))
            self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload_id,
                MultipartUpload={"Parts": done})
        except BaseException:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            raise
        return len(done)

    def _part(self, key: str, upload_id: str, number: int, data: bytes) -> dict[str, Any]:
        answer = self.client.upload_part(Bucket=self.bucket, Key=key, UploadId=upload_id,
                                         PartNumber=number, Body=data)
        return {"PartNumber": number, "ETag": answer["ETag"]}

    def delete_prefix(self, prefix: str) -> int:
        count = 0
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if keys:
                self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": keys})
                count += len(keys)
        return count

    def url(self, key: str, expires_s: int) -> str | None:
        return self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key},
            ExpiresIn=max(1, int(expires_s)))


def open_store(settings: StoreSettings) -> LocalStore | S3Store:
    if settings.is_s3:
        return S3Store(settings)
    return LocalStore(settings.local_dir)
