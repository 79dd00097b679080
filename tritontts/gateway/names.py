"""Wire names of the gateway that other processes rely on: headers, metric names, Redis keys,
environment variables. One place, so that a shared contract module can take them over."""

REQUEST_ID_HEADER = "x-request-id"
RETRY_AFTER_HEADER = "retry-after"
CACHE_HEADER = "x-tritontts-cache"  # "hit" or "miss" on speech responses

METRIC_PREFIX = "tritontts_gateway_"

# Redis keys; every one starts with this prefix.
REDIS_PREFIX = "tritontts:gateway:"
REDIS_KEYS_HASH = REDIS_PREFIX + "keys"  # key hash -> JSON key record
REDIS_CACHE_PREFIX = REDIS_PREFIX + "cache:"

ENV_TRITON_URL = "TRITONTTS_TRITON_URL"
ENV_REDIS_URL = "TRITONTTS_REDIS_URL"
ENV_KEYS_FILE = "TRITONTTS_GATEWAY_KEYS"

# Scopes a key or token may carry.
SCOPE_SPEECH = "speech"  # POST /v1/audio/speech
SCOPE_MODELS = "models"  # GET /v1/models, /v1/audio/voices
ALL_SCOPES = (SCOPE_SPEECH, SCOPE_MODELS)
