"""The JavaScript tests (tests/js/*.test.mjs, `node --test`) as part of the suite, on state
documents made by the engine now (tests/js/states.py), so they cannot go stale.

Node is Debian's `nodejs` (scripts/test.sh installs it as root when /usr/bin/node is
missing); without it these tests skip loudly, except in CI, where that is a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.js.states import layout_states

ROOT = Path(__file__).resolve().parents[1]
NODE = shutil.which("node")


def test_javascript(tmp_path: Path) -> None:
    if NODE is None:
        if os.environ.get("CI"):
            pytest.fail(
                "node is missing: CI must run the JavaScript tests (scripts/test.sh "
                "installs Debian's nodejs as root)"
            )
        pytest.skip("JAVASCRIPT TESTS SKIPPED: node is missing (apt-get install nodejs)")
    states = tmp_path / "states.json"
    states.write_text(json.dumps(layout_states()))
    files = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests" / "js").glob("*.test.mjs"))
    assert files, "no tests/js/*.test.mjs"
    run = subprocess.run(
        [NODE, "--test", "--test-reporter=spec", *files],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "RMAPLAB_LAYOUT_STATES": str(states)},
    )
    assert run.returncode == 0, f"node --test failed:\n{run.stdout}\n{run.stderr}"
