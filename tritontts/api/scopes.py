"""Scopes an API key or token may carry, and which routes each opens."""

SCOPE_SPEECH = "speech"  # POST /v1/audio/speech, the /v1/audio/jobs routes
SCOPE_MODELS = "models"  # GET /v1/models, /v1/audio/voices
ALL_SCOPES = (SCOPE_SPEECH, SCOPE_MODELS)
