# tritontts images, both started by `tritontts serve` (stub watchdog, text-model memory
# recycling, drain on SIGTERM), both installed from the project's two wheels (built in the
# `wheels` stage), the same wheels tests/test_wheel.py installs and serves from.
#   docker build --target gpu -t tritontts:gpu .    NGC tritonserver, TensorRT engines
#   docker build --target cpu -t tritontts:cpu .    tritonserver from the nvidia-pytriton wheel;
#                                                   also the gateway's and the workers' image
# `make image` builds the cpu target with Docker or Podman (docs/image.md).
#
# Build inputs:
#   --build-arg PYTHON_IMAGE=...   the cpu target's base: a Debian bookworm image, with or
#                                  without Python 3.11 (Debian's own is installed when missing)
#   --secret id=ca-bundle,src=FILE the CA bundle pip trusts instead of its own (hosts behind a
#                                  TLS-inspecting proxy); it is not kept in the image
#
# Layers: the pinned dependencies install from the pyproject.toml files alone, before the
# code is copied, so that a code change rebuilds only the last layers; pip's cache is a build
# cache mount, not part of the image.
#
# Triton 2.51 (NGC 24.10) is the release the nvidia-pytriton 0.7 wheel carries: the gpu image
# runs the wheel's python backend stub for Python 3.11 inside NGC's 2.51 python backend.
ARG TRITON_IMAGE_TAG=24.10-py3
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS cpu-base
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# A plain Debian base (hosts that reach no image registry import one: docs/image.md) gets
# Debian's Python 3.11 and what the Python image has besides (CA certificates, netbase);
# libpython3.11 is what the python backend stub links. Versions: the base release's, as above.
# hadolint ignore=DL3008
RUN if ! command -v python3.11 >/dev/null; then \
        apt-get update \
        && apt-get install -y --no-install-recommends python3.11 python3.11-venv \
            libpython3.11 ca-certificates netbase \
        && rm -rf /var/lib/apt/lists/*; \
    fi

# The two wheels (tritontts, tritontts-client), built from the tree; only they reach the image.
FROM cpu-base AS wheels
# pip reads no configuration of the base image or the build host (ARGs end with a stage).
ARG PIP_CONFIG_FILE=/dev/null
ARG PIP_DISABLE_PIP_VERSION_CHECK=1
ARG PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/root/.cache/pip --mount=type=secret,id=ca-bundle \
    if [ -s /run/secrets/ca-bundle ]; then export PIP_CERT=/run/secrets/ca-bundle; fi \
    && python3.11 -m venv /opt/build \
    && /opt/build/bin/python -m pip wheel --no-deps -w /wheels ./client .

FROM nvcr.io/nvidia/tritonserver:${TRITON_IMAGE_TAG} AS gpu
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# pip reads no configuration of the base image or the build host, only these.
ARG PIP_CONFIG_FILE=/dev/null
ARG PIP_DISABLE_PIP_VERSION_CHECK=1
ARG PIP_ROOT_USER_ACTION=ignore
# The image's own Python is 3.10; tritontts is built and tested on 3.11 (Ubuntu 22.04 ships it).
# Versions are those of the pinned base image's release; exact apt pins would break on its
# point updates.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3.11 python3.11-venv libpython3.11 \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/tritontts
COPY pyproject.toml ./
COPY client/pyproject.toml client/
COPY scripts/dependencies.py scripts/
RUN --mount=type=cache,target=/root/.cache/pip --mount=type=secret,id=ca-bundle \
    if [ -s /run/secrets/ca-bundle ]; then export PIP_CERT=/run/secrets/ca-bundle; fi \
    && python3.11 -m venv /opt/venv \
    && /opt/venv/bin/python -m pip install --upgrade pip \
    && python3.11 scripts/dependencies.py gpu > /tmp/requirements.txt \
    && /opt/venv/bin/python -m pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt
# The code: the wheels of the `wheels` stage (below; any Python builds them). Copied, not
# bind-mounted: Podman's layer cache does not see a mounted stage's content, and reused a stale
# install after the code changed; a COPY's checksum is part of the cache key everywhere.
COPY --from=wheels /wheels /tmp/wheels
RUN --mount=type=cache,target=/root/.cache/pip --mount=type=secret,id=ca-bundle \
    if [ -s /run/secrets/ca-bundle ]; then export PIP_CERT=/run/secrets/ca-bundle; fi \
    && /opt/venv/bin/python -m pip install /tmp/wheels/tritontts_client-*.whl \
        "$(ls /tmp/wheels/tritontts-*.whl)[gpu]" \
    && rm -rf /tmp/wheels \
    && /opt/venv/bin/python -c "from tritontts.serving.server import locate_tritonserver; locate_tritonserver()" \
    && stub="$(/opt/venv/bin/python -c 'import pathlib, pytriton; print(pathlib.Path(pytriton.__file__).parent / "tritonserver/python_backend_stubs/3.11/triton_python_backend_stub")')" \
    && cp "$stub" /opt/tritonserver/backends/python/triton_python_backend_stub
WORKDIR /tmp
ENV PATH=/opt/venv/bin:${PATH} \
    HOME=/tmp \
    PYTHONDONTWRITEBYTECODE=1
USER 1000:1000
EXPOSE 8000 8001 8002
ENTRYPOINT ["tritontts", "serve"]
CMD ["--model-repository", "/models", "--host", "0.0.0.0"]

FROM cpu-base AS cpu
ARG PIP_CONFIG_FILE=/dev/null
ARG PIP_DISABLE_PIP_VERSION_CHECK=1
ARG PIP_ROOT_USER_ACTION=ignore
WORKDIR /opt/tritontts
COPY pyproject.toml ./
COPY client/pyproject.toml client/
COPY scripts/dependencies.py scripts/
RUN --mount=type=cache,target=/root/.cache/pip --mount=type=secret,id=ca-bundle \
    if [ -s /run/secrets/ca-bundle ]; then export PIP_CERT=/run/secrets/ca-bundle; fi \
    && python3.11 -m venv /opt/venv \
    && /opt/venv/bin/python -m pip install --upgrade pip \
    && python3.11 scripts/dependencies.py gateway,jobs > /tmp/requirements.txt \
    && /opt/venv/bin/python -m pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt
# The code: the wheels (the Triton adapters and the page are package data), then the python
# backend assembled for this interpreter, so that a server writes nothing into the venv. (The
# wheels are copied, not bind-mounted: see the gpu stage.)
COPY --from=wheels /wheels /tmp/wheels
RUN --mount=type=cache,target=/root/.cache/pip --mount=type=secret,id=ca-bundle \
    if [ -s /run/secrets/ca-bundle ]; then export PIP_CERT=/run/secrets/ca-bundle; fi \
    && /opt/venv/bin/python -m pip install /tmp/wheels/tritontts_client-*.whl \
        "$(ls /tmp/wheels/tritontts-*.whl)[gateway,jobs]" \
    && rm -rf /tmp/wheels \
    && /opt/venv/bin/python -c "from tritontts.serving.server import locate_tritonserver; locate_tritonserver()"
WORKDIR /tmp
ENV PATH=/opt/venv/bin:${PATH} \
    HOME=/tmp \
    PYTHONDONTWRITEBYTECODE=1
USER 1000:1000
EXPOSE 8000 8001 8002
ENTRYPOINT ["tritontts", "serve"]
CMD ["--model-repository", "/models", "--host", "0.0.0.0"]
