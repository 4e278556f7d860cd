#!/usr/bin/env bash
# Build the unchanged Dockerfile with buildah (no Docker engine here), run it with podman
# with the demo artifact mounted, and check it: /readyz, a /score answer equal to the
# library's, the non-root uid, the image size. Everything it needs it installs itself.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
DEMO=${DEMO_ARTIFACT:-artifacts/demo}  # distilled here when missing
IMAGE=localhost/scoring-explainers:test
STORE=(--storage-driver vfs)
PORT=${PORT:-18797}
WORK=$(mktemp -d)
trap 'podman "${STORE[@]}" rm -f scorer-test >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT

need=()
for tool in buildah podman runc skopeo debootstrap; do command -v "$tool" >/dev/null || need+=("$tool"); done
if ((${#need[@]})); then
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q "${need[@]}" >/dev/null 2>&1 \
        || { apt-get update -q >/dev/null && apt-get install -y -q "${need[@]}" >/dev/null; }
fi

bash packaging/base-image.sh
[ -f "$DEMO/manifest.json" ] || "$PY" -m scoring_explainers.demo --out "$DEMO" --rows 0

mounts=(-v /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro)
[ -f /etc/pip.conf ] && mounts+=(-v /etc/pip.conf:/etc/pip.conf:ro)
start=$(date +%s)
buildah "${STORE[@]}" bud --format docker --isolation chroot --pull=never --layers \
    "${mounts[@]}" -t "$IMAGE" . >"$WORK/build.log" 2>&1 || { tail -40 "$WORK/build.log"; exit 1; }
echo "image built in $(( $(date +%s) - start )) s"

printf '[containers]\ndefault_ulimits = []\n' > "$WORK/containers.conf"
export CONTAINERS_CONF="$WORK/containers.conf"
PODMAN=(podman "${STORE[@]}" --cgroup-manager cgroupfs --runtime runc)
cp -r "$DEMO" "$WORK/artifact" && chmod -R a+rX "$WORK/artifact"
t0=$("$PY" -c 'import time; print(time.time())')
"${PODMAN[@]}" run -d --no-healthcheck --name scorer-test -p "127.0.0.1:$PORT:8000" \
    -v "$WORK/artifact:/artifact:ro" "$IMAGE" >/dev/null
"$PY" packaging/check_container.py --url "http://127.0.0.1:$PORT" --artifact "$DEMO" \
    --started "$t0" --image "$IMAGE" --container scorer-test --base localhost/bookworm-python:3.11
