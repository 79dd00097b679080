"""Maya1's token layout (the same as Orpheus'): special ids around the prompt, and SNAC codes
as ids in seven slot bands, one band per position in a 7-token frame.

A frame i of SNAC 24 kHz holds one code of level 1, two of level 2 and four of level 3:
L1[i] = s0; L2[2i] = s1, L2[2i+1] = s4; L3[4i] = s2, L3[4i+1] = s3, L3[4i+2] = s5,
L3[4i+3] = s6, where slot k's code is id - 128266 - 4096 k. An id outside the band of its slot
is refused, never folded with `% 4096` (folding turns a wrong token into a wrong sound).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

VOCAB_SIZE = 156_960
BOS = 128_000  # <|begin_of_text|>
END_OF_TEXT = 128_009  # <|eot_id|>: part of the prompt, not a stop token
START_OF_SPEECH = 128_257  # SOS: the last prompt id, codes follow
CODE_END = 128_258  # the only stop token
START_OF_HUMAN = 128_259  # SOH
END_OF_HUMAN = 128_260  # EOH
START_OF_AI = 128_261  # SOA
END_OF_AI = 128_262  # EOA: closes a finished turn (only in a continuation prompt)
CUSTOM_TOKEN_BASE = 128_256  # `<custom_token_N>` is id 128256 + N (vLLM returns text)
CODE_BASE = 128_266  # first id of slot 0's band
CODEBOOK_SIZE = 4096
CODES_PER_FRAME = 7
CODE_LIMIT = CODE_BASE + CODES_PER_FRAME * CODEBOOK_SIZE  # one past the last code id
SAMPLES_PER_FRAME = 2048  # SNAC 24 kHz: 4 level-3 codes x hop 512
SAMPLE_RATE = 24_000
# Per slot: (level, offset of the slot's code inside the frame's run on that level).
SLOT_PLACES = ((0, 0), (1, 0), (2, 0), (2, 1), (1, 1), (2, 2), (2, 3))


class InvalidCodeError(ValueError):
    """An id is not a SNAC code of the slot it stands in."""


def slot_band(slot: int) -> tuple[int, int]:
    """[low, high) of the ids slot `slot` (0..6) of a frame may hold."""
    if not 0 <= slot < CODES_PER_FRAME:
        raise ValueError(f"slot {slot} is outside 0..6")
    low = CODE_BASE + CODEBOOK_SIZE * slot
    return low, low + CODEBOOK_SIZE


def frame_codes(frame: Sequence[int], index: int = 0) -> tuple[int, ...]:
    """The seven codes (0..4095) of one frame of ids; `index` names the frame in errors."""
    if len(frame) != CODES_PER_FRAME:
        raise InvalidCodeError(f"frame {index} has {len(frame)} ids, a frame has 7")
    codes = []
    for slot, token in enumerate(frame):
        low, high = slot_band(slot)
        if not low <= int(token) < high:
            raise InvalidCodeError(
                f"frame {index} slot {slot}: id {int(token)} is outside its band [{low}, {high})")
        codes.append(int(token) - low)
    return tuple(codes)


def unpack_frames(ids: Sequence[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Generated ids -> SNAC codes (L1 [N], L2 [2N], L3 [4N], int64).

    A trailing CODE_END is dropped; anything after it, a partial frame or an id in the wrong
    band raises InvalidCodeError."""
    ids = [int(t) for t in ids]
    if CODE_END in ids:
        end = ids.index(CODE_END)
        if end != len(ids) - 1:
            raise InvalidCodeError(f"{len(ids) - end - 1} ids follow CODE_END ({CODE_END})")
        ids = ids[:end]
    if len(ids) % CODES_PER_FRAME:
        raise InvalidCodeError(f"{len(ids)} ids are not whole frames of 7")
    frames = len(ids) // CODES_PER_FRAME
    levels = [np.zeros(frames * n, np.int64) for n in (1, 2, 4)]
    for i in range(frames):
        codes = frame_codes(ids[i * CODES_PER_FRAME : (i + 1) * CODES_PER_FRAME], i)
        for code, (level, offset) in zip(codes, SLOT_PLACES, strict=True):
            levels[level][i * (1 << level) + offset] = code
    return levels[0], levels[1], levels[2]


_CUSTOM_TOKEN = re.compile(r"<custom_token_(\d+)>")


def ids_from_custom_tokens(text: str) -> list[int]:
    """The ids of the `<custom_token_N>` pieces of an LLM backend's text output (vLLM)."""
    return [CUSTOM_TOKEN_BASE + int(n) for n in _CUSTOM_TOKEN.findall(text)]
