"""The swap device and the swap cache (common to every design).

Each slot has ``ptes`` (swap PTEs holding it) and at most one frame in the swap cache;
the 2.6 ``swap_map[]`` count is ``ptes + cache`` (semantics.md#swap-cache). Slots are numbered in
allocation
order and never reused (semantics.md#numbering); the device is disk-like and never full
(semantics.md#reclaim, semantics.md#swap-cache).
"""

from __future__ import annotations

from .events import Step, obj
from .page import free_page
from .state import PG_SWAPCACHE


def get_swap_page(step: Step) -> int:
    """``get_swap_page``: allocate the next slot."""
    st = step.state
    slot = st.next_slot
    st.next_slot += 1
    st.w("swap_ptes")[slot] = 0
    st.w("swap_value")[slot] = 0
    st.count("slots_allocated")
    return slot


def add_to_swap_cache(step: Step, pfn: int, slot: int) -> None:
    """Put frame ``pfn`` in the swap cache under ``slot`` (``PG_swapcache``, ``private``)."""
    st = step.state
    st.w("swap_cache")[slot] = pfn
    flags = st.w("page_flags")
    flags[pfn] |= PG_SWAPCACHE
    st.w("page_private")[pfn] = slot
    step.design.add_to_swap_cache(step, pfn, slot)


def delete_from_swap_cache(step: Step, pfn: int) -> None:
    """``delete_from_swap_cache``: the frame leaves the swap cache; the slot keeps its data."""
    st = step.state
    slot = st.page_private[pfn]
    del st.w("swap_cache")[slot]
    st.w("page_flags")[pfn] &= ~PG_SWAPCACHE
    del st.w("page_private")[pfn]
    step.design.delete_from_swap_cache(step, pfn, slot)


def swap_slot_free(step: Step, slot: int) -> None:
    """The slot returns to the device."""
    st = step.state
    del st.w("swap_ptes")[slot]
    del st.w("swap_value")[slot]


def free_swap_and_cache(step: Step, slot: int) -> None:
    """``free_swap_and_cache``: a swap PTE is zapped.

    When no swap PTE holds the slot any more, an unmapped cached frame is dropped from
    the swap cache and freed, and the slot is freed; a mapped cached frame keeps it.
    """
    st = step.state
    ptes = st.w("swap_ptes")
    ptes[slot] -= 1
    if ptes[slot]:
        return
    pfn = st.swap_cache.get(slot)
    if pfn is not None:
        if st.page_mapcount[pfn]:
            return
        delete_from_swap_cache(step, pfn)
        free_page(step, pfn)
        step.emit(
            "swap_free",
            "free_swap_and_cache",
            f"Slot {slot} is freed and its unmapped swap-cache frame {pfn} with it: "
            "the last swap PTE holding it is gone.",
            obj("slot", slot),
            obj("frame", pfn),
        )
    else:
        step.emit(
            "swap_free",
            "free_swap_and_cache",
            f"Slot {slot} is freed: the last swap PTE holding it is gone.",
            obj("slot", slot),
        )
    swap_slot_free(step, slot)


def free_page_and_swap_cache(step: Step, pfn: int) -> bool:
    """``free_page_and_swap_cache``: after the last unmap, free what nothing holds.

    An unmapped frame outside the swap cache is freed. One in the swap cache is freed
    too, with its slot, when no swap PTE holds the slot any more
    (``remove_exclusive_swap_page``); otherwise the swap cache keeps it. Returns True
    when the frame was freed.
    """
    st = step.state
    if st.page_mapcount[pfn]:
        return False
    if st.page_flags[pfn] & PG_SWAPCACHE:
        slot = st.page_private[pfn]
        if st.swap_ptes[slot]:
            return False
        delete_from_swap_cache(step, pfn)
        swap_slot_free(step, slot)
        step.emit(
            "swap_free",
            "free_swap_cache",
            f"Frame {pfn} leaves the swap cache and slot {slot} is freed: no PTE "
            "maps the frame and no swap PTE holds the slot.",
            obj("frame", pfn),
            obj("slot", slot),
        )
    free_page(step, pfn)
    return True
