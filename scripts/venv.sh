# Sourced by run.sh and test.sh: create .venv if needed and install the project into it.
# $1: the pip extras to install ("" or "[test]").
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
stamp=".venv/.installed$1"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    .venv/bin/pip install --quiet --disable-pip-version-check -e ".$1"
    touch "$stamp"
fi
