#!/usr/bin/env bash
# Set up and run the whole test suite (lint, then pytest with the CI hypothesis profile).
set -euo pipefail
source "$(dirname "$0")/venv.sh" "[test]"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy app
# System packages the tests need, installed once when missing (root only; otherwise those
# tests skip loudly): podman & co. build and run the Docker image (tests/test_docker_image.py),
# chromium drives the browser tests, nodejs runs the JavaScript tests (tests/test_js.py),
# redis-server backs the tests of the Redis store (tests/conftest.py starts one per run).
if [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null; then
    pkgs=()
    for tool in podman buildah debootstrap runc chromium redis-server; do
        [ -x "/usr/bin/$tool" ] || [ -x "/usr/sbin/$tool" ] || pkgs+=("$tool")
    done
    [ -x /usr/bin/node ] || pkgs+=(nodejs)
    if [ "${#pkgs[@]}" -gt 0 ]; then
        echo "test.sh: installing ${pkgs[*]} (apt)" >&2
        if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
                "${pkgs[@]}"; } > /tmp/rmaplab-apt.log 2>&1; then
            cat /tmp/rmaplab-apt.log >&2
            exit 1
        fi
    fi
fi
exec .venv/bin/python -m pytest "$@"
