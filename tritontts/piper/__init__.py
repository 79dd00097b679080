"""The Piper / VITS family: text to phoneme ids, the acoustic and vocoder stages, streaming
windows, and its models in the repository (cpu and gpu profiles)."""
