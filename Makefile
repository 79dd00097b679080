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
REPOSITORY := build/model_repository

HOST ?= 127.0.0.1
HTTP_PORT ?= 8000
GRPC_PORT ?= 8001
METRICS_PORT ?= 8002
DEMO_TEXT ?= Hello! This sentence was spoken by a Triton Inference Server running on a plain CPU.
DEMO_OUT ?= out/demo.wav
PYTEST_ARGS ?=

.PHONY: help setup export repository serve demo test lint bench bench-cache clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-11s %s\n", $$1, $$2}'

setup: $(STAMP) ## create .venv with tritontts and its pinned dependencies

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,bench]"
	@touch $@

export: $(VOICE_DIR)/export.json ## cut the voice into acoustic + vocoder ONNX graphs (VOICE=path.onnx)

$(VOICE_DIR)/export.json: $(STAMP) $(wildcard export/*.py)
	$(BIN)/tritontts export $(if $(VOICE),--voice $(VOICE)) --out $(VOICES_DIR)

repository: $(REPOSITORY)/tts/config.pbtxt ## generate the cpu-profile model repository

$(REPOSITORY)/tts/config.pbtxt: $(VOICE_DIR)/export.json tritontts/repository.py $(wildcard model_repository/*/1/model.py)
	$(BIN)/tritontts repository --voice-dir $(VOICE_DIR) --out $(REPOSITORY)

serve: repository ## run Triton on the repository (HTTP_PORT, GRPC_PORT, METRICS_PORT)
	$(BIN)/tritontts serve --model-repository $(REPOSITORY) --host $(HOST) \
		--http-port $(HTTP_PORT) --grpc-port $(GRPC_PORT) --metrics-port $(METRICS_PORT)

demo: repository ## start Triton, speak DEMO_TEXT into out/demo.wav, stop Triton
	@mkdir -p $(dir $(DEMO_OUT))
	@$(BIN)/tritontts serve --model-repository $(REPOSITORY) --host $(HOST) \
		--http-port $(HTTP_PORT) --grpc-port $(GRPC_PORT) --metrics-port $(METRICS_PORT) & \
	server=$$!; \
	trap 'kill -TERM $$server 2>/dev/null; wait $$server' EXIT; \
	$(BIN)/tritontts speak "$(DEMO_TEXT)" --url $(HOST):$(GRPC_PORT) --wait-ready 300 \
		-o $(DEMO_OUT)

test: $(STAMP) ## lint, then unit and end-to-end tests against a real tritonserver
	$(BIN)/ruff check .
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP) ## ruff
	$(BIN)/ruff check .

bench: $(STAMP) ## per-sentence latency: direct ONNX Runtime baseline vs the Triton ensemble
	$(BIN)/python benchmarks/latency.py

bench-cache: $(STAMP) ## response cache: hit vs miss latency p50/p95 on tts_cached
	$(BIN)/python benchmarks/cache.py

clean: ## remove build outputs (exported graphs, repository, demo audio)
	rm -rf build out benchmarks/results
