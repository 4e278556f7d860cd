#!/usr/bin/env bash
# System packages the test suite needs, installed from the machine's own apt sources when
# missing: a Java runtime (local Spark), a PostgreSQL server (explanation store tests) and
# Chromium (dashboard tests in a real headless browser). Idempotent; quiet when all present.
set -euo pipefail

need=()
command -v java >/dev/null || need+=(default-jre-headless)
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need+=(postgresql)
command -v chromium >/dev/null || need+=(chromium)
((${#need[@]})) || exit 0

if [ "$(id -u)" != 0 ]; then
    echo "system-deps: missing ${need[*]}; run as root or install them" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
echo "system-deps: installing ${need[*]}"
apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null; }
