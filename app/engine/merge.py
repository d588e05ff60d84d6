"""``vma_merge`` of 2.6.7/2.6.8 (mm/mmap.c), the merge engine of D3 (semantics.md#rfc2-merging).

``plan_merge`` decides, exactly as ``vma_merge`` does, which of its cases applies to a
range ``[addr, end)`` about to get ``prot`` (a new mapping for mmap and mremap, part of
one vma for mprotect, a whole vma for the ``merge`` op) and, when none does, every
reason. ``execute_merge`` carries the plan out, asking the design what happens to the
rmap on the way.

The kernel's diagram (``AAAA`` is the range, ``PPPP`` prev, ``NNNN`` next)::

        AAAA             AAAA                AAAA          AAAA
       PPPPPPNNNNNN    PPPPPPNNNNNN    PPPPPPNNNNNN    PPPPNNNNXXXX
       cannot merge    might become    might become    might become
                       PPNNNNNNNNNN    PPPPPPPPPPNN    PPPPPPPPPPPP 6 or
       mmap, brk or    case 4 below    case 5 below    PPPPPPPPXXXX 7 or
       mremap move:                                    PPPPNNNNNNNN 8
           AAAA
       PPPP    NNNN    PPPPPPPPPPPP    PPPPPPPPNNNN    PPPPNNNNNNNN
       might become    case 1 below    case 2 below    case 3 below
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from .events import Step, obj, span
from .state import PAGE_SHIFT, State, Vma

if TYPE_CHECKING:
    from .designs.base import Design


@dataclass(slots=True)
class MergePlan:
    """What ``vma_merge`` will do: the surviving vma's new range, what it absorbs, and
    for a boundary shift (cases 4 and 5) the vma that shrinks."""

    case: int
    survivor: int
    start: int
    end: int
    pgoff: int
    removed: list[int] = field(default_factory=list)
    exporter: int | None = None
    exporter_start: int = 0
    exporter_end: int = 0
    exporter_pgoff: int = 0


@dataclass(slots=True)
class Refusal:
    """Why a side could not merge: ``side`` is "prev", "next" or "both"."""

    side: str
    vma: int | None
    text: str

    def to_json(self) -> dict[str, object]:
        return {"side": self.side, "vma": self.vma, "text": self.text}


def _side_refusals(
    st: State,
    design: Design,
    side: str,
    vma: Vma,
    prot: str,
    anon_vma: int | None,
    source: Vma | None,
    pgoff: int,
) -> list[Refusal]:
    """``can_vma_merge_after`` (prev) / ``can_vma_merge_before`` (next) as reasons."""
    out = []
    if vma.prot != prot:
        out.append(
            Refusal(
                side, vma.id, f"vm_flags differ: vma {vma.id} is {vma.prot}, the range is {prot}"
            )
        )
    why = design.merge_refusal(st, vma, anon_vma, source)
    if why:
        out.append(Refusal(side, vma.id, f"anon_vma: {why}"))
    if not design.anon_pgoff_linear:
        return out
    if side == "prev" and vma.vm_pgoff + vma.pages != pgoff:
        out.append(
            Refusal(
                side,
                vma.id,
                f"vm_pgoff is not linear: vma {vma.id} has vm_pgoff {vma.vm_pgoff} and "
                f"{vma.pages} pages, so the range would need vm_pgoff "
                f"{vma.vm_pgoff + vma.pages}, but it has {pgoff}",
            )
        )
    if side == "next" and vma.vm_pgoff != pgoff:
        out.append(
            Refusal(
                side,
                vma.id,
                f"vm_pgoff is not linear: vma {vma.id} starts at vm_pgoff "
                f"{vma.vm_pgoff}, but the range would need it to be {pgoff}",
            )
        )
    return out


def plan_merge(
    st: State,
    design: Design,
    pid: int,
    prev: Vma | None,
    addr: int,
    end: int,
    prot: str,
    source: Vma | None,
    pgoff: int,
) -> tuple[MergePlan | None, list[Refusal]]:
    """Decide ``vma_merge(mm, prev, addr, end, prot, anon_vma, pgoff)`` without doing it.

    ``source`` is the vma whose range (mprotect, merge) or contents (mremap) is being
    merged, or None for a new mapping; its anon_vma is the range's anon_vma.
    """
    anon_vma = source.anon_vma if source is not None else None
    pglen = (end - addr) >> PAGE_SHIFT
    mm = st.mms[pid]
    if prev is None:
        nxt = st.vmas[mm.vmas[0]] if mm.vmas else None
    else:
        i = mm.vmas.index(prev.id)
        nxt = st.vmas[mm.vmas[i + 1]] if i + 1 < len(mm.vmas) else None
    area = nxt
    if nxt is not None and nxt.vm_end == end:  # cases 6, 7, 8
        following = st.neighbours(nxt)[1]
        nxt = following
    refusals: list[Refusal] = []

    # Can it merge with the predecessor?
    prev_ok = False
    if prev is None:
        refusals.append(Refusal("prev", None, "no vma before the range"))
    elif prev.vm_end != addr:
        refusals.append(
            Refusal(
                "prev",
                prev.id,
                f"vma {prev.id} ends at {prev.vm_end:#x}, not at {addr:#x}: not adjacent",
            )
        )
    else:
        side = _side_refusals(st, design, "prev", prev, prot, anon_vma, source, pgoff)
        refusals += side
        prev_ok = not side

    next_ok = False
    if nxt is None:
        refusals.append(Refusal("next", None, "no vma after the range"))
    elif nxt.vm_start != end:
        refusals.append(
            Refusal(
                "next",
                nxt.id,
                f"vma {nxt.id} starts at {nxt.vm_start:#x}, not at {end:#x}: not adjacent",
            )
        )
    else:
        side = _side_refusals(st, design, "next", nxt, prot, anon_vma, source, pgoff + pglen)
        refusals += side
        next_ok = not side

    if prev_ok and prev is not None:
        if next_ok and nxt is not None:
            why = design.merge_both_refusal(st, prev, nxt)
            if why is None:  # cases 1, 6
                removed = [area.id] if area is not None and area.id != nxt.id else []
                return MergePlan(
                    1 if not removed else 6,
                    prev.id,
                    prev.vm_start,
                    nxt.vm_end,
                    prev.vm_pgoff,
                    [*removed, nxt.id],
                ), []
            refusals.append(Refusal("both", nxt.id, f"prev and next cannot both merge: {why}"))
        # cases 2, 5, 7
        plan = MergePlan(2, prev.id, prev.vm_start, end, prev.vm_pgoff)
        if area is not None and area.vm_start < end:
            if area.vm_end == end:
                plan.case, plan.removed = 7, [area.id]
            else:
                shift = (end - area.vm_start) >> PAGE_SHIFT
                plan.case = 5
                plan.exporter = area.id
                plan.exporter_start, plan.exporter_end = end, area.vm_end
                plan.exporter_pgoff = area.vm_pgoff + shift
        return plan, []

    if next_ok and nxt is not None:
        if prev is not None and addr < prev.vm_end:  # case 4
            return MergePlan(
                4,
                nxt.id,
                addr,
                nxt.vm_end,
                nxt.vm_pgoff - pglen,
                exporter=prev.id,
                exporter_start=prev.vm_start,
                exporter_end=addr,
                exporter_pgoff=prev.vm_pgoff,
            ), []
        assert area is not None
        removed = [nxt.id] if area.id != nxt.id else []  # cases 3, 8
        return MergePlan(
            8 if removed else 3, area.id, addr, nxt.vm_end, nxt.vm_pgoff - pglen, removed
        ), []
    return None, refusals


def execute_merge(step: Step, plan: MergePlan, anon_vma: int | None, why: str, role: str) -> Vma:
    """Carry out a plan: ``vma_adjust`` with the design's rmap hooks. Returns the survivor.

    ``role`` is the caller's merge in the era table: ``merge_new`` (mmap), ``merge_move``
    (mremap) or ``merge_existing`` (mprotect, the merge op)."""
    st, design = step.state, step.design
    involved = [plan.survivor, *plan.removed]
    if plan.exporter is not None:
        involved.append(plan.exporter)
    partner = anon_vma
    for v in involved:
        if partner is None:
            partner = st.vmas[v].anon_vma
    for v in plan.removed:
        partner = design.before_vma_change(
            step, v, partner, f"merge of vma {v} into vma {plan.survivor}"
        )
    if plan.exporter is not None:
        partner = design.before_vma_change(
            step,
            plan.exporter,
            partner,
            f"boundary shift from vma {plan.exporter} to vma {plan.survivor}",
        )
    survivor = st.vmas[plan.survivor]
    old = span(survivor.vm_start, survivor.vm_end)
    st.put_vma(replace(survivor, vm_start=plan.start, vm_end=plan.end, vm_pgoff=plan.pgoff))
    pid = survivor.pid
    for v in plan.removed:
        design.anon_vma_merge(step, plan.survivor, v)
        del st.w("vmas")[v]
    name = design.fn(role)
    case = f"case {plan.case}" if name == "vma_merge" else f"case {plan.case} of the old vma_merge"
    text = (
        f"{name} ({case}, {why}): vma {plan.survivor} grows from {old} to "
        f"{span(plan.start, plan.end)} with vm_pgoff {plan.pgoff}"
    )
    if plan.removed:
        text += " and absorbs " + " and ".join(f"vma {v}" for v in plan.removed)
    objects = [obj("vma", plan.survivor), *(obj("vma", v) for v in plan.removed)]
    if plan.exporter is not None:
        exp = st.vmas[plan.exporter]
        st.put_vma(
            replace(
                exp,
                vm_start=plan.exporter_start,
                vm_end=plan.exporter_end,
                vm_pgoff=plan.exporter_pgoff,
            )
        )
        text += (
            f"; vma {plan.exporter} shrinks to "
            f"{span(plan.exporter_start, plan.exporter_end)} (a boundary shift)"
        )
        objects.append(obj("vma", plan.exporter))
        design.import_anon_vma(step, plan.survivor, plan.exporter)
    st.set_mm(pid, [v for v in st.mms[pid].vmas if v in st.vmas])
    design.vma_adjusted(step, plan.survivor)
    if plan.exporter is not None:
        design.vma_adjusted(step, plan.exporter)
    step.emit("vma_merge", role, text + ".", *objects)
    return st.vmas[plan.survivor]


def explain_refusal(refusals: list[Refusal]) -> str:
    """One sentence listing every reason."""
    return "; ".join(f"{r.side}: {r.text}" for r in refusals)


def narrate_refusal(step: Step, refusals: list[Refusal], what: str, role: str) -> None:
    """Tell why an adjacent neighbour did not merge (nothing when none was adjacent);
    ``role`` as for ``execute_merge``."""
    adjacent = [r for r in refusals if r.vma is not None and "not adjacent" not in r.text]
    if adjacent:
        step.emit(
            "merge_refused",
            role,
            f"{what} is not merged with its neighbour: {explain_refusal(adjacent)}.",
            *(obj("vma", r.vma) for r in adjacent if r.vma is not None),
        )
