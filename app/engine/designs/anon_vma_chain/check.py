"""The D5 invariants (semantics.md#invariants, semantics.md#avc-exclusive): the chains, the
anon_vmas and their trees, and the pages and swap slots they lead to."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ...events import plural
from ...mapindex import MapIndex, Mapper
from ...state import (
    PAGE_SHIFT,
    PG_ANON_EXCLUSIVE,
    PTE_WRITE,
    State,
    Vma,
)
from ..base import Violation
from .interval_tree import tree_key
from .structs import AvcAnonVma, avc_anon_vmas


def check_invariants(
    state: State, index: MapIndex, list_walk: bool, anon_exclusive: bool
) -> list[Violation]:
    """D5.1-D5.9 of semantics.md#invariants with semantics.md#avc-exclusive in place of D5.7,
    G7's D5 clause (a writable anon PTE maps a PageAnonExclusive page), and G10 for pointers
    to freed objects. ``list_walk``: the 2.6.34 list order; ``anon_exclusive``: 5.19+."""
    out: list[Violation] = []
    _check_chains(state, out)
    _check_anon_vmas(state, list_walk, out)
    _check_pages(state, index, anon_exclusive, out)
    return out


def _check_chains(state: State, out: list[Violation]) -> None:
    """D5.2 (chain shape), D5.3 (tree membership), D5.5 (same anon_vma, same chain)."""
    vmas, avcs, chains = state.vmas, state.avcs, state.vma_chain
    _check_avc_links(state, out)
    by_anon_vma: dict[int, list[tuple[int, list[int]]]] = {}
    for vid, vma in vmas.items():
        chain = chains.get(vid, ())
        if (vma.anon_vma is None) != (not chain):
            out.append(
                Violation(
                    "D5.2",
                    f"vma {vid} has anon_vma {vma.anon_vma} but a chain "
                    f"of {plural(len(chain), 'AVC')}.",
                )
            )
        if not chain:
            continue
        if any(a not in avcs for a in chain):
            out.append(Violation("G10", f"the chain of vma {vid} holds a freed AVC."))
            continue
        named = _check_chain_shape(state, vma, chain, out)
        if vma.anon_vma is not None:
            by_anon_vma.setdefault(vma.anon_vma, []).append((vid, named))
    for av_id, members in sorted(by_anon_vma.items()):
        shapes = {tuple(named) for _, named in members}
        if len(shapes) > 1:
            names = ", ".join(f"vma {v} {named}" for v, named in members)
            out.append(
                Violation("D5.5", f"vmas sharing anon_vma {av_id} have different chains: {names}.")
            )


def _check_avc_links(state: State, out: list[Violation]) -> None:
    """D5.2 and D5.3: each AVC is on its vma's chain and in its anon_vma's tree (G10: and
    neither was freed)."""
    vmas, avcs, avs, chains = state.vmas, state.avcs, avc_anon_vmas(state), state.vma_chain
    for vid, chain in chains.items():
        if vid not in vmas:
            out.append(
                Violation(
                    "G10",
                    f"a chain of {plural(len(chain), 'AVC')} belongs "
                    f"to vma {vid}, which was freed.",
                )
            )
    for avc_id, avc in avcs.items():
        if avc.vma not in vmas:
            out.append(
                Violation("G10", f"anon_vma_chain {avc_id} links vma {avc.vma}, which was freed.")
            )
        elif avc_id not in chains.get(avc.vma, ()):
            out.append(
                Violation(
                    "D5.2", f"anon_vma_chain {avc_id} is not on the chain of its vma {avc.vma}."
                )
            )
        if avc.anon_vma not in avs:
            out.append(
                Violation(
                    "G10",
                    f"anon_vma_chain {avc_id} links anon_vma {avc.anon_vma}, which was freed.",
                )
            )
        elif avc_id not in avs[avc.anon_vma].tree:
            out.append(
                Violation(
                    "D5.3",
                    f"anon_vma_chain {avc_id} is not in the tree of anon_vma {avc.anon_vma}.",
                )
            )


def _check_chain_shape(
    state: State, vma: Vma, chain: tuple[int, ...], out: list[Violation]
) -> list[int]:
    """D5.2: one vma's chain (of live AVCs) links only that vma, each anon_vma once, its own
    anon_vma among them, newest first, one family, root last; returns the anon_vmas."""
    vid, avs = vma.id, avc_anon_vmas(state)
    links = [state.avcs[a] for a in chain]
    named = [c.anon_vma for c in links]
    if any(c.vma != vid for c in links):
        out.append(Violation("D5.2", f"the chain of vma {vid} holds an AVC of another vma."))
    if len(set(named)) != len(named):
        out.append(
            Violation(
                "D5.2", f"the chain of vma {vid} links one anon_vma more than once ({named})."
            )
        )
    if vma.anon_vma is not None and vma.anon_vma not in named:
        out.append(
            Violation(
                "D5.2", f"vma {vid}'s anon_vma {vma.anon_vma} is not on its own chain {named}."
            )
        )
    if any(chain[i] <= chain[i + 1] for i in range(len(chain) - 1)):
        out.append(
            Violation("D5.2", f"the chain of vma {vid} is not newest first (AVCs {list(chain)}).")
        )
    live = [a for a in named if a in avs]
    roots = {avs[a].root for a in live}
    if len(roots) > 1:
        out.append(
            Violation(
                "D5.2", f"the chain of vma {vid} mixes anon_vma families (roots {sorted(roots)})."
            )
        )
    last = named[-1]
    if last in avs and avs[last].root != last:
        out.append(
            Violation(
                "D5.2",
                f"the chain of vma {vid} does not end with its root "
                f"(it ends with anon_vma {last}).",
            )
        )
    return named


def _check_anon_vmas(state: State, list_walk: bool, out: list[Violation]) -> None:
    """D5.3 (tree holds only its own AVCs), D5.4 (counters), D5.6 (lifetime)."""
    avs, avcs = avc_anon_vmas(state), state.avcs
    active: dict[int, int] = {}
    for vma in state.vmas.values():
        if vma.anon_vma is not None:
            active[vma.anon_vma] = active.get(vma.anon_vma, 0) + 1
            if vma.anon_vma not in avs:
                out.append(
                    Violation(
                        "G10", f"vma {vma.id} points at anon_vma {vma.anon_vma}, which was freed."
                    )
                )
    key: Callable[[int], tuple[int, int]]
    if list_walk:

        def list_key(avc_id: int) -> tuple[int, int]:
            return (0, avcs[avc_id].seq)

        key, order = list_key, "list (oldest first)"
    else:
        key, order = tree_key(state), "interval-tree (pgoff, then insertion)"
    children: dict[int, int] = {}
    pins: dict[int, int] = {}
    for av in avs.values():
        if av.parent != av.id:
            children[av.parent] = children.get(av.parent, 0) + 1
        if av.root != av.id:
            pins[av.root] = pins.get(av.root, 0) + 1
    for av_id, a in sorted(avs.items()):
        _check_tree(state, a, key, order, out)
        if a.num_active_vmas != active.get(av_id, 0):
            out.append(
                Violation(
                    "D5.4",
                    f"anon_vma {av_id} counts {a.num_active_vmas} "
                    f"active vmas, but {active.get(av_id, 0)} vmas "
                    "point at it.",
                )
            )
        want = children.get(av_id, 0) + (1 if a.root == av_id else 0)
        if a.num_children != want:
            out.append(
                Violation(
                    "D5.4",
                    f"anon_vma {av_id} counts {a.num_children} "
                    f"children, but {want} is right (child anon_vmas "
                    "plus the self-parent link of a root).",
                )
            )
        if a.root not in avs:
            out.append(
                Violation(
                    "G10",
                    f"anon_vma {av_id} has root {a.root}, which was "
                    "freed: the root must be freed last.",
                )
            )
            continue
        _check_parents(avs, a, out)
        refs = (1 if a.tree else 0) + (pins.get(av_id, 0) if a.root == av_id else 0)
        if a.refcount != refs or refs == 0:
            out.append(
                Violation(
                    "D5.6",
                    f"anon_vma {av_id} has refcount {a.refcount}, but "
                    f"{refs} references hold it (its tree: "
                    f"{len(a.tree)} AVCs; a root is pinned by each "
                    "live descendant); at 0 it must be freed.",
                )
            )


def _check_tree(
    state: State,
    a: AvcAnonVma,
    key: Callable[[int], tuple[int, int]],
    order: str,
    out: list[Violation],
) -> None:
    """D5.3: an anon_vma's tree holds its own AVCs, each once, in walk order."""
    avcs, av_id = state.avcs, a.id
    for avc_id in a.tree:
        if avc_id not in avcs or avcs[avc_id].anon_vma != av_id:
            out.append(
                Violation(
                    "D5.3",
                    f"the tree of anon_vma {av_id} holds AVC {avc_id}, which does not link it.",
                )
            )
    if len(set(a.tree)) != len(a.tree):
        out.append(Violation("D5.3", f"the tree of anon_vma {av_id} holds an AVC twice."))
    keys = [key(c) for c in a.tree if c in avcs]
    if keys != sorted(keys):
        out.append(
            Violation(
                "D5.3",
                f"the tree of anon_vma {av_id} is not in "
                f"{order} order: a vma's AVCs were not re-keyed "
                "when its range changed.",
            )
        )


def _check_parents(avs: dict[int, AvcAnonVma], a: AvcAnonVma, out: list[Violation]) -> None:
    """D5.4: a root is its own parent; the parents of any other anon_vma lead to its root."""
    av_id = a.id
    if a.root == av_id and a.parent != av_id:
        out.append(Violation("D5.4", f"root anon_vma {av_id} has parent {a.parent}, not itself."))
    seen = {av_id}
    cursor = a
    while cursor.id != cursor.root:
        parent = avs.get(cursor.parent)
        if parent is None:
            out.append(
                Violation(
                    "G10", f"anon_vma {cursor.id} has parent {cursor.parent}, which was freed."
                )
            )
            break
        if parent.root != a.root or parent.id in seen:
            out.append(
                Violation(
                    "D5.4", f"the parents of anon_vma {av_id} do not lead to its root {a.root}."
                )
            )
            break
        seen.add(parent.id)
        cursor = parent


def _root_of(avs: dict[int, AvcAnonVma], av_id: int | None) -> int | None:
    """The root of a live anon_vma (None for None or a freed one)."""
    av = avs.get(av_id) if av_id is not None else None
    return av.root if av is not None else None


def _check_pages(state: State, index: MapIndex, anon_exclusive: bool, out: list[Violation]) -> None:
    """D5.1 (completeness), D5.7/semantics.md#avc-exclusive and G7 (exclusive pages), D5.8
    (swap sharing), D5.9 (no vma mixes anon_vma families or holds anon content without an
    anon_vma). Frames and slots are seen through ``index`` only (the incremental checker
    gives the ones a step touched); the one other loop covers every frame."""
    flags, mcs = state.page_flags, state.page_mapcount
    known: dict[int, set[int]] = {}
    for pfn, mappers in index.page_mappers.items():
        if pfn in mcs:
            _check_page(state, pfn, mappers, known, out)
    for pfn, mc in mcs.items():
        if flags[pfn] & PG_ANON_EXCLUSIVE and mc != 1:
            out.append(
                Violation("D5.7", f"frame {pfn} is PageAnonExclusive but has mapcount {mc}.")
            )
    tables = state.ptes
    for pfn, mappers in index.page_mappers.items() if anon_exclusive else ():
        if pfn not in flags or flags[pfn] & PG_ANON_EXCLUSIVE:
            continue
        for pid, vpn, _ in mappers:
            if tables[pid][vpn] & PTE_WRITE:
                out.append(
                    Violation(
                        "G7",
                        f"pid {pid} maps frame {pfn} writable at "
                        f"{vpn << PAGE_SHIFT:#x}, but it is not "
                        "PageAnonExclusive.",
                    )
                )
    _check_swap_families(state, index, out)


def _check_page(
    state: State,
    pfn: int,
    mappers: Sequence[Mapper],
    known: dict[int, set[int]],
    out: list[Violation],
) -> None:
    """D5.1, D5.7 and D5.9 for one mapped frame; ``known`` caches the anon_vmas of each
    vma's chain across frames."""
    avs, avcs, chains = avc_anon_vmas(state), state.avcs, state.vma_chain

    def chain_of(vid: int) -> set[int]:
        if vid not in known:
            known[vid] = {avcs[a].anon_vma for a in chains.get(vid, ()) if a in avcs}
        return known[vid]

    target = state.page_mapping.get(pfn)
    idx = state.page_index.get(pfn)
    if target is None or idx is None:
        out.append(Violation("D5.1", f"frame {pfn} is mapped but not anon (no page->mapping)."))
        return
    if target not in avs:
        out.append(
            Violation(
                "G10",
                f"frame {pfn} (mapcount {state.page_mapcount[pfn]}) "
                f"points at anon_vma {target}, which was freed.",
            )
        )
    for pid, vpn, vid in mappers:
        vma = state.vmas.get(vid) if vid is not None else None
        if vma is None:
            continue
        if target not in chain_of(vma.id):
            out.append(
                Violation(
                    "D5.1",
                    f"frame {pfn} points at anon_vma {target}, but "
                    f"vma {vid} (pid {pid}, {vpn << PAGE_SHIFT:#x}) that maps "
                    "it has no anon_vma_chain to it.",
                )
            )
        elif not vma.vm_pgoff <= idx < vma.vm_pgoff + vma.pages:
            out.append(
                Violation(
                    "D5.1",
                    f"frame {pfn} (index {idx}) is mapped by vma "
                    f"{vid}, whose interval does not cover it.",
                )
            )
        if vma.anon_vma is None or _root_of(avs, target) != _root_of(avs, vma.anon_vma):
            out.append(
                Violation(
                    "D5.9",
                    f"vma {vid} (anon_vma {vma.anon_vma}) maps "
                    f"frame {pfn} of anon_vma {target}: another "
                    "family's page, or anon content without an "
                    "anon_vma.",
                )
            )
    if state.page_flags[pfn] & PG_ANON_EXCLUSIVE:
        for _, _, vid in mappers:
            if vid is not None and target not in chain_of(vid):
                out.append(
                    Violation(
                        "D5.7",
                        f"frame {pfn} is PageAnonExclusive but "
                        f"its anon_vma {target} is not on the "
                        f"chain of vma {vid}.",
                    )
                )


def _check_swap_families(state: State, index: MapIndex, out: list[Violation]) -> None:
    """D5.8 and D5.9: the vmas sharing a swap slot (or its cached page) have anon_vmas, all
    of one family."""
    vmas, avs = state.vmas, avc_anon_vmas(state)
    for slot, holders in index.slot_holders.items():
        sharers = {vid for _, _, vid in holders if vid is not None}
        cached = state.swap_cache.get(slot)
        if cached is not None:
            sharers |= {vid for _, _, vid in index.page_mappers.get(cached, ()) if vid is not None}
        for vid in sorted(sharers):
            if vid in vmas and vmas[vid].anon_vma is None:
                out.append(
                    Violation("D5.9", f"vma {vid} holds swap slot {slot} but has no anon_vma.")
                )
        roots = {
            root
            for v in sharers
            if v in vmas
            if (root := _root_of(avs, vmas[v].anon_vma)) is not None
        }
        if len(roots) > 1:
            out.append(
                Violation(
                    "D5.8",
                    f"swap slot {slot} is held by vmas "
                    f"{sorted(sharers)} of different anon_vma families "
                    f"(roots {sorted(roots)}).",
                )
            )
