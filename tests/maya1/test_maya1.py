"""Maya1's plain modules on tiny random checkpoints saved in the real formats: the prompt
layout, the unpacking table, constrained sampling, the stop rules, the batched generator, the
SNAC graph and the streaming windows."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import torch

from tritontts.export.snac import INPUTS, build_snac_engine, random_codes
from tritontts.export.tensorrt import GpuRequiredError
from tritontts.maya1.checkpoint import CheckpointError, Maya1Checkpoint, SnacCheckpoint
from tritontts.maya1.codec import (
    OnnxSnacDecoder,
    reference_stream,
    stream_audio,
    whole_audio,
)
from tritontts.maya1.generator import BatchedGenerator, Generation
from tritontts.maya1.prompt import EMOTION_TAGS, PromptBuilder, PromptLimits
from tritontts.maya1.sampling import SamplingSettings
from tritontts.maya1.tiny import FIRST_TAG_ID
from tritontts.maya1.tokens import (
    CODE_END,
    CODES_PER_FRAME,
    InvalidCodeError,
    ids_from_custom_tokens,
    slot_band,
    unpack_frames,
)
from tritontts.piper.voice import InvalidInputError


@pytest.fixture(scope="module")
def tokenizer(maya1_checkpoint: Path) -> Any:
    return Maya1Checkpoint(maya1_checkpoint).load_tokenizer()


@pytest.fixture(scope="module")
def lm(maya1_checkpoint: Path) -> Any:
    return Maya1Checkpoint(maya1_checkpoint).load_model()


# --- prompt ----------------------------------------------------------------------------------


def test_prompt_ids_are_exactly_the_maya1_layout(tokenizer: Any) -> None:
    ids = PromptBuilder(tokenizer).prompt_ids("Warm voice", "Hi <laugh> there.")

    def text(piece: str) -> list[int]:
        return tokenizer.encode(piece, add_special_tokens=False).ids

    # The tokenizer's own BOS, then the reference string's SOH and BOS.
    assert ids == [128000, 128259, 128000, *text('<description="Warm voice"> Hi '),
                   FIRST_TAG_ID, *text(" there."), 128009, 128260, 128261, 128257]


def test_every_emotion_tag_is_one_id(tokenizer: Any) -> None:
    builder = PromptBuilder(tokenizer)
    for index, tag in enumerate(EMOTION_TAGS):
        ids = builder.prompt_ids("calm", f"<{tag}>")
        assert ids.count(FIRST_TAG_ID + index) == 1, tag
        assert "<" not in tokenizer.decode(ids[3:-4][-1:], skip_special_tokens=True)


def test_unknown_tag_is_refused_naming_the_known_ones(tokenizer: Any) -> None:
    with pytest.raises(InvalidInputError, match=r"unknown emotion tag <giggles>.*<laugh>"):
        PromptBuilder(tokenizer).prompts("calm", "Hello <giggles>")


@pytest.mark.parametrize(("description", "match"), [
    ("", "DESCRIPTION is empty"), ('a "quoted" voice', "may not contain"),
    ("x" * 601, "at most 600")])
def test_bad_descriptions_are_refused(tokenizer: Any, description: str, match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        PromptBuilder(tokenizer).prompts(description, "Hello.")


def test_long_text_splits_at_sentence_ends_with_the_same_description(tokenizer: Any) -> None:
    builder = PromptBuilder(tokenizer, PromptLimits(chunk_chars=30))
    text = "The first sentence is here. A second one follows! Is there a third? Yes."
    assert builder.chunks(text) == ["The first sentence is here.", "A second one follows!",
                                    "Is there a third? Yes."]
    prompts = builder.prompts("deep male voice", text)
    assert len(prompts) == 3
    head = builder.prompt_ids("deep male voice", "")[:-4]
    assert all(p[: len(head) - 1] == head[:-1] for p in prompts)  # same description in each


def test_too_many_chunks_is_refused(tokenizer: Any) -> None:
    builder = PromptBuilder(tokenizer, PromptLimits(chunk_chars=10, max_chunks=2))
    with pytest.raises(InvalidInputError, match="at most 2"):
        builder.prompts("calm", "One two. Three four. Five six.")


# --- unpacking -------------------------------------------------------------------------------


def frame_ids(codes: tuple[int, ...]) -> list[int]:
    return [slot_band(slot)[0] + code for slot, code in enumerate(codes)]


UNPACK_CASES = [
    # ids, expected (L1, L2, L3) or the error raised
    (frame_ids((1, 2, 3, 4, 5, 6, 7)), ([1], [2, 5], [3, 4, 6, 7])),
    (frame_ids((0, 0, 0, 0, 0, 0, 0)) + frame_ids((4095,) * 7) + [CODE_END],
     ([0, 4095], [0, 0, 4095, 4095], [0] * 4 + [4095] * 4)),
    ([], ([], [], [])),
    # slot 1 holds an id of slot 0's band: refused, not folded to 10 with % 4096
    ([slot_band(0)[0] + 1, slot_band(0)[0] + 10, *frame_ids((0,) * 7)[2:]], "slot 1"),
    # one past the last code id
    ([*frame_ids((0,) * 7)[:6], slot_band(6)[1]], "slot 6"),
    # a text token in the middle of the codes
    ([*frame_ids((0,) * 7)[:3], 500, *frame_ids((0,) * 7)[4:]], "slot 3"),
    (frame_ids((0,) * 7)[:5], "not whole frames"),
    ([*frame_ids((0,) * 7), CODE_END, *frame_ids((0,) * 7)], "follow CODE_END"),
]


@pytest.mark.parametrize(("ids", "expected"), UNPACK_CASES)
def test_unpacking_table(ids: list[int], expected: tuple | str) -> None:
    if isinstance(expected, str):
        with pytest.raises(InvalidCodeError, match=expected):
            unpack_frames(ids)
        return
    levels = unpack_frames(ids)
    assert [level.tolist() for level in levels] == [list(e) for e in expected]


def test_custom_token_text_parses_to_ids() -> None:
    text = "<custom_token_10><custom_token_4107>junk<custom_token_2>"
    assert ids_from_custom_tokens(text) == [128266, 128266 + 4097, CODE_END]


# --- generation ------------------------------------------------------------------------------


class Run:
    """A generation's frames and how it stopped."""

    def __init__(self, prompt: list[int], settings: SamplingSettings) -> None:
        self.frames: list[tuple[int, ...]] = []
        self.finished = threading.Event()
        self.reason: str | None = None
        self.error: BaseException | None = None
        self.generation = Generation(prompt, settings, self.frames.append, self._done)

    def _done(self, reason: str | None, error: BaseException | None) -> None:
        self.reason, self.error = reason, error
        self.finished.set()

    def wait(self) -> Run:
        assert self.finished.wait(120), "generation did not finish"
        assert self.error is None
        return self


def generate(model: Any, runs: list[Run], delay_s: float = 0.0) -> list[int]:
    """Run `runs` through one generator (the later ones joining after `delay_s`); returns the
    batch size of every decode step."""
    sizes: list[int] = []
    generator = BatchedGenerator(model, on_step=sizes.append)
    try:
        generator.submit(runs[0].generation)
        if delay_s:
            threading.Event().wait(delay_s)
        for run in runs[1:]:
            generator.submit(run.generation)
        for run in runs:
            run.wait()
    finally:
        generator.close()
    return sizes


def test_constrained_sampling_gives_only_valid_frames_from_random_weights(
        lm: Any, tokenizer: Any) -> None:
    prompt = PromptBuilder(tokenizer).prompt_ids("calm", "Random weights speak noise.")
    run = Run(prompt, SamplingSettings(max_new_tokens=210, seed=3, temperature=1.5, top_p=1.0))
    generate(lm, [run])
    ids = [token for frame in run.frames for token in frame]
    # Hot sampling may draw CODE_END early, but only at a frame boundary past 28 codes.
    assert (run.reason == "limit" and len(run.frames) == 30) or \
        (run.reason == "end" and 4 <= len(run.frames) < 30)
    levels = unpack_frames(ids)  # raises on any id outside its slot's band
    n = len(run.frames)
    assert [len(level) for level in levels] == [n, 2 * n, 4 * n]
    # Unconstrained, random weights would almost never land in the right band.
    with torch.inference_mode():
        logits = lm(input_ids=torch.tensor([prompt])).logits[0, -1]
    low, high = slot_band(0)
    assert not low <= int(logits.argmax()) < high


class EndEager(torch.nn.Module):
    """The tiny LM with CODE_END made overwhelmingly likely wherever it is allowed."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.inner = model
        self.config = model.config

    def forward(self, **kwargs: Any) -> Any:
        out = self.inner(**kwargs)
        out.logits[..., CODE_END] += 1e4
        return out


def test_stops_at_code_end_only_at_a_frame_boundary_past_the_minimum(
        lm: Any, tokenizer: Any) -> None:
    prompt = PromptBuilder(tokenizer).prompt_ids("calm", "Stop soon.")
    run = Run(prompt, SamplingSettings(min_new_tokens=28, seed=1))
    generate(EndEager(lm), [run])
    assert run.reason == "end" and len(run.frames) == 4  # 28 codes, then CODE_END


def test_stops_at_the_token_limit_in_whole_frames(lm: Any, tokenizer: Any) -> None:
    prompt = PromptBuilder(tokenizer).prompt_ids("calm", "A limit.")
    run = Run(prompt, SamplingSettings(max_new_tokens=50, min_new_tokens=7, seed=2))
    generate(lm, [run])
    assert run.reason == "limit" and len(run.frames) == 50 // CODES_PER_FRAME


def test_a_sequence_decodes_the_same_alone_and_in_a_batch_it_joins_late(
        lm: Any, tokenizer: Any) -> None:
    builder = PromptBuilder(tokenizer)
    greedy = SamplingSettings(max_new_tokens=70, top_p=1e-6, repetition_penalty=1.0, seed=0)
    short = builder.prompt_ids("calm", "Hi.")
    long = builder.prompt_ids("a bright, fast voice", "A much longer sentence than the first.")
    alone = [Run(short, greedy), Run(long, greedy)]
    generate(lm, alone[:1])
    generate(lm, alone[1:])
    together = [Run(long, greedy), Run(short, greedy)]
    sizes = generate(lm, together, delay_s=0.3)  # the short prompt joins a running batch
    assert max(sizes) == 2
    assert together[1].frames == alone[0].frames
    assert together[0].frames == alone[1].frames


def test_invalid_sampling_settings_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="temperature"):
        SamplingSettings(temperature=0)
    with pytest.raises(InvalidInputError, match="max_new_tokens"):
        SamplingSettings(max_new_tokens=3)


# --- checkpoints -----------------------------------------------------------------------------


def test_checkpoint_errors_are_clear(maya1_checkpoint: Path, snac_checkpoint: Path,
                                     tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="is not a folder"):
        Maya1Checkpoint(tmp_path / "absent").check()
    partial = tmp_path / "partial"
    shutil.copytree(maya1_checkpoint, partial)
    (partial / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match=r"no \*\.safetensors"):
        Maya1Checkpoint(partial).check()
    (partial / "tokenizer.json").unlink()
    with pytest.raises(CheckpointError, match=r"lacks tokenizer\.json"):
        Maya1Checkpoint(partial).check()
    wrong = tmp_path / "wrong"
    shutil.copytree(maya1_checkpoint, wrong)
    config = json.loads((wrong / "config.json").read_text())
    (wrong / "config.json").write_text(json.dumps({**config, "vocab_size": 32000}))
    with pytest.raises(CheckpointError, match="not a Maya1 LM"):
        Maya1Checkpoint(wrong).check()
    snac = tmp_path / "snac"
    shutil.copytree(snac_checkpoint, snac)
    (snac / "pytorch_model.bin").unlink()
    with pytest.raises(CheckpointError, match=r"lacks pytorch_model\.bin"):
        SnacCheckpoint(snac).check()


# --- SNAC graph and streaming ----------------------------------------------------------------


def test_snac_graph_has_three_codes_inputs_with_distinct_dynamic_axes(snac_graph: Path) -> None:
    graph = onnx.load(str(snac_graph))
    axes = {i.name: [d.dim_param for d in i.type.tensor_type.shape.dim] for i in graph.graph.input}
    assert axes == {"codes_0": ["batch", "frames"], "codes_1": ["batch", "frames_x2"],
                    "codes_2": ["batch", "frames_x4"]}
    decoder = OnnxSnacDecoder(snac_graph)
    feeds = random_codes(3)
    first, second = decoder(*feeds.values()), decoder(*feeds.values())
    assert first.shape == (1, 3 * 2048)
    np.testing.assert_array_equal(first, second)  # no noise: the same codes, the same audio


def test_snac_engine_build_stops_on_a_machine_without_gpu(snac_graph: Path,
                                                          tmp_path: Path) -> None:
    with pytest.raises(GpuRequiredError, match="NVIDIA GPU"):
        build_snac_engine(snac_graph, tmp_path / "plans")
    assert not (tmp_path / "plans").exists()
    assert INPUTS == ("codes_0", "codes_1", "codes_2")


def random_frames(count: int, seed: int = 0) -> list[tuple[int, ...]]:
    rng = np.random.default_rng(seed)
    return [tuple(int(rng.integers(*slot_band(k))) for k in range(7)) for _ in range(count)]


@pytest.mark.parametrize("count", [9, 4, 5])
def test_streamed_audio_is_the_window_middles_with_exact_ends(snac_graph: Path,
                                                              count: int) -> None:
    decode = OnnxSnacDecoder(snac_graph)
    frames = random_frames(count)
    chunks = stream_audio(frames, decode)
    audio = np.concatenate(chunks)
    assert len(audio) == 2048 * (count - 1)  # the warm-up frame dropped, as the whole path
    assert len(chunks[0]) == 3072  # first audio, once 4 frames exist
    for p in range(1, count - 3):  # the middle: samples 3072:5120 of window [p, p + 4)
        window = decode(*(level[None] for level in unpack_frames(
            [t for f in frames[p : p + 4] for t in f])))[0]
        np.testing.assert_array_equal(chunks[p], window[3072:5120])
    first = decode(*(level[None] for level in unpack_frames(
        [t for f in frames[:4] for t in f])))[0]
    np.testing.assert_array_equal(audio[:3072], first[2048:5120])
    last = decode(*(level[None] for level in unpack_frames(
        [t for f in frames[-4:] for t in f])))[0]
    np.testing.assert_array_equal(audio[-3072:], last[5120:])
    assert len(reference_stream(frames, decode)) == count - 3


@pytest.mark.parametrize("count", [1, 3])
def test_fewer_than_four_frames_are_decoded_whole(snac_graph: Path, count: int) -> None:
    decode = OnnxSnacDecoder(snac_graph)
    frames = random_frames(count, seed=count)
    (chunk,) = stream_audio(frames, decode)
    np.testing.assert_array_equal(chunk, whole_audio(frames, decode))
