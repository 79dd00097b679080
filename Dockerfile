# tritontts images, both started by `tritontts serve` (stub watchdog, text-model memory
# recycling, drain on SIGTERM), both installed by scripts/install.sh, the command `make setup`
# and so CI run too.
#   docker build --target gpu -t tritontts:gpu .    NGC tritonserver, TensorRT engines
#   docker build --target cpu -t tritontts:cpu .    tritonserver from the nvidia-pytriton wheel;
#                                                   also the gateway's and the workers' image
#
# Triton 2.51 (NGC 24.10) is the release the nvidia-pytriton 0.7 wheel carries: the gpu image
# runs the wheel's python backend stub for Python 3.11 inside NGC's 2.51 python backend.
ARG TRITON_IMAGE_TAG=24.10-py3
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM nvcr.io/nvidia/tritonserver:${TRITON_IMAGE_TAG} AS gpu
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# The image's own Python is 3.10; tritontts is built and tested on 3.11 (Ubuntu 22.04 ships it).
# Versions are those of the pinned base image's release; exact apt pins would break on its
# point updates.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3.11 python3.11-venv libpython3.11 \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/tritontts
COPY . .
RUN PIP_NO_CACHE_DIR=1 PYTHON=python3.11 scripts/install.sh /opt/venv gpu \
    && stub="$(/opt/venv/bin/python -c 'import pathlib, pytriton; print(pathlib.Path(pytriton.__file__).parent / "tritonserver/python_backend_stubs/3.11/triton_python_backend_stub")')" \
    && cp "$stub" /opt/tritonserver/backends/python/triton_python_backend_stub
ENV PATH=/opt/venv/bin:${PATH} \
    HOME=/tmp \
    PYTHONDONTWRITEBYTECODE=1
USER 1000:1000
EXPOSE 8000 8001 8002
ENTRYPOINT ["tritontts", "serve"]
CMD ["--model-repository", "/models", "--host", "0.0.0.0"]

FROM ${PYTHON_IMAGE} AS cpu
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
WORKDIR /opt/tritontts
COPY . .
RUN PIP_NO_CACHE_DIR=1 PYTHON=python3.11 scripts/install.sh /opt/venv gateway,jobs
ENV PATH=/opt/venv/bin:${PATH} \
    HOME=/tmp \
    PYTHONDONTWRITEBYTECODE=1
USER 1000:1000
EXPOSE 8000 8001 8002
ENTRYPOINT ["tritontts", "serve"]
CMD ["--model-repository", "/models", "--host", "0.0.0.0"]
