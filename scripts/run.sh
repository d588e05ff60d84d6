#!/usr/bin/env bash
# Set up and run the main job: the seed's story through the engine, drawn as text.
set -euo pipefail
source "$(dirname "$0")/venv.sh" ""
exec .venv/bin/rmaplab run "${@:-seed-story}"
