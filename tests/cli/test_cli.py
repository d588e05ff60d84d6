"""The rmaplab command: text and JSON output, exit statuses, messages."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from app.cli import main

SCENARIO = {
    "name": "tiny",
    "title": "Tiny",
    "description": "A fork and a reclaim.",
    "design": "anon_vma_rfc2",
    "options": [],
    "ops": [
        {"op": "spawn", "pid": 1},
        {"op": "mmap", "pid": 1, "addr": "0x1000", "pages": 2, "prot": "rw"},
        {"op": "write", "pid": 1, "addr": "0x1000", "value": 42},
        {"op": "fork", "pid": 1, "child": 2},
        {"op": "read", "pid": 2, "addr": "0x1000"},
        {"op": "reclaim", "pfn": 1},
        {"op": "write", "pid": 2, "addr": "0x9000", "value": 1},
    ],
}


@pytest.fixture
def scenario_file(tmp_path):
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(SCENARIO))
    return path


def test_cli_run_text_shows_steps_walks_and_state(scenario_file, capsys):
    assert main(["run", str(scenario_file)]) == 0
    out = capsys.readouterr().out
    assert "step 4: fork pid=1 child=2" in out
    assert "frame 1 was PageDirect to vma 1; it now points at anon_vma 1" in out
    assert "walk of frame 1 via anon_vma 1: vma 1 hit, vma 2 hit -- 2/2" in out
    assert "-> reads 42" in out and "-> SIGSEGV" in out
    assert "anon_vma 1: [vma 1, vma 2] (walk order)" in out
    assert out.rstrip().endswith("invariants: ok")


def test_cli_run_json_obeys_the_contract(scenario_file, capsys):
    assert main(["run", str(scenario_file), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert set(doc) >= {"design", "options", "steps", "state", "invariants"}
    assert [s["index"] for s in doc["steps"]] == list(range(1, 8))
    step = doc["steps"][5]
    assert set(step) >= {"index", "op", "outcome", "value", "events", "walks", "counters"}
    assert step["op"] == {"op": "reclaim", "pfn": 1}
    walk = step["walks"][0]
    assert set(walk) >= {"pfn", "visited", "candidates", "unmapped"}
    assert [v["result"] for v in walk["visited"]] == ["hit", "hit"]
    assert {"kind", "func", "text", "objects"} <= set(step["events"][0])
    assert doc["steps"][4]["value"] == 42 and doc["steps"][6]["outcome"] == "segv"
    assert "state" not in step
    state = doc["state"]
    assert set(state) >= {"design", "options", "mms", "pages", "swap", "anon_vmas"}
    assert state["swap"] == [{"slot": 1, "ptes": 2, "cached_pfn": None, "value": 42}]
    assert doc["invariants"] == {"ok": True, "violations": []}


def test_cli_run_all_states(scenario_file, capsys):
    assert main(["run", str(scenario_file), "--json", "--all-states"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert all("state" in s for s in doc["steps"])
    assert doc["steps"][-1]["state"] == doc["state"]


def test_cli_option_replaces_scenario_options(scenario_file, capsys):
    assert main(["run", str(scenario_file), "--json", "--option", "rfc2_literal"]) == 0
    assert json.loads(capsys.readouterr().out)["options"] == ["rfc2_literal"]


@pytest.mark.parametrize(
    ("change", "args", "message"),
    [
        (
            lambda s: s["ops"][1].update(addr="0x1001"),
            [],
            "step 2 (mmap): mmap: addr 0x1001 is not page-aligned",
        ),
        (
            lambda s: s["ops"].append({"op": "fork", "pid": 7, "child": 8}),
            [],
            "step 8 (fork pid=7 child=8): unknown pid 7",
        ),
        (lambda s: s["ops"].append({"op": "teleport"}), [], "step 8 (teleport): unknown op"),
        (lambda s: s.update(colour="red"), [], "unknown field 'colour'"),
        (lambda s: s.update(design="anon_vma_3000"), [], "unknown design 'anon_vma_3000'"),
        (lambda s: None, ["--option", "fast"], "has no option 'fast'"),
    ],
    ids=["unaligned", "unknown-pid", "unknown-op", "unknown-field", "design", "option"],
)
def test_cli_bad_input_exits_2_with_one_message(tmp_path, capsys, change, args, message):
    data = json.loads(json.dumps(SCENARIO))
    change(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    assert main(["run", str(path), "--json", *args]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert message in captured.err and captured.err.count("\n") == 1


def test_cli_missing_and_malformed_files(tmp_path, capsys):
    assert main(["run", str(tmp_path / "nope.json")]) == 2
    assert "nope.json" in capsys.readouterr().err
    bad = tmp_path / "broken.json"
    bad.write_text('{"ops": [')
    assert main(["run", str(bad)]) == 2
    assert "not valid JSON" in capsys.readouterr().err


def test_cli_designs_lists_all_five(capsys):
    assert main(["designs"]) == 0
    out = capsys.readouterr().out
    for name in ("pte_chain", "anonmm", "anon_vma_rfc2", "anon_vma_267", "anon_vma_chain"):
        assert name in out
    assert "--option rfc2_literal" in out
    assert "functions named as in: Andrea Arcangeli's anon_vma RFC2 patch" in out
    assert "functions named as in: Linux 6.18" in out
    assert "[functions of Linux 2.6.34 (May 2010)]" in out


def test_cli_console_script_runs(scenario_file):
    out = subprocess.run(
        [sys.executable, "-m", "app.cli", "run", str(scenario_file), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(out.stdout)["design"] == "anon_vma_rfc2"


def test_cli_compare_table_and_json(scenario_file, capsys):
    assert main(["compare", str(scenario_file), "--designs", "anon_vma_rfc2,anon_vma_267"]) == 0
    out = capsys.readouterr().out
    assert "anon_vma_rfc2" in out and "anon_vma_267" in out
    assert "F1:2/2" in out and "designs agree on every value" in out
    assert main(["compare", str(scenario_file), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert {"scenario", "designs", "agreement"} <= set(doc)
    assert all("run" in row for row in doc["designs"])


def test_cli_compare_bad_designs_exit_2(scenario_file, capsys):
    assert main(["compare", str(scenario_file), "--designs", "anon_vma_267+fast"]) == 2
    assert "has no option 'fast'" in capsys.readouterr().err


def test_cli_version(capsys):
    from app import __version__

    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"rmaplab {__version__}"


def test_cli_scenarios_json_lists_every_builtin(capsys):
    from app.scenarios import builtin_names

    assert main(["scenarios", "--json"]) == 0
    items = json.loads(capsys.readouterr().out)
    assert [item["name"] for item in items] == list(builtin_names())
    seed = next(item for item in items if item["name"] == "seed-story")
    assert seed["steps"] == 12 and seed["design"] and seed["title"]


def test_cli_quiet_on_a_closed_pipe():
    """``rmaplab run X --json | head`` ends quietly: no BrokenPipeError traceback."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "run", "aim7-shape", "--json", "--all-states"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.read(10)
    proc.stdout.close()  # the reader goes away with most of the output unread
    err = proc.stderr.read().decode()
    assert proc.wait(60) == 0
    assert err == ""


@pytest.mark.parametrize(("name", "allocs"), [("s3-fork-shares", "5"), ("aim7-shape", "14")])
def test_cli_compare_counts_anon_vma_chains_as_allocations(name, allocs, capsys):
    """anon_vma_chain allocates anon_vmas and AVCs: s3 2 + 3, aim7-shape 5 + 9."""
    path = Path(__file__).resolve().parents[2] / "scenarios" / f"{name}.json"
    assert main(["compare", str(path), "--designs", "anon_vma_chain"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = next(line for line in lines if line.startswith("design"))
    row = next(line for line in lines if line.startswith("anon_vma_chain"))
    cells = dict(zip(re.split(r"\s{2,}", header), re.split(r"\s{2,}", row), strict=True))
    assert cells["allocs"] == allocs
    assert main(["compare", str(path), "--designs", "anon_vma_chain", "--json"]) == 0
    counters = json.loads(capsys.readouterr().out)["designs"][0]["counters"]
    assert counters["objects_allocated"] == int(allocs)


def test_serve_workers_need_the_shared_store(monkeypatch, capsys):
    monkeypatch.delenv("RMAPLAB_STORE", raising=False)
    assert main(["serve", "--workers", "2"]) == 2
    err = capsys.readouterr().err
    assert "--workers 2 needs the shared store" in err and "RMAPLAB_STORE=redis://" in err
    assert err.count("\n") == 1


def test_importing_the_app_reads_and_creates_nothing(tmp_path):
    """The app is a factory (uvicorn --factory app.main:create_app): an import makes no
    database file in the working folder and reads no variable."""
    env = {"PATH": "/usr/bin:/bin", "RMAPLAB_MAX_PAGES": "not a number"}
    r = subprocess.run(
        [sys.executable, "-c", "import app.main"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert list(tmp_path.iterdir()) == []
