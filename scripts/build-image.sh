#!/usr/bin/env bash
# Build a target of the Dockerfile with Docker where its daemon answers, else with Podman,
# then print the image's size. `make image` runs it; so does the image test (tests/test_image.py).
# usage: scripts/build-image.sh [TARGET [NAME:TAG]]      default: cpu tritontts:TARGET
# env:   ENGINE        docker or podman (default: the first that answers, in that order)
#        PYTHON_IMAGE  the cpu target's base; default: localhost/debian:bookworm where
#                      scripts/podman-setup.sh imported it (hosts that reach no registry),
#                      else the Dockerfile's own (python:3.11-slim-bookworm)
#        CA_BUNDLE     the CA bundle pip trusts inside the build (a build secret, not kept in
#                      the image); default: the host's /etc/ssl/certs/ca-certificates.crt
#                      where it exists; empty: pip's own
set -euo pipefail
target=${1:-cpu}
tag=${2:-tritontts:$target}
cd "$(dirname "$0")/.."

engine=${ENGINE:-}
if [ -z "$engine" ]; then
    for candidate in docker podman; do
        if command -v "$candidate" >/dev/null && "$candidate" info >/dev/null 2>&1; then
            engine=$candidate
            break
        fi
    done
fi
if [ -z "$engine" ]; then
    echo "build-image: neither a Docker daemon nor Podman answers; on Debian, as root:" \
        "scripts/podman-setup.sh (make podman-setup)" >&2
    exit 1
fi

args=(build --target "$target" --tag "$tag" --file Dockerfile)
imported=localhost/debian:bookworm
base=${PYTHON_IMAGE:-}
if [ -z "$base" ] && [ "$target" = cpu ] && "$engine" image inspect "$imported" >/dev/null 2>&1
then
    base=$imported
fi
if [ -n "$base" ]; then
    args+=(--build-arg "PYTHON_IMAGE=$base")
fi
ca_bundle=${CA_BUNDLE-/etc/ssl/certs/ca-certificates.crt}
if [ -n "$ca_bundle" ] && [ -f "$ca_bundle" ]; then
    args+=(--secret "id=ca-bundle,src=$ca_bundle")
fi
if [ "$engine" = podman ]; then
    # The host's network: the engine's own may not reach out where the host's firewall or
    # sandbox allows only the host's address.
    # Docker's image format: OCI's has no SHELL, which the Dockerfile sets (pipefail).
    args+=(--network host --format docker)
else
    export DOCKER_BUILDKIT=1  # build secrets and cache mounts
fi

echo "build-image: $engine ${args[*]} ."
start=$(date +%s)
"$engine" "${args[@]}" .
end=$(date +%s)
size=$("$engine" image inspect --format '{{.Size}}' "$tag")
echo "build-image: $tag built with $engine in $((end - start)) s, size $((size / 1000000)) MB," \
    "base ${base:-python:3.11-slim-bookworm (the Dockerfile default)}"
