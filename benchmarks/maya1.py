"""Maya1 on tiny random checkpoints (made here, in a temporary folder): generated tokens per
second at concurrency 1 and 4 and the scaling ratio, and time to first audio against time to
full audio of a stream. It runs the stream model's own code (batched generator + SNAC on ONNX
Runtime) in-process, without the server around it; tiny weights measure the serving loop's
overhead and batching, not a 3B model's speed."""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tritontts.export.snac import export_snac_decoder
from tritontts.maya1.checkpoint import Maya1Checkpoint
from tritontts.maya1.codec import OnnxSnacDecoder
from tritontts.maya1.generator import BatchedGenerator
from tritontts.maya1.prompt import PromptBuilder
from tritontts.maya1.sampling import SamplingSettings
from tritontts.maya1.synthesis import Speaker
from tritontts.maya1.tiny import write_tiny_maya1, write_tiny_snac

TEXT = "A short sentence for the benchmark."
DESCRIPTION = "Calm male voice, clear diction"


async def one_stream(speaker: Speaker, prompt: list[int], settings: SamplingSettings
                     ) -> tuple[float, float, int]:
    """(time to first audio, time to full audio, samples)."""
    started = time.perf_counter()
    first, samples = None, 0
    async for audio in speaker.speak([prompt], settings):
        if audio.size and first is None:
            first = time.perf_counter() - started
        samples += audio.size
    return first or 0.0, time.perf_counter() - started, samples


async def run(speaker: Speaker, prompt: list[int], concurrency: int, tokens: int
              ) -> tuple[float, list[tuple[float, float, int]]]:
    settings = SamplingSettings(max_new_tokens=tokens, seed=0)
    started = time.perf_counter()
    results = await asyncio.gather(*(one_stream(speaker, prompt, settings)
                                     for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return concurrency * settings.code_limit / elapsed, list(results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tokens", type=int, default=700, help="new tokens per request")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        checkpoint = Maya1Checkpoint(write_tiny_maya1(root / "maya1"))
        graph = export_snac_decoder(write_tiny_snac(root / "snac"), root / "onnx",
                                    progress=lambda _: None).graph
        prompt = PromptBuilder(checkpoint.load_tokenizer()).prompt_ids(DESCRIPTION, TEXT)
        generator = BatchedGenerator(checkpoint.load_model())
        speaker = Speaker(generator, OnnxSnacDecoder(graph), ThreadPoolExecutor(1))
        try:
            asyncio.run(run(speaker, prompt, 1, 70))  # warm-up
            rates = {}
            for concurrency in (1, 4):
                rate, results = asyncio.run(run(speaker, prompt, concurrency, args.tokens))
                rates[concurrency] = rate
                first = sum(r[0] for r in results) / len(results)
                full = sum(r[1] for r in results) / len(results)
                audio_s = results[0][2] / 24_000
                print(f"concurrency {concurrency}: {rate:7.1f} generated tokens/s; "
                      f"first audio {first * 1e3:6.0f} ms, full audio {full * 1e3:6.0f} ms "
                      f"({audio_s:.1f} s of audio per request)")
            print(f"scaling 4 vs 1: {rates[4] / rates[1]:.2f}x tokens/s")
        finally:
            generator.close()


if __name__ == "__main__":
    main()
