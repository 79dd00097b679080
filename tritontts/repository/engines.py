"""TensorRT engine files of one model version folder, one per GPU compute capability, as
Triton's `cc_model_filenames` names them so that each GPU generation loads its own engine; and
the files a graph model of the gpu profile serves (engines, or ONNX), whatever its family."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tritontts_client.contract import (
    ENGINE_FILENAME,
    ENGINE_GLOB,
    ENGINE_PATTERN,
    ONNX_FILENAME,
    PLAN_FILENAME,
)

_ENGINE_NAME = re.compile(ENGINE_PATTERN)


def engine_filename(compute_capability: tuple[int, int] | str) -> str:
    """(8, 0) or "8.0" → "model_sm80.plan"; (12, 0) → "model_sm120.plan"."""
    if isinstance(compute_capability, str):
        major, minor = (int(part) for part in compute_capability.split("."))
    else:
        major, minor = compute_capability
    if minor > 9 or major < 1:
        raise ValueError(f"not a compute capability: {compute_capability!r}")
    return ENGINE_FILENAME.format(major=major, minor=minor)


def cc_model_filenames(plan_dir: Path) -> dict[str, str]:
    """{"8.0": "model_sm80.plan", ...} for the engines in a model version folder."""
    found = {}
    for path in sorted(Path(plan_dir).glob(ENGINE_GLOB)):
        match = _ENGINE_NAME.fullmatch(path.name)
        if match:
            found[f"{int(match[1])}.{match[2]}"] = path.name
    return found


# Triton's platform names for a graph served by a native backend.
TENSORRT_PLATFORM = "tensorrt_plan"
ONNXRUNTIME_PLATFORM = "onnxruntime_onnx"


@dataclass(frozen=True)
class StagePlans:
    """TensorRT engines of one graph model (a Piper stage, Maya1's SNAC decoder): the folder
    holding them and {capability: file}."""

    directory: Path
    cc_model_filenames: Mapping[str, str]


@dataclass(frozen=True)
class GraphFiles:
    """What a graph model serves: the platform, its default file, the files to copy into the
    version folder, and the engine of each compute capability (none for ONNX)."""

    platform: str
    filename: str
    files: dict[str, Path]
    engines: dict[str, str]


def graph_files(plans: StagePlans | None, onnx_graph: Path) -> GraphFiles:
    """TensorRT engines when they were built, else the ONNX graph on ONNX Runtime."""
    if plans is None:
        return GraphFiles(ONNXRUNTIME_PLATFORM, ONNX_FILENAME, {ONNX_FILENAME: Path(onnx_graph)},
                          {})
    files = {name: plans.directory / name for name in plans.cc_model_filenames.values()}
    files[PLAN_FILENAME] = plans.directory / PLAN_FILENAME
    return GraphFiles(TENSORRT_PLATFORM, PLAN_FILENAME, files, dict(plans.cc_model_filenames))
