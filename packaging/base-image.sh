#!/usr/bin/env bash
# Make a local stand-in for python:3.11-slim (Debian bookworm + python3, pip, venv) with
# debootstrap, and tag it with the name the Dockerfile uses, because no container registry
# is reachable here. The Debian mirror comes from this machine's own apt configuration.
# Cached: does nothing when the image exists already.
set -euo pipefail
STORE=(--storage-driver vfs)
# The name `FROM python:3.11-slim` resolves to, from the machine's short-name aliases.
resolved=$(awk -F'"' '$2 == "python" {print $4; exit}' /etc/containers/registries.conf.d/*.conf \
    2>/dev/null || true)
BASE=${BASE_IMAGE:-${resolved:-localhost/python}:3.11-slim}
if podman "${STORE[@]}" image exists "$BASE"; then
    echo "base image $BASE: cached"
    exit 0
fi
mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
if [ -z "$mirror" ]; then
    mirror=$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
fi
[ -n "$mirror" ] || { echo "no Debian mirror in the apt configuration" >&2; exit 1; }
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
chmod 755 "$root"  # mktemp makes it 0700: the image's / must be traversable by non-root
debootstrap --variant=minbase --include=python3,python3-pip,python3-venv,ca-certificates \
    bookworm "$root" "$mirror" > /dev/null
ln -sf python3 "$root/usr/bin/python"
tar -C "$root" -c . | podman "${STORE[@]}" import \
    --change 'ENV PIP_BREAK_SYSTEM_PACKAGES=1' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    - localhost/bookworm-python:3.11 > /dev/null
podman "${STORE[@]}" tag localhost/bookworm-python:3.11 "$BASE"
echo "base image $BASE: built from $mirror"
