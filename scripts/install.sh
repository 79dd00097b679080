#!/usr/bin/env bash
# Create a virtualenv and install tritontts and its client into it, from this source tree
# (editable: edits to tritontts/, export/, model_repository/ and client/ take effect without a
# reinstall; the wheels carry the same files, docs/install.md). The one install step of
# `make setup` (so CI runs it) and of both container images.
# usage: scripts/install.sh VENV [EXTRAS]      e.g. scripts/install.sh .venv dev,bench,deploy
set -euo pipefail
venv=${1:?usage: install.sh VENV [EXTRAS]}
extras=${2:-}
python=${PYTHON:-python3}
cd "$(dirname "$0")/.."
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet -e ./client -e ".${extras:+[$extras]}"
# The wheel's tritonserver needs its python backend assembled for this interpreter; doing it
# now means a server started later writes nothing into the venv (read-only root filesystems).
"$venv/bin/python" -c "from tritontts.serving.server import locate_tritonserver; locate_tritonserver()"
