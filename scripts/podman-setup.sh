#!/usr/bin/env bash
# Make Podman build and run the images on a Debian host without a Docker daemon (root,
# idempotent): install podman, runc and debootstrap; configure Podman for hosts whose cgroups
# crun refuses and whose sandbox forbids raising RLIMIT_NOFILE; import a Debian base image
# built from Debian's own packages, for hosts that reach no image registry.
# usage: scripts/podman-setup.sh          (`make podman-setup`, and `.ci/run`)
# env:   BASE_IMAGE  the image name to import (default localhost/debian:bookworm)
#        SUITE       the Debian release debootstrap fetches (default bookworm)
#        MIRROR      the Debian mirror (default: the host's first deb.debian.org-style URI)
set -euo pipefail
suite=${SUITE:-bookworm}
base=${BASE_IMAGE:-localhost/debian:$suite}
conf=/etc/containers/containers.conf.d/50-tritontts.conf

if [ "$(id -u)" -ne 0 ]; then
    echo "podman-setup: run as root (apt-get, /etc/containers, debootstrap)" >&2
    exit 1
fi

missing=()
for package in podman runc debootstrap; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" \
        || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "podman-setup: installing ${missing[*]}"
    apt-get update -q
    # With the recommended packages (buildah, fuse-overlayfs, ...): the set seen working.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
fi

# crun (Podman's default where installed) refuses hybrid cgroup hierarchies; an empty
# default_ulimits keeps Podman from raising RLIMIT_NOFILE, which some sandboxes forbid.
mkdir -p "$(dirname "$conf")"
cat >"$conf.new" <<'CONF'
# Written by tritontts scripts/podman-setup.sh.
[containers]
default_ulimits = []

[engine]
runtime = "runc"
CONF
mv "$conf.new" "$conf"

if podman image exists "$base"; then
    echo "podman-setup: $base present"
    exit 0
fi
mirror=${MIRROR:-$(grep -hoE '^(URIs:|deb) +https?://[^ ]+/debian/?( |$)' \
    /etc/apt/sources.list /etc/apt/sources.list.d/*.sources 2>/dev/null \
    | head -n1 | grep -oE 'https?://[^ ]+' || true)}
mirror=${mirror:-http://deb.debian.org/debian}
rootfs=$(mktemp -d)
trap 'rm -rf "$rootfs"' EXIT
echo "podman-setup: debootstrap $suite from $mirror"
debootstrap --variant=minbase "$suite" "$rootfs" "$mirror" >"$rootfs.log" 2>&1 \
    || { tail -n 30 "$rootfs.log" >&2; rm -f "$rootfs.log"; exit 1; }
rm -f "$rootfs.log"
# No package lists or caches in the layer; the image's own `apt-get update` fetches lists.
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin
tar -C "$rootfs" -c . | podman import --change 'CMD ["bash"]' - "$base"
echo "podman-setup: imported $base"
