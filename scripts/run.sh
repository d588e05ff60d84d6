#!/usr/bin/env bash
# Set up and run the main job: the laboratory at http://127.0.0.1:8000 (the seed's story
# opens first; every built-in scenario is one click away). Arguments go to `rmaplab serve`:
# e.g. `--host 0.0.0.0`, or `--workers 2` with RMAPLAB_STORE=redis://HOST:PORT/DB set
# (docs/deploy.md).
set -euo pipefail
source "$(dirname "$0")/venv.sh" ""
exec .venv/bin/rmaplab serve "$@"
