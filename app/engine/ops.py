"""The ops of the scenario format, their validation, and ``apply``.

Every op is a small frozen value; ``parse_op`` turns a JSON object into one and raises
``ScenarioError`` naming the field and the problem; ``apply(state, op)`` returns the next
state and the step's report, and never changes its input.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, dataclass, fields
from typing import Any

from .designs import get_design
from .errors import OpError, ScenarioError
from .events import Step, StepResult, hexa, obj, span
from .fault import handle_read, handle_write
from .fork import do_fork
from .merge import execute_merge, explain_refusal, plan_merge
from .mmap import do_mmap, do_munmap, exit_mmap
from .mprotect import do_mprotect
from .mremap import do_mremap
from .reclaim import reclaim_at, reclaim_frame, reclaim_lru
from .state import PAGE_SHIFT, PAGE_SIZE, PROTS, TASK_SIZE, Mm, State

MAX_PAGES = TASK_SIZE >> PAGE_SHIFT
#: values are exact in JSON consumers that use doubles (JavaScript)
MAX_VALUE = 2**53 - 1
#: the kernel's PID_MAX_LIMIT: the largest pid
MAX_PID = 4194304
#: the largest frame, slot or vma id an op may name
MAX_ID = 2**31


@dataclass(frozen=True, slots=True)
class Spawn:
    """Create a process with an empty address space (exec of a new program)."""

    pid: int


@dataclass(frozen=True, slots=True)
class Mmap:
    """Map ``pages`` anonymous private pages at ``addr`` (or the lowest free range)."""

    pid: int
    pages: int
    prot: str
    addr: int | None = None


@dataclass(frozen=True, slots=True)
class Read:
    """Load the value of the page at ``addr`` (``pages`` pages from there)."""

    pid: int
    addr: int
    pages: int = 1


@dataclass(frozen=True, slots=True)
class Write:
    """Store ``value`` into the page at ``addr`` (``pages`` pages from there)."""

    pid: int
    addr: int
    value: int
    pages: int = 1


@dataclass(frozen=True, slots=True)
class Fork:
    pid: int
    child: int


@dataclass(frozen=True, slots=True)
class Exit:
    pid: int


@dataclass(frozen=True, slots=True)
class Munmap:
    pid: int
    addr: int
    pages: int


@dataclass(frozen=True, slots=True)
class Mprotect:
    pid: int
    addr: int
    pages: int
    prot: str


@dataclass(frozen=True, slots=True)
class Mremap:
    pid: int
    addr: int
    pages: int
    new_pages: int
    new_addr: int | None = None


@dataclass(frozen=True, slots=True)
class Merge:
    """Try to merge the vma containing ``addr`` with its neighbours, now."""

    pid: int
    addr: int


@dataclass(frozen=True, slots=True)
class Reclaim:
    """Reclaim a frame by ``pfn``, the frame at ``pid``/``addr``, or ``count`` LRU frames."""

    pfn: int | None = None
    pid: int | None = None
    addr: int | None = None
    count: int | None = None


Op = Spawn | Mmap | Read | Write | Fork | Exit | Munmap | Mprotect | Mremap | Merge | Reclaim

OPS: dict[str, type[Op]] = {
    "spawn": Spawn,
    "mmap": Mmap,
    "read": Read,
    "write": Write,
    "fork": Fork,
    "exit": Exit,
    "munmap": Munmap,
    "mprotect": Mprotect,
    "mremap": Mremap,
    "merge": Merge,
    "reclaim": Reclaim,
}
OP_NAMES = {cls: name for name, cls in OPS.items()}

# field -> kind of value
_FIELD_KINDS = {
    "pid": "id",
    "child": "id",
    "pfn": "id",
    "pages": "count",
    "new_pages": "count",
    "count": "count",
    "value": "value",
    "prot": "prot",
    "addr": "addr",
    "new_addr": "addr",
}
#: the address fields each op takes page-aligned
ALIGNED = {Mmap: ("addr",), Munmap: ("addr",), Mprotect: ("addr",), Mremap: ("addr", "new_addr")}


def parse_address(value: Any, name: str = "addr") -> int:
    """An address: a JSON integer or a ``"0x..."`` string, in ``[0, TASK_SIZE)``."""
    if isinstance(value, str):
        text = value.strip().lower()
        try:
            addr = int(text, 16) if text.startswith("0x") else int(text, 10)
        except ValueError:
            raise ScenarioError(
                f'{name}: {value!r} is not an address (an integer or "0x...")'
            ) from None
    elif isinstance(value, int) and not isinstance(value, bool):
        addr = value
    else:
        raise ScenarioError(f'{name}: {value!r} is not an address (an integer or "0x...")')
    if addr < 0:
        raise ScenarioError(f"{name}: {value!r} is negative")
    if addr >= TASK_SIZE:
        raise ScenarioError(f"{name}: {value!r} is not below TASK_SIZE {TASK_SIZE:#x}")
    return addr


def _parse_field(op: str, name: str, value: Any) -> Any:
    kind = _FIELD_KINDS[name]
    if kind == "addr":
        return parse_address(value, name)
    if kind == "prot":
        if value not in PROTS:
            raise ScenarioError(f"prot: {value!r} is not one of {', '.join(PROTS)}")
        return value
    if not isinstance(value, int) or isinstance(value, bool):
        raise ScenarioError(f"{name}: {value!r} is not an integer")
    if kind == "id" and not 1 <= value <= (MAX_ID if name == "pfn" else MAX_PID):
        limit = "2^31" if name == "pfn" else f"{MAX_PID} (PID_MAX_LIMIT)"
        raise ScenarioError(f"{name}: {value} must be a positive integer up to {limit}")
    if kind == "count" and not 1 <= value <= MAX_PAGES:
        raise ScenarioError(f"{name}: {value} must be between 1 and {MAX_PAGES}")
    if kind == "value" and abs(value) > MAX_VALUE:
        raise ScenarioError(f"value: {value} does not fit in ±2^53-1")
    return value


def parse_op(data: Any) -> Op:
    """A validated op from its JSON object; ``ScenarioError`` names what is wrong."""
    if not isinstance(data, Mapping):
        raise ScenarioError(f"an op must be a JSON object, not {type(data).__name__}")
    name = data.get("op")
    if name not in OPS:
        raise ScenarioError(f"unknown op {name!r}; the ops are {', '.join(OPS)}")
    cls = OPS[name]
    spec = {f.name: f for f in fields(cls)}
    unknown = sorted(set(data) - set(spec) - {"op"})
    if unknown:
        raise ScenarioError(
            f"{name}: unknown field {unknown[0]!r}; its fields are {', '.join(spec)}"
        )
    values = {}
    for fname, f in spec.items():
        if fname in data and data[fname] is not None:
            values[fname] = _parse_field(name, fname, data[fname])
        elif f.default is not MISSING:
            continue
        else:
            raise ScenarioError(f"{name}: missing field {fname!r}")
    for fname in ALIGNED.get(cls, ()):
        if values.get(fname) is not None and values[fname] % PAGE_SIZE:
            raise ScenarioError(
                f"{name}: {fname} {values[fname]:#x} is not page-aligned "
                f"(a multiple of {PAGE_SIZE:#x})"
            )
    op = cls(**values)
    if isinstance(op, Reclaim):
        _check_reclaim(op)
    return op


#: a reclaim names its frame one way: by ``pfn``, by ``pid`` with ``addr``, or ``count``
RECLAIM_FORMS = (("pfn",), ("pid", "addr"), ("count",))


def reclaim_problem(given: Mapping[str, object]) -> str | None:
    """Why the fields ``given`` (None: absent) are not one reclaim form, or None."""
    forms = [form for form in RECLAIM_FORMS if any(given.get(f) is not None for f in form)]
    if len(forms) != 1:
        return "give exactly one of pfn, pid with addr, or count"
    if any(given.get(f) is None for f in forms[0]):
        return "pid and addr go together"
    return None


def _check_reclaim(op: Reclaim) -> None:
    problem = reclaim_problem({f.name: getattr(op, f.name) for f in fields(op)})
    if problem:
        raise ScenarioError(f"reclaim: {problem}")


def op_to_json(op: Op) -> dict[str, Any]:
    """The op as a JSON object, addresses as integers, optional fields left out if unset."""
    out: dict[str, Any] = {"op": OP_NAMES[type(op)]}
    for f in fields(op):
        value = getattr(op, f.name)
        if value is not None:
            out[f.name] = value
    return out


def describe_op(op: Op) -> str:
    """A short human label of an op, for messages: ``mremap pid 1 0x1000``."""
    parts = [OP_NAMES[type(op)]]
    for f in fields(op):
        value = getattr(op, f.name)
        if value is None:
            continue
        parts.append(f"{f.name}={hexa(value)}" if "addr" in f.name else f"{f.name}={value}")
    return " ".join(parts)


# ----- apply -----------------------------------------------------------------------------


def new_state(design: str, options: frozenset[str] | tuple[str, ...] = ()) -> State:
    """An empty machine running ``design`` (step 0)."""
    opts = frozenset(options)
    get_design(design, opts)
    return State(design=design, options=opts)


def _need_pid(st: State, pid: int) -> None:
    if pid not in st.mms:
        if pid in st.used_pids:
            raise OpError(f"pid {pid} has exited")
        raise OpError(f"unknown pid {pid}")


def apply(state: State, op: Op) -> StepResult:
    """Apply one op to ``state``; the input is never changed.

    Raises ``EngineError`` for a caller mistake, leaving ``state`` exactly as it was.
    """
    step = Step(state.begin(), get_design(state.design, state.options))
    _dispatch(step, op)
    st = step.state
    st.step += 1
    return StepResult(
        st.finish(), tuple(step.events), tuple(step.walks), step.outcome, step.value, step.result
    )


def _dispatch(step: Step, op: Op) -> None:
    st = step.state
    match op:
        case Spawn(pid):
            _spawn(step, pid)
        case Mmap(pid, pages, prot, addr):
            _need_pid(st, pid)
            vma, mapped = do_mmap(step, pid, addr, pages, prot)
            step.result["vma"] = vma.id
            step.result["addr"] = mapped
        case Read(pid, addr, pages):
            _need_pid(st, pid)
            _access(step, pid, addr, pages, None)
        case Write(pid, addr, value, pages):
            _need_pid(st, pid)
            _access(step, pid, addr, pages, value)
        case Fork(pid, child):
            _need_pid(st, pid)
            do_fork(step, pid, child)
        case Exit(pid):
            _need_pid(st, pid)
            step.emit(
                "exit",
                "exit",
                f"pid {pid} exits: exit_mmap zaps and frees every vma.",
                obj("mm", pid),
            )
            exit_mmap(step, pid)
            step.design.mm_exited(step, pid)
        case Munmap(pid, addr, pages):
            _need_pid(st, pid)
            end = addr + (pages << PAGE_SHIFT)
            _end_ok("munmap", end)
            removed = do_munmap(step, pid, addr, end)
            if not removed:
                step.emit(
                    "munmap", "munmap", f"munmap {span(addr, end)}: pid {pid} maps nothing there."
                )
        case Mprotect(pid, addr, pages, prot):
            _need_pid(st, pid)
            end = addr + (pages << PAGE_SHIFT)
            _end_ok("mprotect", end)
            do_mprotect(step, pid, addr, end, prot)
        case Mremap(pid, addr, pages, new_pages, new_addr):
            _need_pid(st, pid)
            _end_ok("mremap", addr + (pages << PAGE_SHIFT))
            do_mremap(step, pid, addr, pages, new_pages, new_addr)
        case Merge(pid, addr):
            _need_pid(st, pid)
            _merge(step, pid, addr)
        case Reclaim(pfn, pid, addr, count):
            _reclaim(step, pfn, pid, addr, count)


def _spawn(step: Step, pid: int) -> None:
    st = step.state
    if pid in st.used_pids:
        raise OpError(f"spawn: pid {pid} is already in use or was used before")
    st.used_pids = st.used_pids | {pid}
    st.w("mms")[pid] = Mm(pid)
    st.w("ptes")[pid] = {}
    step.emit("spawn", "execve", f"pid {pid} starts with an empty address space.", obj("mm", pid))
    step.design.mm_spawned(step, pid)


def _reclaim(
    step: Step, pfn: int | None, pid: int | None, addr: int | None, count: int | None
) -> None:
    """One frame by number, ``count`` frames off the LRU, or the frame mapped at an address."""
    if pfn is not None:
        reclaim_frame(step, pfn)
    elif count is not None:
        reclaim_lru(step, count)
    else:
        assert pid is not None and addr is not None
        _need_pid(step.state, pid)
        reclaim_at(step, pid, addr)


def _end_ok(name: str, end: int) -> None:
    if end > TASK_SIZE:
        raise OpError(f"{name}: the range ends at {end:#x}, above TASK_SIZE {TASK_SIZE:#x}")


def _access(step: Step, pid: int, addr: int, pages: int, value: int | None) -> None:
    """One read or write, or a run of them over ``pages`` pages (one range event)."""
    if (addr >> PAGE_SHIFT) + pages > MAX_PAGES:
        raise OpError(f"the access runs past TASK_SIZE {TASK_SIZE:#x}")
    if pages == 1:
        if value is None:
            step.value = handle_read(step, pid, addr)
        else:
            handle_write(step, pid, addr, value)
        return
    values = []
    done = 0
    step.begin_bulk()
    for i in range(pages):
        at = addr + (i << PAGE_SHIFT)
        if value is None:
            got = handle_read(step, pid, at)
            if got is None:
                break
            values.append(got)
        elif not handle_write(step, pid, at, value):
            break
        done += 1
    step.end_bulk()
    step.result["pages_done"] = done
    if value is None:
        step.result["values"] = values


def _merge(step: Step, pid: int, addr: int) -> None:
    st = step.state
    vma = st.vma_at(pid, addr)
    if vma is None:
        raise OpError(f"merge: no vma of pid {pid} contains {addr:#x}")
    if not step.design.merges_on("merge"):
        step.result["merge"] = {
            "merged": False,
            "reasons": [{"side": "both", "vma": vma.id, "text": "this design never merges here"}],
        }
        return
    prev = st.neighbours(vma)[0]
    plan, refusals = plan_merge(
        st, step.design, pid, prev, vma.vm_start, vma.vm_end, vma.prot, vma, vma.vm_pgoff
    )
    if plan is None:
        step.result["merge"] = {
            "merged": False,
            "vma": vma.id,
            "reasons": [r.to_json() for r in refusals],
        }
        step.emit(
            "merge_refused",
            "merge_existing",
            f"vma {vma.id} {span(vma.vm_start, vma.vm_end)} cannot merge: "
            f"{explain_refusal(refusals)}.",
            obj("vma", vma.id),
        )
        return
    survivor = execute_merge(step, plan, vma.anon_vma, f"merge of vma {vma.id}", "merge_existing")
    step.result["merge"] = {
        "merged": True,
        "vma": survivor.id,
        "case": plan.case,
        "removed": plan.removed,
    }
