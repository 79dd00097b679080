"""What every python-backend `model.py` of tritontts shares: reading tensors and parameters,
turning exceptions into per-request error responses, and running a batched stage.

Importable only inside Triton's python backend stub (it provides triton_python_backend_utils).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import triton_python_backend_utils as pb_utils

from tritontts.voice import InvalidInputError


class ModelArgs:
    """The `args` dict of `initialize`, with the model's string parameters parsed."""

    def __init__(self, args: dict[str, Any]) -> None:
        self.config = json.loads(args["model_config"])
        self.name: str = args["model_name"]
        self.version_dir = Path(args["model_repository"]) / args["model_version"]
        self.parameters = {k: v["string_value"]
                           for k, v in self.config.get("parameters", {}).items()}

    def param(self, key: str) -> str:
        try:
            return self.parameters[key]
        except KeyError:
            raise pb_utils.TritonModelException(
                f"model {self.name}: config.pbtxt lacks parameter {key!r}; "
                "rebuild the repository with `make repository`") from None

    def path(self, key: str) -> Path:
        return self.version_dir / self.param(key)


def optional_input(request: Any, name: str) -> np.ndarray | None:
    tensor = pb_utils.get_input_tensor_by_name(request, name)
    return None if tensor is None else tensor.as_numpy()


def required_input(request: Any, name: str) -> np.ndarray:
    array = optional_input(request, name)
    if array is None:
        raise InvalidInputError(f"input {name} is required")
    return array


def optional_scalar(request: Any, name: str) -> float | None:
    array = optional_input(request, name)
    if array is None:
        return None
    if array.size != 1:
        raise InvalidInputError(f"{name} takes exactly one value, got shape {list(array.shape)}")
    return float(array.reshape(-1)[0])


def text_input(request: Any, name: str = "TEXT") -> str:
    array = required_input(request, name)
    if array.size != 1:
        raise InvalidInputError(f"{name} takes exactly one string, got shape {list(array.shape)}")
    value = array.reshape(-1)[0]
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInputError(f"{name} is not valid UTF-8: {exc}") from None
    return str(value)


def error_response(exc: BaseException) -> Any:
    if isinstance(exc, InvalidInputError):
        error = pb_utils.TritonError(str(exc), pb_utils.TritonError.INVALID_ARG)
    else:
        error = pb_utils.TritonError(f"{type(exc).__name__}: {exc}", pb_utils.TritonError.INTERNAL)
    return pb_utils.InferenceResponse(error=error)


def respond_each(requests: Sequence[Any], handle: Callable[[Any], dict[str, np.ndarray]]) -> list:
    """One response per request; a failure answers that request only."""
    responses = []
    for request in requests:
        try:
            outputs = handle(request)
            responses.append(pb_utils.InferenceResponse(
                [pb_utils.Tensor(name, array) for name, array in outputs.items()]))
        except Exception as exc:
            responses.append(error_response(exc))
    return responses


def _stack_padded(arrays: list[np.ndarray]) -> np.ndarray:
    """Concatenate along axis 0, right-padding the other axes with zeros."""
    shape = [sum(a.shape[0] for a in arrays), *np.max([a.shape[1:] for a in arrays], axis=0)]
    out = np.zeros(shape, dtype=arrays[0].dtype)
    row = 0
    for array in arrays:
        index = (slice(row, row + array.shape[0]), *(slice(0, n) for n in array.shape[1:]))
        out[index] = array
        row += array.shape[0]
    return out


StageOutput = tuple[str, np.ndarray, np.ndarray | None]  # name, [N, ...], valid last-axis width


def run_batched_stage(requests: Sequence[Any], input_names: Sequence[str],
                      compute: Callable[..., list[StageOutput]]) -> list:
    """Run one stage call over all requests of a dynamic batch (each holds n_r items).

    Inputs are padded to common shapes and concatenated; outputs are split back per request and
    trimmed on their last axis to the widest valid item of that request.
    """
    responses: list[Any] = [None] * len(requests)
    accepted: list[int] = []
    columns: list[list[np.ndarray]] = [[] for _ in input_names]
    for i, request in enumerate(requests):
        if hasattr(request, "is_cancelled") and request.is_cancelled():
            responses[i] = pb_utils.InferenceResponse(error=pb_utils.TritonError(
                "request cancelled", pb_utils.TritonError.CANCELLED))
            continue
        try:
            arrays = [required_input(request, name) for name in input_names]
        except Exception as exc:
            responses[i] = error_response(exc)
            continue
        accepted.append(i)
        for column, array in zip(columns, arrays, strict=True):
            column.append(array)
    if not accepted:
        return responses
    counts = [columns[0][k].shape[0] for k in range(len(accepted))]
    try:
        outputs = compute(*(_stack_padded(column) for column in columns))
    except Exception as exc:
        for i in accepted:
            responses[i] = error_response(exc)
        return responses
    start = 0
    for i, count in zip(accepted, counts, strict=True):
        tensors = []
        for name, array, widths in outputs:
            part = array[start : start + count]
            if widths is not None:
                part = part[..., : int(widths[start : start + count].max(initial=0))]
            tensors.append(pb_utils.Tensor(name, np.ascontiguousarray(part)))
        responses[i] = pb_utils.InferenceResponse(tensors)
        start += count
    return responses
