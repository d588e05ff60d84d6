"""The kernel each design models, and the one table of function names per era.

Every event names the kernel function it models as ``file:function``. Functions moved
and were renamed over twenty years (``mm/rmap.c`` did not exist in Andrea's RFC2,
``vma_merge`` is gone from 6.18), so an event never spells the name itself: it names a
*role* (``"split_vma"``, ``"merge_existing"``) and ``Step.emit`` looks the role up in the
table of the design's era. A role an era lacks is a programming error, and the tests run
every built-in scenario under every era to find one. docs/semantics.md#eras explains
each era and why its names are what they are.

A role whose value starts with ``MODEL`` is not kernel code: it is where the simulator
completes or repairs what the kernel of that era did not do (a modelling choice), and
the event says so in its text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

#: The prefix of a role that is a modelling choice, not a kernel function.
MODEL = "simulator: "


@dataclass(frozen=True, slots=True)
class Era:
    """One kernel whose names the narration uses: ``key`` (``"2.6.7"``), a line a student
    reads, and role -> ``file:function``."""

    key: str
    title: str
    funcs: Mapping[str, str]


def _era(key: str, title: str, base: Mapping[str, str], **funcs: str) -> Era:
    merged = dict(base)
    merged.update(funcs)
    return Era(key, title, merged)


#: What every 2.6 kernel of 2003-2004 calls the common mechanics (2.6.0's names).
_LINUX_26 = {
    "execve": "fs/exec.c:do_execve",
    "exit": "kernel/exit.c:do_exit",
    "fork": "kernel/fork.c:copy_process",
    "dup_mmap": "kernel/fork.c:dup_mmap",
    "copy_page_range": "mm/memory.c:copy_page_range",
    "page_fault": "arch/i386/mm/fault.c:do_page_fault",
    "mmu": "MMU",
    "do_anonymous_page": "mm/memory.c:do_anonymous_page",
    "do_wp_page": "mm/memory.c:do_wp_page",
    "do_swap_page": "mm/memory.c:do_swap_page",
    "mmap": "mm/mmap.c:do_mmap_pgoff",
    "munmap": "mm/mmap.c:do_munmap",
    "split_vma": "mm/mmap.c:split_vma",
    "merge_new": "mm/mmap.c:vma_merge",
    "merge_existing": "mm/mmap.c:vma_merge",
    # before 2.6.7, move_vma made (or merged) the destination vma itself
    "merge_move": "mm/mremap.c:move_vma",
    "copy_vma": "mm/mremap.c:move_vma",
    "do_mremap": "mm/mremap.c:do_mremap",
    "move_page_tables": "mm/mremap.c:move_page_tables",
    "mprotect_fixup": "mm/mprotect.c:mprotect_fixup",
    "change_protection": "mm/mprotect.c:change_protection",
    "zap": "mm/memory.c:zap_pte_range",
    "shrink": "mm/vmscan.c:shrink_list",
    "add_to_swap": "mm/swap_state.c:add_to_swap",
    "try_to_unmap": "mm/rmap.c:try_to_unmap",
    "free_swap_and_cache": "mm/swapfile.c:free_swap_and_cache",
    "free_swap_cache": "mm/swapfile.c:remove_exclusive_swap_page",
}

#: 2.6.7's mm/mmap.c: copy_vma and vma_adjust are new, vma_merge serves every caller.
_LINUX_267 = dict(
    _LINUX_26,
    merge_move="mm/mmap.c:vma_merge",
    copy_vma="mm/mmap.c:copy_vma",
    vma_adjust="mm/mmap.c:vma_adjust",
)

LINUX_260 = _era(
    "2.6.0",
    "Linux 2.6.0 (December 2003)",
    _LINUX_26,
    page_add_rmap="mm/rmap.c:page_add_rmap",
    page_remove_rmap="mm/rmap.c:page_remove_rmap",
    page_referenced="mm/rmap.c:page_referenced",
    copy_one_pte="mm/mremap.c:copy_one_pte",
    mprotect_attempt_merge="mm/mprotect.c:mprotect_attempt_merge",
    sys_mprotect="mm/mprotect.c:sys_mprotect",
)

ANONMM_2004 = _era(
    "anonmm",
    "Hugh Dickins's anonmm series for 2.6.5 (-mm, March 2004)",
    _LINUX_26,
    exec_rmap="mm/rmap.c:exec_rmap",
    dup_rmap="mm/rmap.c:dup_rmap",
    exit_rmap="mm/rmap.c:exit_rmap",
    free_anonmm="mm/rmap.c:free_anonmm",
    page_add_anon_rmap="mm/rmap.c:page_add_anon_rmap",
    page_update_anon_rmap="mm/rmap.c:page_update_anon_rmap",
    try_to_unmap_anon="mm/rmap.c:try_to_unmap_anon",
    rmap_needs_broken_cow="mm/mremap.c:rmap_needs_broken_cow",
)

RFC2 = _era(
    "rfc2",
    "Andrea Arcangeli's anon_vma RFC2 patch (March 2004): mm/objrmap.c",
    _LINUX_26,
    try_to_unmap="mm/objrmap.c:try_to_unmap",
    page_add_rmap="mm/objrmap.c:page_add_rmap",
    page_add_rmap_fork="mm/objrmap.c:page_add_rmap_fork",
    anon_vma_alloc="kernel/fork.c:dup_mmap",
    fork_link="mm/objrmap.c:anon_vma_page_link_fork",
    anon_vma_link="mm/mmap.c:split_vma",
    anon_vma_unlink="include/linux/objrmap.h:anon_vma_unlink",
    anon_vma_merge="mm/mmap.c:vma_merge",
    bug_fork="mm/objrmap.c:anon_vma_page_link_fork",
    bug_swapin="mm/objrmap.c:page_add_rmap",
    direct_walk=MODEL + "page-table walk (Andrea's rejected fix, 12 March 2004)",
    import_anon_vma=MODEL + "the 2.6.8 importer rule applied to RFC2",
    copied_range_adopt=MODEL + "the moved pages' vma adopts their anon_vma",
)

LINUX_267 = _era(
    "2.6.7",
    "Linux 2.6.7 (June 2004) and 2.6.8",
    _LINUX_267,
    anon_vma_prepare="mm/rmap.c:anon_vma_prepare",
    page_add_anon_rmap="mm/rmap.c:page_add_anon_rmap",
    fork_link="mm/rmap.c:anon_vma_link",
    anon_vma_link="mm/rmap.c:anon_vma_link",
    anon_vma_unlink="mm/rmap.c:anon_vma_unlink",
    anon_vma_merge="mm/rmap.c:__anon_vma_merge",
    import_anon_vma="mm/mmap.c:vma_adjust",
    copied_range_adopt=MODEL + "the moved pages' vma adopts their anon_vma",
)

#: The anon_vma_chain designs' own functions, by their 2.6.34 names.
_AVC_2634 = dict(
    _LINUX_267,
    shrink="mm/vmscan.c:shrink_page_list",
    free_swap_cache="mm/swapfile.c:try_to_free_swap",
    page_fault="arch/x86/mm/fault.c:do_page_fault",
    anon_vma_prepare="mm/rmap.c:anon_vma_prepare",
    anon_vma_clone="mm/rmap.c:anon_vma_clone",
    anon_vma_fork="mm/rmap.c:anon_vma_fork",
    unlink_anon_vmas="mm/rmap.c:unlink_anon_vmas",
    anon_vma_free="mm/rmap.c:anon_vma_unlink",
    add_new_anon_rmap="mm/rmap.c:page_add_new_anon_rmap",
    swapin_new_rmap="mm/rmap.c:page_add_anon_rmap",
    swapin_anon_rmap="mm/rmap.c:page_add_anon_rmap",
    swapin_free_swap="mm/swapfile.c:reuse_swap_page",
    reuse_free_swap="mm/swapfile.c:reuse_swap_page",
    move_anon_rmap="mm/rmap.c:page_move_anon_rmap",
    dup_anon_vma="mm/mmap.c:vma_adjust",
    copied_range_adopt=MODEL + "the moved pages' vma adopts their anon_vma",
    oops="mm/rmap.c:page_lock_anon_vma",
)

LINUX_2634 = _era("2.6.34", "Linux 2.6.34 (May 2010)", _AVC_2634)

LINUX_618 = _era(
    "6.18",
    "Linux 6.18 (names also of 6.12-6.17)",
    _AVC_2634,
    page_fault="arch/x86/mm/fault.c:do_user_addr_fault",
    dup_mmap="mm/mmap.c:dup_mmap",
    mmap="mm/mmap.c:do_mmap",
    munmap="mm/vma.c:do_vmi_munmap",
    split_vma="mm/vma.c:__split_vma",
    merge_new="mm/vma.c:vma_merge_new_range",
    merge_move="mm/vma.c:vma_merge_new_range",
    merge_existing="mm/vma.c:vma_merge_existing_range",
    copy_vma="mm/vma.c:copy_vma",
    vma_adjust="mm/vma.c:vma_expand",
    shrink="mm/vmscan.c:shrink_folio_list",
    add_to_swap="mm/swapfile.c:folio_alloc_swap",
    free_swap_and_cache="mm/swapfile.c:free_swap_and_cache_nr",
    free_swap_cache="mm/swapfile.c:folio_free_swap",
    anon_vma_prepare="mm/rmap.c:__anon_vma_prepare",
    anon_vma_free="mm/rmap.c:__put_anon_vma",
    add_new_anon_rmap="mm/rmap.c:folio_add_new_anon_rmap",
    swapin_new_rmap="mm/rmap.c:folio_add_new_anon_rmap",
    swapin_anon_rmap="mm/rmap.c:folio_add_anon_rmap_ptes",
    swapin_free_swap="mm/memory.c:do_swap_page",
    reuse_free_swap="mm/memory.c:wp_can_reuse_anon_folio",
    move_anon_rmap="mm/rmap.c:folio_move_anon_rmap",
    dup_anon_vma="mm/vma.c:dup_anon_vma",
    copied_range_adopt="mm/vma.c:dup_anon_vma",
    oops="mm/rmap.c:rmap_walk_anon",
)

#: Every era by key, oldest first.
ERAS: Mapping[str, Era] = {
    e.key: e for e in (LINUX_260, ANONMM_2004, RFC2, LINUX_267, LINUX_2634, LINUX_618)
}


def is_model(func: str) -> bool:
    """Whether an event's ``func`` is a modelling choice rather than a kernel function."""
    return func.startswith(MODEL)
