"""``struct anon_vma`` and ``struct anon_vma_chain`` of the D5 design, and their sizes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from ...state import State

#: 32-bit field sums (semantics.md#sizes), in bytes.
SIZEOF_AVC = 32  # 3.7+: vma, anon_vma, same_vma (list_head), rb (rb_node 12), rb_subtree_last
SIZEOF_AVC_2634 = 24  # 2.6.34: vma, anon_vma, same_vma, same_anon_vma (two list_heads)
#: No source states it: root 4 + rwsem 24 (count, owner, osq, wait_lock, wait_list) +
#: refcount 4 + num_children 4 + num_active_vmas 4 + parent 4 + rb_root_cached 8.
SIZEOF_ANON_VMA = 52
SIZEOF_ANON_VMA_2634 = 12  # spinlock + list_head, SMP, no KSM/MIGRATION refcounts
VMA_RMAP_BYTES = 12  # anon_vma_chain (list_head) + anon_vma pointer
PAGE_RMAP_BYTES = 4  # _mapcount (PageAnonExclusive is a flag bit)
#: flags, the 5-word union, _mapcount, _refcount (no memcg_data); 2.6.34 also sums to 32.
STRUCT_PAGE_FIELD_SUM = 32


@dataclass(frozen=True, slots=True)
class AvcAnonVma:
    """``struct anon_vma`` of 6.x: root, refcount, num_children, num_active_vmas, parent
    and the interval tree of AVCs (``tree``: the AVC ids, in insertion order; the walk
    order is computed from their vmas' current pgoffs and re-insertion sequence)."""

    id: int
    root: int
    parent: int
    num_children: int = 0
    num_active_vmas: int = 0
    refcount: int = 1
    tree: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Avc:
    """``struct anon_vma_chain``: one link between a vma and an anon_vma.

    ``seq`` is when it was last inserted into its anon_vma's interval tree: equal pgoffs
    iterate oldest-inserted first, and any change of the vma's range re-inserts
    (semantics.md#walk-accounting).
    """

    id: int
    vma: int
    anon_vma: int
    seq: int


def avc_anon_vmas(state: State) -> dict[int, AvcAnonVma]:
    """The state's anon_vma table, holding this design's objects."""
    return cast("dict[int, AvcAnonVma]", state.anon_vmas)
