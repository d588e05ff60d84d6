"""The reference scenarios of the behavioural spec (§11), D5 column, run from scenarios/*.json.

The built-in files name the RFC2 design; here each one runs under ``anon_vma_chain`` (and,
where the tables give one, its ``v2_6_34`` variant). Spawn is run step 1, so spec step n is
run step n + 1 (S6 and S7 fold three writes into one spec step; the ids name the spec
step). Frames, slots, vmas, anon_vmas and AVCs are numbered from 1 in allocation order
(J-17): F1 is pfn 1, P is pid 1, C / C1 pid 2, C2 / G pid 3.
"""

import json
from pathlib import Path

import pytest

from app.engine import apply, check, parse_op, run_scenario
from app.engine.run import iterate
from app.engine.scenario import parse_scenario

from .expect import mm, present, step, swapped, vma, zero
from .helpers import reference_walks

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
DESIGN = "anon_vma_chain"


def load(name):
    return json.loads((SCENARIOS / f"{name}.json").read_text())


def run(name, options=()):
    """The run document of ``scenarios/<name>.json`` under D5, every step's state included."""
    return run_scenario(load(name), design=DESIGN, options=options, all_states=True)


def state_after(name, index, options=()):
    """The engine State after run step ``index`` (to apply ops the file does not have)."""
    for i, _, result in iterate(parse_scenario(load(name)), DESIGN, options):
        if i == index:
            return result.state
    raise AssertionError(index)


# ----- builders for expected values ---------------------------------------------------------


def frame(pfn, anon_vma, index, value, *, mapcount=1, exclusive=False, swap_slot=None):
    """A frame: ``mapping`` is its anon_vma; ``exclusive`` is PageAnonExclusive."""
    flags = ["anon"]
    if swap_slot is not None:
        flags.append("swapcache")
    if exclusive:
        flags.append("exclusive")
    return {
        "pfn": pfn,
        "flags": flags,
        "mapping": {"kind": "anon_vma", "id": anon_vma},
        "index": index,
        "mapcount": mapcount,
        "swap_slot": swap_slot,
        "value": value,
        "page_mapping": "swapper_space" if swap_slot is not None else None,
    }


def slot(ident, ptes, value, cached_pfn=None):
    return {"slot": ident, "ptes": ptes, "cached_pfn": cached_pfn, "value": value}


def anon_vma(ident, vmas, avcs, *, ch, act, ref, root=1, parent=1):
    """An anon_vma: its tree in walk order (vmas and their AVCs), num_children (ch),
    num_active_vmas (act) and refcount (ref)."""
    return {
        "id": ident,
        "vmas": list(vmas),
        "avcs": list(avcs),
        "root": root,
        "parent": parent,
        "num_children": ch,
        "num_active_vmas": act,
        "refcount": ref,
    }


def chain(vma_id, *links):
    """A vma's chain, newest first: (avc, anon_vma) pairs."""
    return {"vma": vma_id, "avcs": [a for a, _ in links], "anon_vmas": [av for _, av in links]}


def hit(vma_id, pid, addr):
    return {"kind": "vma", "id": vma_id, "result": "hit", "pid": pid, "addr": addr}


def skip(vma_id, pid):
    return {
        "kind": "vma",
        "id": vma_id,
        "result": "skip",
        "pid": pid,
        "addr": None,
        "note": "vma_address out of range",
    }


def walk(pfn, via, visited, candidates):
    return {
        "pfn": pfn,
        "via": {"kind": "anon_vma", "id": via},
        "visited": visited,
        "candidates": candidates,
        "unmapped": sum(v["result"] == "hit" for v in visited),
        "remaining": 0,
    }


def state_view(state):
    """The parts of a state the spec's tables pin down."""
    return {
        k: state[k]
        for k in ("mms", "pages", "swap", "anon_vmas", "vma_chains", "exclusive_swap_ptes")
    }


def expect(mms, pages=(), swap=(), anon_vmas=(), chains=(), marked=()):
    return {
        "mms": mms,
        "pages": list(pages),
        "swap": list(swap),
        "anon_vmas": list(anon_vmas),
        "vma_chains": list(chains),
        "exclusive_swap_ptes": list(marked),
    }


def root1(vmas, avcs, *, ch=1, act=1, ref=1):
    """AV1 as a fresh root (ch 1 for the self-parent link)."""
    return anon_vma(1, vmas, avcs, ch=ch, act=act, ref=ref)


# ----- states -------------------------------------------------------------------------------

STATES = [
    pytest.param(
        "s1-first-touch",
        4,
        (),
        expect(
            [
                mm(
                    1,
                    [vma(1, 0x1000, 0x5000, 1, 1)],
                    [present(0x1000, 1, True), present(0x3000, 2, True)],
                )
            ],
            pages=[frame(1, 1, 1, 101, exclusive=True), frame(2, 1, 3, 103, exclusive=True)],
            anon_vmas=[root1([1], [1])],
            chains=[chain(1, (1, 1))],
        ),
        id="S1 step3: AV1 root ch 1/act 1, AVC(P.a,AV1), F1/F2 AV1 idx 1/3 exclusive",
    ),
    pytest.param(
        "s1-first-touch",
        5,
        (),
        expect(
            [mm(1, [vma(1, 0x1000, 0x5000, 1, 1)], [present(0x1000, 1, True), swapped(0x3000, 1)])],
            pages=[frame(1, 1, 1, 101, exclusive=True)],
            swap=[slot(1, 1, 103)],
            anon_vmas=[root1([1], [1])],
            chains=[chain(1, (1, 1))],
            marked=[{"pid": 1, "addr": 0x3000, "slot": 1}],
        ),
        id="S1 step4: P 0x3000 S1 with the exclusive marker, F2 freed",
    ),
    pytest.param(
        "s2-zero-page",
        3,
        (),
        expect([mm(1, [vma(1, 0x1000, 0x2000, 1, None)], [zero(0x1000)])]),
        id="S2 step2: ZERO ro, no frame, no anon_vma",
    ),
    pytest.param(
        "s2-zero-page",
        4,
        (),
        expect(
            [mm(1, [vma(1, 0x1000, 0x2000, 1, 1)], [present(0x1000, 1, True)])],
            pages=[frame(1, 1, 1, 201, exclusive=True)],
            anon_vmas=[root1([1], [1])],
            chains=[chain(1, (1, 1))],
        ),
        id="S2 step3: COW from the zero page creates AV1 now",
    ),
    pytest.param(
        "s2-zero-page",
        5,
        (),
        expect(
            [mm(1, [vma(1, 0x1000, 0x2000, 1, 1)], [swapped(0x1000, 1)])],
            swap=[slot(1, 1, 201)],
            anon_vmas=[root1([1], [1])],
            chains=[chain(1, (1, 1))],
            marked=[{"pid": 1, "addr": 0x1000, "slot": 1}],
        ),
        id="S2 step4: reclaimed",
    ),
    pytest.param(
        "s3-fork-shares",
        4,
        (),
        expect(
            [
                mm(1, [vma(1, 0x1000, 0x3000, 1, 1)], [present(0x1000, 1, False)]),
                mm(2, [vma(2, 0x1000, 0x3000, 1, 2)], [present(0x1000, 1, False)]),
            ],
            pages=[frame(1, 1, 1, 301, mapcount=2)],
            anon_vmas=[
                root1([1, 2], [1, 2], ch=2, ref=2),
                anon_vma(2, [2], [3], ch=0, act=1, ref=1),
            ],
            chains=[chain(1, (1, 1)), chain(2, (3, 2), (2, 1))],
        ),
        id="S3 step3: C.a chain [AV2, AV1], AV2 ch 0/act 1, AV1 ch 2/act 1, F1 AV1 shared",
    ),
    pytest.param(
        "s3-fork-shares",
        5,
        (),
        expect(
            [
                mm(1, [vma(1, 0x1000, 0x3000, 1, 1)], [swapped(0x1000, 1)]),
                mm(2, [vma(2, 0x1000, 0x3000, 1, 2)], [swapped(0x1000, 1)]),
            ],
            swap=[slot(1, 2, 301)],
            anon_vmas=[
                root1([1, 2], [1, 2], ch=2, ref=2),
                anon_vma(2, [2], [3], ch=0, act=1, ref=1),
            ],
            chains=[chain(1, (1, 1)), chain(2, (3, 2), (2, 1))],
        ),
        id="S3 step4: both PTEs S1 (no marker: F1 was shared), S1 ptes 2",
    ),
    pytest.param(
        "s4-aim7-shape",
        6,
        (),
        expect(
            [
                mm(1, [vma(1, 0x1000, 0x3000, 1, 1)], [present(0x1000, 1, False)]),
                mm(2, [vma(2, 0x1000, 0x3000, 1, 2)], [present(0x1000, 2, True)]),
                mm(3, [vma(3, 0x1000, 0x3000, 1, 3)], [present(0x1000, 1, False)]),
            ],
            pages=[frame(1, 1, 1, 401, mapcount=2), frame(2, 2, 1, 402, exclusive=True)],
            anon_vmas=[
                root1([1, 2, 3], [1, 2, 4], ch=3, ref=3),
                anon_vma(2, [2], [3], ch=0, act=1, ref=1),
                anon_vma(3, [3], [5], ch=0, act=1, ref=1),
            ],
            chains=[chain(1, (1, 1)), chain(2, (3, 2), (2, 1)), chain(3, (5, 3), (4, 1))],
        ),
        id="S4 step5: AV1 ch 3/act 1 {P.a, C1.a, C2.a}, AV2 {C1.a}, AV3 {C2.a}, F2 AV2",
    ),
    pytest.param(
        "s5-cow-both-ways",
        6,
        (),
        expect(
            [
                mm(1, [vma(1, 0x1000, 0x2000, 1, 1)], [present(0x1000, 2, True)]),
                mm(2, [vma(2, 0x1000, 0x2000, 1, 2)], [present(0x1000, 1, True)]),
            ],
            pages=[frame(1, 2, 1, 503, exclusive=True), frame(2, 1, 1, 502, exclusive=True)],
            anon_vmas=[
                root1([1, 2], [1, 2], ch=2, ref=2),
                anon_vma(2, [2], [3], ch=0, act=1, ref=1),
            ],
            chains=[chain(1, (1, 1)), chain(2, (3, 2), (2, 1))],
        ),
        id="S5 step5: F2 AV1 (P.a's), F1 moved to AV2 by folio_move_anon_rmap",
    ),
    pytest.param(
        "s6-mprotect-split-merge",
        6,
        (),
        expect(
            [
                mm(
                    1,
                    [
                        vma(2, 0x1000, 0x2000, 1, 1),
                        vma(1, 0x2000, 0x3000, 2, 1, "r"),
                        vma(3, 0x3000, 0x5000, 3, 1),
                    ],
                    [present(0x1000, 1, True), present(0x2000, 2, False), present(0x3000, 3, True)],
                )
            ],
            pages=[
                frame(1, 1, 1, 601, exclusive=True),
                frame(2, 1, 2, 602, exclusive=True),
                frame(3, 1, 3, 603, exclusive=True),
            ],
            anon_vmas=[root1([2, 1, 3], [2, 1, 3], act=3)],
            chains=[chain(1, (1, 1)), chain(2, (2, 1)), chain(3, (3, 1))],
        ),
        id="S6 step3: AV1 tree {P.b[1,1], P.a[2,2], P.c[3,4]}, act 3",
    ),
    pytest.param(
        "s6-mprotect-split-merge",
        8,
        (),
        expect(
            [
                mm(
                    1,
                    [vma(2, 0x1000, 0x5000, 1, 1)],
                    [present(0x1000, 1, True), present(0x2000, 2, True), swapped(0x3000, 1)],
                )
            ],
            pages=[frame(1, 1, 1, 601, exclusive=True), frame(2, 1, 2, 602, exclusive=True)],
            swap=[slot(1, 1, 603)],
            anon_vmas=[root1([2], [2])],
            chains=[chain(2, (2, 1))],
            marked=[{"pid": 1, "addr": 0x3000, "slot": 1}],
        ),
        id="S6 step5: 1 vma P.b p1, AV1 tree {P.b} act 1, F2 rw at once (J-16)",
    ),
    pytest.param(
        "s6-mprotect-split-merge",
        8,
        ("v2_6_34",),
        expect(
            [
                mm(
                    1,
                    [vma(2, 0x1000, 0x5000, 1, 1)],
                    [present(0x1000, 1, True), present(0x2000, 2, False), swapped(0x3000, 1)],
                )
            ],
            pages=[frame(1, 1, 1, 601), frame(2, 1, 2, 602)],
            swap=[slot(1, 1, 603)],
            anon_vmas=[root1([2], [2])],
            chains=[chain(2, (2, 1))],
        ),
        id="S6 step5 v2_6_34: merged, F2 ro (2.6 change_protection), no swap marker, no "
        "PageAnonExclusive (5.19+)",
    ),
    pytest.param(
        "s7-munmap-middle",
        6,
        (),
        expect(
            [
                mm(
                    1,
                    [vma(1, 0x1000, 0x2000, 1, 1), vma(2, 0x3000, 0x4000, 3, 1)],
                    [present(0x1000, 1, True), present(0x3000, 3, True)],
                )
            ],
            pages=[frame(1, 1, 1, 701, exclusive=True), frame(3, 1, 3, 703, exclusive=True)],
            anon_vmas=[root1([1, 2], [1, 2], act=2)],
            chains=[chain(1, (1, 1)), chain(2, (2, 1))],
        ),
        id="S7 step3: AV1 tree {P.a[1,1], N1[3,3]}, F2 freed",
    ),
    pytest.param(
        "s7-munmap-middle",
        8,
        (),
        expect(
            [mm(1, [vma(2, 0x3000, 0x4000, 3, 1)], [swapped(0x3000, 1)])],
            swap=[slot(1, 1, 703)],
            anon_vmas=[root1([2], [2])],
            chains=[chain(2, (2, 1))],
            marked=[{"pid": 1, "addr": 0x3000, "slot": 1}],
        ),
        id="S7 step5: P.a unlinked, act 1, F1 freed",
    ),
    pytest.param(
        "s7-munmap-middle",
        9,
        (),
        expect([mm(1, [], [])]),
        id="S7 step6: tree empty, ch 1->0, act 0, refcount 0: AV1 freed; S1 freed",
    ),
    pytest.param(
        "s8-mremap-move",
        5,
        (),
        expect(
            [
                mm(
                    1,
                    [vma(2, 0x9000, 0xD000, 1, 1)],
                    [present(0x9000, 1, True), present(0xB000, 2, True)],
                )
            ],
            pages=[frame(1, 1, 1, 801, exclusive=True), frame(2, 1, 3, 803, exclusive=True)],
            anon_vmas=[root1([2], [2])],
            chains=[chain(2, (2, 1))],
        ),
        id="S8 step4: vm_area_dup + anon_vma_clone -> AVC(P.n,AV1), old AVC freed, p1 kept",
    ),
    pytest.param(
        "s9-fork-cow-mremap",
        6,
        (),
        expect(
            [
                mm(
                    1,
                    [vma(1, 0x1000, 0x5000, 1, 1)],
                    [present(0x1000, 1, False), present(0x3000, 2, False)],
                ),
                mm(
                    2,
                    [vma(2, 0x1000, 0x5000, 1, 2)],
                    [present(0x1000, 3, True), present(0x3000, 2, False)],
                ),
            ],
            pages=[
                frame(1, 1, 1, 901),
                frame(2, 1, 3, 903, mapcount=2),
                frame(3, 2, 1, 904, exclusive=True),
            ],
            anon_vmas=[
                root1([1, 2], [1, 2], ch=2, ref=2),
                anon_vma(2, [2], [3], ch=0, act=1, ref=1),
            ],
            chains=[chain(1, (1, 1)), chain(2, (3, 2), (2, 1))],
        ),
        id="S9 step5: F1 ro mc1, F2 ro mc2, F3 rw AV2",
    ),
    pytest.param(
        "s9-fork-cow-mremap",
        7,
        (),
        expect(
            [
                mm(
                    1,
                    [vma(3, 0x9000, 0xD000, 1, 1)],
                    [present(0x9000, 1, False), present(0xB000, 2, False)],
                ),
                mm(
                    2,
                    [vma(2, 0x1000, 0x5000, 1, 2)],
                    [present(0x1000, 3, True), present(0x3000, 2, False)],
                ),
            ],
            pages=[
                frame(1, 1, 1, 901),
                frame(2, 1, 3, 903, mapcount=2),
                frame(3, 2, 1, 904, exclusive=True),
            ],
            anon_vmas=[
                root1([2, 3], [2, 4], ch=2, ref=2),
                anon_vma(2, [2], [3], ch=0, act=1, ref=1),
            ],
            chains=[chain(2, (3, 2), (2, 1)), chain(3, (4, 1))],
        ),
        id="S9 step6: AV1 tree {C.a, P.n} (tie on pgoff 1: older C.a first), P.n chain [AV1]",
    ),
    pytest.param(
        "s9-fork-cow-mremap",
        8,
        (),
        expect(
            [
                mm(
                    1,
                    [vma(3, 0x9000, 0xD000, 1, 1)],
                    [present(0x9000, 1, False), swapped(0xB000, 1)],
                ),
                mm(
                    2,
                    [vma(2, 0x1000, 0x5000, 1, 2)],
                    [present(0x1000, 3, True), swapped(0x3000, 1)],
                ),
            ],
            pages=[frame(1, 1, 1, 901), frame(3, 2, 1, 904, exclusive=True)],
            swap=[slot(1, 2, 903)],
            anon_vmas=[
                root1([2, 3], [2, 4], ch=2, ref=2),
                anon_vma(2, [2], [3], ch=0, act=1, ref=1),
            ],
            chains=[chain(2, (3, 2), (2, 1)), chain(3, (4, 1))],
        ),
        id="S9 step7: P 0xb000 S1, C 0x3000 S1, S1 ptes 2",
    ),
    pytest.param(
        "s13-grandchild",
        6,
        (),
        expect(
            [
                mm(1, [vma(1, 0x1000, 0x3000, 1, 1)], [present(0x1000, 1, False)]),
                mm(
                    2,
                    [vma(2, 0x1000, 0x3000, 1, 2)],
                    [present(0x1000, 1, False), present(0x2000, 2, False)],
                ),
                mm(
                    3,
                    [vma(3, 0x1000, 0x3000, 1, 3)],
                    [present(0x1000, 1, False), present(0x2000, 2, False)],
                ),
            ],
            pages=[frame(1, 1, 1, 1301, mapcount=3), frame(2, 2, 2, 1302, mapcount=2)],
            anon_vmas=[
                root1([1, 2, 3], [1, 2, 4], ch=2, ref=3),
                anon_vma(2, [2, 3], [3, 5], ch=1, act=1, ref=1),
                anon_vma(3, [3], [6], ch=0, act=1, ref=1, parent=2),
            ],
            chains=[chain(1, (1, 1)), chain(2, (3, 2), (2, 1)), chain(3, (6, 3), (5, 2), (4, 1))],
        ),
        id="S13 step5: G gets AV3 (parent AV2; AV2 has act 1, no reuse), G.a [AV3, AV2, AV1]",
    ),
    pytest.param(
        "s13-grandchild",
        7,
        (),
        expect(
            [
                mm(1, [vma(1, 0x1000, 0x3000, 1, 1)], [present(0x1000, 1, False)]),
                mm(
                    3,
                    [vma(3, 0x1000, 0x3000, 1, 3)],
                    [present(0x1000, 1, False), present(0x2000, 2, False)],
                ),
            ],
            pages=[frame(1, 1, 1, 1301, mapcount=2), frame(2, 2, 2, 1302)],
            anon_vmas=[
                root1([1, 3], [1, 4], ch=2, ref=3),
                anon_vma(2, [3], [5], ch=1, act=0, ref=1),
                anon_vma(3, [3], [6], ch=0, act=1, ref=1, parent=2),
            ],
            chains=[chain(1, (1, 1)), chain(3, (6, 3), (5, 2), (4, 1))],
        ),
        id="S13 step6: AV2 tree {G.a}, ch 1/act 0, alive; AV1 tree {P.a, G.a}",
    ),
    pytest.param(
        "s13-grandchild",
        8,
        (),
        expect(
            [
                mm(1, [vma(1, 0x1000, 0x3000, 1, 1)], [present(0x1000, 1, False)]),
                mm(
                    3,
                    [vma(3, 0x1000, 0x3000, 1, 3)],
                    [present(0x1000, 1, False), swapped(0x2000, 1)],
                ),
            ],
            pages=[frame(1, 1, 1, 1301, mapcount=2)],
            swap=[slot(1, 1, 1302)],
            anon_vmas=[
                root1([1, 3], [1, 4], ch=2, ref=3),
                anon_vma(2, [3], [5], ch=1, act=0, ref=1),
                anon_vma(3, [3], [6], ch=0, act=1, ref=1, parent=2),
            ],
            chains=[chain(1, (1, 1)), chain(3, (6, 3), (5, 2), (4, 1))],
        ),
        id="S13 step7: G 0x2000 S1",
    ),
    pytest.param(
        "s15-mremap-untouched",
        5,
        (),
        expect(
            [mm(1, [vma(1, 0x1000, 0x5000, 1, 1)], [present(0x1000, 1, True)])],
            pages=[frame(1, 1, 1, 1501, exclusive=True)],
            anon_vmas=[root1([1], [1])],
            chains=[chain(1, (1, 1))],
        ),
        id="S15 step4: copy_vma resets pgoff to 3, case 2 into P.a -> 1 vma p1, AV1",
    ),
]


@pytest.mark.parametrize(("name", "index", "options", "want"), STATES)
def test_reference_anon_vma_chain_state(name, index, options, want):
    assert state_view(step(run(name, options), index)["state"]) == want


# ----- walks (visited/candidates, J-11) ------------------------------------------------------

WALKS = [
    pytest.param(
        "s1-first-touch",
        5,
        (),
        [walk(2, 1, [hit(1, 1, 0x3000)], 1)],
        id="S1 reclaim F2: 1/1 [P.a hit]",
    ),
    pytest.param(
        "s2-zero-page", 5, (), [walk(1, 1, [hit(1, 1, 0x1000)], 1)], id="S2 reclaim F1: 1/1"
    ),
    pytest.param(
        "s3-fork-shares",
        5,
        (),
        [walk(1, 1, [hit(1, 1, 0x1000), hit(2, 2, 0x1000)], 2)],
        id="S3 reclaim F1: 2/2 [P.a hit, C.a hit]",
    ),
    pytest.param(
        "s4-aim7-shape",
        7,
        (),
        [walk(2, 2, [hit(2, 2, 0x1000)], 1)],
        id="S4 reclaim F2: 1/1 [C1.a hit] (D4: 2/3)",
    ),
    pytest.param(
        "s5-cow-both-ways",
        7,
        (),
        [walk(1, 2, [hit(2, 2, 0x1000)], 1)],
        id="S5 reclaim F1: 1/1 [C.a hit]",
    ),
    pytest.param(
        "s6-mprotect-split-merge",
        7,
        (),
        [walk(3, 1, [hit(3, 1, 0x3000)], 1)],
        id="S6 reclaim F3: 1/1 [P.c hit]",
    ),
    pytest.param(
        "s6-mprotect-split-merge",
        7,
        ("v2_6_34",),
        [walk(3, 1, [skip(1, 1), skip(2, 1), hit(3, 1, 0x3000)], 3)],
        id="S6 reclaim F3 v2_6_34: 3/3 [P.a skip, P.b skip, P.c hit]",
    ),
    pytest.param(
        "s7-munmap-middle",
        7,
        (),
        [walk(3, 1, [hit(2, 1, 0x3000)], 1)],
        id="S7 reclaim F3: 1/1 [N1 hit]",
    ),
    pytest.param(
        "s7-munmap-middle",
        7,
        ("v2_6_34",),
        [walk(3, 1, [skip(1, 1), hit(2, 1, 0x3000)], 2)],
        id="S7 reclaim F3 v2_6_34: 2/2 [P.a skip, N1 hit]",
    ),
    pytest.param(
        "s8-mremap-move", 6, (), [walk(2, 1, [hit(2, 1, 0xB000)], 1)], id="S8 reclaim F2: 1/1"
    ),
    pytest.param(
        "s9-fork-cow-mremap",
        8,
        (),
        [walk(2, 1, [hit(2, 2, 0x3000), hit(3, 1, 0xB000)], 2)],
        id="S9 reclaim F2: 2/2 [C.a hit, P.n hit]",
    ),
    pytest.param(
        "s13-grandchild",
        8,
        (),
        [walk(2, 2, [hit(3, 3, 0x2000)], 1)],
        id="S13 reclaim F2: 1/1 [G.a hit]",
    ),
]


@pytest.mark.parametrize(("name", "index", "options", "want"), WALKS)
def test_reference_anon_vma_chain_walk(name, index, options, want):
    assert reference_walks(step(run(name, options), index)["walks"]) == want


def test_reference_s5_parent_copy_still_sees_the_child():
    """S5 note: reclaiming F2 (the parent's own copy, in the shared AV1) is 1/2 [P.a hit]."""
    result = apply(state_after("s5-cow-both-ways", 6), parse_op({"op": "reclaim", "pfn": 2}))
    assert reference_walks([w.to_json() for w in result.walks]) == [
        walk(2, 1, [hit(1, 1, 0x1000)], 2)
    ]


def test_reference_s15_later_write_goes_to_av1_index_3():
    result = apply(
        state_after("s15-mremap-untouched", 5),
        parse_op({"op": "write", "pid": 1, "addr": 0x3000, "value": 7}),
    )
    assert (result.state.page_mapping[2], result.state.page_index[2]) == (1, 3)
    assert check(result.state) == []


# ----- invariants after every step -------------------------------------------------------------

VARIANTS = [(), ("v2_6_34",), ("v3_0_to_6_15",), ("no_reuse",)]
FILES = sorted(SCENARIOS.glob("*.json"))


@pytest.mark.parametrize("options", VARIANTS, ids=lambda o: "+".join(o) or "mainline")
@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_reference_builtin_scenarios_sound_under_anon_vma_chain(path, options):
    """Every built-in scenario, run under D5 (its own options dropped), breaks no invariant
    after any step, and every walk unmaps everything."""
    doc = run_scenario(json.loads(path.read_text()), design=DESIGN, options=options)
    broken = [
        (s["index"], s["invariants"]["violations"])
        for s in doc["steps"]
        if not s["invariants"]["ok"]
    ]
    assert broken == []
    assert all(w["remaining"] == 0 for s in doc["steps"] for w in s["walks"])
