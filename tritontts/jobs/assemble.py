"""A finished job's chunks joined into one encoded file (the gateway's encoder), with the
pause after each chunk, uploaded in parts while it is encoded; and where each chunk starts."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from tritontts.jobs.chunks import Chunk
from tritontts.jobs.store import PartBuffer, ResultStore, chunk_key, result_key
from tritontts_client.audio import AudioEncoder, audio_format


@dataclass(frozen=True)
class Assembled:
    key: str
    size: int
    parts: int
    sample_rate: int  # of the encoded file
    duration_s: float
    offsets: list[tuple[float, float]]  # (start, length) of each chunk, seconds


def chunk_audio(store: ResultStore, job_id: str, index: int) -> np.ndarray:
    return np.frombuffer(store.get(chunk_key(job_id, index)), dtype=np.float32)


def assemble(store: ResultStore, job_id: str, chunks: list[Chunk], voice_rate: int,
             format_name: str, output_rate: int | None, part_bytes: int) -> Assembled:
    fmt = audio_format(format_name)
    encoder = AudioEncoder(fmt, voice_rate, output_rate, streaming=True)
    offsets: list[tuple[float, float]] = []
    total_samples = 0
    sizes = [0]

    def encoded_parts() -> Iterator[bytes]:
        nonlocal total_samples
        buffer = PartBuffer(part_bytes)
        for index, chunk in enumerate(chunks):
            audio = chunk_audio(store, job_id, index)
            offsets.append((total_samples / voice_rate, audio.size / voice_rate))
            pause = np.zeros(round(chunk.pause_after_s * voice_rate), dtype=np.float32)
            total_samples += audio.size + pause.size
            for piece in (audio, pause):
                data = encoder.encode(piece)
                sizes[0] += len(data)
                yield from buffer.add(data)
        tail = encoder.finish()
        sizes[0] += len(tail)
        yield from buffer.add(tail)
        yield from buffer.rest()

    key = result_key(job_id, fmt.extensions[0])
    # A streamed wav (PCM or G.711) has its size fields marked unknown; the first part is
    # rewritten with the real sizes once they are known, so that every reader gets a complete
    # header.
    fix = (lambda first: wav_with_sizes(first, sizes[0])) if fmt.container == "wav" else None
    parts = store.upload_parts(key, encoded_parts(), fmt.media_type, first_part=fix)
    return Assembled(key, sizes[0], parts, encoder.output_rate, total_samples / voice_rate,
                     offsets)


def wav_with_sizes(first_part: bytes, total_bytes: int) -> bytes:
    """The RIFF and data chunk sizes of a wav whose header is in `first_part`."""
    data = first_part.find(b"data")
    if not first_part.startswith(b"RIFF") or data < 0:
        raise ValueError("the first part does not hold a wav header")
    header = bytearray(first_part)
    header[4:8] = struct.pack("<I", min(0xFFFFFFFF, total_bytes - 8))
    header[data + 4:data + 8] = struct.pack("<I", min(0xFFFFFFFF, total_bytes - data - 8))
    return bytes(header)
