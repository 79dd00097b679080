"""The SNAC 24 kHz decoder as an ONNX graph (and a TensorRT engine on GPU hosts).

Inputs `codes_0` [B, N], `codes_1` [B, 2N], `codes_2` [B, 4N] (int64, each with its own
dynamic axis), output `audio` [B, 1, 2048 N]. SNAC's decoder blocks add `randn` noise scaled
by a learned projection; here the noise is zero, which makes the block the identity. Zero, not
a seeded noise input, because the streaming model decodes every frame in several overlapping
windows: with noise drawn per window the windows would disagree where they overlap, and the
graph could not be checked against PyTorch sample for sample. The noise adds a faint texture
that the codes do not carry; without it the same codes always give the same audio.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from tritontts.export.tensorrt import ShapeProfile, require_gpu, save_plan
from tritontts.maya1.checkpoint import SnacCheckpoint
from tritontts.maya1.tokens import CODEBOOK_SIZE, SAMPLES_PER_FRAME
from tritontts.repository.engines import engine_filename
from tritontts_client.contract import MAYA1_SNAC_INPUTS, MAYA1_SNAC_OUTPUT, PLAN_FILENAME

INPUTS = MAYA1_SNAC_INPUTS
OUTPUT = MAYA1_SNAC_OUTPUT
OPSET = 17
GRAPH_NAME = "snac_decoder.onnx"
REPORT_NAME = "snac_decoder.json"
# Frame counts the parity check decodes (a streaming window is 4 frames).
PARITY_FRAMES = (1, 4, 9)
PARITY_TOLERANCE = 1e-4  # max |ONNX Runtime - PyTorch| on samples in [-1, 1]


class SnacParityError(RuntimeError):
    """The exported graph does not reproduce the PyTorch decoder."""


@dataclass(frozen=True)
class SnacExport:
    graph: Path
    max_abs_diff: float
    sample_rate: int


def deterministic_decoder(snac: Any) -> Any:
    """The SNAC model with every NoiseBlock replaced by the identity (zero noise)."""
    import torch
    from snac.layers import NoiseBlock

    for module in list(snac.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, NoiseBlock):
                setattr(module, name, torch.nn.Identity())
    return snac.eval()


def _decoder_module(snac: Any) -> Any:
    import torch

    class Decoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.snac = snac

        def forward(self, codes_0: torch.Tensor, codes_1: torch.Tensor,
                    codes_2: torch.Tensor) -> torch.Tensor:
            # snac's own `from_codes`, with `repeat_interleave` written as expand + reshape:
            # the TorchScript exporter fixes repeat_interleave's sizes at the traced shape.
            latent = 0.0
            for codes, quantizer in zip((codes_0, codes_1, codes_2),
                                        self.snac.quantizer.quantizers, strict=True):
                part = quantizer.out_proj(quantizer.decode_code(codes))
                latent = latent + part[..., None].expand(
                    -1, -1, -1, quantizer.stride).flatten(2)
            return self.snac.decoder(latent)

    return Decoder().eval()


def random_codes(frames: int, batch: int = 1, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {name: rng.integers(0, CODEBOOK_SIZE, (batch, frames << level), dtype=np.int64)
            for level, name in enumerate(INPUTS)}


def export_snac_decoder(snac_dir: Path, out_dir: Path,
                        progress: Callable[[str], None] = print) -> SnacExport:
    """Export, check with onnx.checker, and compare with PyTorch on random codes."""
    import torch

    snac = deterministic_decoder(SnacCheckpoint(Path(snac_dir)).load())
    decoder = _decoder_module(snac)
    out_dir.mkdir(parents=True, exist_ok=True)
    graph = out_dir / GRAPH_NAME
    example = tuple(torch.from_numpy(a) for a in random_codes(4).values())
    with torch.inference_mode():
        torch.onnx.export(
            decoder, example, str(graph), dynamo=False, opset_version=OPSET,
            input_names=list(INPUTS), output_names=[OUTPUT],
            dynamic_axes={INPUTS[0]: {0: "batch", 1: "frames"},
                          INPUTS[1]: {0: "batch", 1: "frames_x2"},
                          INPUTS[2]: {0: "batch", 1: "frames_x4"},
                          OUTPUT: {0: "batch", 2: "samples"}})
    onnx.checker.check_model(str(graph))
    worst = parity(snac, graph)
    if worst > PARITY_TOLERANCE:
        raise SnacParityError(f"{graph}: ONNX Runtime differs from PyTorch by {worst:.2e} "
                              f"(tolerance {PARITY_TOLERANCE:.0e})")
    result = SnacExport(graph, worst, int(snac.sampling_rate))
    (out_dir / REPORT_NAME).write_text(json.dumps(
        {"graph": graph.name, "max_abs_diff": worst, "sample_rate": result.sample_rate,
         "noise": "zero", "frames_checked": list(PARITY_FRAMES)}, indent=2))
    progress(f"[snac] wrote {graph}; ONNX Runtime vs PyTorch max |diff| {worst:.2e}")
    return result


def parity(snac: Any, graph: Path, frames: Sequence[int] = PARITY_FRAMES) -> float:
    """Worst |ONNX Runtime - PyTorch| of the graph against snac's own `decode` (zero noise)."""
    import onnxruntime as ort
    import torch

    session = ort.InferenceSession(str(graph), providers=["CPUExecutionProvider"])
    worst = 0.0
    for count in frames:
        feeds = random_codes(count, batch=2, seed=count)
        with torch.inference_mode():
            expected = snac.decode([torch.from_numpy(a) for a in feeds.values()]).numpy()
        (got,) = session.run([OUTPUT], feeds)
        if got.shape != (2, 1, SAMPLES_PER_FRAME * count):
            raise SnacParityError(f"{graph}: {count} frames gave shape {got.shape}")
        worst = max(worst, float(np.abs(got - expected).max()))
    return worst


def snac_profiles(max_frames: int = 64, opt_frames: int = 4,
                  max_batch: int = 16) -> list[ShapeProfile]:
    """One TensorRT profile: windows of 4 frames in batches, up to whole sentences."""
    return [ShapeProfile(name, (1, 1 << level), (max(1, max_batch // 2), opt_frames << level),
                         (max_batch, max_frames << level))
            for level, name in enumerate(INPUTS)]


def build_snac_engine(graph: Path, plan_dir: Path,
                      profiles: Sequence[ShapeProfile] | None = None,
                      timing_cache: Path | None = None,
                      progress: Callable[[str], None] = print) -> Path:
    """A TensorRT engine of the decoder graph for this host's GPU (model_smXY.plan, copied to
    model.plan); `tritontts repository --profile gpu` serves plan_dir as maya1_snac. Stops
    with GpuRequiredError before anything else on a machine without a CUDA device."""
    device = require_gpu()
    plan = plan_dir / engine_filename(device.compute_capability)
    progress(f"[snac] building {plan} on {device.name}")
    save_plan(graph, plan, profiles or snac_profiles(), timing_cache)
    # Also the default file, for GPUs no per-capability engine was built for (as the stages).
    shutil.copyfile(plan, plan_dir / PLAN_FILENAME)
    return plan
