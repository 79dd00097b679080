"""What maya1_stream sends an LLM backend for one prompt, and how it reads the ids back.

Two wire contracts, as Triton's backends define them:

- **vLLM** (`text_input`, `stream`, `sampling_parameters`, `exclude_input_in_output` →
  `text_output` pieces). The backend takes a text prompt and has no input for token ids, so
  the prompt ids travel as the text they decode to, special tokens kept; vLLM re-tokenizes it,
  and each special token and tag comes back as its one id as long as the tokenizer adds
  nothing of its own (no BOS template: `gpu.write_vllm_tokenizer`). Generated ids come back
  as `<custom_token_N>` text (id = 128256 + N), parsed here piece by piece.
- **TensorRT-LLM** (`input_ids`, `input_lengths`, `request_output_len`, `end_id`, `streaming`
  and the sampling scalars → `output_ids`): ids both ways, nothing to re-tokenize.

Neither backend knows the slot bands. What comes back goes through the same band check as
the PyTorch generator's frames (`tokens.frame_codes`): a wrong-band id, text that is not a
code, or CODE_END inside a frame raises `InvalidCodeError`, which refuses the sequence.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from tritontts.maya1.sampling import SamplingSettings
from tritontts.maya1.tokens import CODE_END, CUSTOM_TOKEN_BASE, InvalidCodeError
from tritontts_client import contract as c

# `<custom_token_N>`, or the start of one cut off at the end of a piece.
_CUSTOM_TOKEN = re.compile(r"<custom_token_(\d+)>")
_PARTIAL = re.compile(r"<(c(u(s(t(o(m(_(t(o(k(e(n(_\d*)?)?)?)?)?)?)?)?)?)?)?)?)?$")


class PromptDecoder(Protocol):
    """What the vLLM wire needs of a tokenizer (`tokenizers.Tokenizer` has it)."""

    def decode(self, ids: list[int], skip_special_tokens: bool = ...) -> str: ...


class LlmWire(Protocol):
    """One LLM backend's contract: the BLS inputs of a prompt, the outputs to ask for, and a
    reader that turns each streamed response's outputs into ids."""

    output_names: tuple[str, ...]

    def inputs(self, prompt: Sequence[int], settings: SamplingSettings
               ) -> dict[str, np.ndarray]: ...

    def reader(self) -> IdReader: ...


class IdReader(Protocol):
    def feed(self, outputs: dict[str, np.ndarray]) -> list[int]: ...

    def finish(self) -> None: ...


# --- vLLM -----------------------------------------------------------------------------------


def sampling_parameters(settings: SamplingSettings) -> str:
    """A request's `sampling_parameters` JSON: Maya1's sampling, stopping only at CODE_END.

    `ignore_eos`: the snapshot's generation config names 128009 as EOS, and vLLM would stop
    there; for Maya1 it is part of the prompt, not a stop token. `skip_special_tokens` false:
    the codes are special tokens and must come back as text."""
    return json.dumps({
        "temperature": settings.temperature, "top_p": settings.top_p,
        "repetition_penalty": settings.repetition_penalty,
        # vLLM's "no top-k" is -1 in older releases and 0 or -1 in newer ones: sent only when set.
        **({"top_k": settings.top_k} if settings.top_k else {}),
        "max_tokens": settings.code_limit, "min_tokens": settings.min_new_tokens,
        "stop_token_ids": [CODE_END], "ignore_eos": True, "skip_special_tokens": False,
        **({} if settings.seed is None else {"seed": settings.seed})})


def prompt_text(ids: Sequence[int], tokenizer: PromptDecoder) -> str:
    """The prompt ids as the text vLLM re-tokenizes into the same ids (special tokens kept)."""
    return tokenizer.decode(list(ids), skip_special_tokens=False)


class CustomTokenReader:
    """`text_output` pieces → ids. A `<custom_token_N>` cut between two pieces is held until
    the rest arrives; whitespace between tokens is allowed (vLLM may put spaces between
    special tokens); any other text is refused."""

    def __init__(self) -> None:
        self._held = ""

    def feed_text(self, piece: str) -> list[int]:
        text = self._held + piece
        ids, position = [], 0
        for match in _CUSTOM_TOKEN.finditer(text):
            _refuse_text(text[position : match.start()])
            ids.append(CUSTOM_TOKEN_BASE + int(match[1]))
            position = match.end()
        rest = text[position:]
        partial = _PARTIAL.search(rest)
        self._held = rest[partial.start():] if partial else ""
        _refuse_text(rest[: partial.start()] if partial else rest)
        return ids

    def feed(self, outputs: dict[str, np.ndarray]) -> list[int]:
        ids = []
        for value in np.asarray(outputs[c.VLLM_TEXT_OUTPUT.name]).reshape(-1):
            ids += self.feed_text(value.decode("utf-8") if isinstance(value, bytes)
                                  else str(value))
        return ids

    def finish(self) -> None:
        if self._held:
            raise InvalidCodeError(f"the LM's text ended inside a token: {self._held!r}")


def _refuse_text(text: str) -> None:
    if text.strip():
        shown = text.strip()[:60]
        raise InvalidCodeError(f"the LM returned text that is not a SNAC code: {shown!r}")


class VllmWire:
    output_names = (c.VLLM_TEXT_OUTPUT.name,)

    def __init__(self, tokenizer: PromptDecoder) -> None:
        self.tokenizer = tokenizer

    def inputs(self, prompt: Sequence[int], settings: SamplingSettings
               ) -> dict[str, np.ndarray]:
        # max_batch_size 0 (the backend batches itself): shapes are the dims, [1] each.
        return {
            c.VLLM_TEXT_INPUT.name: np.array([prompt_text(prompt, self.tokenizer).encode()],
                                             dtype=object),
            c.VLLM_STREAM.name: np.array([True]),
            c.VLLM_SAMPLING_PARAMETERS.name: np.array(
                [sampling_parameters(settings).encode()], dtype=object),
            c.VLLM_EXCLUDE_INPUT_IN_OUTPUT.name: np.array([True]),
        }

    def reader(self) -> CustomTokenReader:
        return CustomTokenReader()


# --- TensorRT-LLM ---------------------------------------------------------------------------


class OutputIdsReader:
    """Streamed `output_ids` [1, beam 1, new tokens] → ids (only new tokens are sent when
    streaming with exclude_input_in_output)."""

    def feed(self, outputs: dict[str, np.ndarray]) -> list[int]:
        ids = np.asarray(outputs[c.TRTLLM_OUTPUT_IDS.name])
        if ids.ndim == 3:
            ids = ids[0]
        if ids.ndim == 2:
            ids = ids[0]  # the one beam
        return [int(i) for i in ids.reshape(-1)]

    def finish(self) -> None:
        return None


class TensorrtLlmWire:
    output_names = (c.TRTLLM_OUTPUT_IDS.name,)

    def inputs(self, prompt: Sequence[int], settings: SamplingSettings
               ) -> dict[str, np.ndarray]:
        # The backend batches (max_batch_size > 0): every tensor carries a batch axis of 1.
        def scalar(value: Any, dtype: type) -> np.ndarray:
            return np.array([[value]], dtype=dtype)

        inputs = {
            c.TRTLLM_INPUT_IDS.name: np.array([list(prompt)], dtype=np.int32),
            c.TRTLLM_INPUT_LENGTHS.name: scalar(len(prompt), np.int32),
            c.TRTLLM_REQUEST_OUTPUT_LEN.name: scalar(settings.code_limit, np.int32),
            c.TRTLLM_END_ID.name: scalar(CODE_END, np.int32),
            c.TRTLLM_PAD_ID.name: scalar(CODE_END, np.int32),
            c.TRTLLM_STREAMING.name: scalar(True, bool),
            c.TRTLLM_TEMPERATURE.name: scalar(settings.temperature, np.float32),
            c.TRTLLM_TOP_P.name: scalar(settings.top_p, np.float32),
            c.TRTLLM_TOP_K.name: scalar(settings.top_k, np.int32),  # 0: off
            c.TRTLLM_REPETITION_PENALTY.name: scalar(settings.repetition_penalty, np.float32),
            c.TRTLLM_MIN_LENGTH.name: scalar(settings.min_new_tokens, np.int32),
        }
        if settings.seed is not None:
            inputs[c.TRTLLM_RANDOM_SEED.name] = scalar(settings.seed, np.uint64)
        return inputs

    def reader(self) -> OutputIdsReader:
        return OutputIdsReader()


def wire_for(backend: str, tokenizer: PromptDecoder) -> LlmWire:
    if backend == c.LM_BACKEND_VLLM:
        return VllmWire(tokenizer)
    if backend == c.LM_BACKEND_TENSORRTLLM:
        return TensorrtLlmWire()
    raise ValueError(f"no LLM-backend wire for {backend!r} (known: {c.LM_BACKEND_VLLM}, "
                     f"{c.LM_BACKEND_TENSORRTLLM})")
