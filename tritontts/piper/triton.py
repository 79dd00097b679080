"""What the Piper models' `model.py` adapters share: the voices and text frontends their
parameters describe, and the per-request options of the entry models.

Importable only inside Triton's python backend stub (it provides triton_python_backend_utils).
"""

from __future__ import annotations

from typing import Any

from tritontts.piper.frontend import FrontendLimits, TextFrontend, VoiceFrontends
from tritontts.piper.stages import WARM_UP_FRAMES
from tritontts.piper.voice import PiperVoiceConfig
from tritontts.serving.adapter import ModelArgs, optional_scalar
from tritontts.text import load_lexicon
from tritontts_client import contract as c


def voices(model: ModelArgs) -> list[dict[str, Any]]:
    """The `voices` parameter: one entry per voice served, the default voice first (its name,
    files relative to the version folder, sample rate, hop length, channels)."""
    return model.json_param(c.PARAM_VOICES)


def stage_threads_and_sub_batch(model: ModelArgs) -> tuple[int, int]:
    """A stage runner's ONNX Runtime threads and items per session call."""
    return int(model.param(c.PARAM_THREADS)), int(model.param(c.PARAM_SUB_BATCH))


def stage_runtime(model: ModelArgs) -> tuple[str, str]:
    """The runtime and precision a stage model's parameters ask for (absent: the defaults)."""
    return (model.parameters.get(c.PARAM_RUNTIME, c.RUNTIME_ONNXRUNTIME),
            model.parameters.get(c.PARAM_PRECISION, c.PRECISION_F32))


def log_stage_runtime(model: ModelArgs, runners: list[Any]) -> None:
    """One line in the server log per stage instance: the runtime and precision it runs in,
    and a warning when this CPU made it fall back to f32."""
    import triton_python_backend_utils as pb_utils

    from tritontts.piper.runtimes import cpu_features

    runtime, precision = stage_runtime(model)
    described = "; ".join(sorted({r.description for r in runners}))
    features = f", {cpu_features().describe()}" if runtime == c.RUNTIME_OPENVINO else ""
    pb_utils.Logger.log_info(f"{model.name}: stage runtime {runtime}, precision {precision} "
                             f"asked for; running {described}{features}")
    for note in sorted({r.fallback for r in runners if getattr(r, "fallback", None)}):
        pb_utils.Logger.log_warn(f"{model.name}: {note}")


def log_warm_up(model: ModelArgs, widths: list[int]) -> None:
    """The server log says how many latent widths each voice's vocoder prepared at load (a
    runner that prepares kernels per shape; stages.frame_bucket)."""
    import triton_python_backend_utils as pb_utils

    if any(widths):
        pb_utils.Logger.log_info(f"{model.name}: prepared {max(widths)} latent widths up to "
                                 f"{WARM_UP_FRAMES} frames per voice")


def load_frontends(model: ModelArgs) -> VoiceFrontends:
    """The text frontends a model's parameters describe: one per voice, with the limits and the
    pronunciation dictionary of the deployment."""
    limits = FrontendLimits(max_text_chars=int(model.param(c.PARAM_MAX_TEXT_CHARS)),
                            max_phoneme_ids=int(model.param(c.PARAM_MAX_PHONEME_IDS)),
                            max_chunks=int(model.param(c.PARAM_MAX_CHUNKS)))
    lexicon = (load_lexicon(model.path(c.PARAM_LEXICON)) if c.PARAM_LEXICON in model.parameters
               else None)
    buckets = tuple(int(n) for n in model.parameters.get(c.PARAM_LENGTH_BUCKETS, "").split(",")
                    if n)
    pause_s = float(model.param(c.PARAM_SENTENCE_PAUSE_S))
    return VoiceFrontends([
        TextFrontend(PiperVoiceConfig.load(model.version_dir / voice[c.VOICE_CONFIG_FILE]),
                     limits, lexicon, sentence_pause_s=pause_s, length_buckets=buckets,
                     voice_name=voice[c.VOICE_NAME])
        for voice in voices(model)])


def request_options(request: Any) -> dict[str, float | None]:
    """The optional per-request numbers of `tts` and `tts_stream`, by keyword."""
    return {keyword: optional_scalar(request, spec.name)
            for keyword, spec in c.OPTION_INPUTS.items()}
