"""Model repository rendering, shared by every model family: the typed description of a model
(`schema`) and its rendering into `config.pbtxt` files and a repository folder (`render`).
Which models a family serves, and how they are wired, lives in the family's own package."""

from tritontts.repository.render import parse, render, to_config, write_repository
from tritontts.repository.schema import (
    BackendModel,
    Batching,
    Ensemble,
    GraphModel,
    Model,
    PythonModel,
    RateLimit,
    RenderError,
    Step,
    Tensor,
    TimeoutAction,
    Warmup,
)

__all__ = ["BackendModel", "Batching", "Ensemble", "GraphModel", "Model", "PythonModel",
           "RateLimit", "RenderError", "Step", "Tensor", "TimeoutAction", "Warmup", "parse",
           "render", "to_config", "write_repository"]
