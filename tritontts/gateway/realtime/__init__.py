"""The realtime speech socket: text in as it is written, audio out as it is ready."""
