#!/usr/bin/env bash
# Set up and run the main job: the laboratory at http://127.0.0.1:8000 (the seed's story
# opens first; every built-in scenario is one click away).
set -euo pipefail
source "$(dirname "$0")/venv.sh" ""
exec .venv/bin/rmaplab serve "$@"
