"""What every python-backend `model.py` of tritontts shares, whatever its family: reading
tensors and parameters, turning exceptions into per-request error responses, running a batched
stage, and calling another model (BLS).

Importable only inside Triton's python backend stub (it provides triton_python_backend_utils).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import triton_python_backend_utils as pb_utils

from tritontts.errors import InvalidInputError
from tritontts_client.contract import INTERNAL, INVALID_ARG, STREAM_CODE_SEPARATOR, TEXT


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

    def json_param(self, key: str) -> Any:
        """A parameter that holds JSON (for example the `voices` list)."""
        return json.loads(self.param(key))


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


def optional_text(request: Any, name: str) -> str | None:
    return None if optional_input(request, name) is None else text_input(request, name)


def text_input(request: Any, name: str = TEXT.name) -> str:
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


def error_response(exc: BaseException, stream: bool = False) -> Any:
    if isinstance(exc, InvalidInputError):
        code, message = pb_utils.TritonError.INVALID_ARG, str(exc)
        name = INVALID_ARG
    else:
        code, message = pb_utils.TritonError.INTERNAL, f"{type(exc).__name__}: {exc}"
        name = INTERNAL
    if stream:
        # gRPC stream responses carry no status code: the code's name leads the message.
        message = f"{name}{STREAM_CODE_SEPARATOR}{message}"
    return pb_utils.InferenceResponse(error=pb_utils.TritonError(message, code))


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
                      compute: Callable[..., list[StageOutput]],
                      optional_names: Sequence[str] = ()) -> list:
    """Run one stage call over all requests of a dynamic batch (each holds n_r items).

    Inputs are padded to common shapes and concatenated; outputs are split back per request and
    trimmed on their last axis to the widest valid item of that request. An optional input is
    passed to `compute` (as a keyword) only when every request of the batch sent it.
    """
    responses: list[Any] = [None] * len(requests)
    accepted: list[int] = []
    columns: list[list[np.ndarray]] = [[] for _ in input_names]
    extras: dict[str, list[np.ndarray | None]] = {}
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
        for name in optional_names:
            extras.setdefault(name, []).append(optional_input(request, name))
    if not accepted:
        return responses
    counts = [columns[0][k].shape[0] for k in range(len(accepted))]
    keywords = {name: _stack_padded(values) for name, values in extras.items()
                if all(v is not None for v in values)}
    try:
        outputs = compute(*(_stack_padded(column) for column in columns), **keywords)
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


class StageCallError(RuntimeError):
    """A call from one model to another (BLS) failed; the message names the called model."""


async def call_model(model_name: str, inputs: dict[str, np.ndarray],
                     output_names: Sequence[str]) -> dict[str, np.ndarray]:
    """Run another model of the repository (BLS, awaited) and return its outputs as arrays.

    Awaited calls from an async `execute` are how one model serves many streams at once: calls
    made from several threads crash the 2.51 python backend (seen here: SIGSEGV and
    std::bad_alloc inside libtriton_python with 8 concurrent streams). The backend also hands
    BLS errors back as INTERNAL whatever their code, so callers validate requests themselves.
    """
    request = pb_utils.InferenceRequest(
        model_name=model_name,
        inputs=[pb_utils.Tensor(name, array) for name, array in inputs.items()],
        requested_output_names=list(output_names))
    response = await request.async_exec()
    if response.has_error():
        raise StageCallError(f"model {model_name!r} failed: {response.error().message()}")
    outputs = {}
    for name in output_names:
        tensor = pb_utils.get_output_tensor_by_name(response, name)
        if tensor is None:
            raise StageCallError(f"model {model_name!r} returned no {name}")
        outputs[name] = tensor.as_numpy()
    return outputs


# Threads that wait for the next response of decoupled BLS calls (one per stream in flight).
_STREAM_WAITERS = ThreadPoolExecutor(max_workers=64, thread_name_prefix="bls-stream")


async def stream_model_call(model_name: str, inputs: dict[str, np.ndarray],
                            output_names: Sequence[str]
                            ) -> AsyncGenerator[dict[str, np.ndarray], None]:
    """Run a decoupled model of the repository (BLS) and yield each response's outputs.

    In the 2.51 python backend `await async_exec(decoupled=True)` gives a plain iterator whose
    `next` blocks until the next response (no `__anext__`), so each `next` waits on a worker
    thread while the event loop serves the other streams. Closing the generator early
    cancels the call. Responses without outputs (the empty final one) are skipped."""
    request = pb_utils.InferenceRequest(
        model_name=model_name,
        inputs=[pb_utils.Tensor(name, array) for name, array in inputs.items()],
        requested_output_names=list(output_names))
    responses = await request.async_exec(decoupled=True)
    loop = asyncio.get_running_loop()
    finished = False
    try:
        while True:
            response = await loop.run_in_executor(_STREAM_WAITERS, next, responses, None)
            if response is None:
                finished = True
                return
            if response.has_error():
                finished = True
                raise StageCallError(f"model {model_name!r} failed: {response.error().message()}")
            outputs = {}
            for name in output_names:
                tensor = pb_utils.get_output_tensor_by_name(response, name)
                if tensor is not None:
                    outputs[name] = tensor.as_numpy()
            if outputs:
                yield outputs
    finally:
        if not finished and hasattr(responses, "cancel"):
            responses.cancel()
