"""TensorRT engine files of one model version folder, one per GPU compute capability, as
Triton's `cc_model_filenames` names them so that each GPU generation loads its own engine."""

from __future__ import annotations

import re
from pathlib import Path

from tritontts_client.contract import ENGINE_FILENAME, ENGINE_GLOB, ENGINE_PATTERN

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
