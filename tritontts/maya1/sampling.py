"""Slot-band constrained sampling: at each step only the ids of the band the next slot of the
frame needs can be drawn, or CODE_END at a frame boundary once the minimum length is reached.
Every frame is valid by construction, for real weights as for random ones; the sampling
itself is Maya1's (repetition penalty, temperature, top-k, nucleus), applied in that order as
transformers' `generate` and vLLM do.

The defaults are the reference's: temperature 0.4, top_p 0.9, repetition_penalty 1.1,
max_new_tokens 2048, min_new_tokens 28, CODE_END the only stop token, as in both of Maya
Research's scripts. Top-k is off by default, as in the vLLM server (its SamplingParams set
none), which is the path the model card recommends for serving; the card's `transformers`
example samples with `generate`'s default top_k=50, which `top_k=50` reproduces.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from tritontts.errors import InvalidInputError
from tritontts.maya1.tokens import CODE_END, CODEBOOK_SIZE, CODES_PER_FRAME, VOCAB_SIZE, slot_band


@dataclass(frozen=True)
class SamplingSettings:
    temperature: float = 0.4
    top_p: float = 0.9
    top_k: int = 0  # 0: off (the vLLM reference); 50: the transformers example
    repetition_penalty: float = 1.1
    # The model card's limits. A partial frame cannot be decoded, so the limit rounds down to
    # whole frames (2048 -> 2044 tokens, 292 frames, ~25 s of audio).
    max_new_tokens: int = 2048
    min_new_tokens: int = 28
    seed: int | None = None

    def __post_init__(self) -> None:
        checks = (
            (math.isfinite(self.temperature) and self.temperature > 0, "temperature must be > 0"),
            (math.isfinite(self.top_p) and 0 < self.top_p <= 1, "top_p must be in (0, 1]"),
            (isinstance(self.top_k, int) and self.top_k >= 0, "top_k must be an integer >= 0"),
            (math.isfinite(self.repetition_penalty) and self.repetition_penalty > 0,
             "repetition_penalty must be > 0"),
            (self.max_new_tokens >= CODES_PER_FRAME, "max_new_tokens must be >= 7 (a frame)"),
            (0 <= self.min_new_tokens <= self.max_new_tokens,
             "min_new_tokens must be in [0, max_new_tokens]"),
        )
        for ok, message in checks:
            if not ok:
                raise InvalidInputError(f"{message}, got {self}")

    @property
    def code_limit(self) -> int:
        """The most codes one sequence generates: whole frames within max_new_tokens."""
        return self.max_new_tokens - self.max_new_tokens % CODES_PER_FRAME


def band_masks(vocab_size: int = VOCAB_SIZE) -> torch.Tensor:
    """[8, V] bool: rows 0..6 the ids slot k may take; row 7 the same as row 0 plus CODE_END
    (a frame boundary past the minimum length)."""
    masks = torch.zeros(CODES_PER_FRAME + 1, vocab_size, dtype=torch.bool)
    for slot in range(CODES_PER_FRAME):
        low, high = slot_band(slot)
        masks[slot, low:high] = True
    masks[CODES_PER_FRAME] = masks[0]
    masks[CODES_PER_FRAME, CODE_END] = True
    return masks


def mask_rows(generated: list[int], min_new_tokens: list[int]) -> torch.Tensor:
    """Per sequence, the row of `band_masks` for its next token."""
    rows = [CODES_PER_FRAME if n % CODES_PER_FRAME == 0 and n >= least else n % CODES_PER_FRAME
            for n, least in zip(generated, min_new_tokens, strict=True)]
    return torch.tensor(rows, dtype=torch.long)


def apply_repetition_penalty(logits: torch.Tensor, history: list[torch.Tensor],
                             penalties: torch.Tensor) -> torch.Tensor:
    """transformers' rule: a seen token's logit is divided by the penalty when positive and
    multiplied when negative. `history[b]`: the ids sequence b generated so far."""
    for row, seen in enumerate(history):
        if seen.numel() == 0 or float(penalties[row]) == 1.0:
            continue
        scores = logits[row, seen]
        logits[row, seen] = torch.where(scores > 0, scores / penalties[row],
                                        scores * penalties[row])
    return logits


def top_p_filter(logits: torch.Tensor, top_p: torch.Tensor) -> torch.Tensor:
    """Keep the smallest set of ids whose probability reaches top_p (at least one)."""
    sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
    cumulative = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
    remove = cumulative - sorted_logits.softmax(dim=-1) >= top_p[:, None]
    remove[:, 0] = False
    sorted_logits = sorted_logits.masked_fill(remove, -math.inf)
    return torch.full_like(logits, -math.inf).scatter(-1, order, sorted_logits)


def top_k_filter(logits: torch.Tensor, top_k: torch.Tensor) -> torch.Tensor:
    """Keep each row's `top_k` highest logits (0: keep all); ties at the k-th value stay, as
    in transformers' TopKLogitsWarper."""
    k = torch.where(top_k > 0, top_k, logits.shape[-1]).clamp(max=logits.shape[-1])
    kth = torch.sort(logits, descending=True, dim=-1).values.gather(1, (k - 1)[:, None])
    return logits.masked_fill(logits < kth, -math.inf)


def candidates(generated: list[int]) -> torch.Tensor:
    """[B, 4097]: per sequence, the ids of its next slot's band and CODE_END (the last column,
    masked by `end_allowed`)."""
    slots = torch.tensor([n % CODES_PER_FRAME for n in generated])
    lows = torch.tensor([slot_band(0)[0]]) + slots * CODEBOOK_SIZE
    band = lows[:, None] + torch.arange(CODEBOOK_SIZE)[None]
    end = torch.full((len(generated), 1), CODE_END)
    return torch.cat([band, end], dim=1)


def sample_next(logits: torch.Tensor, masks: torch.Tensor, generated: list[int],
                history: list[torch.Tensor], settings: list[SamplingSettings],
                generators: list[torch.Generator]) -> list[int]:
    """One token per sequence from its last logits [B, V], within its slot's band.

    Only the 4097 ids a sequence may draw are scored (its band and CODE_END), not the whole
    vocabulary: the nucleus sort is then 38 times smaller. `masks` (band_masks) says where
    CODE_END is allowed."""
    logits = apply_repetition_penalty(
        logits.float().clone(), history,
        torch.tensor([s.repetition_penalty for s in settings]))
    ids = candidates(generated)
    scores = logits.gather(1, ids)
    rows = mask_rows(generated, [s.min_new_tokens for s in settings])
    end_allowed = masks[rows, CODE_END]
    scores[:, -1] = scores[:, -1].masked_fill(~end_allowed, -math.inf)
    scores = scores / torch.tensor([s.temperature for s in settings])[:, None]
    scores = top_k_filter(scores, torch.tensor([s.top_k for s in settings]))
    scores = top_p_filter(scores, torch.tensor([s.top_p for s in settings]))
    probabilities = scores.softmax(dim=-1)
    return [int(ids[row, torch.multinomial(probabilities[row], 1, generator=generators[row])])
            for row in range(len(settings))]
