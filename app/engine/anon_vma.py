"""The anon_vma object and its list of related vmas (D3 RFC2, and later D4 2.6.7).

Models ``anon_vma_t`` of the RFC2 patch: a spinlock and a ``list_head`` of vmas. The
list is kept in kernel order, head first; ``list_add`` inserts at the head. There is no
refcount: an anon_vma is freed the moment its list empties (semantics.md#rfc2, "I simply garbage
collect the anon_vma during vma destruction").
"""

from __future__ import annotations

from dataclasses import replace

from .events import Step, obj
from .state import AnonVma


def anon_vma_alloc(step: Step) -> int:
    """``anon_vma_alloc``: a new, empty anon_vma; ids are never reused (semantics.md#numbering)."""
    st = step.state
    av = st.next_anon_vma
    st.next_anon_vma += 1
    st.w("anon_vmas")[av] = AnonVma(av)
    st.count("anon_vmas_allocated")
    return av


def set_vma_anon_vma(step: Step, vma_id: int, av: int | None) -> None:
    """Point ``vma->anon_vma`` at ``av``."""
    st = step.state
    st.put_vma(replace(st.vmas[vma_id], anon_vma=av))


def anon_vma_link(step: Step, av: int, vma_id: int, after: int | None = None) -> None:
    """``list_add(&vma->anon_vma_node, ...)``: at the head, or just after ``after``.

    Only a buggy teaching mode can ask to link into an anon_vma that was already freed
    (a vma left pointing at it, G10): that is a use-after-free in the kernel; the simulator
    says so and leaves the lists alone.
    """
    st = step.state
    if av not in st.anon_vmas:
        step.emit(
            "use_after_free",
            "anon_vma_link",
            f"vma {vma_id} points at anon_vma {av}, which was freed: linking it there is "
            "a use-after-free in the kernel (the simulator leaves the lists alone).",
            obj("vma", vma_id),
            obj("anon_vma", av),
        )
        return
    vmas = st.anon_vmas[av].vmas
    if after is None:
        new = (vma_id, *vmas)
    else:
        i = vmas.index(after) + 1
        new = (*vmas[:i], vma_id, *vmas[i:])
    st.w("anon_vmas")[av] = AnonVma(av, new)


def anon_vma_unlink(step: Step, vma_id: int) -> None:
    """``anon_vma_unlink``: take the vma off its anon_vma's list; free the anon_vma if empty."""
    st = step.state
    vma = st.vmas[vma_id]
    av = vma.anon_vma
    if av is None or av not in st.anon_vmas:
        return
    rest = tuple(v for v in st.anon_vmas[av].vmas if v != vma_id)
    table = st.w("anon_vmas")
    if rest:
        table[av] = AnonVma(av, rest)
        return
    del table[av]
    step.emit(
        "anon_vma_free",
        "anon_vma_unlink",
        f"anon_vma {av} is freed: vma {vma_id} was the last vma on its list, and no page "
        "can point at an anon_vma whose list is empty.",
        obj("anon_vma", av),
        obj("vma", vma_id),
    )
