"""The reference scenarios of the behavioural spec (§11), D1 (pte_chain, 2.6.0) column.

Run from scenarios/*.json with the design switched to ``pte_chain``. Every scenario file
starts with ``spawn`` as step 1, so spec step n is run step n + 1 (S6 and S7 fold three
writes into one spec step; the ids below name the spec step). Frames, slots, vmas and
pte_chain blocks are numbered from 1 in allocation order (J-17): F1 is pfn 1, B1 block 1,
P is pid 1, C / C1 pid 2, C2 / G pid 3. Chain and walk orders are the newest-first orders
of E14: S3 [C, P], S4 [C2, P], S9 [P:0xb000, C:0x3000].

The vm_pgoff values are the engine's (vm_start >> 12 at mmap): 2.6.0 never consults an
anonymous vm_pgoff, and the spec prints it as "—".
"""

import json
from pathlib import Path

import pytest

from app.engine import run_scenario

from .expect import mm, present, step, swapped, vma, zero
from .helpers import SPEC_SCENARIOS, reference_walks

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
D1 = "pte_chain"

REFERENCE = SPEC_SCENARIOS

_RUNS: dict[str, dict] = {}


def run(name):
    """The run document of ``scenarios/<name>.json`` under D1, with every state."""
    if name not in _RUNS:
        data = json.loads((SCENARIOS / f"{name}.json").read_text())
        _RUNS[name] = run_scenario(data, design=D1, options=(), all_states=True)
    return _RUNS[name]


# ----- builders for expected values ---------------------------------------------------------


def direct(pfn, pid, addr, value):
    """A PageDirect frame: ``page->pte.direct`` = pte(pid, addr); no PG_anon in 2.6.0."""
    return {
        "pfn": pfn,
        "flags": ["direct"],
        "mapping": {"kind": "pte", "id": 0, "pid": pid, "addr": addr},
        "index": None,
        "mapcount": 1,
        "swap_slot": None,
        "value": value,
        "page_mapping": None,
    }


def chained(pfn, head, value, mapcount):
    """A frame on a pte_chain whose head block is ``head``."""
    return {
        "pfn": pfn,
        "flags": [],
        "mapping": {"kind": "pte_chain", "id": head},
        "index": None,
        "mapcount": mapcount,
        "swap_slot": None,
        "value": value,
        "page_mapping": None,
    }


def block(ident, pfn, *entries, nxt=None):
    """A pte_chain block and its used entries (pid, addr) in slot order (newest first)."""
    return {
        "id": ident,
        "pfn": pfn,
        "next": nxt,
        "free": 7 - len(entries),
        "entries": [{"pid": p, "addr": a} for p, a in entries],
    }


def slot(ident, ptes, value, cached_pfn=None):
    return {"slot": ident, "ptes": ptes, "cached_pfn": cached_pfn, "value": value}


def hit(block_id, pid, addr):
    """One probe of the walk: a PTE reached through ``block_id`` (0: the direct entry)."""
    return {"kind": "pte", "id": block_id, "result": "hit", "pid": pid, "addr": addr}


def via_direct(pid, addr):
    return {"kind": "pte", "id": 0, "pid": pid, "addr": addr}


def via_chain(head):
    return {"kind": "pte_chain", "id": head}


def state_view(state):
    return {k: state[k] for k in ("mms", "pages", "swap", "pte_chains", "anon_vmas")}


def expect(mms, pages=(), swap=(), pte_chains=()):
    return {
        "mms": mms,
        "pages": list(pages),
        "swap": list(swap),
        "pte_chains": list(pte_chains),
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
            pages=[direct(1, 1, 0x1000, 101), direct(2, 1, 0x3000, 103)],
        ),
        id="S1 step3: F1 F2 PageDirect to pte(P,0x1000)/pte(P,0x3000), mapping NULL",
    ),
    pytest.param(
        "s1-first-touch",
        5,
        expect(
            [mm(1, [vma(1, 0x1000, 0x5000, 1)], [present(0x1000, 1, True), swapped(0x3000, 1)])],
            pages=[direct(1, 1, 0x1000, 101)],
            swap=[slot(1, 1, 103)],
        ),
        id="S1 step4: P 0x3000 S1, S1 ptes 1, F2 freed",
    ),
    pytest.param(
        "s2-zero-page",
        3,
        expect([mm(1, [vma(1, 0x1000, 0x2000, 1)], [zero(0x1000)])]),
        id="S2 step2: ZERO ro, no frame, no rmap entry",
    ),
    pytest.param(
        "s2-zero-page",
        4,
        expect(
            [mm(1, [vma(1, 0x1000, 0x2000, 1)], [present(0x1000, 1, True)])],
            pages=[direct(1, 1, 0x1000, 201)],
        ),
        id="S2 step3: COW from the zero page, F1 PageDirect",
    ),
    pytest.param(
        "s2-zero-page",
        5,
        expect([mm(1, [vma(1, 0x1000, 0x2000, 1)], [swapped(0x1000, 1)])], swap=[slot(1, 1, 201)]),
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
            pages=[chained(1, 1, 301, 2)],
            pte_chains=[block(1, 1, (2, 0x1000), (1, 0x1000))],
        ),
        id="S3 step3: B1 {C, P} (newest first), PageDirect cleared",
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
        ),
        id="S3 step4: both PTEs S1, S1 ptes 2, F1 and B1 freed",
    ),
    pytest.param(
        "s4-aim7-shape",
        5,
        expect(
            [
                mm(1, [vma(1, 0x1000, 0x3000, 1)], [present(0x1000, 1, False)]),
                mm(2, [vma(2, 0x1000, 0x3000, 1)], [present(0x1000, 1, False)]),
                mm(3, [vma(3, 0x1000, 0x3000, 1)], [present(0x1000, 1, False)]),
            ],
            pages=[chained(1, 1, 401, 3)],
            pte_chains=[block(1, 1, (3, 0x1000), (2, 0x1000), (1, 0x1000))],
        ),
        id="S4 step4: second fork fills the head's last free slot: B1 {C2, C1, P}",
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
            pages=[chained(1, 1, 401, 2), direct(2, 2, 0x1000, 402)],
            pte_chains=[block(1, 1, (3, 0x1000), (1, 0x1000))],
        ),
        id="S4 step5: F1 chain {C2, P} (C1's entry removed at COW), F2 direct to C1",
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
            pages=[chained(1, 1, 401, 2)],
            swap=[slot(1, 1, 402)],
            pte_chains=[block(1, 1, (3, 0x1000), (1, 0x1000))],
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
            pages=[chained(1, 1, 501, 1), direct(2, 1, 0x1000, 502)],
            pte_chains=[block(1, 1, (2, 0x1000))],
        ),
        id="S5 step4: P copies to F2 (direct); F1 a one-entry chain {C}, not collapsed",
    ),
    pytest.param(
        "s5-cow-both-ways",
        6,
        expect(
            [
                mm(1, [vma(1, 0x1000, 0x2000, 1)], [present(0x1000, 2, True)]),
                mm(2, [vma(2, 0x1000, 0x2000, 1)], [present(0x1000, 1, True)]),
            ],
            pages=[chained(1, 1, 503, 1), direct(2, 1, 0x1000, 502)],
            pte_chains=[block(1, 1, (2, 0x1000))],
        ),
        id="S5 step5: C reuses F1, no rmap change: still a one-entry chain",
    ),
    pytest.param(
        "s5-cow-both-ways",
        7,
        expect(
            [
                mm(1, [vma(1, 0x1000, 0x2000, 1)], [present(0x1000, 2, True)]),
                mm(2, [vma(2, 0x1000, 0x2000, 1)], [swapped(0x1000, 1)]),
            ],
            pages=[direct(2, 1, 0x1000, 502)],
            swap=[slot(1, 1, 503)],
        ),
        id="S5 step6: collapse to direct, then reclaimed; B1 freed",
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
            pages=[direct(1, 1, 0x1000, 601), direct(2, 1, 0x2000, 602), direct(3, 1, 0x3000, 603)],
        ),
        id="S6 step3: P.b P.a(r) P.c; pages unchanged (F1-F3 direct)",
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
            pages=[direct(1, 1, 0x1000, 601), direct(2, 1, 0x2000, 602)],
            swap=[slot(1, 1, 603)],
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
            pages=[direct(1, 1, 0x1000, 601), direct(2, 1, 0x2000, 602)],
            swap=[slot(1, 1, 603)],
        ),
        id="S6 step5: 1 vma: P.a merged into P.b, then the final merge absorbs P.c; F2 ro",
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
            pages=[direct(1, 1, 0x1000, 701), direct(3, 1, 0x3000, 703)],
        ),
        id="S7 step3: P.a and N1 survive, F1 F3 direct, F2 freed",
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
            pages=[direct(1, 1, 0x1000, 701)],
            swap=[slot(1, 1, 703)],
        ),
        id="S7 step4: N1 0x3000 S1",
    ),
    pytest.param(
        "s7-munmap-middle",
        8,
        expect([mm(1, [vma(2, 0x3000, 0x4000, 3)], [swapped(0x3000, 1)])], swap=[slot(1, 1, 703)]),
        id="S7 step5: F1 freed",
    ),
    pytest.param(
        "s7-munmap-middle", 9, expect([mm(1, [], [])]), id="S7 step6: nothing left, no rmap state"
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
            pages=[direct(1, 1, 0x9000, 801), direct(2, 1, 0xB000, 803)],
        ),
        id="S8 step4: remove + re-add: F1 F2 direct to the new PTEs",
    ),
    pytest.param(
        "s8-mremap-move",
        6,
        expect(
            [mm(1, [vma(2, 0x9000, 0xD000, 1)], [present(0x9000, 1, True), swapped(0xB000, 1)])],
            pages=[direct(1, 1, 0x9000, 801)],
            swap=[slot(1, 1, 803)],
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
            pages=[chained(1, 1, 901, 1), chained(2, 2, 903, 2), direct(3, 2, 0x1000, 904)],
            pte_chains=[block(1, 1, (1, 0x1000)), block(2, 2, (2, 0x3000), (1, 0x3000))],
        ),
        id="S9 step5: F1 one-entry chain {P}, F2 chain {C, P}, F3 direct C",
    ),
    pytest.param(
        "s9-fork-cow-mremap",
        7,
        expect(
            [
                mm(
                    1,
                    [vma(3, 0x9000, 0xD000, 1)],
                    [present(0x9000, 1, False), present(0xB000, 2, False)],
                ),
                mm(
                    2,
                    [vma(2, 0x1000, 0x5000, 1)],
                    [present(0x1000, 3, True), present(0x3000, 2, False)],
                ),
            ],
            pages=[direct(1, 1, 0x9000, 901), chained(2, 2, 903, 2), direct(3, 2, 0x1000, 904)],
            pte_chains=[block(2, 2, (1, 0xB000), (2, 0x3000))],
        ),
        id="S9 step6: F1's chain empties at remove, re-added direct pte(P,0x9000); "
        "F2 chain {P:0xb000, C:0x3000}",
    ),
    pytest.param(
        "s9-fork-cow-mremap",
        8,
        expect(
            [
                mm(1, [vma(3, 0x9000, 0xD000, 1)], [present(0x9000, 1, False), swapped(0xB000, 1)]),
                mm(2, [vma(2, 0x1000, 0x5000, 1)], [present(0x1000, 3, True), swapped(0x3000, 1)]),
            ],
            pages=[direct(1, 1, 0x9000, 901), direct(3, 2, 0x1000, 904)],
            swap=[slot(1, 2, 903)],
        ),
        id="S9 step7: P 0xb000 S1, C 0x3000 S1, S1 ptes 2",
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
            pages=[chained(1, 1, 1301, 2), direct(2, 2, 0x2000, 1302)],
            pte_chains=[block(1, 1, (2, 0x1000), (1, 0x1000))],
        ),
        id="S13 step4: F2 direct (C)",
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
            pages=[chained(1, 1, 1301, 3), chained(2, 2, 1302, 2)],
            pte_chains=[
                block(1, 1, (3, 0x1000), (2, 0x1000), (1, 0x1000)),
                block(2, 2, (3, 0x2000), (2, 0x2000)),
            ],
        ),
        id="S13 step5: fork G: F2 chain {G, C} in B2, F1 gains G",
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
            pages=[chained(1, 1, 1301, 2), chained(2, 2, 1302, 1)],
            pte_chains=[block(1, 1, (3, 0x1000), (1, 0x1000)), block(2, 2, (3, 0x2000))],
        ),
        id="S13 step6: C exits: F2 chain {G}",
    ),
    pytest.param(
        "s13-grandchild",
        8,
        expect(
            [
                mm(1, [vma(1, 0x1000, 0x3000, 1)], [present(0x1000, 1, False)]),
                mm(3, [vma(3, 0x1000, 0x3000, 1)], [present(0x1000, 1, False), swapped(0x2000, 1)]),
            ],
            pages=[chained(1, 1, 1301, 2)],
            swap=[slot(1, 1, 1302)],
            pte_chains=[block(1, 1, (3, 0x1000), (1, 0x1000))],
        ),
        id="S13 step7: G 0x2000 S1",
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
            pages=[direct(1, 1, 0x1000, 1501)],
        ),
        id="S15 step3: P.b untouched",
    ),
    pytest.param(
        "s15-mremap-untouched",
        5,
        expect(
            [mm(1, [vma(1, 0x1000, 0x5000, 1)], [present(0x1000, 1, True)])],
            pages=[direct(1, 1, 0x1000, 1501)],
        ),
        id="S15 step4: merge (anon pgoff ignored): 1 vma [0x1000,0x5000)",
    ),
]


@pytest.mark.parametrize(("name", "index", "expected"), STATES)
def test_d1_reference_state_matches_spec(name, index, expected):
    assert state_view(step(run(name), index)["state"]) == expected


# ----- reclaim walks: exact, never a miss, chain order newest first ---------------------------

WALKS = [
    pytest.param(
        "s1-first-touch",
        5,
        2,
        via_direct(1, 0x3000),
        [hit(0, 1, 0x3000)],
        id="S1 reclaim F2: 1 (direct entry)",
    ),
    pytest.param(
        "s2-zero-page", 5, 1, via_direct(1, 0x1000), [hit(0, 1, 0x1000)], id="S2 reclaim F1: 1"
    ),
    pytest.param(
        "s3-fork-shares",
        5,
        1,
        via_chain(1),
        [hit(1, 2, 0x1000), hit(1, 1, 0x1000)],
        id="S3 reclaim F1: 2/2 [C, P]",
    ),
    pytest.param(
        "s4-aim7-shape",
        7,
        2,
        via_direct(2, 0x1000),
        [hit(0, 2, 0x1000)],
        id="S4 reclaim F2: 1/1 (direct to C1)",
    ),
    pytest.param(
        "s5-cow-both-ways",
        7,
        1,
        via_direct(2, 0x1000),
        [hit(0, 2, 0x1000)],
        id="S5 reclaim F1: 1 (collapse, then direct)",
    ),
    pytest.param(
        "s6-mprotect-split-merge",
        7,
        3,
        via_direct(1, 0x3000),
        [hit(0, 1, 0x3000)],
        id="S6 reclaim F3: 1",
    ),
    pytest.param(
        "s7-munmap-middle", 7, 3, via_direct(1, 0x3000), [hit(0, 1, 0x3000)], id="S7 reclaim F3: 1"
    ),
    pytest.param(
        "s8-mremap-move", 6, 2, via_direct(1, 0xB000), [hit(0, 1, 0xB000)], id="S8 reclaim F2: 1"
    ),
    pytest.param(
        "s9-fork-cow-mremap",
        8,
        2,
        via_chain(2),
        [hit(2, 1, 0xB000), hit(2, 2, 0x3000)],
        id="S9 reclaim F2: 2 [P:0xb000, C:0x3000]",
    ),
    pytest.param(
        "s13-grandchild",
        8,
        2,
        via_direct(3, 0x2000),
        [hit(0, 3, 0x2000)],
        id="S13 reclaim F2: 1 (collapse of {G}, then direct)",
    ),
]


@pytest.mark.parametrize(("name", "index", "pfn", "via", "visited"), WALKS)
def test_d1_reference_reclaim_walk_matches_spec(name, index, pfn, via, visited):
    found = step(run(name), index)
    assert reference_walks(found["walks"]) == [
        {
            "pfn": pfn,
            "via": via,
            "visited": visited,
            "candidates": len(visited),
            "unmapped": len(visited),
            "remaining": 0,
        }
    ]
    assert found["result"] == {}


def test_d1_reference_walks_never_miss():
    """§8: the walk unit is a real mapping: no misses or skips in any reference scenario."""
    counters = [run(name)["steps"][-1]["counters"] for name in REFERENCE]
    assert [(c["rmap_misses"], c["rmap_skips"]) for c in counters] == [(0, 0)] * len(REFERENCE)


# ----- what the narration must show -----------------------------------------------------------

EVENTS = [
    pytest.param(
        "s3-fork-shares",
        4,
        "page_add_rmap",
        "mm/rmap.c:page_add_rmap",
        [{"kind": "vma", "id": 1}, {"kind": "vma", "id": 2}, {"kind": "pte_chain", "id": 1}],
        id="S3 fork allocates B1",
    ),
    pytest.param(
        "s4-aim7-shape",
        6,
        "page_remove_rmap",
        "mm/rmap.c:page_remove_rmap",
        [
            {"kind": "frame", "id": 1},
            {"kind": "pte", "pid": 2, "addr": 0x1000},
            {"kind": "pte_chain", "id": 1},
        ],
        id="S4 COW removes C1's entry",
    ),
    pytest.param(
        "s5-cow-both-ways",
        7,
        "pte_chain_collapse",
        "mm/rmap.c:page_referenced",
        [
            {"kind": "frame", "id": 1},
            {"kind": "pte_chain", "id": 1},
            {"kind": "pte", "pid": 2, "addr": 0x1000},
        ],
        id="S5 page_referenced collapses {C} (J-11)",
    ),
    pytest.param(
        "s6-mprotect-split-merge",
        8,
        "vma_merge",
        "mm/mprotect.c:mprotect_attempt_merge",
        [{"kind": "vma", "id": 2}, {"kind": "vma", "id": 1}],
        id="S6 P.a merged into P.b (range starts at the vma start)",
    ),
    pytest.param(
        "s6-mprotect-split-merge",
        8,
        "vma_merge",
        "mm/mprotect.c:sys_mprotect",
        [{"kind": "vma", "id": 2}, {"kind": "vma", "id": 3}],
        id="S6 the final merge absorbs P.c (range ends at a vma end)",
    ),
    pytest.param(
        "s9-fork-cow-mremap",
        7,
        "page_remove_rmap",
        "mm/mremap.c:copy_one_pte",
        [{"kind": "frame", "id": 2}, {"kind": "frame", "id": 1}],
        id="S9 mremap re-registers F2 then F1 (from the end of the range)",
    ),
    pytest.param(
        "s13-grandchild",
        8,
        "pte_chain_collapse",
        "mm/rmap.c:page_referenced",
        [
            {"kind": "frame", "id": 2},
            {"kind": "pte_chain", "id": 2},
            {"kind": "pte", "pid": 3, "addr": 0x2000},
        ],
        id="S13 {G} collapses",
    ),
]


@pytest.mark.parametrize(("name", "index", "kind", "func", "objects"), EVENTS)
def test_d1_reference_step_narrates_rmap_change(name, index, kind, func, objects):
    events = [
        {"kind": e["kind"], "func": e["func"], "objects": e["objects"]}
        for e in step(run(name), index)["events"]
    ]
    assert {"kind": kind, "func": func, "objects": objects} in events


# ----- costs: blocks allocated, chain entries searched -----------------------------------------

COSTS = [
    pytest.param("s1-first-touch", 0, 0, 0, id="S1 nothing shared"),
    pytest.param("s3-fork-shares", 1, 0, 1, id="S3 one block at fork; the walk searches nothing"),
    pytest.param("s4-aim7-shape", 1, 2, 1, id="S4 C1's COW searches C2 then C1"),
    pytest.param("s5-cow-both-ways", 1, 2, 1, id="S5 P's COW searches C then P"),
    pytest.param("s6-mprotect-split-merge", 0, 0, 0, id="S6 nothing"),
    pytest.param("s9-fork-cow-mremap", 2, 4, 2, id="S9 COW 1, mremap 1 (F1) + 2 (F2: C then P)"),
    pytest.param(
        "s13-grandchild",
        2,
        4,
        2,
        id="S13 C's exit searches 2 entries in each chain; the forks convert F1, F2",
    ),
]


@pytest.mark.parametrize(("name", "blocks", "searched", "converted"), COSTS)
def test_d1_reference_costs(name, blocks, searched, converted):
    counters = run(name)["steps"][-1]["counters"]
    assert (
        counters["pte_chains_allocated"],
        counters["pte_chain_search"],
        counters["direct_to_indirect"],
        counters["anon_vmas_allocated"],
    ) == (blocks, searched, converted, 0)
