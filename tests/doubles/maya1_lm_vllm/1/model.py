"""TEST DOUBLE of `maya1_lm` on Triton's vLLM backend: not an LM, and never deployed.

It speaks the vLLM backend's wire contract (decoupled; `text_input`, `stream`,
`sampling_parameters` JSON, `exclude_input_in_output` in; `text_output` pieces out) so that
the CPU tests can run maya1_stream's BLS path through a real tritonserver:

- it checks what a real vLLM backend needs: streaming with the input excluded, the stop token
  CODE_END, special tokens kept in the output;
- it tokenizes `text_input` the way vLLM does (transformers' AutoTokenizer on the tokenizer
  folder the gpu profile writes for vLLM, special tokens added by the tokenizer if it adds
  any) and refuses a prompt that does not come back as Maya1's layout [SOH, BOS, ...,
  EOT, EOH, SOA, SOS];
- it "generates" max_tokens // 7 frames of valid codes drawn from numpy's default_rng(seed)
  and sends them as `<custom_token_N>` text, space separated (as vLLM joins special tokens)
  and cut into pieces of random length, so a token may straddle two responses;
- when the prompt holds the word "stray", slot 3 of frame 5 gets an id of slot 0's band, for
  the tests of how a wrong-band id is handled.
"""

import json
from pathlib import Path

import numpy as np
import triton_python_backend_utils as pb_utils

from tritontts.maya1.prompt import PREFIX, SUFFIX
from tritontts.maya1.tokens import BOS, CODE_END, CODES_PER_FRAME, CUSTOM_TOKEN_BASE, slot_band
from tritontts_client import contract

FINAL = pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL
STRAY_FRAME, STRAY_SLOT = 5, 3


class TritonPythonModel:
    def initialize(self, args):
        from transformers import AutoTokenizer

        config = json.loads(args["model_config"])
        folder = Path(args["model_repository"]) / args["model_version"]
        tokenizer_dir = folder / config["parameters"]["tokenizer_dir"]["string_value"]
        self.tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))

    def execute(self, requests):
        for request in requests:
            sender = request.get_response_sender()
            try:
                for piece in self._pieces(request):
                    sender.send(pb_utils.InferenceResponse([pb_utils.Tensor(
                        contract.VLLM_TEXT_OUTPUT.name,
                        np.array([piece.encode()], dtype=object))]))
                sender.send(flags=FINAL)
            except Exception as exc:
                sender.send(pb_utils.InferenceResponse(error=pb_utils.TritonError(
                    f"maya1_lm test double: {exc}")), flags=FINAL)
        return None

    def _pieces(self, request):
        def value(spec):
            tensor = pb_utils.get_input_tensor_by_name(request, spec.name)
            return None if tensor is None else tensor.as_numpy().reshape(-1)[0]

        if not value(contract.VLLM_STREAM) or not value(contract.VLLM_EXCLUDE_INPUT_IN_OUTPUT):
            raise ValueError("a streamed request must set stream and exclude_input_in_output")
        parameters = json.loads(value(contract.VLLM_SAMPLING_PARAMETERS).decode())
        if parameters.get("stop_token_ids") != [CODE_END]:
            raise ValueError(f"stop_token_ids must be [{CODE_END}]: {parameters}")
        if parameters.get("skip_special_tokens") is not False:
            raise ValueError("skip_special_tokens must be false: codes are special tokens")
        text = value(contract.VLLM_TEXT_INPUT).decode()
        ids = self.tokenizer.encode(text)  # as vLLM does: add_special_tokens left on
        # The reference's ids: the checkpoint tokenizer's BOS, then the string's SOH and BOS.
        head = [BOS, *PREFIX]
        if ids[: len(head)] != head or ids[-len(SUFFIX):] != list(SUFFIX):
            raise ValueError(f"the prompt text tokenizes to {ids[:4]} ... {ids[-4:]}, not "
                             f"{head} ... {list(SUFFIX)}")
        rng = np.random.default_rng(parameters.get("seed"))
        tokens = []
        for frame in range(int(parameters["max_tokens"]) // CODES_PER_FRAME):
            for slot in range(CODES_PER_FRAME):
                low, _ = slot_band(slot)
                if "stray" in text and (frame, slot) == (STRAY_FRAME, STRAY_SLOT):
                    low, _ = slot_band(0)
                token_id = low + int(rng.integers(0, 4096))
                tokens.append(f"<custom_token_{token_id - CUSTOM_TOKEN_BASE}>")
        stream = " ".join(tokens)
        position = 0
        while position < len(stream):
            step = int(rng.integers(1, 60))
            yield stream[position : position + step]
            position += step
