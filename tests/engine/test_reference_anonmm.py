"""The reference scenarios of the behavioural spec (§11), D2 (anonmm) column.

Run from scenarios/*.json with ``design="anonmm"``. Every scenario file starts with
``spawn`` as step 1, so spec step n is run step n + 1 (S6 and S7 fold three writes into
one spec step; the ids below name the spec step). Frames, slots and vmas are numbered
from 1 in allocation order (J-17); anonmms too: AM.P is anonmm 1, AM.C / AM.C1 anonmm
2, AM.C2 / AM.G anonmm 3. ``page->index`` is the virtual address; the spec prints
anonymous ``vm_pgoff`` as "p—" for D2, and the simulator keeps the common value, which
D2 never reads.
"""

import json
from pathlib import Path

import pytest

from app.engine import run_scenario

from .expect import mm, present, step, swapped, vma, zero
from .helpers import SPEC_SCENARIOS, reference_walks

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
D2 = "anonmm"

REFERENCE = SPEC_SCENARIOS


def run(name):
    """The D2 run document of ``scenarios/<name>.json`` with the state after every step."""
    data = json.loads((SCENARIOS / f"{name}.json").read_text())
    return run_scenario(data, design=D2, options=[], all_states=True)


# ----- builders for expected values ---------------------------------------------------------


def page(pfn, anonmm, addr, value, *, mapcount=1, swap_slot=None):
    """A frame: ``page->mapping`` = anonmm, ``page->index`` = its virtual address."""
    flags = ["anon"] if swap_slot is None else ["anon", "swapcache"]
    return {
        "pfn": pfn,
        "flags": flags,
        "mapping": {"kind": "anonmm", "id": anonmm},
        "index": addr,
        "mapcount": mapcount,
        "swap_slot": swap_slot,
        "value": value,
        "page_mapping": "swapper_space" if swap_slot is not None else None,
    }


def slot(ident, ptes, value, cached_pfn=None):
    return {"slot": ident, "ptes": ptes, "cached_pfn": cached_pfn, "value": value}


def anonmm(ident, pid, ring, count, head=1):
    """An anonmm; ``ring`` is its ring in list order, head first."""
    return {"id": ident, "pid": pid, "head": head, "ring": list(ring), "count": count}


def hit(am, pid, addr):
    return {"kind": "anonmm", "id": am, "result": "hit", "pid": pid, "addr": addr}


def miss(am, pid, addr):
    return {"kind": "anonmm", "id": am, "result": "miss", "pid": pid, "addr": addr}


def state_view(state):
    """The parts of a state the spec's tables pin down."""
    return {k: state[k] for k in ("mms", "pages", "swap", "anonmms", "anon_vmas")}


def expect(mms, pages=(), swap=(), anonmms=()):
    return {
        "mms": mms,
        "pages": list(pages),
        "swap": list(swap),
        "anonmms": list(anonmms),
        "anon_vmas": [],
    }


# ----- states -------------------------------------------------------------------------------

STATES = [
    pytest.param(
        "s1-first-touch",
        4,
        expect(
            [
                mm(
                    1,
                    [vma(1, 0x1000, 0x5000, 1)],
                    [present(0x1000, 1, True), present(0x3000, 2, True)],
                )
            ],
            pages=[page(1, 1, 0x1000, 101), page(2, 1, 0x3000, 103)],
            anonmms=[anonmm(1, 1, [1], 4)],
        ),
        id="S1 step3: F1 AM.P 0x1000, F2 AM.P 0x3000",
    ),
    pytest.param(
        "s1-first-touch",
        5,
        expect(
            [mm(1, [vma(1, 0x1000, 0x5000, 1)], [present(0x1000, 1, True), swapped(0x3000, 1)])],
            pages=[page(1, 1, 0x1000, 101)],
            swap=[slot(1, 1, 103)],
            anonmms=[anonmm(1, 1, [1], 3)],
        ),
        id="S1 step4: P 0x3000 S1, S1 ptes 1, F2 freed",
    ),
    pytest.param(
        "s2-zero-page",
        3,
        expect(
            [mm(1, [vma(1, 0x1000, 0x2000, 1)], [zero(0x1000)])], anonmms=[anonmm(1, 1, [1], 2)]
        ),
        id="S2 step2: ZERO ro, no frame, the anonmm untouched",
    ),
    pytest.param(
        "s2-zero-page",
        4,
        expect(
            [mm(1, [vma(1, 0x1000, 0x2000, 1)], [present(0x1000, 1, True)])],
            pages=[page(1, 1, 0x1000, 201)],
            anonmms=[anonmm(1, 1, [1], 3)],
        ),
        id="S2 step3: COW from the zero page, F1 rw AM.P",
    ),
    pytest.param(
        "s2-zero-page",
        5,
        expect(
            [mm(1, [vma(1, 0x1000, 0x2000, 1)], [swapped(0x1000, 1)])],
            swap=[slot(1, 1, 201)],
            anonmms=[anonmm(1, 1, [1], 2)],
        ),
        id="S2 step4: reclaimed",
    ),
    pytest.param(
        "s3-fork-shares",
        4,
        expect(
            [
                mm(1, [vma(1, 0x1000, 0x3000, 1)], [present(0x1000, 1, False)]),
                mm(2, [vma(2, 0x1000, 0x3000, 1)], [present(0x1000, 1, False)]),
            ],
            pages=[page(1, 1, 0x1000, 301, mapcount=2)],
            anonmms=[anonmm(1, 1, [1, 2], 4), anonmm(2, 2, [1, 2], 1)],
        ),
        id="S3 step3: ring [AM.P(head), AM.C], F1 AM.P 0x1000 mc 2",
    ),
    pytest.param(
        "s3-fork-shares",
        5,
        expect(
            [
                mm(1, [vma(1, 0x1000, 0x3000, 1)], [swapped(0x1000, 1)]),
                mm(2, [vma(2, 0x1000, 0x3000, 1)], [swapped(0x1000, 1)]),
            ],
            swap=[slot(1, 2, 301)],
            anonmms=[anonmm(1, 1, [1, 2], 3), anonmm(2, 2, [1, 2], 1)],
        ),
        id="S3 step4: both PTEs S1, S1 ptes 2, F1 freed",
    ),
    pytest.param(
        "s4-aim7-shape",
        6,
        expect(
            [
                mm(1, [vma(1, 0x1000, 0x3000, 1)], [present(0x1000, 1, False)]),
                mm(2, [vma(2, 0x1000, 0x3000, 1)], [present(0x1000, 2, True)]),
                mm(3, [vma(3, 0x1000, 0x3000, 1)], [present(0x1000, 1, False)]),
            ],
            pages=[page(1, 1, 0x1000, 401, mapcount=2), page(2, 2, 0x1000, 402)],
            anonmms=[
                anonmm(1, 1, [1, 2, 3], 5),
                anonmm(2, 2, [1, 2, 3], 2),
                anonmm(3, 3, [1, 2, 3], 1),
            ],
        ),
        id="S4 step5: ring [AM.P, AM.C1, AM.C2], F2 AM.C1 0x1000",
    ),
    pytest.param(
        "s4-aim7-shape",
        7,
        expect(
            [
                mm(1, [vma(1, 0x1000, 0x3000, 1)], [present(0x1000, 1, False)]),
                mm(2, [vma(2, 0x1000, 0x3000, 1)], [swapped(0x1000, 1)]),
                mm(3, [vma(3, 0x1000, 0x3000, 1)], [present(0x1000, 1, False)]),
            ],
            pages=[page(1, 1, 0x1000, 401, mapcount=2)],
            swap=[slot(1, 1, 402)],
            anonmms=[
                anonmm(1, 1, [1, 2, 3], 5),
                anonmm(2, 2, [1, 2, 3], 1),
                anonmm(3, 3, [1, 2, 3], 1),
            ],
        ),
        id="S4 step6: C1 0x1000 S1, S1 ptes 1",
    ),
    pytest.param(
        "s5-cow-both-ways",
        5,
        expect(
            [
                mm(1, [vma(1, 0x1000, 0x2000, 1)], [present(0x1000, 2, True)]),
                mm(2, [vma(2, 0x1000, 0x2000, 1)], [present(0x1000, 1, False)]),
            ],
            pages=[page(1, 1, 0x1000, 501), page(2, 1, 0x1000, 502)],
            anonmms=[anonmm(1, 1, [1, 2], 5), anonmm(2, 2, [1, 2], 1)],
        ),
        id="S5 step4: P copies to F2 (AM.P), F1 still AM.P with mc 1",
    ),
    pytest.param(
        "s5-cow-both-ways",
        6,
        expect(
            [
                mm(1, [vma(1, 0x1000, 0x2000, 1)], [present(0x1000, 2, True)]),
                mm(2, [vma(2, 0x1000, 0x2000, 1)], [present(0x1000, 1, True)]),
            ],
            pages=[page(1, 2, 0x1000, 503), page(2, 1, 0x1000, 502)],
            anonmms=[anonmm(1, 1, [1, 2], 4), anonmm(2, 2, [1, 2], 2)],
        ),
        id="S5 step5: C reuses F1, page_update_anon_rmap re-points it to AM.C",
    ),
    pytest.param(
        "s5-cow-both-ways",
        7,
        expect(
            [
                mm(1, [vma(1, 0x1000, 0x2000, 1)], [present(0x1000, 2, True)]),
                mm(2, [vma(2, 0x1000, 0x2000, 1)], [swapped(0x1000, 1)]),
            ],
            pages=[page(2, 1, 0x1000, 502)],
            swap=[slot(1, 1, 503)],
            anonmms=[anonmm(1, 1, [1, 2], 4), anonmm(2, 2, [1, 2], 1)],
        ),
        id="S5 step6: F1 reclaimed",
    ),
    pytest.param(
        "s6-mprotect-split-merge",
        6,
        expect(
            [
                mm(
                    1,
                    [
                        vma(2, 0x1000, 0x2000, 1),
                        vma(1, 0x2000, 0x3000, 2, prot="r"),
                        vma(3, 0x3000, 0x5000, 3),
                    ],
                    [present(0x1000, 1, True), present(0x2000, 2, False), present(0x3000, 3, True)],
                )
            ],
            pages=[page(1, 1, 0x1000, 601), page(2, 1, 0x2000, 602), page(3, 1, 0x3000, 603)],
            anonmms=[anonmm(1, 1, [1], 5)],
        ),
        id="S6 step3: P.b P.a(r) P.c, no rmap change",
    ),
    pytest.param(
        "s6-mprotect-split-merge",
        7,
        expect(
            [
                mm(
                    1,
                    [
                        vma(2, 0x1000, 0x2000, 1),
                        vma(1, 0x2000, 0x3000, 2, prot="r"),
                        vma(3, 0x3000, 0x5000, 3),
                    ],
                    [present(0x1000, 1, True), present(0x2000, 2, False), swapped(0x3000, 1)],
                )
            ],
            pages=[page(1, 1, 0x1000, 601), page(2, 1, 0x2000, 602)],
            swap=[slot(1, 1, 603)],
            anonmms=[anonmm(1, 1, [1], 4)],
        ),
        id="S6 step4: F3 reclaimed",
    ),
    pytest.param(
        "s6-mprotect-split-merge",
        8,
        expect(
            [
                mm(
                    1,
                    [vma(2, 0x1000, 0x5000, 1)],
                    [present(0x1000, 1, True), present(0x2000, 2, False), swapped(0x3000, 1)],
                )
            ],
            pages=[page(1, 1, 0x1000, 601), page(2, 1, 0x2000, 602)],
            swap=[slot(1, 1, 603)],
            anonmms=[anonmm(1, 1, [1], 4)],
        ),
        id="S6 step5: 1 vma [0x1000,0x5000), F2 ro",
    ),
    pytest.param(
        "s7-munmap-middle",
        6,
        expect(
            [
                mm(
                    1,
                    [vma(1, 0x1000, 0x2000, 1), vma(2, 0x3000, 0x4000, 3)],
                    [present(0x1000, 1, True), present(0x3000, 3, True)],
                )
            ],
            pages=[page(1, 1, 0x1000, 701), page(3, 1, 0x3000, 703)],
            anonmms=[anonmm(1, 1, [1], 4)],
        ),
        id="S7 step3: F1 AM.P 0x1000, F3 AM.P 0x3000, F2 freed",
    ),
    pytest.param(
        "s7-munmap-middle",
        7,
        expect(
            [
                mm(
                    1,
                    [vma(1, 0x1000, 0x2000, 1), vma(2, 0x3000, 0x4000, 3)],
                    [present(0x1000, 1, True), swapped(0x3000, 1)],
                )
            ],
            pages=[page(1, 1, 0x1000, 701)],
            swap=[slot(1, 1, 703)],
            anonmms=[anonmm(1, 1, [1], 3)],
        ),
        id="S7 step4: N1 0x3000 S1",
    ),
    pytest.param(
        "s7-munmap-middle",
        9,
        expect([mm(1, [], [])], anonmms=[anonmm(1, 1, [1], 2)]),
        id="S7 step6: nothing mapped, S1 freed, AM.P alive (the mm is alive)",
    ),
    pytest.param(
        "s8-mremap-move",
        5,
        expect(
            [
                mm(
                    1,
                    [vma(2, 0x9000, 0xD000, 1)],
                    [present(0x9000, 1, True), present(0xB000, 2, True)],
                )
            ],
            pages=[page(1, 1, 0x9000, 801), page(2, 1, 0xB000, 803)],
            anonmms=[anonmm(1, 1, [1], 4)],
        ),
        id="S8 step4: writable PTEs move, page_update_anon_rmap: index 0x9000/0xb000",
    ),
    pytest.param(
        "s8-mremap-move",
        6,
        expect(
            [mm(1, [vma(2, 0x9000, 0xD000, 1)], [present(0x9000, 1, True), swapped(0xB000, 1)])],
            pages=[page(1, 1, 0x9000, 801)],
            swap=[slot(1, 1, 803)],
            anonmms=[anonmm(1, 1, [1], 3)],
        ),
        id="S8 step5: P 0xb000 S1",
    ),
    pytest.param(
        "s9-fork-cow-mremap",
        6,
        expect(
            [
                mm(
                    1,
                    [vma(1, 0x1000, 0x5000, 1)],
                    [present(0x1000, 1, False), present(0x3000, 2, False)],
                ),
                mm(
                    2,
                    [vma(2, 0x1000, 0x5000, 1)],
                    [present(0x1000, 3, True), present(0x3000, 2, False)],
                ),
            ],
            pages=[
                page(1, 1, 0x1000, 901),
                page(2, 1, 0x3000, 903, mapcount=2),
                page(3, 2, 0x1000, 904),
            ],
            anonmms=[anonmm(1, 1, [1, 2], 5), anonmm(2, 2, [1, 2], 2)],
        ),
        id="S9 step5: F1 ro mc 1, F2 ro mc 2, F3 rw AM.C",
    ),
    pytest.param(
        "s9-fork-cow-mremap",
        7,
        expect(
            [
                mm(
                    1,
                    [vma(3, 0x9000, 0xD000, 1)],
                    [present(0x9000, 1, False), present(0xB000, 4, True)],
                ),
                mm(
                    2,
                    [vma(2, 0x1000, 0x5000, 1)],
                    [present(0x1000, 3, True), present(0x3000, 2, False)],
                ),
            ],
            pages=[
                page(1, 1, 0x9000, 901),
                page(2, 1, 0x3000, 903),
                page(3, 2, 0x1000, 904),
                page(4, 1, 0xB000, 903),
            ],
            anonmms=[anonmm(1, 1, [1, 2], 6), anonmm(2, 2, [1, 2], 2)],
        ),
        id="S9 step6: F1 index 0x9000; F2 shared: COW broken first, new F4 for P at 0xb000",
    ),
    pytest.param(
        "s9-fork-cow-mremap",
        8,
        expect(
            [
                mm(
                    1,
                    [vma(3, 0x9000, 0xD000, 1)],
                    [present(0x9000, 1, False), present(0xB000, 4, True)],
                ),
                mm(2, [vma(2, 0x1000, 0x5000, 1)], [present(0x1000, 3, True), swapped(0x3000, 1)]),
            ],
            pages=[page(1, 1, 0x9000, 901), page(3, 2, 0x1000, 904), page(4, 1, 0xB000, 903)],
            swap=[slot(1, 1, 903)],
            anonmms=[anonmm(1, 1, [1, 2], 5), anonmm(2, 2, [1, 2], 2)],
        ),
        id="S9 step7: C 0x3000 S1, S1 ptes 1, P keeps F4",
    ),
    pytest.param(
        "s13-grandchild",
        5,
        expect(
            [
                mm(1, [vma(1, 0x1000, 0x3000, 1)], [present(0x1000, 1, False)]),
                mm(
                    2,
                    [vma(2, 0x1000, 0x3000, 1)],
                    [present(0x1000, 1, False), present(0x2000, 2, True)],
                ),
            ],
            pages=[page(1, 1, 0x1000, 1301, mapcount=2), page(2, 2, 0x2000, 1302)],
            anonmms=[anonmm(1, 1, [1, 2], 4), anonmm(2, 2, [1, 2], 2)],
        ),
        id="S13 step4: C's first touch: F2 AM.C 0x2000",
    ),
    pytest.param(
        "s13-grandchild",
        6,
        expect(
            [
                mm(1, [vma(1, 0x1000, 0x3000, 1)], [present(0x1000, 1, False)]),
                mm(
                    2,
                    [vma(2, 0x1000, 0x3000, 1)],
                    [present(0x1000, 1, False), present(0x2000, 2, False)],
                ),
                mm(
                    3,
                    [vma(3, 0x1000, 0x3000, 1)],
                    [present(0x1000, 1, False), present(0x2000, 2, False)],
                ),
            ],
            pages=[page(1, 1, 0x1000, 1301, mapcount=3), page(2, 2, 0x2000, 1302, mapcount=2)],
            anonmms=[
                anonmm(1, 1, [1, 2, 3], 5),
                anonmm(2, 2, [1, 2, 3], 2),
                anonmm(3, 3, [1, 2, 3], 1),
            ],
        ),
        id="S13 step5: G joins the tail of AM.P's ring",
    ),
    pytest.param(
        "s13-grandchild",
        7,
        expect(
            [
                mm(1, [vma(1, 0x1000, 0x3000, 1)], [present(0x1000, 1, False)]),
                mm(
                    3,
                    [vma(3, 0x1000, 0x3000, 1)],
                    [present(0x1000, 1, False), present(0x2000, 2, False)],
                ),
            ],
            pages=[page(1, 1, 0x1000, 1301, mapcount=2), page(2, 2, 0x2000, 1302)],
            anonmms=[
                anonmm(1, 1, [1, 2, 3], 5),
                anonmm(2, None, [1, 2, 3], 1),
                anonmm(3, 3, [1, 2, 3], 1),
            ],
        ),
        id="S13 step6: ring [AM.P, AM.C(dead), AM.G]; F2 pins AM.C",
    ),
    pytest.param(
        "s13-grandchild",
        8,
        expect(
            [
                mm(1, [vma(1, 0x1000, 0x3000, 1)], [present(0x1000, 1, False)]),
                mm(3, [vma(3, 0x1000, 0x3000, 1)], [present(0x1000, 1, False), swapped(0x2000, 1)]),
            ],
            pages=[page(1, 1, 0x1000, 1301, mapcount=2)],
            swap=[slot(1, 1, 1302)],
            anonmms=[anonmm(1, 1, [1, 3], 4), anonmm(3, 3, [1, 3], 1)],
        ),
        id="S13 step7: G 0x2000 S1; AM.C freed afterwards",
    ),
    pytest.param(
        "s15-mremap-untouched",
        4,
        expect(
            [
                mm(
                    1,
                    [vma(1, 0x1000, 0x3000, 1), vma(2, 0x8000, 0xA000, 8)],
                    [present(0x1000, 1, True)],
                )
            ],
            pages=[page(1, 1, 0x1000, 1501)],
            anonmms=[anonmm(1, 1, [1], 3)],
        ),
        id="S15 step3: P.b untouched at 0x8000",
    ),
    pytest.param(
        "s15-mremap-untouched",
        5,
        expect(
            [mm(1, [vma(1, 0x1000, 0x5000, 1)], [present(0x1000, 1, True)])],
            pages=[page(1, 1, 0x1000, 1501)],
            anonmms=[anonmm(1, 1, [1], 3)],
        ),
        id="S15 step4: merge, anon pgoff ignored (J-8): 1 vma [0x1000,0x5000)",
    ),
]


@pytest.mark.parametrize(("name", "index", "expected"), STATES)
def test_d2_reference_state_matches_spec(name, index, expected):
    assert state_view(step(run(name), index)["state"]) == expected


# ----- reclaim walks: via, visited (in order) and candidates ---------------------------------

EXITED = "its mm has exited: passed over, not probed"

WALKS = [
    pytest.param(
        "s1-first-touch",
        5,
        2,
        {"kind": "anonmm", "id": 1},
        [hit(1, 1, 0x3000)],
        1,
        id="S1 reclaim F2 1/1 [AM.P]",
    ),
    pytest.param(
        "s2-zero-page",
        5,
        1,
        {"kind": "anonmm", "id": 1},
        [hit(1, 1, 0x1000)],
        1,
        id="S2 reclaim F1 1/1",
    ),
    pytest.param(
        "s3-fork-shares",
        5,
        1,
        {"kind": "anonmm", "id": 1},
        [hit(1, 1, 0x1000), hit(2, 2, 0x1000)],
        2,
        id="S3 reclaim F1 2/2 [AM.P, AM.C]",
    ),
    pytest.param(
        "s4-aim7-shape",
        7,
        2,
        {"kind": "anonmm", "id": 2},
        [hit(2, 2, 0x1000)],
        3,
        id="S4 reclaim F2 1/3 [AM.C1]",
    ),
    pytest.param(
        "s5-cow-both-ways",
        7,
        1,
        {"kind": "anonmm", "id": 2},
        [hit(2, 2, 0x1000)],
        2,
        id="S5 reclaim F1 1/2 [AM.C]",
    ),
    pytest.param(
        "s6-mprotect-split-merge",
        7,
        3,
        {"kind": "anonmm", "id": 1},
        [hit(1, 1, 0x3000)],
        1,
        id="S6 reclaim F3 1/1 [AM.P]",
    ),
    pytest.param(
        "s7-munmap-middle",
        7,
        3,
        {"kind": "anonmm", "id": 1},
        [hit(1, 1, 0x3000)],
        1,
        id="S7 reclaim F3 1/1",
    ),
    pytest.param(
        "s8-mremap-move",
        6,
        2,
        {"kind": "anonmm", "id": 1},
        [hit(1, 1, 0xB000)],
        1,
        id="S8 reclaim F2 1/1 at 0xb000",
    ),
    pytest.param(
        "s9-fork-cow-mremap",
        8,
        2,
        {"kind": "anonmm", "id": 1},
        [miss(1, 1, 0x3000), hit(2, 2, 0x3000)],
        2,
        id="S9 reclaim F2 2/2 [AM.P: nothing at 0x3000, AM.C]",
    ),
    pytest.param(
        "s13-grandchild",
        8,
        2,
        {"kind": "anonmm", "id": 2, "note": EXITED},
        [hit(3, 3, 0x2000)],
        2,
        id="S13 reclaim F2 1/2 [AM.C skipped, AM.G]",
    ),
]


@pytest.mark.parametrize(("name", "index", "pfn", "via", "visited", "candidates"), WALKS)
def test_d2_reference_reclaim_walk_matches_spec(name, index, pfn, via, visited, candidates):
    found = step(run(name), index)
    assert reference_walks(found["walks"]) == [
        {
            "pfn": pfn,
            "via": via,
            "visited": visited,
            "candidates": candidates,
            "unmapped": sum(v["result"] == "hit" for v in visited),
            "remaining": 0,
        }
    ]
    assert found["result"] == {}


ANONMMS_ALLOCATED = {
    "s1-first-touch": 1,
    "s2-zero-page": 1,
    "s3-fork-shares": 2,
    "s4-aim7-shape": 3,
    "s5-cow-both-ways": 2,
    "s6-mprotect-split-merge": 1,
    "s7-munmap-middle": 1,
    "s8-mremap-move": 1,
    "s9-fork-cow-mremap": 2,
    "s13-grandchild": 3,
    "s15-mremap-untouched": 1,
}


@pytest.mark.parametrize("name", REFERENCE)
def test_d2_reference_allocates_one_anonmm_per_mm_and_no_anon_vma(name):
    counters = run(name)["steps"][-1]["counters"]
    assert (counters["anonmms_allocated"], counters["anon_vmas_allocated"]) == (
        ANONMMS_ALLOCATED[name],
        0,
    )


# ----- what the narration must show ----------------------------------------------------------

EVENTS = [
    pytest.param(
        "s1-first-touch",
        1,
        "exec_rmap",
        [{"kind": "mm", "id": 1}, {"kind": "anonmm", "id": 1}],
        id="S1 exec_rmap: AM.P heads a new ring",
    ),
    pytest.param(
        "s3-fork-shares",
        4,
        "dup_rmap",
        [{"kind": "mm", "id": 2}, {"kind": "anonmm", "id": 2}, {"kind": "anonmm", "id": 1}],
        id="S3 dup_rmap: AM.C joins AM.P's ring",
    ),
    pytest.param(
        "s5-cow-both-ways",
        6,
        "page_update_anon_rmap",
        [{"kind": "frame", "id": 1}, {"kind": "anonmm", "id": 2}, {"kind": "anonmm", "id": 1}],
        id="S5 reuse re-points F1 to AM.C",
    ),
    pytest.param(
        "s8-mremap-move",
        5,
        "page_update_anon_rmap",
        [{"kind": "anonmm", "id": 1}, {"kind": "frame", "id": 1}, {"kind": "frame", "id": 2}],
        id="S8 index follows the move",
    ),
    pytest.param(
        "s9-fork-cow-mremap",
        7,
        "rmap_needs_broken_cow",
        [{"kind": "pte", "pid": 1, "addr": 0x3000}],
        id="S9 F2 is shared: break COW",
    ),
    pytest.param(
        "s9-fork-cow-mremap",
        7,
        "mremap_break_cow",
        [{"kind": "vma", "id": 1}, {"kind": "frame", "id": 4}],
        id="S9 the copy F4 before the move",
    ),
    pytest.param(
        "s13-grandchild",
        7,
        "exit_rmap",
        [{"kind": "mm", "id": 2}, {"kind": "anonmm", "id": 2}],
        id="S13 C exits, AM.C lingers",
    ),
    pytest.param(
        "s13-grandchild",
        8,
        "anonmm_skip",
        [{"kind": "frame", "id": 2}, {"kind": "anonmm", "id": 2}],
        id="S13 the walk passes over AM.C",
    ),
    pytest.param(
        "s13-grandchild",
        8,
        "anonmm_free",
        [{"kind": "anonmm", "id": 2}, {"kind": "anonmm", "id": 1}],
        id="S13 AM.C freed after the reclaim",
    ),
]


@pytest.mark.parametrize(("name", "index", "kind", "objects"), EVENTS)
def test_d2_reference_step_narrates_rmap_change(name, index, kind, objects):
    events = [
        {"kind": e["kind"], "objects": e["objects"]} for e in step(run(name), index)["events"]
    ]
    assert {"kind": kind, "objects": objects} in events


def test_d2_s6_mprotect_back_merges_by_vma_merge_case_6():
    """E15: S6's D2 re-merge is ``vma_merge`` case 6 (rmap 36 "mprotect use vma_merge")."""
    texts = [
        e["text"]
        for e in step(run("s6-mprotect-split-merge"), 8)["events"]
        if e["kind"] == "vma_merge"
    ]
    assert len(texts) == 1
    assert texts[0].startswith("vma_merge (case 6,")


def test_d2_s9_copy_keeps_the_value_and_the_child_keeps_the_original():
    state = step(run("s9-fork-cow-mremap"), 7)["state"]
    values = {p["pfn"]: p["value"] for p in state["pages"]}
    assert values[2] == values[4] == 903
    counters = step(run("s9-fork-cow-mremap"), 7)["counters"]
    assert counters["cow_copies"] == 2  # C's COW of 0x1000, then P's break of 0x3000


def test_d2_s13_walk_counts_the_live_mms_only():
    """J-11: the dead AM.C is passed over and counted neither as visited nor candidate;
    the candidates are AM.G and AM.P, the live mms with resident pages."""
    walk = step(run("s13-grandchild"), 8)["walks"][0]
    assert (len(walk["visited"]), walk["candidates"]) == (1, 2)


SIZES = [
    # scenario, rmap_bytes after the last step: 4 B per frame + 24 B per anonmm, 0 per vma
    pytest.param("s1-first-touch", 4 * 1 + 24 * 1, id="S1 one frame, AM.P"),
    pytest.param("s4-aim7-shape", 4 * 1 + 24 * 3, id="S4 F1, three anonmms"),
    pytest.param("s6-mprotect-split-merge", 4 * 2 + 24 * 1, id="S6 no per-vma cost"),
    pytest.param("s9-fork-cow-mremap", 4 * 3 + 24 * 2, id="S9 F1 F3 F4, AM.P AM.C"),
    pytest.param("s13-grandchild", 4 * 1 + 24 * 2, id="S13 AM.C freed"),
]


@pytest.mark.parametrize(("name", "rmap_bytes"), SIZES)
def test_d2_reference_metadata_sizes(name, rmap_bytes):
    counters = run(name)["steps"][-1]["counters"]
    frames = len(run(name)["state"]["pages"])
    assert (counters["rmap_bytes"], counters["page_bytes"], counters["page_bytes_andrea"]) == (
        rmap_bytes,
        40 * frames,
        44 * frames,
    )
