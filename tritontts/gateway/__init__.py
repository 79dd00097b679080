"""An OpenAI-compatible HTTP speech gateway in front of Triton (`tritontts gateway`)."""
