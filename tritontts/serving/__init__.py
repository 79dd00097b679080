"""Serving helpers every family shares: the python-backend adapter, the tritonserver process,
its control and recovery."""
