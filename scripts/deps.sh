#!/usr/bin/env bash
# Installs the Debian packages sampan needs to build and test (plus any
# named as arguments), but only the ones that are missing: when everything is present it touches nothing (no
# apt-get update), so `make test` stays fast and works offline.
set -euo pipefail

PACKAGES=(
    build-essential
    cmake
    pkg-config
    libcmocka-dev
    libuv1-dev
    clang
    clang-format
    python3
    python3-pytest
    python3-redis
    redis-tools
)
# Extra packages a caller needs beyond these (the benchmark's peers:
# `scripts/deps.sh etcd-server etcd-client redis-server`).
PACKAGES+=("$@")

missing=()
for pkg in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    if [[ "$status" != "install ok installed" ]]; then
        missing+=("$pkg")
    fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
    echo "deps: all dependencies present"
    exit 0
fi

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=(sudo)
    else
        echo "deps: missing ${missing[*]}; not root and no sudo, install them by hand" >&2
        exit 1
    fi
fi

"${SUDO[@]}" apt-get update -q >&2
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
echo "deps: installed ${missing[*]}"
