"""The Maya1 models of the cpu profile, as typed descriptions the repository renderer turns
into config.pbtxt: `maya1_stream` (decoupled, holds the LM and the SNAC decoder) and `maya1`
(the whole utterance, through maya1_stream). The checkpoint's files and the SNAC graph are
placed (hard-linked where possible) in maya1_stream's version folder. The gpu profile's
variant (LM and SNAC as models of their own, over BLS) is in `gpu.py`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tritontts.maya1.checkpoint import Maya1Checkpoint
from tritontts.maya1.prompt import PromptLimits
from tritontts.repository import Batching, PythonModel, RenderError, Tensor
from tritontts.repository.render import SOURCES
from tritontts_client import contract

SOURCE_DIR = SOURCES / "maya1"
CHECKPOINT_FOLDER = "maya1"
SNAC_GRAPH = "snac_decoder.onnx"

INPUTS = (
    Tensor.of(contract.TEXT, (1,)),
    Tensor.of(contract.DESCRIPTION, (1,)),
    Tensor.of(contract.MAX_NEW_TOKENS, (1,), optional=True),
    Tensor.of(contract.TEMPERATURE, (1,), optional=True),
    Tensor.of(contract.TOP_P, (1,), optional=True),
    Tensor.of(contract.TOP_K, (1,), optional=True),
    Tensor.of(contract.REPETITION_PENALTY, (1,), optional=True),
    Tensor.of(contract.SEED, (1,), optional=True),
)
OUTPUTS = (
    Tensor.of(contract.AUDIO, (-1,)),
    Tensor.of(contract.SAMPLE_RATE, (1,)),
)


@dataclass(frozen=True)
class Maya1Setup:
    checkpoint_dir: Path  # the LM snapshot (config.json, *.safetensors, tokenizer.json)
    snac_graph: Path  # the SNAC decoder exported by export/snac.py
    limits: PromptLimits = field(default_factory=PromptLimits)
    max_batch: int = 16  # sequences the LM decodes together
    snac_threads: int = 1
    speech_instances: int = 1
    speech_batch: int = 8  # requests `maya1` opens at once


def stream_model(parameters: dict[str, str], files: dict[str, Path],
                 limits: PromptLimits) -> PythonModel:
    """maya1_stream with its LM and SNAC chosen by `parameters` (cpu or gpu profile)."""
    return PythonModel(
        name=contract.MAYA1_STREAM_MODEL,
        inputs=(*INPUTS, Tensor.of(contract.WHOLE_SENTENCES, (1,), optional=True)),
        outputs=OUTPUTS, max_batch_size=0, instances=1, decoupled=True,
        parameters={**parameters,
                    contract.PARAM_MAX_TEXT_CHARS: str(limits.max_text_chars),
                    contract.PARAM_MAX_DESCRIPTION_CHARS: str(limits.max_description_chars),
                    contract.PARAM_CHUNK_CHARS: str(limits.chunk_chars),
                    contract.PARAM_MAX_CHUNKS: str(limits.max_chunks),
                    contract.PARAM_CONTINUITY_FRAMES: str(limits.continuity_frames)},
        files=files, source_dir=SOURCE_DIR / "stream")


def speech_model(instances: int = 1, batch: int = 8) -> PythonModel:
    return PythonModel(
        name=contract.MAYA1_MODEL, inputs=INPUTS, outputs=OUTPUTS,
        max_batch_size=batch, instances=instances,
        # Requests that arrive together are opened together and so share the LM's batch.
        batching=Batching(max_queue_delay_us=2000),
        source_dir=SOURCE_DIR / "speech")


def maya1_models(setup: Maya1Setup) -> list[PythonModel]:
    checkpoint = Maya1Checkpoint(Path(setup.checkpoint_dir)).check()
    if not Path(setup.snac_graph).is_file():
        raise RenderError(f"{setup.snac_graph} does not exist: export SNAC first "
                          "(`tritontts repository --maya1 DIR --snac DIR` does)")
    files = {f"{CHECKPOINT_FOLDER}/{path.name}": path
             for path in sorted(checkpoint.directory.iterdir()) if path.is_file()}
    files[SNAC_GRAPH] = Path(setup.snac_graph)
    stream = stream_model(
        {contract.PARAM_LM_BACKEND: contract.LM_BACKEND_PYTORCH,
         contract.PARAM_CHECKPOINT: CHECKPOINT_FOLDER,
         contract.PARAM_SNAC_ONNX: SNAC_GRAPH,
         contract.PARAM_MAX_BATCH: str(setup.max_batch),
         contract.PARAM_THREADS: str(setup.snac_threads)},
        files, setup.limits)
    return [stream, speech_model(setup.speech_instances, setup.speech_batch)]
