"""Stateful differential test: the engine against the plain reference model.

A hypothesis ``RuleBasedStateMachine`` drives the engine (``anon_vma_rfc2``, then every
other available design and sound option, with fewer examples) and ``ReferenceModel``
with the same ops over a small address space. Ops are drawn mostly
valid by looking at the engine's current state (existing vmas, PTEs, frames), with some
invalid ones mixed in. After every op:

* ``check(state) == []``;
* the outcome, every value read and every placement agree with the model;
* on ``EngineError`` the input state is unchanged (document and internal tables) and the
  model is untouched; on success the input state is unchanged too;
* the pages each process maps, and their protections, equal the model's.

Now and then the whole memory is compared: every page the model knows, read through the
engine (on a scratch successor, so the run itself is not perturbed).

A second machine runs the ``rfc2_literal`` teaching mode (and the other buggy teaching
modes), where invariant violations are the lesson: it only checks that nothing crashes
(``check`` included) and that ``apply`` is atomic and pure. Every machine also checks,
now and then, that no later step changed any earlier state.
"""

from __future__ import annotations

import copy
from dataclasses import fields
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from app.engine import (
    EngineError,
    State,
    apply,
    available_designs,
    check,
    design_class,
    new_state,
    parse_op,
    state_to_json,
)
from app.engine.ops import op_to_json
from tests.engine.reference_model import (
    ACCEPT,
    ENGINE,
    PAGE_SHIFT,
    PAGE_SIZE,
    REJECT,
    ReferenceModel,
    readable,
)

DESIGN = "anon_vma_rfc2"
PROTS = ("none", "r", "w", "x", "rw", "rx", "wx", "rwx")
PIDS = range(1, 11)
LO, HI = 0x1000, 0x20000  # the address space the ops aim at
SWEEP_EVERY = 10  # steps between two forced whole-memory comparisons


def snapshot(state: State) -> dict[str, Any]:
    """Every field of the State, deep-copied, to compare by value later."""
    return {f.name: copy.deepcopy(getattr(state, f.name)) for f in fields(State)}


class EngineMachine(RuleBasedStateMachine):
    """Drives the engine; with ``differential`` also the model, and checks them equal."""

    design = DESIGN
    options: tuple[str, ...] = ()
    differential = True

    def __init__(self) -> None:
        super().__init__()
        self.state = new_state(self.design, self.options)
        self.model = ReferenceModel()
        self.doc = state_to_json(self.state)
        self.steps = 0
        self.next_value = 1000
        self.history: list[tuple[State, dict[str, Any]]] = [(self.state, self.doc)]

    # ----- the engine state as drawing material --------------------------------------

    def live(self) -> list[int]:
        return [mm["pid"] for mm in self.doc["mms"]]

    def vmas(self, pid: int | None = None) -> list[dict[str, Any]]:
        return [
            dict(v, pid=mm["pid"])
            for mm in self.doc["mms"]
            for v in mm["vmas"]
            if pid is None or mm["pid"] == pid
        ]

    def ptes(self) -> list[dict[str, Any]]:
        return [dict(p, pid=mm["pid"]) for mm in self.doc["mms"] for p in mm["ptes"]]

    @staticmethod
    def rarely(data: st.DataObject, label: str, percent: int = 10) -> bool:
        """True about ``percent``% of the time (invalid or unusual choices)."""
        # shrinks towards 1: the usual choice, which keeps counterexamples simple
        return data.draw(st.integers(1, 100), label=label) > 100 - percent

    def draw_pid(self, data: st.DataObject) -> int:
        """A live pid most of the time; sometimes any pid (exited or never used)."""
        live = self.live()
        if live and not self.rarely(data, "any pid", 5):
            return data.draw(st.sampled_from(live), label="pid")
        return data.draw(st.sampled_from(PIDS), label="pid")

    def draw_new_pid(self, data: st.DataObject) -> int:
        """A never-used pid most of the time; sometimes a used one."""
        fresh = [p for p in PIDS if p not in self.model.used]
        if fresh and not self.rarely(data, "used pid", 10):
            return fresh[0]
        return data.draw(st.sampled_from(PIDS), label="new pid")

    def draw_vma(
        self, data: st.DataObject, pid: int, writable: bool = False
    ) -> dict[str, Any] | None:
        """A vma of ``pid`` (a writable one if asked and any), or rarely None."""
        vmas = self.vmas(pid)
        if writable and not self.rarely(data, "any prot", 20):
            vmas = [v for v in vmas if "w" in v["prot"]] or vmas
        if not vmas or self.rarely(data, "no vma", 10):
            return None
        return data.draw(st.sampled_from(vmas), label="vma")

    def draw_range(self, data: st.DataObject, pid: int, writable: bool = False) -> tuple[int, int]:
        """(addr, pages): mostly inside a vma of ``pid``, sometimes anywhere."""
        vma = self.draw_vma(data, pid, writable)
        if vma is None:
            addr = (
                data.draw(st.integers(LO >> PAGE_SHIFT, HI >> PAGE_SHIFT), label="page")
                << PAGE_SHIFT
            )
            return addr, data.draw(st.integers(1, 6), label="pages")
        offset = data.draw(st.integers(0, vma["pages"] - 1), label="offset")
        room = vma["pages"] - offset
        if self.rarely(data, "overshoot", 15):
            pages = data.draw(st.integers(1, room + 3), label="pages")
        else:
            pages = data.draw(st.integers(1, room), label="pages")
        return vma["vm_start"] + (offset << PAGE_SHIFT), pages

    def draw_access(self, data: st.DataObject, pid: int, writable: bool = False) -> tuple[int, int]:
        """(byte addr, pages) for a read or a write."""
        addr, pages = self.draw_range(data, pid, writable)
        addr += data.draw(st.sampled_from((0, 0, 8, PAGE_SIZE - 1)), label="byte")
        if not self.rarely(data, "multi-page", 25):
            pages = 1
        return addr, min(pages, 4)

    # ----- one op through both ---------------------------------------------------------

    def do(self, op_json: dict[str, Any]) -> None:
        op = parse_op(op_json)
        norm = op_to_json(op)
        before_doc = self.doc
        before_raw = snapshot(self.state)
        model_before = self.model.snapshot()
        verdict = self.model.judge(norm)
        try:
            result = apply(self.state, op)
        except EngineError as exc:
            assert state_to_json(self.state) == before_doc, f"{norm} changed its input"
            assert snapshot(self.state) == before_raw, f"{norm} changed its input's tables"
            assert self.model.snapshot() == model_before, "judge changed the model"
            if self.differential:
                assert verdict.kind != ACCEPT, (
                    f"the engine refused {norm} ({exc}), which the model accepts"
                )
                if verdict.kind == ENGINE:
                    self.confirm_layout_refusal(norm, before_doc, str(exc))
            return
        assert snapshot(self.state) == before_raw, f"{norm} changed its input's tables"
        assert state_to_json(self.state) == before_doc, f"{norm} changed its input"
        assert result.outcome in ("ok", "segv")
        if norm["op"] == "mremap":
            assert self.holding_vmas(norm, before_doc), f"{norm} accepted across vmas"
        if self.differential:
            assert verdict.kind != REJECT, (
                f"the engine accepted {norm}, which the model refuses: {verdict.reason}"
            )
            self.compare(norm, result, self.model.apply(norm))
        self.state = result.state
        self.doc = state_to_json(self.state)
        self.steps += 1
        self.history.append((self.state, self.doc))

    def compare(self, op: dict[str, Any], result: Any, pred: Any) -> None:
        what = f"{op}: engine {result.outcome}/{result.value}/{result.result}"
        assert result.outcome == pred.outcome, f"{what}, model {pred.outcome}"
        name, pages = op["op"], op.get("pages", 1)
        if name == "read" and pages == 1:
            assert result.value == pred.value, f"{what}, model reads {pred.value}"
        if name in ("read", "write") and pages > 1:
            assert result.result.get("pages_done") == pred.pages_done, (
                f"{what}, model does {pred.pages_done} pages"
            )
        if name == "read" and pages > 1:
            assert result.result.get("values") == pred.values, f"{what}, model {pred.values}"
        if name == "mmap":
            assert result.result.get("addr") == pred.addr, f"{what}, model maps {pred.addr:#x}"

    @staticmethod
    def holding_vmas(op: dict[str, Any], doc: dict[str, Any]) -> list[dict[str, Any]]:
        """The vmas of ``doc`` that hold the whole old range of an mremap."""
        end = op["addr"] + (op["pages"] << PAGE_SHIFT)
        return [
            v
            for mm in doc["mms"]
            if mm["pid"] == op["pid"]
            for v in mm["vmas"]
            if v["vm_start"] <= op["addr"] and end <= v["vm_end"]
        ]

    def confirm_layout_refusal(self, op: dict[str, Any], doc: dict[str, Any], text: str) -> None:
        """The model left it to the engine: the refusal must be the vma-layout one."""
        assert op["op"] == "mremap", f"unexpected refusal of {op}: {text}"
        inside = self.holding_vmas(op, doc)
        assert not inside, f"{op} refused ({text}) although vma {inside[0]['id']} holds it"
        assert "not inside one vma" in text, text

    # ----- rules: one per op -----------------------------------------------------------

    @initialize(data=st.data())
    def start(self, data):
        """A first process with a few vmas, so that most runs get to the interesting ops."""
        self.do({"op": "spawn", "pid": 1})
        for _ in range(data.draw(st.integers(1, 3), label="initial vmas")):
            self.do(
                {
                    "op": "mmap",
                    "pid": 1,
                    "pages": data.draw(st.integers(1, 6), label="pages"),
                    "prot": data.draw(
                        st.sampled_from(("rw", "rw", "r", "none", "rwx")), label="prot"
                    ),
                }
            )
        for vma in self.vmas(1):
            if "w" in vma["prot"]:
                self.next_value += 1
                self.do(
                    {
                        "op": "write",
                        "pid": 1,
                        "addr": vma["vm_start"],
                        "value": self.next_value,
                        "pages": vma["pages"],
                    }
                )

    @rule(data=st.data())
    def spawn(self, data):
        self.do({"op": "spawn", "pid": self.draw_new_pid(data)})

    @rule(data=st.data())
    def mmap(self, data):
        pid = self.draw_pid(data)
        op = {
            "op": "mmap",
            "pid": pid,
            "pages": data.draw(st.integers(1, 6), label="pages"),
            "prot": data.draw(st.sampled_from(PROTS), label="prot"),
        }
        kind = data.draw(st.integers(0, 3), label="where")
        if kind == 1:
            op["addr"] = (
                data.draw(st.integers(LO >> PAGE_SHIFT, HI >> PAGE_SHIFT), label="page")
                << PAGE_SHIFT
            )
        elif kind >= 2:
            # right after or right before an existing vma: adjacency, merging, overlaps
            vma = self.draw_vma(data, pid)
            if vma is not None:
                op["addr"] = (
                    vma["vm_end"]
                    if kind == 2
                    else max(0, vma["vm_start"] - (op["pages"] << PAGE_SHIFT))
                )
        self.do(op)

    @rule(data=st.data())
    def read(self, data):
        pid = self.draw_pid(data)
        addr, pages = self.draw_access(data, pid)
        op = {"op": "read", "pid": pid, "addr": addr}
        if pages > 1:
            op["pages"] = pages
        self.do(op)

    @rule(data=st.data())
    def write(self, data):
        pid = self.draw_pid(data)
        addr, pages = self.draw_access(data, pid, writable=True)
        self.next_value += 1
        value = self.next_value
        if self.rarely(data, "odd value", 10):
            value = data.draw(st.sampled_from((0, -1, -(2**53) + 1, 2**53 - 1)), label="value")
        op = {"op": "write", "pid": pid, "addr": addr, "value": value}
        if pages > 1:
            op["pages"] = pages
        self.do(op)

    @rule(data=st.data())
    def write_more(self, data):
        """Writes make frames, the material of COW, swap and rmap: give them more weight."""
        self.write(data)

    @rule(data=st.data())
    def fork(self, data):
        self.do({"op": "fork", "pid": self.draw_pid(data), "child": self.draw_new_pid(data)})

    @precondition(lambda self: len(self.live()) >= 2)  # keep someone to work with
    @rule(data=st.data())
    def exit(self, data):
        self.do({"op": "exit", "pid": self.draw_pid(data)})

    @rule(data=st.data())
    def munmap(self, data):
        pid = self.draw_pid(data)
        addr, pages = self.draw_range(data, pid)
        self.do({"op": "munmap", "pid": pid, "addr": addr, "pages": pages})

    @rule(data=st.data())
    def mprotect(self, data):
        pid = self.draw_pid(data)
        addr, pages = self.draw_range(data, pid)
        self.do(
            {
                "op": "mprotect",
                "pid": pid,
                "addr": addr,
                "pages": pages,
                "prot": data.draw(st.sampled_from(PROTS), label="prot"),
            }
        )

    @rule(data=st.data())
    def mremap(self, data):
        pid = self.draw_pid(data)
        addr, pages = self.draw_range(data, pid)
        op = {
            "op": "mremap",
            "pid": pid,
            "addr": addr,
            "pages": pages,
            "new_pages": data.draw(st.integers(1, 6), label="new pages"),
        }
        kind = data.draw(st.integers(0, 3), label="fixed")
        if kind == 1:
            op["new_addr"] = (
                data.draw(st.integers(LO >> PAGE_SHIFT, HI >> PAGE_SHIFT), label="new page")
                << PAGE_SHIFT
            )
        elif kind >= 2:
            # a free destination, preferably touching a vma (merge candidates)
            spots = self.free_spots(pid, op["new_pages"], addr, pages)
            if spots:
                op["new_addr"] = data.draw(st.sampled_from(spots), label="new addr")
        self.do(op)

    def free_spots(self, pid: int, new_pages: int, addr: int, pages: int) -> list[int]:
        """Destinations of ``new_pages`` free pages away from the old range; those next to
        a vma first."""
        taken = {
            vpn
            for v in self.vmas(pid)
            for vpn in range(v["vm_start"] >> PAGE_SHIFT, v["vm_end"] >> PAGE_SHIFT)
        }
        old = range(addr >> PAGE_SHIFT, (addr >> PAGE_SHIFT) + pages)
        near, far = [], []
        for first in range(LO >> PAGE_SHIFT, (HI >> PAGE_SHIFT) + 8):
            span = range(first, first + new_pages)
            if any(v in taken or v in old for v in span):
                continue
            touching = first - 1 in taken or first + new_pages in taken
            (near if touching else far).append(first << PAGE_SHIFT)
        return near + far[:4]

    @rule(data=st.data())
    def merge(self, data):
        pid = self.draw_pid(data)
        addr, _ = self.draw_range(data, pid)
        self.do({"op": "merge", "pid": pid, "addr": addr})

    @rule(data=st.data())
    def reclaim(self, data):
        pfns = [p["pfn"] for p in self.doc["pages"]]
        present = [p for p in self.ptes() if p["kind"] == "page"]
        if pfns and not self.rarely(data, "odd reclaim", 30):
            if present and data.draw(st.booleans(), label="by pte"):
                pte = data.draw(st.sampled_from(present), label="pte")
                self.do({"op": "reclaim", "pid": pte["pid"], "addr": pte["addr"]})
            else:
                self.do({"op": "reclaim", "pfn": data.draw(st.sampled_from(pfns), label="pfn")})
        elif not self.rarely(data, "no count", 50):
            self.do({"op": "reclaim", "count": data.draw(st.integers(1, 4), label="count")})
        elif data.draw(st.booleans(), label="by pfn"):
            self.do({"op": "reclaim", "pfn": data.draw(st.integers(1, 60), label="pfn")})
        else:
            pid = self.draw_pid(data)
            addr, _ = self.draw_range(data, pid)
            self.do({"op": "reclaim", "pid": pid, "addr": addr})

    @rule()
    def compare_memory(self):
        self.sweep()

    # ----- invariants ------------------------------------------------------------------

    @invariant()
    def invariants_hold(self):
        violations = check(self.state)  # must not crash, even in the literal mode
        if self.differential:
            assert violations == [], [v.to_json() for v in violations]

    @invariant()
    def layout_matches_model(self):
        if not self.differential:
            return
        assert self.live() == self.model.pids()
        for mm in self.doc["mms"]:
            engine = {}
            for v in mm["vmas"]:
                for vpn in range(v["vm_start"] >> PAGE_SHIFT, v["vm_end"] >> PAGE_SHIFT):
                    engine[vpn] = v["prot"]
            model = {vpn: prot for vpn, (prot, _) in self.model.procs[mm["pid"]].items()}
            assert engine == model, f"pid {mm['pid']}: engine maps {engine}, model {model}"

    @invariant()
    def periodic_sweep(self):
        if self.steps and self.steps % SWEEP_EVERY == 0:
            self.sweep()

    # ----- the whole memory --------------------------------------------------------------

    def sweep(self):
        """Every earlier state is intact; every page the model knows reads as predicted."""
        for state, doc in self.history:
            assert state_to_json(state) == doc, f"a later step changed the state of step {doc}"
        if not self.differential:
            return
        scratch = self.state
        for pid, table in self.model.procs.items():
            for first, count, prot in runs(table):
                addr = first << PAGE_SHIFT
                if not readable(prot):
                    res = apply(scratch, parse_op({"op": "read", "pid": pid, "addr": addr}))
                    assert res.outcome == "segv", f"pid {pid} reads PROT_NONE {addr:#x}"
                    # and the data behind PROT_NONE is still there
                    scratch = apply(
                        scratch,
                        parse_op(
                            {
                                "op": "mprotect",
                                "pid": pid,
                                "addr": addr,
                                "pages": count,
                                "prot": "r",
                            }
                        ),
                    ).state
                res = apply(
                    scratch, parse_op({"op": "read", "pid": pid, "addr": addr, "pages": count})
                )
                want = [table[v][1] for v in range(first, first + count)]
                got = [res.value] if count == 1 else res.result.get("values")
                assert res.outcome == "ok", f"pid {pid} {addr:#x}: {res.outcome}"
                assert got == want, f"pid {pid} reads {got} at {addr:#x}, model {want}"
                scratch = res.state
        violations = check(scratch)
        assert violations == [], [v.to_json() for v in violations]


def runs(table: dict[int, tuple[str, int]]) -> list[tuple[int, int, str]]:
    """(first vpn, pages, prot) of each maximal run of consecutive pages of one prot."""
    out: list[tuple[int, int, str]] = []
    for vpn in sorted(table):
        prot = table[vpn][0]
        if out and out[-1][0] + out[-1][1] == vpn and out[-1][2] == prot:
            out[-1] = (out[-1][0], out[-1][1] + 1, prot)
        else:
            out.append((vpn, 1, prot))
    return out


class LiteralMachine(EngineMachine):
    """``rfc2_literal``: violations are expected; no crash, atomic and pure ``apply``."""

    options = ("rfc2_literal",)
    differential = False


EngineMachine.TestCase.settings = settings(max_examples=80, stateful_step_count=40, deadline=None)
LiteralMachine.TestCase.settings = settings(max_examples=40, stateful_step_count=40, deadline=None)
TestEngineAgainstModel = EngineMachine.TestCase
TestLiteralModeIsAtomic = LiteralMachine.TestCase


# ----- the same machines for every other design and option ---------------------------------
# What a process reads does not depend on the rmap design, so the model judges them all.
# The teaching modes whose violations are the lesson get the no-crash/atomicity machine.

BUGGY_OPTIONS = frozenset({"rfc2_literal", "exact_267", "v2_6_34_rc3"})


def _variants() -> list[tuple[str, tuple[str, ...]]]:
    out = []
    for design in available_designs():
        for options in [(), *((o,) for o in design_class(design).option_help)]:
            if (design, options) not in ((DESIGN, ()), (DESIGN, ("rfc2_literal",))):
                out.append((design, options))
    return out


for _design, _options in _variants():
    _sound = not BUGGY_OPTIONS & set(_options)
    _name = "_".join((_design, *_options))
    _machine = type(
        f"Machine_{_name}",
        (EngineMachine,),
        {"design": _design, "options": _options, "differential": _sound},
    )
    _machine.TestCase.settings = settings(
        max_examples=25 if _sound else 15, stateful_step_count=40, deadline=None
    )
    globals()[f"Test_{_name}"] = _machine.TestCase
