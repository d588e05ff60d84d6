#!/usr/bin/env bash
# Set up and run the whole test suite (lint, then pytest with the CI hypothesis profile).
set -euo pipefail
source "$(dirname "$0")/venv.sh" "[test]"
.venv/bin/ruff check .
exec .venv/bin/python -m pytest "$@"
