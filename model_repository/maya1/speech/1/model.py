"""Triton adapter for `maya1` (one response per request): the whole utterance.

Each request is passed on to `maya1_stream` (BLS) with WHOLE_SENTENCES, so both entry models
share one LM batch; its sentences come back decoded in one SNAC call each and are joined.
A refusal from the stream model (its message starts with INVALID_ARG) stays INVALID_ARG.
"""

import asyncio

import numpy as np
import triton_python_backend_utils as pb_utils

from tritontts.errors import InvalidInputError
from tritontts.serving.adapter import error_response
from tritontts_client import contract
from tritontts_client.contract import STREAM_CODE_SEPARATOR

REFUSAL = f"INVALID_ARG{STREAM_CODE_SEPARATOR}"


class TritonPythonModel:
    async def execute(self, requests):
        # Every request's stream is opened before any is read, so they decode together.
        streams = await asyncio.gather(*(self._open(r) for r in requests),
                                       return_exceptions=True)
        return [self._collect(s) for s in streams]

    async def _open(self, request):
        inputs = [pb_utils.Tensor(t.name(), t.as_numpy().reshape(-1)) for t in request.inputs()]
        inputs.append(pb_utils.Tensor(contract.WHOLE_SENTENCES.name, np.array([True])))
        call = pb_utils.InferenceRequest(
            model_name=contract.MAYA1_STREAM_MODEL, inputs=inputs,
            requested_output_names=[contract.AUDIO.name, contract.SAMPLE_RATE.name])
        return await call.async_exec(decoupled=True)

    @staticmethod
    def _collect(stream):
        try:
            if isinstance(stream, BaseException):
                raise stream
            pieces, rate = [], None
            for response in stream:
                if response.has_error():
                    message = response.error().message()
                    if message.startswith(REFUSAL):
                        raise InvalidInputError(message[len(REFUSAL):])
                    raise RuntimeError(f"model {contract.MAYA1_STREAM_MODEL!r} failed: {message}")
                audio = pb_utils.get_output_tensor_by_name(response, contract.AUDIO.name)
                if audio is not None:
                    pieces.append(audio.as_numpy().reshape(-1))
                    rate = pb_utils.get_output_tensor_by_name(response, contract.SAMPLE_RATE.name)
            if rate is None:
                raise RuntimeError(f"model {contract.MAYA1_STREAM_MODEL!r} sent no audio")
            return pb_utils.InferenceResponse([
                pb_utils.Tensor(contract.AUDIO.name,
                                np.concatenate(pieces)[None].astype(np.float32)),
                pb_utils.Tensor(contract.SAMPLE_RATE.name, rate.as_numpy().reshape(1, 1))])
        except Exception as exc:
            return error_response(exc)
