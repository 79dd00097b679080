"""The wire contract: every name that more than one process or component agrees on.

Model names, tensor names and types, model-config parameter keys, headers, environment
variables, metric names, the stream error prefix and engine file names live here and nowhere
else. The client, the server runner, the model adapters, the repository renderer and `export/`
all take them from this module, which imports nothing but the standard library so that any of
them (the thin client included) can import it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# --- models -------------------------------------------------------------------------------

TTS_MODEL = "tts"
# The `tts` pipeline behind Triton's response cache (identical requests answered from it).
CACHED_TTS_MODEL = "tts_cached"
STREAM_MODEL = "tts_stream"
FRONTEND_MODEL = "frontend"
ACOUSTIC_MODEL = "acoustic"
VOCODER_MODEL = "vocoder"
POSTPROCESS_MODEL = "postprocess"
# The models a request can enter by; the stage models behind them are internal.
ENTRY_MODELS = (TTS_MODEL, CACHED_TTS_MODEL, STREAM_MODEL)
# The models that phonemize text (espeak-ng keeps memory per call: see serving/recovery.py).
TEXT_MODELS = (FRONTEND_MODEL, STREAM_MODEL)
# The stage graphs, in pipeline order.
STAGES = (ACOUSTIC_MODEL, VOCODER_MODEL)

# --- tensors --------------------------------------------------------------------------------

# KServe v2 data types as the wire and the ONNX graphs see them.
WireType = Literal["BOOL", "BYTES", "FP32", "INT32", "INT64", "UINT64"]


@dataclass(frozen=True)
class TensorSpec:
    """A named tensor: its KServe data type and, for graph tensors, the name of each axis
    (None: a static axis, such as the 3 columns of `scales`)."""

    name: str
    dtype: WireType
    axes: tuple[str | None, ...] = ()
    # Present only in some graphs (multi-speaker voices) or sent only by some callers.
    optional: bool = False

    @property
    def config_type(self) -> str:
        """The model-config DataType name (`TYPE_STRING` for BYTES)."""
        return "TYPE_STRING" if self.dtype == "BYTES" else f"TYPE_{self.dtype}"


# Entry models (`tts`, `tts_cached`, `tts_stream`): what clients send and receive.
TEXT = TensorSpec("TEXT", "BYTES")
VOICE = TensorSpec("VOICE", "BYTES", optional=True)  # "<voice>" or "<voice>/<speaker>"
SPEED = TensorSpec("SPEED", "FP32", optional=True)
NOISE_SCALE = TensorSpec("NOISE_SCALE", "FP32", optional=True)
NOISE_W = TensorSpec("NOISE_W", "FP32", optional=True)
AUDIO = TensorSpec("AUDIO", "FP32")
SAMPLE_RATE = TensorSpec("SAMPLE_RATE", "INT32")
ENTRY_INPUTS = (TEXT, VOICE, SPEED, NOISE_SCALE, NOISE_W)
ENTRY_OUTPUTS = (AUDIO, SAMPLE_RATE)
# The request's optional numbers, by the keyword the client and the frontend call them.
OPTION_INPUTS = {"speed": SPEED, "noise_scale": NOISE_SCALE, "noise_w": NOISE_W}

# The frontend's outputs (upper case: produced by python models) ...
PHONEME_IDS_OUT = TensorSpec("PHONEME_IDS", "INT64")
PHONEME_LENGTHS_OUT = TensorSpec("PHONEME_LENGTHS", "INT64")
SCALES_OUT = TensorSpec("SCALES", "FP32")
PAUSES_OUT = TensorSpec("PAUSES", "FP32")
SPEAKER_IDS_OUT = TensorSpec("SPEAKER_IDS", "INT64", optional=True)
VOICE_INDEX_OUT = TensorSpec("VOICE_INDEX", "INT64", optional=True)
# ... and the postprocess's inputs.
WAVEFORM_IN = TensorSpec("WAVEFORM", "FP32")
FRAME_LENGTHS_IN = TensorSpec("FRAME_LENGTHS", "INT64")

# Stage graph tensors (lower case: the ONNX graphs' own names, which a TensorRT plan keeps, so
# that the ONNX Runtime runner and an engine are interchangeable).
PHONEME_IDS = TensorSpec("phoneme_ids", "INT64", ("batch", "phonemes"))
PHONEME_LENGTHS = TensorSpec("phoneme_lengths", "INT64", ("batch",))
SCALES = TensorSpec("scales", "FP32", ("batch", None))
SPEAKER_ID = TensorSpec("speaker_id", "INT64", ("batch",), optional=True)
LATENT = TensorSpec("latent", "FP32", ("batch", None, "frames"))
FRAME_LENGTHS = TensorSpec("frame_lengths", "INT64", ("batch",))
# Frames of each phoneme id (zero on padding); a chunk's durations sum to its frame_lengths.
PHONEME_DURATIONS = TensorSpec("phoneme_durations", "INT64", ("batch", "phonemes"))
SPEAKER_EMBEDDING = TensorSpec("speaker_embedding", "FP32", ("batch", None, None), optional=True)
WAVEFORM = TensorSpec("waveform", "FP32", ("batch", "samples"))
# Not graph tensors: the ensemble's per-chunk pause and, with several voices, each chunk's voice.
PAUSES = TensorSpec("pauses", "FP32")
VOICE_INDEX = TensorSpec("voice_index", "INT64", optional=True)

# --- word timestamps ---
# Entry outputs of `tts`, `tts_cached` and `tts_stream` for clients that ask for them: every
# spoken word (or words espeak-ng runs together, "in the") and its [start, end) in samples of
# the whole utterance (pauses and SSML breaks included). `tts_stream` sends each chunk's words
# with the first audio of that chunk.
WORDS = TensorSpec("WORDS", "BYTES", optional=True)  # [words]
WORD_TIMES = TensorSpec("WORD_TIMES", "INT64", optional=True)  # [words, 2]
TIMESTAMP_OUTPUTS = (WORDS, WORD_TIMES)
# The frontend's word layout: per word (chunk, first phoneme id, end id), [words, 3] ...
WORD_SPANS_OUT = TensorSpec("WORD_SPANS", "INT64")
# ... the ensemble tensor carrying it to the postprocess, which also reads the durations.
WORD_SPANS = TensorSpec("word_spans", "INT64")
PHONEME_DURATIONS_IN = TensorSpec("PHONEME_DURATIONS", "INT64")

# The serving contract of each stage graph, inputs and outputs in order; optional tensors are
# there exactly when the voice has several speakers.
STAGE_GRAPH_IO: dict[str, tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]] = {
    ACOUSTIC_MODEL: ((PHONEME_IDS, PHONEME_LENGTHS, SCALES, SPEAKER_ID),
                     (LATENT, FRAME_LENGTHS, PHONEME_DURATIONS, SPEAKER_EMBEDDING)),
    VOCODER_MODEL: ((LATENT, SPEAKER_EMBEDDING), (WAVEFORM,)),
}

# Frontend outputs → the ensemble tensors the stages read.
FRONTEND_TO_STAGE = {PHONEME_IDS_OUT.name: PHONEME_IDS.name,
                     PHONEME_LENGTHS_OUT.name: PHONEME_LENGTHS.name,
                     SCALES_OUT.name: SCALES.name, PAUSES_OUT.name: PAUSES.name,
                     SPEAKER_IDS_OUT.name: SPEAKER_ID.name, VOICE_INDEX_OUT.name: VOICE_INDEX.name,
                     WORD_SPANS_OUT.name: WORD_SPANS.name, WORDS.name: WORDS.name}

# --- model-config parameters ----------------------------------------------------------------

# JSON list, one entry per voice served (the default voice first), with the keys below.
PARAM_VOICES = "voices"
VOICE_NAME = "name"
VOICE_SAMPLE_RATE = "sample_rate"
VOICE_HOP_LENGTH = "hop_length"
VOICE_LATENT_CHANNELS = "latent_channels"
VOICE_SPEAKER_EMBEDDING_CHANNELS = "speaker_embedding_channels"
VOICE_CONFIG_FILE = "config"  # text models: the voice's .onnx.json
VOICE_GRAPH_FILE = "onnx_model"  # stage models: the voice's stage graph
# Stage runners (cpu profile).
PARAM_THREADS = "threads"
PARAM_SUB_BATCH = "sub_batch"
# Text models.
PARAM_MAX_TEXT_CHARS = "max_text_chars"
PARAM_MAX_PHONEME_IDS = "max_phoneme_ids"
PARAM_MAX_CHUNKS = "max_chunks"
PARAM_SENTENCE_PAUSE_S = "sentence_pause_s"
PARAM_LENGTH_BUCKETS = "length_buckets"
PARAM_LEXICON = "lexicon"
LEXICON_FILE = "lexicon.txt"
# Stream model.
PARAM_FIRST_WINDOW_FRAMES = "first_window_frames"
PARAM_MAX_WINDOW_FRAMES = "max_window_frames"
PARAM_WINDOW_GROWTH = "window_growth"
PARAM_WINDOW_CONTEXT_FRAMES = "window_context_frames"
PARAM_MAX_CONCURRENT_STREAMS = "max_concurrent_streams"
# Set by the server runner to make a reload a real one: Triton 2.51 treats a load request with
# an unchanged config as a no-op (a dead stub would stay), and a changed parameter makes it
# build new instances. The models ignore it.
PARAM_RELOAD = "tritontts_reload"

# The global rate-limiter resource the heavy cpu stages share: one unit per thread they run.
CPU_RESOURCE = "cpu"

# Request priorities at the heavy stages' queues (Triton: 1 is served first; a request that
# names none, as every step of the `tts` ensemble and the stream model's calls do, gets the
# real-time level). Long-audio job workers send theirs at the batch level.
REALTIME_PRIORITY = 1
BATCH_PRIORITY = 2
PRIORITY_LEVELS = 2

# --- stage runtimes (cpu profile) ---------------------------------------------------------

# Which library runs a stage graph, and in what precision; absent: ONNX Runtime, f32 (the
# repository renders them only when a stage leaves those defaults).
PARAM_RUNTIME = "runtime"
PARAM_PRECISION = "precision"
RUNTIME_ONNXRUNTIME = "onnxruntime"
RUNTIME_OPENVINO = "openvino"
RUNTIMES = (RUNTIME_ONNXRUNTIME, RUNTIME_OPENVINO)
PRECISION_F32 = "f32"
PRECISION_BF16 = "bf16"  # the whole graph in bfloat16
PRECISION_MIXED = "mixed"  # bfloat16 only where the stage tolerates it (runtimes.py)
PRECISIONS = (PRECISION_F32, PRECISION_BF16, PRECISION_MIXED)
# Triton's own OpenVINO backend (ngc-cpu profile): its name and the parameters it reads.
OPENVINO_BACKEND = "openvino"
OV_NUM_STREAMS = "NUM_STREAMS"
OV_PERFORMANCE_HINT = "PERFORMANCE_HINT"
OV_INFERENCE_NUM_THREADS = "INFERENCE_NUM_THREADS"
OV_HINT_BF16 = "HINT_BF16"
OV_IR_FILENAME = "model.xml"  # its weights beside it as model.bin
OV_IR_WEIGHTS = "model.bin"

# --- headers and environment ------------------------------------------------------------------

ADMIN_HEADER = "tritontts-admin-key"
API_KEY_HEADER = "tritontts-api-key"
# Triton reads restricted-API headers of gRPC calls under this prefix (metadata is lowercase).
GRPC_HEADER_PREFIX = "triton-grpc-protocol-"
ADMIN_KEY_ENV = "TRITONTTS_ADMIN_KEY"
API_KEY_ENV = "TRITONTTS_API_KEY"
# Triton's own request / response parameters for decoupled streams.
ENABLE_EMPTY_FINAL_RESPONSE = "triton_enable_empty_final_response"
FINAL_RESPONSE = "triton_final_response"


def grpc_header(header: str) -> str:
    """The gRPC metadata key under which Triton looks for a restricted-API header."""
    return GRPC_HEADER_PREFIX + header


# --- metrics ---------------------------------------------------------------------------------

STREAM_FIRST_AUDIO_MS = "tritontts_stream_first_audio_ms"  # histogram
STREAM_CANCELLED_TOTAL = "tritontts_stream_cancelled_total"  # counter
STREAM_IN_FLIGHT = "tritontts_stream_in_flight"  # gauge; the drain waits for 0
# Buckets of the first-audio histogram, in ms.
FIRST_AUDIO_BUCKETS_MS = (10, 25, 50, 75, 100, 150, 200, 300, 500, 1000, 2000, 5000)

# --- errors on streams ----------------------------------------------------------------------

# gRPC stream responses carry an error message but no status code, so stream errors start with
# the code's name ("INVALID_ARG: TEXT is empty ...") for clients to tell refusals from failures.
STREAM_CODE_SEPARATOR = ": "
INVALID_ARG = "INVALID_ARG"
INTERNAL = "INTERNAL"

# --- engine and graph files -----------------------------------------------------------------

ONNX_FILENAME = "model.onnx"
PLAN_FILENAME = "model.plan"
# A TensorRT engine per GPU compute capability: "model_sm80.plan" for 8.0 (repository/engines.py).
ENGINE_FILENAME = "model_sm{major}{minor}.plan"
ENGINE_GLOB = "model_sm*.plan"
ENGINE_PATTERN = r"model_sm(\d+)(\d)\.plan"


# --- the Maya1 family -------------------------------------------------------------------------

MAYA1_MODEL = "maya1"  # whole utterance, one response
MAYA1_STREAM_MODEL = "maya1_stream"  # decoupled: audio chunks as soon as they can be decoded
MAYA1_LM_MODEL = "maya1_lm"  # gpu profile: the LM stage served by an LLM backend
# Inputs of both Maya1 entry models (with TEXT; AUDIO and SAMPLE_RATE out, as `tts`).
DESCRIPTION = TensorSpec("DESCRIPTION", "BYTES")  # the voice, described in words
MAX_NEW_TOKENS = TensorSpec("MAX_NEW_TOKENS", "INT32", optional=True)
TEMPERATURE = TensorSpec("TEMPERATURE", "FP32", optional=True)
TOP_P = TensorSpec("TOP_P", "FP32", optional=True)
REPETITION_PENALTY = TensorSpec("REPETITION_PENALTY", "FP32", optional=True)
SEED = TensorSpec("SEED", "INT64", optional=True)
# maya1_stream only: decode each sentence in one SNAC call and send it whole (what `maya1`
# asks for), instead of frame-by-frame windows.
WHOLE_SENTENCES = TensorSpec("WHOLE_SENTENCES", "BOOL", optional=True)
# Parameters of maya1_stream (files relative to its version folder; max_text_chars,
# max_chunks and threads as above).
PARAM_CHECKPOINT = "checkpoint_dir"
PARAM_SNAC_ONNX = "snac_onnx"
PARAM_MAX_BATCH = "max_batch"
PARAM_MAX_DESCRIPTION_CHARS = "max_description_chars"
PARAM_CHUNK_CHARS = "chunk_chars"
# Steps of the batched decoder, labelled by how many sequences that step decoded together.
MAYA1_DECODE_STEPS_TOTAL = "tritontts_maya1_decode_steps_total"
MAYA1_FIRST_AUDIO_MS = "tritontts_maya1_first_audio_ms"

# The LM stage behind maya1_stream: in-process PyTorch (cpu profile) or an LLM backend called
# over BLS (gpu profile). maya1_stream's `lm_backend` parameter says which.
PARAM_LM_BACKEND = "lm_backend"
LM_BACKEND_PYTORCH = "pytorch"
LM_BACKEND_VLLM = "vllm"
LM_BACKEND_TENSORRTLLM = "tensorrtllm"
LM_BACKENDS = (LM_BACKEND_PYTORCH, LM_BACKEND_VLLM, LM_BACKEND_TENSORRTLLM)
# maya1_stream with an LLM backend: the model it calls, the tokenizer.json it builds prompts
# with, and (gpu profile) the SNAC model it calls instead of its own ONNX Runtime session.
PARAM_LM_MODEL = "lm_model"
PARAM_TOKENIZER = "tokenizer_file"
PARAM_SNAC_MODEL = "snac_model"
PARAM_SNAC_MAX_BATCH = "snac_max_batch"  # windows per call to the SNAC model
MAYA1_SNAC_MODEL = "maya1_snac"  # gpu profile: the SNAC decoder on TensorRT / ONNX Runtime
# The SNAC decoder graph's tensors (export/snac.py): codes [B, N], [B, 2N], [B, 4N] (INT64)
# -> audio [B, 1, 2048 N] (FP32).
MAYA1_SNAC_INPUTS = ("codes_0", "codes_1", "codes_2")
MAYA1_SNAC_OUTPUT = "audio"
# Ids from an LLM backend that break the token layout (wrong slot band, text that is not a
# `<custom_token_N>`, CODE_END inside a frame): each refuses its sequence and is counted.
MAYA1_REFUSED_CODES_TOTAL = "tritontts_maya1_refused_codes_total"

# Triton's vLLM backend (triton-inference-server/vllm_backend): its tensors, as it names them.
VLLM_TEXT_INPUT = TensorSpec("text_input", "BYTES")
VLLM_STREAM = TensorSpec("stream", "BOOL", optional=True)
VLLM_SAMPLING_PARAMETERS = TensorSpec("sampling_parameters", "BYTES", optional=True)
VLLM_EXCLUDE_INPUT_IN_OUTPUT = TensorSpec("exclude_input_in_output", "BOOL", optional=True)
VLLM_TEXT_OUTPUT = TensorSpec("text_output", "BYTES")
VLLM_INPUTS = (VLLM_TEXT_INPUT, VLLM_STREAM, VLLM_SAMPLING_PARAMETERS,
               VLLM_EXCLUDE_INPUT_IN_OUTPUT)
# vLLM's engine arguments file in the model's version folder, and the tokenizer folder beside
# it that tritontts writes for vLLM (the snapshot's, without a BOS template: README "Maya1").
VLLM_ENGINE_FILE = "model.json"
VLLM_TOKENIZER_FOLDER = "tokenizer"

# Triton's TensorRT-LLM backend (inflight_batcher_llm/tensorrt_llm): the tensors maya1 uses.
TRTLLM_INPUT_IDS = TensorSpec("input_ids", "INT32")
TRTLLM_INPUT_LENGTHS = TensorSpec("input_lengths", "INT32")
TRTLLM_REQUEST_OUTPUT_LEN = TensorSpec("request_output_len", "INT32")
TRTLLM_END_ID = TensorSpec("end_id", "INT32", optional=True)
TRTLLM_PAD_ID = TensorSpec("pad_id", "INT32", optional=True)
TRTLLM_STREAMING = TensorSpec("streaming", "BOOL", optional=True)
TRTLLM_TEMPERATURE = TensorSpec("temperature", "FP32", optional=True)
TRTLLM_TOP_P = TensorSpec("runtime_top_p", "FP32", optional=True)
TRTLLM_REPETITION_PENALTY = TensorSpec("repetition_penalty", "FP32", optional=True)
TRTLLM_MIN_LENGTH = TensorSpec("min_length", "INT32", optional=True)
TRTLLM_RANDOM_SEED = TensorSpec("random_seed", "UINT64", optional=True)
TRTLLM_OUTPUT_IDS = TensorSpec("output_ids", "INT32")
TRTLLM_SEQUENCE_LENGTH = TensorSpec("sequence_length", "INT32")
# Its model-config parameters that tritontts sets.
TRTLLM_PARAM_ENGINE_DIR = "gpt_model_path"
TRTLLM_PARAM_BATCHING = "gpt_model_type"
TRTLLM_PARAM_BEAM_WIDTH = "max_beam_width"
TRTLLM_PARAM_SCHEDULER = "batch_scheduler_policy"
TRTLLM_PARAM_KV_CACHE_FRACTION = "kv_cache_free_gpu_mem_fraction"
TRTLLM_PARAM_EXCLUDE_INPUT = "exclude_input_in_output"
TRTLLM_PARAM_CPU_INPUTS = "FORCE_CPU_ONLY_INPUT_TENSORS"

# --- long-audio jobs (gateway /v1/audio/jobs, `tritontts worker`) ---------------------------

# Redis: every key of the jobs starts with this prefix (the queue's own keys live under the
# broker namespace).
JOBS_REDIS_PREFIX = "tritontts:jobs:"
JOBS_BROKER_NAMESPACE = "tritontts:jobs:queue"
JOBS_QUEUE = "long_audio"
JOBS_ACTOR = "render_job"
# Objects in the result store: jobs/<id>/chunks/<index>.f32 (raw float32 samples of one chunk,
# a deterministic key so a repeated chunk overwrites itself) and jobs/<id>/audio.<ext>.
JOBS_STORE_PREFIX = "jobs/"
JOBS_ENV_REDIS_URL = "TRITONTTS_REDIS_URL"
JOBS_ENV_S3_ENDPOINT = "TRITONTTS_S3_ENDPOINT"
JOBS_ENV_S3_BUCKET = "TRITONTTS_S3_BUCKET"
JOBS_ENV_S3_ACCESS_KEY = "AWS_ACCESS_KEY_ID"
JOBS_ENV_S3_SECRET_KEY = "AWS_SECRET_ACCESS_KEY"
JOBS_ENV_STORE_DIR = "TRITONTTS_JOBS_DIR"
