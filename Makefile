# tritontts: every target creates the virtualenv (.venv/) when it is missing.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# VOICE: a Piper voice .onnx (with its .onnx.json beside it); empty = the bundled en_US-joe-medium.
VOICE ?=
VOICE_NAME := $(if $(VOICE),$(basename $(notdir $(VOICE))),en_US-joe-medium)
VOICES_DIR := build/voices
VOICE_DIR := $(VOICES_DIR)/$(VOICE_NAME)
# EXTRA_VOICES: names of voices already exported with `make export VOICE=...`, served beside
# VOICE from the same repository (cpu profile); requests choose one with VOICE=<name>.
EXTRA_VOICES ?=
REPOSITORY := build/model_repository
# PROFILE=gpu renders the repository for the NGC container (TensorRT plans when built);
# PROFILE=ngc-cpu for the NGC container on a CPU-only host (Triton's OpenVINO backend).
PROFILE ?= cpu
# TUNING=throughput: the cpu profile's stages as two single-threaded instances each (more audio
# per second under concurrent load, each request slower); default latency.
TUNING ?= latency
# RUNTIME=onnxruntime|openvino|openvino-bf16|openvino-bf16-vocoder: the cpu profile's stage
# graphs on ONNX Runtime or OpenVINO (bf16: the vocoder in bf16, acoustic with its durations in
# f32, where the CPU has native bf16); default auto: OpenVINO, the vocoder in bf16, where the
# CPU has AMX; OpenVINO f32 on other AVX-512 CPUs; else ONNX Runtime (docs/benchmarks-cpu.md).
RUNTIME ?= auto
# ENGINES=1: `make export` also builds TensorRT engines (a GPU host with `pip install .[gpu]`).
ENGINES ?=
LEXICON ?=
# MAYA1 / SNAC: local folders of the Maya1 snapshot and SNAC 24 kHz; both set: the repository
# also serves maya1 and maya1_stream (docs/maya1.md).
MAYA1 ?=
SNAC ?=
# PROFILE=gpu: the LLM backend of maya1_lm (vllm default, or tensorrtllm with
# MAYA1_TRTLLM_ENGINE, the engine folder trtllm-build made from the snapshot).
MAYA1_LM ?=
MAYA1_TRTLLM_ENGINE ?=

# Address tritontts serve listens on; HOST is the deployment that load / bench target.
BIND ?= 127.0.0.1
HOST ?=
USERS ?= 4
SPAWN_RATE ?= 2
DURATION ?= 30s
SLO_MS ?= 200
HTTP_PORT ?= 8000
GRPC_PORT ?= 8001
METRICS_PORT ?= 8002
DEMO_TEXT ?= Hello! This sentence was spoken by a Triton Inference Server running on a plain CPU.
DEMO_OUT ?= out/demo.wav
PYTEST_ARGS ?=
# The markers of tests that start a server or take long (pyproject.toml); `make test-fast` skips them.
SERVER_MARKERS := e2e or redis or s3 or browser or image or slow
# make gateway: its port, and further `tritontts gateway` options (keys, Redis, limits).
GATEWAY_PORT ?= 8080
GATEWAY_ARGS ?=
# make worker: further `tritontts worker` options (Redis, store).
WORKER_ARGS ?=
# make image: the name:tag of the cpu image (docs/image.md); ENGINE=docker|podman chooses the
# engine, PYTHON_IMAGE the base, CA_BUNDLE what pip trusts inside the build.
IMAGE ?= tritontts:cpu

.PHONY: help setup system-deps dashboard export repository serve demo test test-fast lint wheels \
	bench bench-budget bench-cache bench-gateway bench-realtime bench-maya1 bench-jobs docs gateway \
	worker load load-capacity clean podman-setup image test-image

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-11s %s\n", $$1, $$2}'

setup: $(STAMP) ## create .venv with tritontts and its pinned dependencies

$(STAMP): pyproject.toml client/pyproject.toml scripts/install.sh
	PYTHON=$(PYTHON) scripts/install.sh $(VENV) dev,bench,deploy,docs,gateway,jobs,maya1
	@touch $@

system-deps: ## install the Debian packages of system-packages.txt that are missing (apt-get, root)
	@missing=""; \
	for package in $$(grep -Ev '^[[:space:]]*(#|$$)' system-packages.txt); do \
		dpkg-query -W -f='$${Status}' "$$package" 2>/dev/null | grep -q "ok installed" \
			|| missing="$$missing $$package"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	fi

export: $(STAMP) ## stage graphs + FP16 variants with parity checks (VOICE=path.onnx, ENGINES=1 on GPU)
	$(BIN)/tritontts export $(if $(VOICE),--voice $(VOICE)) --out $(VOICES_DIR) $(if $(ENGINES),--engines)

$(VOICE_DIR)/export.json: $(STAMP)
	$(BIN)/tritontts export $(if $(VOICE),--voice $(VOICE)) --out $(VOICES_DIR) --no-variants

repository: $(VOICE_DIR)/export.json ## render the model repository (PROFILE=cpu|gpu|ngc-cpu, TUNING=latency|throughput, RUNTIME, LEXICON=file, EXTRA_VOICES=names)
	$(BIN)/tritontts repository --profile $(PROFILE) --tuning $(TUNING) --runtime $(RUNTIME) \
		--out $(REPOSITORY) \
		--voice-dir $(VOICE_DIR) $(addprefix $(VOICES_DIR)/,$(EXTRA_VOICES)) \
		$(if $(LEXICON),--lexicon $(LEXICON)) \
		$(if $(MAYA1),--maya1 $(MAYA1)) $(if $(SNAC),--snac $(SNAC)) \
		$(if $(MAYA1_LM),--maya1-lm $(MAYA1_LM)) \
		$(if $(MAYA1_TRTLLM_ENGINE),--maya1-trtllm-engine $(MAYA1_TRTLLM_ENGINE))

serve: repository ## run Triton on the repository (BIND, HTTP_PORT, GRPC_PORT, METRICS_PORT)
	$(BIN)/tritontts serve --model-repository $(REPOSITORY) --host $(BIND) \
		--http-port $(HTTP_PORT) --grpc-port $(GRPC_PORT) --metrics-port $(METRICS_PORT)

demo: repository ## start Triton, speak DEMO_TEXT into out/demo.wav, stop Triton
	@mkdir -p $(dir $(DEMO_OUT))
	@$(BIN)/tritontts serve --model-repository $(REPOSITORY) --host $(BIND) \
		--http-port $(HTTP_PORT) --grpc-port $(GRPC_PORT) --metrics-port $(METRICS_PORT) & \
	server=$$!; \
	trap 'kill -TERM $$server 2>/dev/null; wait $$server' EXIT; \
	$(BIN)/tritontts speak "$(DEMO_TEXT)" --url $(BIND):$(GRPC_PORT) --wait-ready 300 \
		-o $(DEMO_OUT)

test: $(STAMP) system-deps ## lint, the handbook's strict build, then every test tier (unit and end-to-end against real servers)
	$(BIN)/ruff check .
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet
	$(BIN)/pytest $(PYTEST_ARGS)

test-fast: $(STAMP) system-deps ## the tests that start no server and are not marked slow (70-80 CPU seconds; PYTEST_ARGS)
	$(BIN)/pytest -m "not ($(SERVER_MARKERS))" $(PYTEST_ARGS)

docs: $(STAMP) ## build the handbook (docs/, MkDocs) into site/; strict: a broken link fails
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

podman-setup: ## Podman, runc, debootstrap and a Debian base image for hosts without Docker (root)
	scripts/podman-setup.sh

image: ## build the image's cpu target with Docker, else Podman (IMAGE=name:tag), print its size
	scripts/build-image.sh cpu $(IMAGE)

test-image: $(STAMP) ## build the cpu image and run it as the Helm chart does: serve, gateway, worker
	TRITONTTS_IMAGE=$(IMAGE) $(BIN)/pytest tests/test_image.py $(PYTEST_ARGS)

dashboard: $(STAMP) ## regenerate the chart's Grafana dashboard (helm/tritontts/dashboards/) from helm/dashboard.py
	$(BIN)/python helm/dashboard.py

lint: $(STAMP) ## ruff, and the import rules between packages (pyproject.toml [tool.importlinter])
	$(BIN)/ruff check .
	$(BIN)/lint-imports

wheels: $(STAMP) ## build the tritontts and tritontts-client wheels into dist/ (docs/install.md)
	@# pip builds in the tree: an older build/lib could carry files deleted since.
	rm -rf build/lib build/bdist.* client/build
	$(BIN)/pip wheel --no-deps --quiet -w dist . ./client
	@ls -l dist/*.whl

bench: $(STAMP) ## benchmarks vs the direct baseline and Piper's server, time budget, audio quality, plots (HOST=host:grpcport)
	$(BIN)/python benchmarks/bench.py $(if $(HOST),--url $(HOST))

bench-budget: $(STAMP) ## where a request's time goes: Triton's per-model statistics vs in-process, concurrency 1 and 4 (RUNTIME, TUNING)
	$(BIN)/python benchmarks/budget.py --runtime $(RUNTIME) --tuning $(TUNING)

load: $(STAMP) ## Locust with an SLO verdict (USERS, SPAWN_RATE, DURATION, SLO_MS, HOST=host:grpcport)
	$(BIN)/python benchmarks/load.py --users $(USERS) --spawn-rate $(SPAWN_RATE) \
		--duration $(DURATION) --slo-ms $(SLO_MS) --tuning $(TUNING) $(if $(HOST),--host $(HOST))

load-capacity: $(STAMP) ## the largest user count meeting p95 <= SLO_MS on short texts (30 s steps; TUNING, HOST)
	$(BIN)/python benchmarks/load.py --capacity --slo-ms $(SLO_MS) --tuning $(TUNING) \
		$(if $(HOST),--host $(HOST))

worker: $(STAMP) ## a long-audio jobs worker (Triton at BIND:GRPC_PORT; WORKER_ARGS: --redis-url, --s3-endpoint, ...)
	$(BIN)/tritontts worker --triton-url $(BIND):$(GRPC_PORT) $(WORKER_ARGS)

bench-jobs: $(STAMP) ## p95 of real-time requests while a long-audio job runs, with and without the batch priority
	$(BIN)/python benchmarks/jobs_priority.py

gateway: $(STAMP) ## the OpenAI-compatible HTTP gateway on GATEWAY_PORT, in front of Triton at BIND:GRPC_PORT
	$(BIN)/tritontts gateway --triton-url $(BIND):$(GRPC_PORT) --host $(BIND) --port $(GATEWAY_PORT) \
		$(GATEWAY_ARGS)

bench-gateway: $(STAMP) ## gateway overhead per request vs Triton directly (p50/p95), encode cost per format
	$(BIN)/python benchmarks/gateway.py

bench-realtime: $(STAMP) ## realtime socket: agent text at 30 tokens/s on 1/4/8 sockets vs the speech route
	$(BIN)/python benchmarks/realtime.py

bench-cache: $(STAMP) ## response cache: hit vs miss latency p50/p95 on tts_cached
	$(BIN)/python benchmarks/cache.py

bench-maya1: $(STAMP) ## Maya1 on tiny random checkpoints: tokens/s at concurrency 1 and 4, first vs full audio
	$(BIN)/python benchmarks/maya1.py

clean: ## remove build outputs (exported graphs, repository, demo audio, the built handbook)
	rm -rf build out benchmarks/results site
