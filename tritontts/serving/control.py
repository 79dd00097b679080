"""Model control through Triton's repository API (the server runs in explicit mode).

Two jobs need it: reloading a model whose stub process died (the 2.51 python backend does not
restart stubs itself), and draining a server before it stops (in-flight requests finish, new
ones are refused). The model-repository and model-config APIs sit behind the admin key, so
every call carries the admin header.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping

import tritonclient.http as httpclient

from tritontts_client.contract import PARAM_RELOAD

log = logging.getLogger(__name__)



class ModelControl:
    def __init__(self, http_url: str, headers: Mapping[str, str] | None = None,
                 timeout_s: float = 120.0) -> None:
        self.headers = dict(headers or {})
        self._client = httpclient.InferenceServerClient(
            http_url, connection_timeout=timeout_s, network_timeout=timeout_s)

    def close(self) -> None:
        self._client.close()

    def states(self) -> dict[str, str]:
        """Model name -> state in the repository index (READY, UNLOADING, UNAVAILABLE, ...)."""
        index = self._client.get_model_repository_index(headers=self.headers)
        return {m["name"]: m.get("state", "") for m in index}

    def reload(self, model: str) -> None:
        """Build fresh instances of `model` (new stub processes), then swap them in."""
        config = self._client.get_model_config(model, headers=self.headers)
        config.setdefault("parameters", {})[PARAM_RELOAD] = {
            "string_value": str(time.time_ns())}
        self._client.load_model(model, headers=self.headers, config=json.dumps(config))

    def drain(self, models: Iterable[str], timeout_s: float,
              idle: Mapping[str, Callable[[], bool]] | None = None) -> bool:
        """Unload the entry models and wait until their in-flight requests have finished.

        Unloading refuses new requests at once, while the requests already inside keep
        running through the stage models, which stay loaded. A model is done when its unload
        has completed, or, for a model in `idle`, as soon as that says it serves nothing any
        more (its unload may lag). True if drained in time.
        """
        idle = idle or {}
        ready = {name for name, state in self.states().items() if state == "READY"}
        targets = [m for m in models if m in ready]
        for model in targets:
            self._client.unload_model(model, headers=self.headers)
        deadline = time.monotonic() + timeout_s
        while True:
            states = self.states()
            busy = [m for m in targets if states.get(m) == "READY" or (
                states.get(m) == "UNLOADING" and not (m in idle and idle[m]()))]
            if not busy:
                return True
            if time.monotonic() > deadline:
                log.warning("drain: %s still busy after %.0f s", busy, timeout_s)
                return False
            time.sleep(0.1)
