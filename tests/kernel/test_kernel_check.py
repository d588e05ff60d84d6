"""kernel-check on the real kernel: every scenario the kernel can perform agrees with
anon_vma_chain, and the machine is left as it was found.

Needs Linux and root (frame numbers, kpageflags, a temporary swap file); otherwise every
test here skips with a warning that says why. A step that is not checkable is fine; a
step that differs fails, unless the scenario is listed in KNOWN_LIMITS, which must name a
limit documented in docs/kernel-check.md (the test is then an xfail naming it).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from app.cli import main
from app.engine import EngineError, apply, new_state, parse_op
from app.kernelcheck import exit_status, kernel_check
from app.kernelcheck.host import Host, read_swaps
from app.kernelcheck.perform import Performer
from app.scenarios import builtin_names, load_builtin

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "kernel-check.md"
HERE = Path(__file__).resolve().parent
OWN = sorted((HERE / "scenarios").glob("*.json"))

#: scenario name -> the heading of its limit in docs/kernel-check.md ("Known limits").
#: Empty: no built-in or test scenario differs from the kernel on this machine.
KNOWN_LIMITS: dict[str, str] = {}


def _why_not() -> str | None:
    if sys.platform != "linux":
        return f"kernel-check needs Linux, this is {sys.platform}"
    if os.geteuid() != 0:
        return (
            "kernel-check tests need root (pagemap frame numbers, /proc/kpageflags, "
            "/proc/kpagecount and a temporary swap file)"
        )
    if not os.access("/proc/kpageflags", os.R_OK):
        return "/proc/kpageflags is not readable (CONFIG_PROC_PAGE_MONITOR=n?)"
    return None


@pytest.fixture(autouse=True)
def kernel_host():
    why = _why_not()
    if why:
        warnings.warn(f"SKIPPING the kernel-check tests: {why}", stacklevel=1)
        pytest.skip(why)


@pytest.fixture(autouse=True)
def machine_left_as_found(kernel_host):
    """No swap area added or removed, no agent left behind, by any test here."""
    swaps = [s["name"] for s in read_swaps()]
    folders = set(Path("/var/tmp").glob("rmaplab-kernel-check-*"))
    yield
    assert [s["name"] for s in read_swaps()] == swaps
    leftovers = set(Path("/var/tmp").glob("rmaplab-kernel-check-*")) - folders
    assert not leftovers, f"swap folders left behind: {leftovers}"


def assert_clean(doc):
    for proc in doc.get("processes", []):
        assert not _alive(proc["pid"]), f"{proc} is still running"
    swap = doc["swap"] or {}
    if swap.get("created"):
        assert not Path(swap["created"]).exists()
        assert swap["created"] not in [s["name"] for s in read_swaps()]


def _alive(pid):
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    if stat.rsplit(")", 1)[1].split()[0] in ("Z", "X"):
        return False
    comm = Path(f"/proc/{pid}/comm").read_text().strip()
    return comm == "rmaplab-agent"  # a reused pid is somebody else's process


def differences(doc):
    out = []
    for step in doc["steps"]:
        if step["verdict"] == "differ":
            for a in step["aspects"]:
                out += [
                    f"step {step['index']} ({step['label']}) {a['aspect']}: {d}"
                    for d in a["differences"]
                ]
            if not step["aspects"]:
                out.append(f"step {step['index']}: {step['not_checkable']}")
    return out


def check_agrees(data, name, attempts=2):
    """Run the check; a difference fails unless a known limit (then xfail).

    A run that differs is run once more, with a warning: the simulator is deterministic,
    so a real disagreement repeats, while the kernel's own background work (compaction
    migrating a page, say) very rarely perturbs one run.
    """
    for attempt in range(1, attempts + 1):
        doc = kernel_check(data)
        assert doc["ran"], doc["skipped"]
        assert_clean(doc)
        diffs = differences(doc)
        if not diffs or name in KNOWN_LIMITS:
            break
        if attempt < attempts:
            warnings.warn(
                f"{name}: run {attempt} differed, running it again: {diffs[:3]}", stacklevel=2
            )
    if name in KNOWN_LIMITS:
        assert KNOWN_LIMITS[name] in DOC.read_text()
        if diffs:
            pytest.xfail(f"known limit: {KNOWN_LIMITS[name]}")
    assert not diffs, "\n".join(diffs)
    return doc


@pytest.mark.parametrize("name", builtin_names())
def test_builtin_scenario_agrees_with_the_kernel(name):
    check_agrees(load_builtin(name), name)


@pytest.mark.parametrize("path", OWN, ids=[p.stem for p in OWN])
def test_kernel_scenario_agrees_with_the_kernel(path):
    data = json.loads(path.read_text())
    doc = check_agrees(data, data["name"])
    # these scenarios are written so the kernel can perform every step
    assert doc["summary"]["not checkable"] == 0, [
        (s["index"], s["not_checkable"]) for s in doc["steps"] if s["not_checkable"]
    ]


@pytest.mark.parametrize("seed", range(25))
def test_random_scenarios_agree_with_the_kernel(seed):
    """Random op sequences (the engine refusing none), each step checked on the kernel."""
    ops = random_ops(random.Random(seed), 30)
    data = {"name": f"random-{seed}", "design": "anon_vma_chain", "ops": ops}
    doc = kernel_check(data)
    assert_clean(doc)
    diffs = differences(doc)
    assert not diffs, json.dumps(data) + "\n" + "\n".join(diffs)


def random_ops(rng, n):
    """Valid ops chosen against the simulator's state as it goes (small address space)."""
    prots = ["r", "rw", "rw", "rw", "rw", "none", "rx", "rwx"]
    state = new_state("anon_vma_chain")
    ops = []

    def add(op):
        nonlocal state
        try:
            state = apply(state, parse_op(op)).state
        except EngineError:
            return False
        ops.append(op)
        return True

    add({"op": "spawn", "pid": 1})
    child = 2
    while len(ops) < n and state.mms:
        pid = rng.choice(sorted(state.mms))
        vmas = [state.vmas[v] for v in state.mms[pid].vmas]
        k = rng.random()
        if k < 0.15 or not vmas:
            add(
                {
                    "op": "mmap",
                    "pid": pid,
                    "addr": rng.randrange(1, 24) * 0x1000,
                    "pages": rng.randrange(1, 4),
                    "prot": rng.choice(prots),
                }
            )
            continue
        vma = rng.choice(vmas)
        at = vma.vm_start + rng.randrange(vma.pages) * 0x1000
        room = (vma.vm_end - at) // 0x1000
        if k < 0.35:
            add({"op": "write", "pid": pid, "addr": at, "value": rng.randrange(1000)})
        elif k < 0.42:
            add({"op": "read", "pid": pid, "addr": at, "pages": rng.choice([1, 1, 2])})
        elif k < 0.50 and len(state.mms) < 4:
            child += add({"op": "fork", "pid": pid, "child": child})
        elif k < 0.62:
            add(
                {
                    "op": "mprotect",
                    "pid": pid,
                    "addr": at,
                    "pages": rng.randrange(1, room + 1),
                    "prot": rng.choice(prots),
                }
            )
        elif k < 0.74:
            _mremap_somewhere(rng, add, pid, at, rng.randrange(1, room + 1))
        elif k < 0.80:
            add({"op": "munmap", "pid": pid, "addr": at, "pages": rng.randrange(1, 3)})
        elif k < 0.88:
            add({"op": "reclaim", "pid": pid, "addr": at})
        elif k < 0.90:
            add({"op": "reclaim", "count": rng.randrange(1, 3)})
        elif k < 0.93 and len(state.mms) > 1:
            add({"op": "exit", "pid": pid})
        else:
            add({"op": "merge", "pid": pid, "addr": at})
    return ops


def _mremap_somewhere(rng, add, pid, at, pages):
    """Up to ten tries at moving ``pages`` pages at ``at`` to a random address."""
    for _ in range(10):
        if add(
            {
                "op": "mremap",
                "pid": pid,
                "addr": at,
                "pages": pages,
                "new_pages": rng.choice([pages, pages, 1, 3]),
                "new_addr": rng.randrange(1, 24) * 0x1000,
            }
        ):
            break


def test_known_limits_are_documented():
    assert all(text in DOC.read_text() for text in KNOWN_LIMITS.values())


def observed(doc, index):
    return doc["steps"][index - 1]["kernel"]["observed"]


def kind_at(doc, index, pid, addr):
    for p in observed(doc, index)["ptes"]:
        if p["pid"] == pid and p["addr"] == addr:
            return p
    return {"kind": "none"}


def test_merges_after_mprotect_are_checked():
    doc = check_agrees(load_builtin("s6-mprotect-split-merge"), "s6-mprotect-split-merge")
    assert [v["vm_end"] - v["vm_start"] for v in observed(doc, 6)["vmas"]] == [
        0x1000,
        0x1000,
        0x2000,
    ]
    assert observed(doc, 8)["vmas"] == [
        {"pid": 1, "vm_start": 0x1000, "vm_end": 0x5000, "prot": "rw"}
    ]
    assert kind_at(doc, 7, 1, 0x3000)["kind"] == "swap"
    assert all(s["verdict"] == "agree" for s in doc["steps"])


def test_mremap_moves_are_checked():
    doc = check_agrees(load_builtin("s8-mremap-move"), "s8-mremap-move")
    assert observed(doc, 5)["vmas"] == [
        {"pid": 1, "vm_start": 0x9000, "vm_end": 0xD000, "prot": "rw"}
    ]
    assert kind_at(doc, 5, 1, 0x9000)["kind"] == "page"
    assert kind_at(doc, 6, 1, 0xB000)["kind"] == "swap"


def test_fork_sharing_and_cow_are_checked():
    doc = check_agrees(load_builtin("s5-cow-both-ways"), "s5-cow-both-ways")
    after_fork = [kind_at(doc, 4, pid, 0x1000) for pid in (1, 2)]
    assert after_fork[0]["pfn"] == after_fork[1]["pfn"]
    assert after_fork[0]["kpagecount"] == 2 and "mappedtodisk" not in after_fork[0]["kpageflags"]
    p, c = kind_at(doc, 6, 1, 0x1000), kind_at(doc, 6, 2, 0x1000)
    assert p["pfn"] != c["pfn"] and c["pfn"] == after_fork[0]["pfn"]  # the child reused it
    assert "mappedtodisk" in c["kpageflags"]  # PageAnonExclusive again


def test_page_out_and_swap_in_are_checked():
    doc = check_agrees(
        json.loads((HERE / "scenarios/kc-fork-swapped.json").read_text()), "kc-fork-swapped"
    )
    assert doc["swap"]["available"]
    a, b = kind_at(doc, 6, 1, 0x4000), kind_at(doc, 6, 2, 0x4000)
    assert a["kind"] == b["kind"] == "swap" and a["swap"] == b["swap"]
    a, b = kind_at(doc, 8, 1, 0x4000), kind_at(doc, 8, 2, 0x4000)
    assert a["pfn"] == b["pfn"] and "swapcache" in a["kpageflags"]  # a swap-cache hit
    assert "swapcache" not in kind_at(doc, 10, 1, 0x4000)["kpageflags"]  # E3


def test_a_shared_page_out_is_not_checkable_and_page_state_is_then_suspended():
    doc = check_agrees(load_builtin("s3-fork-shares"), "s3-fork-shares")
    step = doc["steps"][4]
    assert step["verdict"] == "not checkable"
    assert "MADV_PAGEOUT" in step["not_checkable"]
    status = {a["aspect"]: a["status"] for a in step["aspects"]}
    assert status["vmas"] == "agree" and status["frames"] == "suspended"


def test_a_difference_is_caught_and_exits_1(capsys):
    path = HERE / "scenarios/kc-merge-faulted-into-unfaulted.json"
    doc = kernel_check(json.loads(path.read_text()), engine_options=["v3_0_to_6_15"])
    assert_clean(doc)
    assert exit_status(doc) == 1 and doc["verdict"] == "differ"
    first = next(s for s in doc["steps"] if s["verdict"] == "differ")
    assert first["index"] == 5
    (d,) = next(a for a in first["aspects"] if a["aspect"] == "vmas")["differences"]
    assert d == {
        "what": "vmas of pid 1",
        "engine": "[0x1000,0x2000) r, [0x2000,0x4000) r",
        "kernel": "[0x1000,0x4000) r",
    }
    assert main(["kernel-check", str(path), "--option", "v3_0_to_6_15"]) == 1
    out = capsys.readouterr().out
    assert "simulator: [0x1000,0x2000) r, [0x2000,0x4000) r" in out
    assert "kernel:    [0x1000,0x4000) r" in out
    assert out.rstrip().endswith("DIFFERS")


def test_cli_text_json_and_exit_statuses(capsys, tmp_path):
    assert main(["kernel-check", "s1-first-touch"]) == 0
    out = capsys.readouterr().out
    assert "step  op" in out and "5 steps: 5 agree, 0 differ, 0 not checkable" in out
    assert main(["kernel-check", "s2-zero-page", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["verdict"] == "agree" and doc["summary"]["agree"] == 5
    assert kind_at(doc, 3, 1, 0x1000)["kind"] == "zero"
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps({"ops": [{"op": "spawn", "pid": 1}, {"op": "read", "pid": 2, "addr": 1}]})
    )
    assert main(["kernel-check", str(bad)]) == 2
    assert "step 2" in capsys.readouterr().err
    assert main(["kernel-check", "no-such-scenario"]) == 2


def test_without_swap_page_out_is_not_checkable(monkeypatch):
    if read_swaps():
        pytest.skip("a swap area is active on this machine")
    doc = kernel_check(load_builtin("s1-first-touch"), allow_swap_create=False)
    assert doc["swap"]["available"] is False
    assert doc["steps"][4]["verdict"] == "not checkable"
    assert "needs swap" in doc["steps"][4]["not_checkable"]
    assert any("--no-swap" in s for s in doc["skipped"])


def test_an_agent_that_dies_is_reported_and_everything_ends(monkeypatch):
    perform = Performer.perform

    def killing(self, op, pre, view, result):
        if pre.step == 3:
            os.kill(self.agents[1].pid, 9)
        return perform(self, op, pre, view, result)

    monkeypatch.setattr(Performer, "perform", killing)
    doc = kernel_check(load_builtin("s5-cow-both-ways"))
    assert_clean(doc)
    verdicts = [s["verdict"] for s in doc["steps"]]
    assert verdicts == ["agree"] * 3 + ["differ"] + ["not checked"] * 3
    assert "died" in doc["steps"][3]["not_checkable"]
    assert exit_status(doc) == 1


def test_an_error_mid_run_still_ends_every_process_and_removes_the_swap_file(monkeypatch):
    started = []
    spawn, fork = Host.spawn, Host.fork
    monkeypatch.setattr(Host, "spawn", lambda self, label: _keep(started, spawn(self, label)))
    monkeypatch.setattr(
        Host, "fork", lambda self, parent, label: _keep(started, fork(self, parent, label))
    )
    perform = Performer.perform

    def failing(self, op, pre, view, result):
        if pre.step == 4:
            raise RuntimeError("boom")
        return perform(self, op, pre, view, result)

    monkeypatch.setattr(Performer, "perform", failing)
    with pytest.raises(RuntimeError, match="boom"):
        kernel_check(load_builtin("s4-aim7-shape"))
    assert len(started) >= 4
    assert not [a.pid for a in started if _alive(a.pid)]


def _keep(started, agent):
    started.append(agent)
    return agent


def _nobody_python():
    for exe in (sys.executable, "/usr/bin/python3", shutil.which("python3") or ""):
        if not exe:
            continue
        probe = subprocess.run(
            [
                "setpriv",
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                exe,
                "-c",
                "import subprocess, sys; assert sys.version_info >= (3, 11); "
                "subprocess.run([sys.executable, '-c', ''], check=True)",
            ],
            capture_output=True,
            cwd="/",
            check=False,
        )
        if probe.returncode == 0:
            return exe
    return None


def test_without_root_says_what_is_skipped():
    if not shutil.which("setpriv"):
        pytest.skip("setpriv is not installed")
    exe = _nobody_python()
    if exe is None:
        pytest.skip("no Python >= 3.11 that the nobody user may run")
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.run(
        [
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            exe,
            "-m",
            "app.cli",
            "kernel-check",
            "s9-fork-cow-mremap",
            "--json",
        ],
        capture_output=True,
        text=True,
        cwd="/",
        env=env,
        timeout=120,
        check=False,
    )
    if proc.returncode != 0 and "Permission denied" in proc.stderr:
        pytest.skip(f"the checkout is not readable by nobody: {proc.stderr[-200:]}")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["host"]["root"] is False and doc["ran"]
    assert any(s.startswith("not root: frame numbers") for s in doc["skipped"])
    last = doc["steps"][-1]
    assert last["verdict"] == "not checkable" and "needs swap" in last["not_checkable"]
    status = {a["aspect"]: a["status"] for a in doc["steps"][5]["aspects"]}
    assert status["frames"] == "not observable" and status["vmas"] == "agree"
    assert status["ptes"] == "agree" and status["mapcount"] == "agree"
    assert [s["verdict"] for s in doc["steps"][:7]] == ["agree"] * 7
