"""The engine is pure: standard library only, no I/O, no clock, no randomness.

Every ``app/engine/**/*.py`` is parsed with ``ast``: each import must be relative or from
a small allowlist of standard-library modules, and no builtin that does I/O or runs code
is called. Importing the engine in a fresh interpreter must not pull in any framework.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENGINE = ROOT / "app" / "engine"

ALLOWED = frozenset(
    {
        "__future__",
        "abc",
        "bisect",
        "collections",
        "collections.abc",
        "dataclasses",
        "enum",
        "functools",
        "heapq",
        "itertools",
        "math",
        "operator",
        "re",
        "typing",
    }
)
FORBIDDEN = frozenset(
    {
        # frameworks and the app's other layers
        "fastapi",
        "pydantic",
        "starlette",
        "uvicorn",
        "jinja2",
        "httpx",
        "hypothesis",
        "pytest",
        "app",
        # randomness, clock, I/O, environment, processes, network
        "random",
        "secrets",
        "uuid",
        "time",
        "datetime",
        "calendar",
        "os",
        "io",
        "pathlib",
        "shutil",
        "tempfile",
        "glob",
        "json",
        "pickle",
        "shelve",
        "csv",
        "sqlite3",
        "sys",
        "subprocess",
        "socket",
        "select",
        "asyncio",
        "threading",
        "multiprocessing",
        "signal",
        "logging",
        "warnings",
        "importlib",
        "inspect",
        "ctypes",
        "builtins",
        "platform",
        "urllib",
        "http",
        "email",
        "locale",
        "gc",
        "weakref",
    }
)
FORBIDDEN_CALLS = frozenset(
    {
        "open",
        "print",
        "input",
        "exec",
        "eval",
        "compile",
        "__import__",
        "breakpoint",
        "globals",
        "vars",
        "exit",
        "quit",
        "id",
        "hash",
    }
)
FRAMEWORKS = ("fastapi", "pydantic", "starlette", "uvicorn", "jinja2", "httpx", "hypothesis")

SOURCES = sorted(ENGINE.rglob("*.py"))


def imports(tree: ast.AST) -> list[tuple[int, str, int]]:
    """(line, module, level) of every import; ``level > 0`` is a relative import."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name, 0) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            out.append((node.lineno, node.module or "", node.level))
    return out


def test_the_engine_has_sources():
    names = {p.name for p in SOURCES}
    assert {"__init__.py", "ops.py", "state.py", "check.py"} <= names


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ENGINE)))
def test_imports_are_standard_library_only(path):
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for line, module, level in imports(tree):
        where = f"{path.relative_to(ROOT)}:{line}"
        if level:
            continue  # inside the engine package (a relative import cannot leave it here)
        top = module.split(".")[0]
        assert top not in FORBIDDEN, f"{where} imports {module}"
        assert module in ALLOWED or (top in ALLOWED and module.startswith(top + ".")), (
            f"{where} imports {module}, which is not on the standard-library allowlist"
        )


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ENGINE)))
def test_relative_imports_stay_inside_the_engine(path):
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    depth = len(path.relative_to(ENGINE).parts) - 1  # 0 for app/engine/x.py
    for line, module, level in imports(tree):
        if level:
            assert level - 1 <= depth, (
                f"{path.relative_to(ROOT)}:{line} imports {'.' * level}{module}, outside the "
                "engine package"
            )


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ENGINE)))
def test_no_io_or_dynamic_code(path):
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id not in FORBIDDEN_CALLS, (
                f"{path.relative_to(ROOT)}:{node.lineno} calls {node.func.id}()"
            )


def test_importing_the_engine_loads_no_framework():
    code = (
        "import sys, app.engine\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {FRAMEWORKS!r})\n"
        "print(','.join(bad))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip() == "", f"importing app.engine loads {done.stdout.strip()}"


def test_allowlist_and_forbidden_lists_do_not_overlap():
    assert not {m.split(".")[0] for m in ALLOWED} & FORBIDDEN
