"""Every example in docs/api.md runs against a real server and succeeds."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from .server import Server

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"
BLOCKS = re.findall(r"```(sh|python)\n(.*?)```", DOC.read_text(), re.S)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("docs") / "sessions.sqlite3").start()
    yield s
    s.stop()


def test_docs_have_examples_of_both_kinds():
    kinds = [k for k, _ in BLOCKS]
    assert kinds.count("sh") >= 5 and kinds.count("python") >= 3


@pytest.mark.parametrize(
    ("kind", "code"), BLOCKS, ids=[f"{k}-{i}" for i, (k, _) in enumerate(BLOCKS)]
)
def test_docs_example_runs(server, kind, code):
    if kind == "python":
        exec(compile(code, str(DOC), "exec"), {"BASE": server.url})
        return
    out = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "BASE": server.url},
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip()
