"""The LM stage on PyTorch + transformers: one loop decodes every sequence in flight together.

Sequences join and leave the running batch between steps. The batch keeps one KV cache,
left-padded: a sequence that joins is prefilled alone (or with the others that arrived at the
same time), then its cache rows are padded on the left to the batch's length and appended;
one that finishes has its rows dropped, and columns nobody attends to any more are cut away.
The attention mask marks each row's padding, and every row has its own positions (the count
of its real tokens), so a sequence decodes the same whichever batch it shares.

The loop runs on a thread of its own; `submit` is safe to call from any thread, and the
callbacks of a sequence are called on the loop's thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from tritontts.maya1.sampling import SamplingSettings, band_masks, sample_next
from tritontts.maya1.tokens import CODE_END, CODES_PER_FRAME

log = logging.getLogger(__name__)

StopReason = str  # "end" (CODE_END drawn) or "limit" (max_new_tokens reached)


@dataclass
class Generation:
    """One prompt being generated; callbacks run on the generator's thread."""

    prompt: Sequence[int]
    settings: SamplingSettings
    on_frame: Callable[[tuple[int, ...]], None]
    on_done: Callable[[StopReason | None, BaseException | None], None]
    cancelled: Callable[[], bool] = lambda: False
    generated: list[int] = field(default_factory=list)
    generator: torch.Generator = field(default_factory=torch.Generator)

    def __post_init__(self) -> None:
        if self.settings.seed is None:
            self.generator.seed()
        else:
            self.generator.manual_seed(self.settings.seed)


@dataclass
class _Batch:
    """The running batch: its sequences, KV cache, attention mask [B, T] and last logits."""

    sequences: list[Generation]
    cache: Any
    mask: torch.Tensor
    logits: torch.Tensor


class BatchedGenerator:
    def __init__(self, model: Any, max_batch: int = 16,
                 on_step: Callable[[int], None] | None = None) -> None:
        self.model = model.eval()
        self.max_batch = max_batch
        self.on_step = on_step or (lambda _: None)
        self.masks = band_masks(model.config.vocab_size)
        self._pending: list[Generation] = []
        self._wake = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="maya1-generator", daemon=True)
        self._thread.start()

    def submit(self, sequence: Generation) -> None:
        with self._wake:
            if self._closed:
                raise RuntimeError("the generator is closed")
            self._pending.append(sequence)
            self._wake.notify()

    def start(self, prompt: Sequence[int], settings: SamplingSettings,
              on_frame: Callable[[tuple[int, ...]], None],
              on_done: Callable[[StopReason | None, BaseException | None], None],
              cancelled: Callable[[], bool] = lambda: False) -> None:
        """`submit` with the sequence's parts (the interface `synthesis.Speaker` drives)."""
        self.submit(Generation(prompt, settings, on_frame, on_done, cancelled))

    def close(self) -> None:
        with self._wake:
            self._closed = True
            self._wake.notify()
        self._thread.join(timeout=30)

    # --- the loop ---------------------------------------------------------------------------

    def _loop(self) -> None:
        batch: _Batch | None = None
        while True:
            with self._wake:
                while not self._closed and not self._pending and batch is None:
                    self._wake.wait()
                if self._closed:
                    break
                room = self.max_batch - (len(batch.sequences) if batch else 0)
                joining, self._pending = self._pending[:room], self._pending[room:]
            try:
                with torch.inference_mode():
                    if joining:
                        batch = self._merge(batch, self._prefill(joining))
                    batch = self._step(batch) if batch else None
            except Exception as exc:  # a failed forward fails the sequences in it, not the loop
                log.exception("maya1 generator step failed")
                for sequence in (batch.sequences if batch else []) + joining:
                    sequence.on_done(None, exc)
                batch = None
        for sequence in (batch.sequences if batch else []) + self._pending:
            sequence.on_done(None, RuntimeError("the generator was closed"))

    def _prefill(self, sequences: list[Generation]) -> _Batch:
        from transformers import DynamicCache

        length = max(len(s.prompt) for s in sequences)
        ids = torch.zeros(len(sequences), length, dtype=torch.long)
        mask = torch.zeros(len(sequences), length, dtype=torch.long)
        for row, sequence in enumerate(sequences):
            ids[row, length - len(sequence.prompt):] = torch.tensor(list(sequence.prompt))
            mask[row, length - len(sequence.prompt):] = 1
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        cache = DynamicCache(config=self.model.config)
        out = self.model(input_ids=ids, attention_mask=mask, position_ids=positions,
                         cache=cache, use_cache=True)
        return _Batch(list(sequences), cache, mask, out.logits[:, -1])

    @staticmethod
    def _merge(running: _Batch | None, joining: _Batch) -> _Batch:
        if running is None:
            return joining
        length = max(running.mask.shape[1], joining.mask.shape[1])

        def left_pad(tensor: torch.Tensor, dim: int) -> torch.Tensor:
            missing = length - tensor.shape[dim]
            if missing == 0:
                return tensor
            shape = list(tensor.shape)
            shape[dim] = missing
            return torch.cat([tensor.new_zeros(shape), tensor], dim=dim)

        for ours, theirs in zip(running.cache.layers, joining.cache.layers, strict=True):
            ours.keys = torch.cat([left_pad(ours.keys, 2), left_pad(theirs.keys, 2)])
            ours.values = torch.cat([left_pad(ours.values, 2), left_pad(theirs.values, 2)])
        return _Batch(running.sequences + joining.sequences, running.cache,
                      torch.cat([left_pad(running.mask, 1), left_pad(joining.mask, 1)]),
                      torch.cat([running.logits, joining.logits]))

    def _step(self, batch: _Batch) -> _Batch | None:
        sequences = batch.sequences
        tokens = sample_next(batch.logits, self.masks, [len(s.generated) for s in sequences],
                             [torch.tensor(s.generated, dtype=torch.long) for s in sequences],
                             [s.settings for s in sequences], [s.generator for s in sequences])
        keep = []
        for row, (sequence, token) in enumerate(zip(sequences, tokens, strict=True)):
            reason = self._advance(sequence, token)
            if reason is None:
                keep.append(row)
            elif reason != "cancelled":
                sequence.on_done(reason, None)
            else:
                sequence.on_done(None, None)
        if not keep:
            return None
        if len(keep) < len(sequences):
            batch = self._select(batch, keep)
            tokens = [tokens[row] for row in keep]
        self.on_step(len(batch.sequences))
        mask = torch.cat([batch.mask, batch.mask.new_ones(len(keep), 1)], dim=1)
        positions = batch.mask.sum(-1, keepdim=True)
        out = self.model(input_ids=torch.tensor(tokens)[:, None], attention_mask=mask,
                         position_ids=positions, cache=batch.cache, use_cache=True,
                         cache_position=torch.tensor([batch.mask.shape[1]]))
        return _Batch(batch.sequences, batch.cache, mask, out.logits[:, -1])

    @staticmethod
    def _advance(sequence: Generation, token: int) -> str | None:
        """Record a drawn token; why the sequence stops, or None while it goes on."""
        if sequence.cancelled():
            return "cancelled"
        if token == CODE_END:
            return "end"
        sequence.generated.append(token)
        if len(sequence.generated) % CODES_PER_FRAME == 0:
            sequence.on_frame(tuple(sequence.generated[-CODES_PER_FRAME:]))
        if len(sequence.generated) >= sequence.settings.code_limit:
            return "limit"
        return None

    @staticmethod
    def _select(batch: _Batch, rows: list[int]) -> _Batch:
        index = torch.tensor(rows)
        mask = batch.mask[index]
        # Columns that are padding in every remaining row are cut away.
        first = int(mask.any(0).long().argmax())
        for layer in batch.cache.layers:
            layer.keys = layer.keys[index, :, first:]
            layer.values = layer.values[index, :, first:]
        return _Batch([batch.sequences[r] for r in rows], batch.cache, mask[:, first:],
                      batch.logits[index])
