"""Maya1 as its reference speaks it (docs/maya1-reference.md): prompt ids built the
reference's way, audio framing chosen by measurement, sampling defaults, long text in one
voice, and the vLLM serving settings; on tiny checkpoints in the real formats."""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from tritontts.maya1.checkpoint import Maya1Checkpoint
from tritontts.maya1.codec import (
    KEEP_FROM,
    KEEP_TO,
    STREAM_BOUND,
    OnnxSnacDecoder,
    reference_stream,
    stream_audio,
    whole_audio,
)
from tritontts.maya1.gpu import Maya1GpuSetup, VllmEngine, vllm_model
from tritontts.maya1.llm_wire import sampling_parameters
from tritontts.maya1.prompt import EMOTION_TAGS, Chunk, PromptBuilder, PromptLimits
from tritontts.maya1.sampling import SamplingSettings, top_k_filter
from tritontts.maya1.synthesis import Speaker
from tritontts.maya1.tokens import (
    BOS,
    CODE_END,
    END_OF_AI,
    END_OF_HUMAN,
    END_OF_TEXT,
    START_OF_AI,
    START_OF_HUMAN,
    START_OF_SPEECH,
    slot_band,
)
from tritontts.piper.voice import InvalidInputError
from tritontts_client import contract as c

from vllm_schema import engine_fields

DESCRIPTION = "Realistic male voice in the 30s with an american accent, warm timbre"


@pytest.fixture(scope="module")
def tokenizer(maya1_checkpoint: Path) -> Any:
    return Maya1Checkpoint(maya1_checkpoint).load_tokenizer()


@pytest.fixture(scope="module")
def auto_tokenizer(maya1_checkpoint: Path) -> Any:
    from transformers import AutoTokenizer  # what both reference scripts load

    return AutoTokenizer.from_pretrained(str(maya1_checkpoint))


def reference_ids(auto_tokenizer: Any, description: str, text: str) -> list[int]:
    """The reference's construction: special tokens as `tokenizer.decode([id])` (BOS as
    `tokenizer.bos_token`) around '<description="…"> text', tokenized with the defaults."""
    def special(token_id: int) -> str:
        return auto_tokenizer.decode([token_id])

    prompt = (special(START_OF_HUMAN) + auto_tokenizer.bos_token
              + f'<description="{description}"> {text}' + special(END_OF_TEXT)
              + special(END_OF_HUMAN) + special(START_OF_AI) + special(START_OF_SPEECH))
    return auto_tokenizer(prompt)["input_ids"]


# --- 1. prompt ids ---------------------------------------------------------------------------


def test_the_tiny_tokenizer_adds_bos_by_default_as_llama_3(auto_tokenizer: Any,
                                                           tokenizer: Any) -> None:
    assert auto_tokenizer("Hi")["input_ids"][0] == BOS
    assert tokenizer.encode("Hi").ids[0] == BOS
    assert tokenizer.encode("Hi", add_special_tokens=False).ids[0] != BOS


@pytest.mark.parametrize(("description", "text"), [
    (DESCRIPTION, "Hello! This is Maya1, the best open source voice AI model."),
    ("Demon character, male voice, low pitch, gravelly timbre", "Hi <laugh> there."),
    ("A 'smoky' voice, the speaker's tone “calm” and slow", "She said 'no' twice."),
    ("Voz femenina, acento español, cálida", "¡Hola! ¿Qué tal? Ça va, naïve café — 東京 👋"),
    ("calm", "<whisper> Quiet now <sigh> <laugh_harder>"),
])
def test_prompt_ids_are_the_reference_construction(tokenizer: Any, auto_tokenizer: Any,
                                                   description: str, text: str) -> None:
    ids = PromptBuilder(tokenizer).prompt_ids(description, text)
    assert ids == reference_ids(auto_tokenizer, description, text)
    assert ids[:3] == [BOS, START_OF_HUMAN, BOS]  # the tokenizer's BOS, then the string's
    assert ids[-4:] == [END_OF_TEXT, END_OF_HUMAN, START_OF_AI, START_OF_SPEECH]


@pytest.mark.parametrize("tag", EMOTION_TAGS)
def test_every_emotion_tag_matches_the_reference_as_one_id(tokenizer: Any, auto_tokenizer: Any,
                                                           tag: str) -> None:
    builder = PromptBuilder(tokenizer)
    text = f"Well <{tag}> that was it."
    ids = builder.prompt_ids("calm", text)
    assert ids == reference_ids(auto_tokenizer, "calm", text)
    assert ids.count(builder.tags[tag]) == 1


def test_double_quotes_in_the_description_are_refused(tokenizer: Any) -> None:
    with pytest.raises(InvalidInputError, match="may not contain"):
        PromptBuilder(tokenizer).prompt_ids('a "quoted" voice', "Hi.")


def test_requests_with_one_description_share_its_prefix(tokenizer: Any) -> None:
    """What vLLM's prefix cache reuses: every id up to the end of the description wrapper."""
    builder = PromptBuilder(tokenizer)
    head = tokenizer.encode(builder.prompt_text(DESCRIPTION, "")[: -len(
        "".join(builder.special[i] for i in (END_OF_TEXT, END_OF_HUMAN, START_OF_AI,
                                             START_OF_SPEECH))) - 1]).ids
    assert tokenizer.decode(head[-1:], skip_special_tokens=False) == ">"
    for text in ("Hello.", "<laugh> ha", "Ça va?", "'Quoted' start", "9 lives"):
        assert builder.prompt_ids(DESCRIPTION, text)[: len(head)] == head, text


# --- 2. audio framing ------------------------------------------------------------------------

SNAC_24KHZ = {"sampling_rate": 24000, "encoder_dim": 48, "encoder_rates": [2, 4, 8, 8],
              "decoder_dim": 1024, "decoder_rates": [8, 8, 4, 2], "attn_window_size": None,
              "codebook_size": 4096, "codebook_dim": 8, "vq_strides": [4, 2, 1],
              "noise": True, "depthwise": True}


@functools.cache
def snac_decode(seed: int) -> Callable[..., np.ndarray]:
    """SNAC 24 kHz's architecture with random weights (seeded), zero noise as exported."""
    from snac import SNAC

    from tritontts.export.snac import deterministic_decoder

    torch.manual_seed(seed)
    model = deterministic_decoder(SNAC(**SNAC_24KHZ).eval())

    def decode(*codes: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            audio = model.decode([torch.from_numpy(np.asarray(c, np.int64)) for c in codes])
        return audio.reshape(audio.shape[0], -1).numpy()

    return decode


def random_frames(count: int, seed: int = 0) -> list[tuple[int, ...]]:
    rng = np.random.default_rng(seed)
    return [tuple(int(rng.integers(*slot_band(k))) for k in range(7)) for _ in range(count)]


@pytest.mark.slow  # SNAC 24 kHz decodes at its real size
@pytest.mark.parametrize("seed", [0, 1])
def test_the_streamed_slice_is_the_one_closest_to_the_whole_decode(seed: int) -> None:
    """SNAC 24 kHz's architecture (19.8 M parameters), random weights: of the 2048-sample
    slices of a 4-frame window (every hop of 512), the window's middle agrees best with the
    whole decode; the reference's effective 4096:6144 and Orpheus' 2048:4096 do worse."""
    from snac import SNAC

    assert abs(sum(p.numel() for p in SNAC(**SNAC_24KHZ).parameters()) / 1e6 - 19.8) < 0.05
    decode = snac_decode(seed)
    frames = random_frames(10, seed)
    whole = whole_audio(frames, decode)  # the warm-up dropped: sample s is s + 2048
    full = np.concatenate([np.zeros(2048, np.float32), whole])
    rms = float(np.sqrt(np.mean(whole**2)))
    windows = [decode(*(lv[None] for lv in _codes(frames[p : p + 4])))[0]
               for p in range(len(frames) - 3)]
    worst = {}
    for start in range(0, 6144 + 1, 512):
        worst[start] = max(float(np.abs(w[start : start + 2048] - full[
            p * 2048 + start : p * 2048 + start + 2048]).max()) for p, w in enumerate(windows))
    assert min(worst, key=worst.get) == KEEP_FROM == 3072 and KEEP_TO == 5120
    assert worst[KEEP_FROM] / rms < STREAM_BOUND
    assert worst[4096] > worst[KEEP_FROM] and worst[2048] > worst[KEEP_FROM]


def _codes(frames: Sequence[tuple[int, ...]]) -> tuple[np.ndarray, ...]:
    from tritontts.maya1.codec import frames_to_codes

    return frames_to_codes(frames)


@pytest.mark.slow  # SNAC 24 kHz decodes at its real size
@pytest.mark.parametrize("count", [4, 9])
def test_streamed_audio_is_the_whole_decode_within_the_bound(count: int) -> None:
    decode = snac_decode(0)
    frames = random_frames(count, seed=count)
    chunks = stream_audio(frames, decode)
    streamed, whole = np.concatenate(chunks), whole_audio(frames, decode)
    assert len(streamed) == len(whole) == 2048 * (count - 1)  # warm-up dropped in both
    assert len(chunks[0]) == 3072  # first audio once 4 frames exist: 2048:5120 of window 0
    rms = float(np.sqrt(np.mean(whole**2)))
    assert np.abs(streamed - whole).max() / rms < STREAM_BOUND
    # The ends come from windows that see the same edge as the whole decode.
    np.testing.assert_allclose(streamed[:1024], whole[:1024], atol=1e-5 * rms)
    np.testing.assert_allclose(streamed[-1024:], whole[-1024:], atol=1e-5 * rms)


def test_the_tiny_graph_streams_within_the_bound_too(snac_graph: Path) -> None:
    decode = OnnxSnacDecoder(snac_graph)
    frames = random_frames(9, seed=3)
    streamed, whole = np.concatenate(stream_audio(frames, decode)), whole_audio(frames, decode)
    assert len(streamed) == len(whole) == 8 * 2048
    assert np.abs(streamed - whole).max() / np.sqrt(np.mean(whole**2)) < STREAM_BOUND
    # The reference pipeline as it runs delivers frames 2 .. N-2 only.
    assert len(np.concatenate(reference_stream(frames, decode))) == (9 - 3) * 2048


# --- 3. sampling -----------------------------------------------------------------------------


def test_sampling_defaults_are_the_references() -> None:
    settings = SamplingSettings()
    assert (settings.temperature, settings.top_p, settings.repetition_penalty,
            settings.max_new_tokens, settings.min_new_tokens, settings.top_k) == (
        0.4, 0.9, 1.1, 2048, 28, 0)
    parameters = json.loads(sampling_parameters(settings))
    assert "top_k" not in parameters and parameters["stop_token_ids"] == [CODE_END]
    assert json.loads(sampling_parameters(SamplingSettings(top_k=50)))["top_k"] == 50
    with pytest.raises(InvalidInputError, match="top_k"):
        SamplingSettings(top_k=-1)


def test_top_k_is_transformers_top_k() -> None:
    from transformers.generation.logits_process import TopKLogitsWarper

    logits = torch.randn(3, 4097, generator=torch.Generator().manual_seed(0))
    ours = top_k_filter(logits.clone(), torch.tensor([50, 1, 0]))
    for row, k in enumerate((50, 1)):
        theirs = TopKLogitsWarper(top_k=k)(None, logits[row : row + 1].clone())[0]
        torch.testing.assert_close(ours[row], theirs)
    torch.testing.assert_close(ours[2], logits[2])


# --- 4. long text ----------------------------------------------------------------------------


def test_chunks_fit_a_training_clip_cut_at_sentences_then_clauses(tokenizer: Any) -> None:
    builder = PromptBuilder(tokenizer)
    assert builder.limits.chunk_chars == 180
    long_sentence = ("When the rain finally stopped, the streets were quiet, the shops were "
                     "closed; and somewhere far off, past the river and the old mill, a dog "
                     "barked twice — then nothing at all, not even the wind in the trees.")
    text = f"Short one. {long_sentence} And a last sentence here."
    chunks = builder.chunks(text)
    assert all(len(chunk) <= 180 for chunk in chunks)
    assert " ".join(chunks) == text
    # The long sentence does not fit after "Short one.": cut at its last clause mark that
    # keeps the piece within 180 characters; its rest joins the next sentence.
    assert chunks == ["Short one.", long_sentence[: long_sentence.index(" not even")],
                      "not even the wind in the trees. And a last sentence here."]


def test_a_chunk_is_cut_in_halves_at_a_clause(tokenizer: Any) -> None:
    builder = PromptBuilder(tokenizer)
    chunk = builder.chunk("calm", "One two three, four five six.")
    first, second = builder.halves(chunk)
    assert (first.text, second.text) == ("One two three,", "four five six.")
    assert first.ids == tuple(builder.prompt_ids("calm", "One two three,"))
    assert builder.halves(builder.chunk("calm", "Word.")) is None
    assert builder.halves(Chunk((1, 2, 3))) is None


def test_continuity_prompt_is_the_previous_turn_then_this_one(tokenizer: Any) -> None:
    builder = PromptBuilder(tokenizer, PromptLimits(continuity_frames=2))
    previous, chunk = builder.chunk("calm", "First part."), builder.chunk("calm", "Second.")
    codes = [t for frame in random_frames(3) for t in frame]
    ids = builder.continued(chunk, previous, codes).ids
    turn = [*previous.ids, *codes[-14:], CODE_END, END_OF_AI]
    assert list(ids) == turn + list(chunk.ids[1:])  # one BOS, at the very start
    # Its cost in prompt tokens: the previous prompt, 7 per frame kept, CODE_END and EOA.
    assert len(ids) - len(chunk.ids) == len(previous.ids) + 7 * 2 + 2 - 1


class ScriptedGenerator:
    """A FrameSource that answers each prompt with frames and a stop reason chosen by the
    test: `reasons(prompt)` -> (frame count, "end" or "limit")."""

    def __init__(self, answer: Callable[[list[int]], tuple[int, str]]) -> None:
        self.answer = answer
        self.prompts: list[list[int]] = []

    def start(self, prompt: Sequence[int], settings: SamplingSettings, on_frame: Callable,
              on_done: Callable, cancelled: Callable[[], bool] = lambda: False) -> None:
        self.prompts.append(list(prompt))
        count, reason = self.answer(list(prompt))
        for frame in random_frames(count, seed=len(self.prompts)):
            on_frame(frame)
        on_done(reason, None)


def speak(speaker: Speaker, chunks: list, whole: bool) -> tuple[list[np.ndarray], list[str]]:
    ends: list[str] = []

    async def run() -> list[np.ndarray]:
        return [piece async for piece in speaker.speak(
            chunks, SamplingSettings(seed=5), whole=whole, on_chunk=ends.append)]

    return asyncio.run(run()), ends


def fake_decode(c0: np.ndarray, c1: np.ndarray, c2: np.ndarray) -> np.ndarray:
    return np.repeat(c0.astype(np.float32) / 4096, 2048, axis=1)


def test_a_chunk_that_hits_the_limit_is_generated_again_in_halves(tokenizer: Any) -> None:
    builder = PromptBuilder(tokenizer)
    long = builder.chunk("calm", "One two three, four five six.")
    generator = ScriptedGenerator(lambda p: (6, "limit") if p == list(long.ids) else (3, "end"))

    async def decode(*codes: np.ndarray) -> np.ndarray:
        return fake_decode(*codes)

    audio, ends = speak(Speaker(generator, decode, builder=builder), [long], whole=True)
    assert ends == ["resplit", "end", "end"]
    assert [len(a) for a in audio] == [2 * 2048, 2 * 2048]  # two halves of 3 frames
    assert generator.prompts[1:] == [list(half.ids) for half in builder.halves(long)]
    # Streamed audio cannot be taken back: the cut chunk is reported, not regenerated.
    generator = ScriptedGenerator(lambda p: (6, "limit"))
    audio, ends = speak(Speaker(generator, decode, builder=builder), [long], whole=False)
    assert ends == ["limit"] and len(generator.prompts) == 1


def test_continuity_generates_chunks_in_turn_after_the_previous(tokenizer: Any) -> None:
    builder = PromptBuilder(tokenizer, PromptLimits(chunk_chars=20, continuity_frames=4))
    chunks = builder.plan("calm", "First one here. Second one here.")
    generator = ScriptedGenerator(lambda p: (5, "end"))

    async def decode(*codes: np.ndarray) -> np.ndarray:
        return fake_decode(*codes)

    audio, ends = speak(Speaker(generator, decode, builder=builder), chunks, whole=True)
    assert ends == ["end", "end"] and len(audio) == 2
    first_codes = [t for frame in random_frames(5, seed=1) for t in frame]
    assert generator.prompts[0] == list(chunks[0].ids)
    assert generator.prompts[1] == list(builder.continued(chunks[1], chunks[0],
                                                          first_codes).ids)


# --- 5. serving settings ---------------------------------------------------------------------


def test_vllm_model_json_turns_prefix_caching_and_chunked_prefill_on(
        maya1_checkpoint: Path, snac_graph: Path, tmp_path: Path) -> None:
    """model.json is what Triton's vLLM backend passes to AsyncEngineArgs(**...): every key
    must be a field of it, of its type."""
    setup = Maya1GpuSetup(maya1_checkpoint, snac_graph, tmp_path / "repo")
    engine = json.loads(vllm_model(setup).texts[c.VLLM_ENGINE_FILE])
    assert engine["enable_prefix_caching"] is True and engine["enable_chunked_prefill"] is True
    source, fields = engine_fields()
    kinds = {"str": str, "int": int, "float": (int, float), "bool": bool, "ModelDType": str}
    for key, value in engine.items():
        assert key in fields, f"{key} is not an engine argument of {source}"
        annotation = fields[key].replace(" ", "")
        allowed = [kinds[part] for part in annotation.split("|") if part in kinds]
        assert (value is None and "None" in annotation) or isinstance(value, tuple(allowed)), (
            f"{key}={value!r} does not fit {fields[key]} ({source})")
    assert VllmEngine("m").enable_prefix_caching


def test_continuity_and_top_k_reach_the_rendered_configs(maya1_checkpoint: Path,
                                                         snac_graph: Path,
                                                         tmp_path: Path) -> None:
    from tritontts.maya1.repository import Maya1Setup, maya1_models
    from tritontts.repository import parse, write_repository

    setup = Maya1Setup(maya1_checkpoint, snac_graph, PromptLimits(continuity_frames=24))
    repository = write_repository(maya1_models(setup), tmp_path / "repo")
    configs = {folder.name: parse((folder / "config.pbtxt").read_text())
               for folder in repository.iterdir()}
    stream = configs[c.MAYA1_STREAM_MODEL]
    assert stream.parameters[c.PARAM_CONTINUITY_FRAMES].string_value == "24"
    assert stream.parameters[c.PARAM_CHUNK_CHARS].string_value == "180"
    for name in (c.MAYA1_MODEL, c.MAYA1_STREAM_MODEL):
        assert c.TOP_K.name in {i.name: i for i in configs[name].input}


def test_the_repository_command_refuses_negative_continuity_frames(tmp_path: Path) -> None:
    import argparse

    from tritontts.commands import repository as command
    from tritontts.errors import UsageError

    parser = argparse.ArgumentParser()
    command.configure(parser)
    args = parser.parse_args(["--maya1", str(tmp_path), "--snac", str(tmp_path),
                              "--maya1-continuity-frames", "-1"])
    assert args.maya1_continuity_frames == -1
    with pytest.raises(UsageError, match="continuity-frames must be >= 0"):
        command._maya1_models(args)
