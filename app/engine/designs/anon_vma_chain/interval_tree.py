"""The anon_vma interval tree (mm/interval_tree.c): the order of its AVCs, and the
probes of a walk over it (``anon_vma_interval_tree_foreach``)."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterator

from ...state import PAGE_SHIFT, State
from ..base import ProbeTuple


def tree_key(st: State) -> Callable[[int], tuple[int, int]]:
    """The interval tree's order of an AVC: its vma's ``vm_pgoff``, then insertion."""
    avcs, vmas = st.avcs, st.vmas

    def key(avc_id: int) -> tuple[int, int]:
        avc = avcs[avc_id]
        vma = vmas.get(avc.vma)
        return (vma.vm_pgoff if vma is not None else -1, avc.seq)

    return key


class AvcProbes:
    """The probes of a D5 walk, computed as it goes: the tree is kept in walk order, so the
    AVCs of vmas starting above the page's index are cut off at once (the interval tree's
    pruning); ``len`` counts the AVCs whose interval covers the index (the list: all),
    scanning only what the walk did not reach before it stopped."""

    __slots__ = ("avcs", "counted", "index", "list_walk", "pos", "seen", "tree", "vmas")

    def __init__(self, state: State, tree: tuple[int, ...], index: int, list_walk: bool) -> None:
        avcs, vmas = state.avcs, state.vmas
        self.avcs, self.vmas, self.index, self.list_walk = avcs, vmas, index, list_walk
        if not list_walk:
            tree = tree[
                : bisect_right(
                    tree,
                    index,
                    key=lambda a: vmas[avcs[a].vma].vm_pgoff if avcs[a].vma in vmas else -1,
                )
            ]
        self.tree = tree
        #: how far an iteration got, and how many probes it yielded before that
        self.pos = self.seen = 0
        #: (pos, len) of the last count
        self.counted: tuple[int, int] | None = None

    def __len__(self) -> int:
        if self.list_walk:
            return len(self.tree)
        if self.counted is not None and self.counted[0] == self.pos:
            return self.counted[1]
        avcs, vmas, index = self.avcs, self.vmas, self.index
        rest = 0
        for avc_id in self.tree[self.pos :]:
            vma = vmas.get(avcs[avc_id].vma)
            if vma is None or index < vma.vm_pgoff + ((vma.vm_end - vma.vm_start) >> PAGE_SHIFT):
                rest += 1
        self.counted = (self.pos, self.seen + rest)
        return self.seen + rest

    def __iter__(self) -> Iterator[ProbeTuple]:
        avcs, vmas, index, list_walk = self.avcs, self.vmas, self.index, self.list_walk
        self.pos = self.seen = 0
        for pos, avc_id in enumerate(self.tree, 1):
            vma_id = avcs[avc_id].vma
            vma = vmas.get(vma_id)
            if vma is None:
                probe: ProbeTuple = ("vma", vma_id, None, None, "stale pointer: the vma was freed")
            else:
                start = vma.vm_start >> PAGE_SHIFT
                vpn = start + index - vma.vm_pgoff
                if start <= vpn < vma.vm_end >> PAGE_SHIFT:
                    probe = ("vma", vma_id, vma.pid, vpn, None)
                elif list_walk:
                    probe = ("vma", vma_id, vma.pid, None, "vma_address out of range")
                else:
                    continue
            self.pos = pos
            self.seen += 1
            yield probe
        self.pos = len(self.tree)
