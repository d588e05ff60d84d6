"""``struct page``: allocating, freeing and unmapping frames (common to every design)."""

from __future__ import annotations

from .events import Step
from .state import PAGE_FLAG_NAMES, PG_ANON, IntTable


def alloc_page(step: Step, value: int) -> int:
    """``alloc_zeroed_user_highpage`` + copy: a new anonymous frame holding ``value``."""
    st = step.state
    pfn = st.next_pfn
    st.next_pfn += 1
    st.w("page_mapcount")[pfn] = 0
    st.w("page_flags")[pfn] = PG_ANON
    st.w("page_value")[pfn] = value
    st.count("frames_allocated")
    return pfn


def free_page(step: Step, pfn: int) -> None:
    """``__free_page``: the frame goes back to the allocator; every field is reset."""
    st = step.state
    always: tuple[IntTable, ...] = ("page_mapcount", "page_flags", "page_value")
    for name in always:
        del st.w(name)[pfn]
    maybe: tuple[IntTable, ...] = ("page_mapping", "page_index", "page_private")
    for name in maybe:
        if pfn in getattr(st, name):
            del st.w(name)[pfn]


def page_remove_rmap(step: Step, pfn: int, pid: int, addr: int) -> int:
    """``page_remove_rmap``: one PTE stops mapping the frame; returns the new mapcount."""
    st = step.state
    mapcount = st.w("page_mapcount")
    mc = mapcount[pfn] - 1
    mapcount[pfn] = mc
    step.design.page_remove_rmap(step, pfn, pid, addr, mc)
    return mc


def page_flag_names(flags: int) -> list[str]:
    """The flags of a frame as the JSON document lists them."""
    return [name for bit, name in PAGE_FLAG_NAMES if flags & bit]
