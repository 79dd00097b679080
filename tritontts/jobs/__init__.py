"""Long-audio jobs: the API on the gateway, the queue, the workers and the result store."""
