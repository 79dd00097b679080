"""Render model descriptions into `config.pbtxt` files and write the model repository.

Rendering goes through the model-config protobuf schema that `tritonclient` ships, so a
misspelt field or a wrong enum fails here. The `model.py` of each python model is copied from
its source folder (`model_repository/<family>/<name>/1/`); exported graphs are linked in beside
it. That folder installs as the package data of `tritontts.model_repository` (pyproject.toml maps
it), so the same files are found from a checkout, an editable install and the wheel.
"""

from __future__ import annotations

import os
import shutil
from importlib import resources
from pathlib import Path

from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as mc

from tritontts.repository.schema import (
    BackendModel,
    Batching,
    Ensemble,
    GraphModel,
    Model,
    PythonModel,
    RenderError,
    Tensor,
)

ADAPTERS_PACKAGE = "tritontts.model_repository"


def _adapter_sources() -> Path:
    root = resources.files(ADAPTERS_PACKAGE)
    # pip installs a wheel as plain files, so this is a folder that shutil can copy from.
    if not isinstance(root, Path):
        raise RenderError(f"{ADAPTERS_PACKAGE} is not installed as plain files ({root!r}); "
                          "install tritontts with pip")
    return root


# The Triton adapters (`<family>/<model>/1/model.py`), wherever tritontts is installed.
SOURCES = _adapter_sources()


def _tensor_proto(tensor: Tensor, message: type) -> object:
    if not tensor.name or not tensor.dims:
        raise RenderError(f"tensor {tensor!r} needs a name and dims")
    proto = message(name=tensor.name, data_type=mc.DataType.Value(tensor.dtype),
                    dims=list(tensor.dims))
    if isinstance(proto, mc.ModelInput):
        proto.optional = tensor.optional
        proto.allow_ragged_batch = tensor.ragged
    if tensor.reshape is not None:
        proto.reshape.shape.extend(tensor.reshape)
    return proto


def to_config(model: Model) -> mc.ModelConfig:
    config = mc.ModelConfig(name=model.name)
    config.input.extend(_tensor_proto(t, mc.ModelInput) for t in model.inputs)
    config.output.extend(_tensor_proto(t, mc.ModelOutput) for t in model.outputs)
    if isinstance(model, Ensemble):
        config.platform = "ensemble"
        _check_ensemble(model)
        for step in model.steps:
            proto = config.ensemble_scheduling.step.add(model_name=step.model, model_version=-1)
            proto.input_map.update(step.inputs)
            proto.output_map.update(step.outputs)
        if model.response_cache:
            config.response_cache.enable = True
        return config
    if isinstance(model, GraphModel):
        return _graph_config(config, model)
    if isinstance(model, BackendModel):
        return _backend_config(config, model)
    config.backend = "python"
    config.max_batch_size = model.max_batch_size
    if model.decoupled:
        config.model_transaction_policy.decoupled = True
    if model.instances < 1:
        raise RenderError(f"{model.name}: instances must be >= 1")
    group = config.instance_group.add(count=model.instances, kind=mc.ModelInstanceGroup.KIND_CPU)
    if model.rate_limit is not None:
        if model.rate_limit.priority < 1 or any(n < 1 for n in model.rate_limit.resources.values()):
            raise RenderError(f"{model.name}: rate-limit priority and counts must be >= 1")
        for name, count in model.rate_limit.resources.items():
            group.rate_limiter.resources.append(
                mc.ModelRateLimiter.Resource(**{"name": name, "global": True, "count": count}))
        group.rate_limiter.priority = model.rate_limit.priority
    _batching(config, model)
    _parameters(config, model)
    return config


def _backend_config(config: mc.ModelConfig, model: BackendModel) -> mc.ModelConfig:
    if not model.backend or model.backend == "python":
        raise RenderError(f"{model.name}: a BackendModel names its own backend")
    if model.instances < 1:
        raise RenderError(f"{model.name}: instances must be >= 1")
    config.backend = model.backend
    config.max_batch_size = model.max_batch_size
    config.model_transaction_policy.decoupled = model.decoupled
    config.instance_group.add(count=model.instances,
                              kind=mc.ModelInstanceGroup.Kind.Value(model.instance_kind))
    _batching(config, model)
    _parameters(config, model)
    return config


def _parameters(config: mc.ModelConfig, model: PythonModel | BackendModel) -> None:
    for key, value in model.parameters.items():
        if value in ("", None):
            raise RenderError(f"{model.name}: parameter {key!r} has no value")
        config.parameters[key].string_value = value


def _batching(config: mc.ModelConfig, model: PythonModel | GraphModel | BackendModel) -> None:
    batching = model.batching
    if batching is None:
        return
    if model.max_batch_size < 1:
        raise RenderError(f"{model.name}: dynamic batching needs max_batch_size >= 1")
    config.dynamic_batching.max_queue_delay_microseconds = batching.max_queue_delay_us
    config.dynamic_batching.preferred_batch_size.extend(batching.preferred_batch_sizes)
    if batching.has_queue_policy:
        _queue_policy(model.name, batching, config.dynamic_batching.default_queue_policy)
    if batching.priority_levels or batching.default_priority_level:
        if not 1 <= batching.default_priority_level <= batching.priority_levels:
            raise RenderError(f"{model.name}: default_priority_level must be one of the "
                              f"{batching.priority_levels} priority levels (1 = served first)")
        config.dynamic_batching.priority_levels = batching.priority_levels
        config.dynamic_batching.default_priority_level = batching.default_priority_level


def _graph_config(config: mc.ModelConfig, model: GraphModel) -> mc.ModelConfig:
    if model.platform not in ("tensorrt_plan", "onnxruntime_onnx", "openvino"):
        raise RenderError(f"{model.name}: unknown platform {model.platform!r}")
    if model.platform == "openvino":  # a backend without a platform name
        config.backend = model.platform
    else:
        config.platform = model.platform
    config.max_batch_size = model.max_batch_size
    config.default_model_filename = model.default_model_filename
    config.cc_model_filenames.update(model.cc_model_filenames)
    config.version_policy.latest.num_versions = 1
    if model.instances < 1:
        raise RenderError(f"{model.name}: instances must be >= 1")
    config.instance_group.add(count=model.instances,
                              kind=mc.ModelInstanceGroup.Kind.Value(model.kind))
    _batching(config, model)
    for key, value in model.parameters.items():
        config.parameters[key].string_value = value
    for warmup in model.warmup:
        sample = config.model_warmup.add(name=warmup.name, batch_size=warmup.batch_size)
        for name, (dtype, dims) in warmup.zeros.items():
            sample.inputs[name].data_type = mc.DataType.Value(dtype)
            sample.inputs[name].dims.extend(dims)
            sample.inputs[name].zero_data = True
        for name, (dtype, dims, _) in warmup.data.items():
            sample.inputs[name].data_type = mc.DataType.Value(dtype)
            sample.inputs[name].dims.extend(dims)
            sample.inputs[name].input_data_file = f"{warmup.name}_{name}"
    if model.cuda_graph_shapes:
        if model.platform != "tensorrt_plan":
            raise RenderError(f"{model.name}: CUDA graphs are a TensorRT backend feature")
        cuda = config.optimization.cuda
        cuda.graphs = True
        for shapes in model.cuda_graph_shapes:
            spec = cuda.graph_spec.add(batch_size=1)
            for name, dims in shapes.items():
                spec.input[name].dim.extend(dims)
    return config


def _queue_policy(name: str, batching: Batching, policy: mc.ModelQueuePolicy) -> None:
    if batching.max_queue_size < 0 or batching.queue_timeout_us < 0:
        raise RenderError(f"{name}: queue size and timeout must be >= 0 (0 = no limit)")
    policy.timeout_action = mc.ModelQueuePolicy.TimeoutAction.Value(batching.timeout_action)
    policy.default_timeout_microseconds = batching.queue_timeout_us
    policy.allow_timeout_override = batching.allow_timeout_override
    policy.max_queue_size = batching.max_queue_size


def _check_ensemble(ensemble: Ensemble) -> None:
    known = {t.name for t in ensemble.inputs}
    for step in ensemble.steps:
        missing = set(step.inputs.values()) - known
        if missing:
            raise RenderError(f"{ensemble.name}: step {step.model} reads {sorted(missing)} "
                              "before any step writes them")
        known |= set(step.outputs.values())
    unproduced = {t.name for t in ensemble.outputs} - known
    if unproduced:
        raise RenderError(f"{ensemble.name}: outputs {sorted(unproduced)} are never produced")


def render(model: Model) -> str:
    return text_format.MessageToString(to_config(model))


def parse(text: str) -> mc.ModelConfig:
    return text_format.Parse(text, mc.ModelConfig())


def _place(source: Path, target: Path) -> None:
    """Hard-link big graphs where the file system allows it, copy otherwise."""
    target.parent.mkdir(parents=True, exist_ok=True)
    target.unlink(missing_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def write_repository(models: list[Model], out_dir: Path) -> Path:
    """Write a fresh repository: config.pbtxt for each model, model.py and files beside it."""
    rendered = {m.name: render(m) for m in models}  # render all first: fail before writing
    if out_dir.exists():
        shutil.rmtree(out_dir)
    for model in models:
        model_dir = out_dir / model.name
        version_dir = model_dir / "1"
        version_dir.mkdir(parents=True)
        (model_dir / "config.pbtxt").write_text(rendered[model.name])
        if isinstance(model, PythonModel):
            source = (model.source_dir or SOURCES / model.name) / "1" / "model.py"
            if not source.exists():
                raise RenderError(f"{model.name}: no {source}")
            shutil.copyfile(source, version_dir / "model.py")
        if isinstance(model, GraphModel):
            for warmup in model.warmup:
                (model_dir / "warmup").mkdir(exist_ok=True)
                for name, (_, _, data) in warmup.data.items():
                    (model_dir / "warmup" / f"{warmup.name}_{name}").write_bytes(data)
        if isinstance(model, BackendModel):
            for name, text in model.texts.items():
                (version_dir / name).parent.mkdir(parents=True, exist_ok=True)
                (version_dir / name).write_text(text)
        if isinstance(model, PythonModel | GraphModel | BackendModel):
            for name, path in model.files.items():
                if not Path(path).exists():
                    raise RenderError(f"{model.name}: {path} does not exist; run `make export`")
                _place(Path(path), version_dir / name)
    return out_dir
