"""Names that the Maya1 models, the repository renderer and the client share across processes:
model names, tensor names, parameter keys and metric names."""

SPEECH_MODEL = "maya1"  # whole utterance, one response
STREAM_MODEL = "maya1_stream"  # decoupled: audio chunks as soon as they can be decoded
LLM_MODEL = "maya1_lm"  # gpu profile: the LM stage served by an LLM backend

# Inputs of both entry models.
TEXT = "TEXT"
DESCRIPTION = "DESCRIPTION"
MAX_NEW_TOKENS = "MAX_NEW_TOKENS"
TEMPERATURE = "TEMPERATURE"
TOP_P = "TOP_P"
REPETITION_PENALTY = "REPETITION_PENALTY"
SEED = "SEED"
# maya1_stream only: decode each sentence in one SNAC call and send it whole (what `maya1`
# asks for), instead of frame-by-frame windows.
WHOLE_SENTENCES = "WHOLE_SENTENCES"
# Outputs.
AUDIO = "AUDIO"
SAMPLE_RATE = "SAMPLE_RATE"

# Parameters of maya1_stream's config.pbtxt (files relative to its version folder).
PARAM_CHECKPOINT = "checkpoint_dir"
PARAM_SNAC_ONNX = "snac_onnx"
PARAM_MAX_BATCH = "max_batch"
PARAM_MAX_TEXT_CHARS = "max_text_chars"
PARAM_MAX_DESCRIPTION_CHARS = "max_description_chars"
PARAM_CHUNK_CHARS = "chunk_chars"
PARAM_MAX_CHUNKS = "max_chunks"
PARAM_THREADS = "threads"

# Metrics the stream model keeps. Steps of the batched decoder, labelled by how many
# sequences that step decoded together.
DECODE_STEPS_METRIC = "tritontts_maya1_decode_steps_total"
FIRST_AUDIO_METRIC = "tritontts_maya1_first_audio_ms"
