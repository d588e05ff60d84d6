"""The reference scenarios of the behavioural spec (§11), D3 column, run from scenarios/*.json.

Every scenario file starts with ``spawn`` as step 1, so spec step n is run step n + 1 (S6
and S7 fold three writes into one spec step; the ids below name the spec step). Frames,
slots, vmas and anon_vmas are numbered from 1 in allocation order (J-17): F1 is pfn 1, P is
pid 1, C / C1 pid 2, C2 / G pid 3.
"""

import json
import re
from pathlib import Path

import pytest

from app.engine import run_scenario

from .expect import mm, present, step, swapped, vma, zero
from .helpers import SPEC_SCENARIOS, reference_walks

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"

REFERENCE = (*SPEC_SCENARIOS, "seed-story")


def run(name):
    """The run document of ``scenarios/<name>.json`` with the state after every step."""
    return run_scenario(json.loads((SCENARIOS / f"{name}.json").read_text()), all_states=True)


def run_in(name, design):
    """The run document of ``scenarios/<name>.json`` under ``design``, without options."""
    return run_scenario(
        json.loads((SCENARIOS / f"{name}.json").read_text()), design=design, options=()
    )


# ----- builders for expected values ---------------------------------------------------------


def direct(pfn, vma_id, index, value, *, mapcount=1, swap_slot=None):
    """A PageDirect frame: ``page->as.vma``."""
    return _frame(pfn, ("vma", vma_id), index, mapcount, value, swap_slot)


def indirect(pfn, anon_vma, index, value, *, mapcount=1, swap_slot=None):
    """An indirect frame: ``page->as.anon_vma``."""
    return _frame(pfn, ("anon_vma", anon_vma), index, mapcount, value, swap_slot)


def _frame(pfn, mapping, index, mapcount, value, swap_slot):
    kind, ident = mapping
    flags = ["anon"]
    if kind == "vma":
        flags.append("direct")
    if swap_slot is not None:
        flags.append("swapcache")
    return {
        "pfn": pfn,
        "flags": flags,
        "mapping": {"kind": kind, "id": ident},
        "index": index,
        "mapcount": mapcount,
        "swap_slot": swap_slot,
        "value": value,
        "page_mapping": "swapper_space" if swap_slot is not None else None,
    }


def slot(ident, ptes, value, cached_pfn=None):
    return {"slot": ident, "ptes": ptes, "cached_pfn": cached_pfn, "value": value}


def anon_vma(ident, *vmas):
    """An anon_vma and its list, head first."""
    return {"id": ident, "vmas": list(vmas)}


def hit(vma_id, pid, addr):
    return {"kind": "vma", "id": vma_id, "result": "hit", "pid": pid, "addr": addr}


def state_view(state):
    """The parts of a state the spec's tables pin down."""
    return {k: state[k] for k in ("mms", "pages", "swap", "anon_vmas")}


def expect(mms, pages=(), swap=(), anon_vmas=()):
    return {"mms": mms, "pages": list(pages), "swap": list(swap), "anon_vmas": list(anon_vmas)}


# ----- states -------------------------------------------------------------------------------

STATES = [
    pytest.param(
        "s1-first-touch",
        4,
        expect(
            [
                mm(
                    1,
                    [vma(1, 0x1000, 0x5000, 1, None)],
                    [present(0x1000, 1, True), present(0x3000, 2, True)],
                )
            ],
            pages=[direct(1, 1, 1, 101), direct(2, 1, 3, 103)],
        ),
        id="S1 step3: F1 F2 direct to P.a, idx 1/3, no anon_vma",
    ),
    pytest.param(
        "s1-first-touch",
        5,
        expect(
            [
                mm(
                    1,
                    [vma(1, 0x1000, 0x5000, 1, None)],
                    [present(0x1000, 1, True), swapped(0x3000, 1)],
                )
            ],
            pages=[direct(1, 1, 1, 101)],
            swap=[slot(1, 1, 103)],
        ),
        id="S1 step4: P 0x3000 S1, S1 ptes 1, F2 freed",
    ),
    pytest.param(
        "s2-zero-page",
        3,
        expect([mm(1, [vma(1, 0x1000, 0x2000, 1, None)], [zero(0x1000)])]),
        id="S2 step2: ZERO ro, no frame, no rmap, no anon_vma",
    ),
    pytest.param(
        "s2-zero-page",
        4,
        expect(
            [mm(1, [vma(1, 0x1000, 0x2000, 1, None)], [present(0x1000, 1, True)])],
            pages=[direct(1, 1, 1, 201)],
        ),
        id="S2 step3: COW from zero page, F1 rw direct",
    ),
    pytest.param(
        "s2-zero-page",
        5,
        expect(
            [mm(1, [vma(1, 0x1000, 0x2000, 1, None)], [swapped(0x1000, 1)])], swap=[slot(1, 1, 201)]
        ),
        id="S2 step4: reclaimed",
    ),
    pytest.param(
        "s3-fork-shares",
        4,
        expect(
            [
                mm(1, [vma(1, 0x1000, 0x3000, 1, 1)], [present(0x1000, 1, False)]),
                mm(2, [vma(2, 0x1000, 0x3000, 1, 1)], [present(0x1000, 1, False)]),
            ],
            pages=[indirect(1, 1, 1, 301, mapcount=2)],
            anon_vmas=[anon_vma(1, 1, 2)],
        ),
        id="S3 step3: AV1 at fork [P.a, C.a], F1 indirect, mc 2, ro",
    ),
    pytest.param(
        "s3-fork-shares",
        5,
        expect(
            [
                mm(1, [vma(1, 0x1000, 0x3000, 1, 1)], [swapped(0x1000, 1)]),
                mm(2, [vma(2, 0x1000, 0x3000, 1, 1)], [swapped(0x1000, 1)]),
            ],
            swap=[slot(1, 2, 301)],
            anon_vmas=[anon_vma(1, 1, 2)],
        ),
        id="S3 step4: both PTEs S1, S1 ptes 2, F1 freed",
    ),
    pytest.param(
        "s4-aim7-shape",
        6,
        expect(
            [
                mm(1, [vma(1, 0x1000, 0x3000, 1, 1)], [present(0x1000, 1, False)]),
                mm(2, [vma(2, 0x1000, 0x3000, 1, 1)], [present(0x1000, 2, True)]),
                mm(3, [vma(3, 0x1000, 0x3000, 1, 1)], [present(0x1000, 1, False)]),
            ],
            pages=[indirect(1, 1, 1, 401, mapcount=2), direct(2, 2, 1, 402)],
            anon_vmas=[anon_vma(1, 3, 1, 2)],
        ),
        id="S4 step5: AV1 [C2.a, P.a, C1.a], F2 direct to C1.a",
    ),
    pytest.param(
        "s4-aim7-shape",
        7,
        expect(
            [
                mm(1, [vma(1, 0x1000, 0x3000, 1, 1)], [present(0x1000, 1, False)]),
                mm(2, [vma(2, 0x1000, 0x3000, 1, 1)], [swapped(0x1000, 1)]),
                mm(3, [vma(3, 0x1000, 0x3000, 1, 1)], [present(0x1000, 1, False)]),
            ],
            pages=[indirect(1, 1, 1, 401, mapcount=2)],
            swap=[slot(1, 1, 402)],
            anon_vmas=[anon_vma(1, 3, 1, 2)],
        ),
        id="S4 step6: C1 0x1000 S1, S1 ptes 1",
    ),
    pytest.param(
        "s5-cow-both-ways",
        5,
        expect(
            [
                mm(1, [vma(1, 0x1000, 0x2000, 1, 1)], [present(0x1000, 2, True)]),
                mm(2, [vma(2, 0x1000, 0x2000, 1, 1)], [present(0x1000, 1, False)]),
            ],
            pages=[indirect(1, 1, 1, 501), direct(2, 1, 1, 502)],
            anon_vmas=[anon_vma(1, 1, 2)],
        ),
        id="S5 step4: P copies to F2 (direct P.a), F1 stays indirect mc 1",
    ),
    pytest.param(
        "s5-cow-both-ways",
        6,
        expect(
            [
                mm(1, [vma(1, 0x1000, 0x2000, 1, 1)], [present(0x1000, 2, True)]),
                mm(2, [vma(2, 0x1000, 0x2000, 1, 1)], [present(0x1000, 1, True)]),
            ],
            pages=[direct(1, 2, 1, 503), direct(2, 1, 1, 502)],
            anon_vmas=[anon_vma(1, 1, 2)],
        ),
        id="S5 step5: C reuses F1, indirect -> direct C.a (J-3)",
    ),
    pytest.param(
        "s5-cow-both-ways",
        7,
        expect(
            [
                mm(1, [vma(1, 0x1000, 0x2000, 1, 1)], [present(0x1000, 2, True)]),
                mm(2, [vma(2, 0x1000, 0x2000, 1, 1)], [swapped(0x1000, 1)]),
            ],
            pages=[direct(2, 1, 1, 502)],
            swap=[slot(1, 1, 503)],
            anon_vmas=[anon_vma(1, 1, 2)],
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
                        vma(2, 0x1000, 0x2000, 1, 1),
                        vma(1, 0x2000, 0x3000, 2, 1, "r"),
                        vma(3, 0x3000, 0x5000, 3, 1),
                    ],
                    [present(0x1000, 1, True), present(0x2000, 2, False), present(0x3000, 3, True)],
                )
            ],
            pages=[indirect(1, 1, 1, 601), indirect(2, 1, 2, 602), indirect(3, 1, 3, 603)],
            anon_vmas=[anon_vma(1, 3, 2, 1)],
        ),
        id="S6 step3: P.b P.a(r) P.c, J-1 AV1 [P.c, P.b, P.a], F1-F3 indirect",
    ),
    pytest.param(
        "s6-mprotect-split-merge",
        7,
        expect(
            [
                mm(
                    1,
                    [
                        vma(2, 0x1000, 0x2000, 1, 1),
                        vma(1, 0x2000, 0x3000, 2, 1, "r"),
                        vma(3, 0x3000, 0x5000, 3, 1),
                    ],
                    [present(0x1000, 1, True), present(0x2000, 2, False), swapped(0x3000, 1)],
                )
            ],
            pages=[indirect(1, 1, 1, 601), indirect(2, 1, 2, 602)],
            swap=[slot(1, 1, 603)],
            anon_vmas=[anon_vma(1, 3, 2, 1)],
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
                    [vma(2, 0x1000, 0x5000, 1, 1)],
                    [present(0x1000, 1, True), present(0x2000, 2, False), swapped(0x3000, 1)],
                )
            ],
            pages=[indirect(1, 1, 1, 601), indirect(2, 1, 2, 602)],
            swap=[slot(1, 1, 603)],
            anon_vmas=[anon_vma(1, 2)],
        ),
        id="S6 step5: 1 vma P.b p1, AV1 [P.b], F2 ro",
    ),
    pytest.param(
        "s7-munmap-middle",
        6,
        expect(
            [
                mm(
                    1,
                    [vma(1, 0x1000, 0x2000, 1, 1), vma(2, 0x3000, 0x4000, 3, 1)],
                    [present(0x1000, 1, True), present(0x3000, 3, True)],
                )
            ],
            pages=[indirect(1, 1, 1, 701), indirect(3, 1, 3, 703)],
            anon_vmas=[anon_vma(1, 2, 1)],
        ),
        id="S7 step3: P.a N1 survive, AV1 [N1, P.a], F2 freed",
    ),
    pytest.param(
        "s7-munmap-middle",
        7,
        expect(
            [
                mm(
                    1,
                    [vma(1, 0x1000, 0x2000, 1, 1), vma(2, 0x3000, 0x4000, 3, 1)],
                    [present(0x1000, 1, True), swapped(0x3000, 1)],
                )
            ],
            pages=[indirect(1, 1, 1, 701)],
            swap=[slot(1, 1, 703)],
            anon_vmas=[anon_vma(1, 2, 1)],
        ),
        id="S7 step4: N1 0x3000 S1",
    ),
    pytest.param(
        "s7-munmap-middle",
        8,
        expect(
            [mm(1, [vma(2, 0x3000, 0x4000, 3, 1)], [swapped(0x3000, 1)])],
            swap=[slot(1, 1, 703)],
            anon_vmas=[anon_vma(1, 2)],
        ),
        id="S7 step5: P.a unlinked, F1 freed",
    ),
    pytest.param(
        "s7-munmap-middle",
        9,
        expect([mm(1, [], [])]),
        id="S7 step6: N1 unlinked, AV1 freed, S1 freed",
    ),
    pytest.param(
        "s8-mremap-move",
        5,
        expect(
            [
                mm(
                    1,
                    [vma(2, 0x9000, 0xD000, 1, 1)],
                    [present(0x9000, 1, True), present(0xB000, 2, True)],
                )
            ],
            pages=[indirect(1, 1, 1, 801), indirect(2, 1, 3, 803)],
            anon_vmas=[anon_vma(1, 2)],
        ),
        id="S8 step4: J-1 AV1, P.n p1 kept, AV1 [P.n], idx 1/3",
    ),
    pytest.param(
        "s8-mremap-move",
        6,
        expect(
            [mm(1, [vma(2, 0x9000, 0xD000, 1, 1)], [present(0x9000, 1, True), swapped(0xB000, 1)])],
            pages=[indirect(1, 1, 1, 801)],
            swap=[slot(1, 1, 803)],
            anon_vmas=[anon_vma(1, 2)],
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
                    [vma(1, 0x1000, 0x5000, 1, 1)],
                    [present(0x1000, 1, False), present(0x3000, 2, False)],
                ),
                mm(
                    2,
                    [vma(2, 0x1000, 0x5000, 1, 1)],
                    [present(0x1000, 3, True), present(0x3000, 2, False)],
                ),
            ],
            pages=[
                indirect(1, 1, 1, 901),
                indirect(2, 1, 3, 903, mapcount=2),
                direct(3, 2, 1, 904),
            ],
            anon_vmas=[anon_vma(1, 1, 2)],
        ),
        id="S9 step5: F1 ro mc1, F2 ro mc2, F3 rw direct C.a",
    ),
    pytest.param(
        "s9-fork-cow-mremap",
        7,
        expect(
            [
                mm(
                    1,
                    [vma(3, 0x9000, 0xD000, 1, 1)],
                    [present(0x9000, 1, False), present(0xB000, 2, False)],
                ),
                mm(
                    2,
                    [vma(2, 0x1000, 0x5000, 1, 1)],
                    [present(0x1000, 3, True), present(0x3000, 2, False)],
                ),
            ],
            pages=[
                indirect(1, 1, 1, 901),
                indirect(2, 1, 3, 903, mapcount=2),
                direct(3, 2, 1, 904),
            ],
            anon_vmas=[anon_vma(1, 3, 2)],
        ),
        id="S9 step6: P.n p1, AV1 [P.n, C.a]",
    ),
    pytest.param(
        "s9-fork-cow-mremap",
        8,
        expect(
            [
                mm(
                    1,
                    [vma(3, 0x9000, 0xD000, 1, 1)],
                    [present(0x9000, 1, False), swapped(0xB000, 1)],
                ),
                mm(
                    2,
                    [vma(2, 0x1000, 0x5000, 1, 1)],
                    [present(0x1000, 3, True), swapped(0x3000, 1)],
                ),
            ],
            pages=[indirect(1, 1, 1, 901), direct(3, 2, 1, 904)],
            swap=[slot(1, 2, 903)],
            anon_vmas=[anon_vma(1, 3, 2)],
        ),
        id="S9 step7: P 0xb000 S1, C 0x3000 S1, S1 ptes 2",
    ),
    pytest.param(
        "s13-grandchild",
        5,
        expect(
            [
                mm(1, [vma(1, 0x1000, 0x3000, 1, 1)], [present(0x1000, 1, False)]),
                mm(
                    2,
                    [vma(2, 0x1000, 0x3000, 1, 1)],
                    [present(0x1000, 1, False), present(0x2000, 2, True)],
                ),
            ],
            pages=[indirect(1, 1, 1, 1301, mapcount=2), direct(2, 2, 2, 1302)],
            anon_vmas=[anon_vma(1, 1, 2)],
        ),
        id="S13 step4: F2 direct C.a",
    ),
    pytest.param(
        "s13-grandchild",
        6,
        expect(
            [
                mm(1, [vma(1, 0x1000, 0x3000, 1, 1)], [present(0x1000, 1, False)]),
                mm(
                    2,
                    [vma(2, 0x1000, 0x3000, 1, 1)],
                    [present(0x1000, 1, False), present(0x2000, 2, False)],
                ),
                mm(
                    3,
                    [vma(3, 0x1000, 0x3000, 1, 1)],
                    [present(0x1000, 1, False), present(0x2000, 2, False)],
                ),
            ],
            pages=[indirect(1, 1, 1, 1301, mapcount=3), indirect(2, 1, 2, 1302, mapcount=2)],
            anon_vmas=[anon_vma(1, 3, 1, 2)],
        ),
        id="S13 step5: F2 indirect AV1, AV1 [G.a, P.a, C.a]",
    ),
    pytest.param(
        "s13-grandchild",
        7,
        expect(
            [
                mm(1, [vma(1, 0x1000, 0x3000, 1, 1)], [present(0x1000, 1, False)]),
                mm(
                    3,
                    [vma(3, 0x1000, 0x3000, 1, 1)],
                    [present(0x1000, 1, False), present(0x2000, 2, False)],
                ),
            ],
            pages=[indirect(1, 1, 1, 1301, mapcount=2), indirect(2, 1, 2, 1302)],
            anon_vmas=[anon_vma(1, 3, 1)],
        ),
        id="S13 step6: C exits, AV1 [G.a, P.a]",
    ),
    pytest.param(
        "s13-grandchild",
        8,
        expect(
            [
                mm(1, [vma(1, 0x1000, 0x3000, 1, 1)], [present(0x1000, 1, False)]),
                mm(
                    3,
                    [vma(3, 0x1000, 0x3000, 1, 1)],
                    [present(0x1000, 1, False), swapped(0x2000, 1)],
                ),
            ],
            pages=[indirect(1, 1, 1, 1301, mapcount=2)],
            swap=[slot(1, 1, 1302)],
            anon_vmas=[anon_vma(1, 3, 1)],
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
                    [vma(1, 0x1000, 0x3000, 1, None), vma(2, 0x8000, 0xA000, 8, None)],
                    [present(0x1000, 1, True)],
                )
            ],
            pages=[direct(1, 1, 1, 1501)],
        ),
        id="S15 step3: P.b p8 untouched",
    ),
    pytest.param(
        "s15-mremap-untouched",
        5,
        expect(
            [
                mm(
                    1,
                    [vma(1, 0x1000, 0x3000, 1, None), vma(3, 0x3000, 0x5000, 8, None)],
                    [present(0x1000, 1, True)],
                )
            ],
            pages=[direct(1, 1, 1, 1501)],
        ),
        id="S15 step4: no pgoff reset, p8 kept, 2 vmas (J-4)",
    ),
    pytest.param(
        "seed-story",
        5,
        expect(
            [
                mm(
                    1,
                    [vma(1, 0x1000, 0x3000, 1, None), vma(2, 0x3000, 0x4000, 3, None, "rwx")],
                    [present(0x1000, 1, True), present(0x3000, 2, True)],
                )
            ],
            pages=[direct(1, 1, 1, 1001), direct(2, 2, 3, 1003)],
        ),
        id="seed (a) before fork: both frames direct, no anon_vma",
    ),
    pytest.param(
        "seed-story",
        6,
        expect(
            [
                mm(
                    1,
                    [vma(1, 0x1000, 0x3000, 1, 1), vma(2, 0x3000, 0x4000, 3, 2, "rwx")],
                    [present(0x1000, 1, False), present(0x3000, 2, False)],
                ),
                mm(
                    2,
                    [vma(3, 0x1000, 0x3000, 1, 1), vma(4, 0x3000, 0x4000, 3, 2, "rwx")],
                    [present(0x1000, 1, False), present(0x3000, 2, False)],
                ),
            ],
            pages=[indirect(1, 1, 1, 1001, mapcount=2), indirect(2, 2, 3, 1003, mapcount=2)],
            anon_vmas=[anon_vma(1, 1, 3), anon_vma(2, 2, 4)],
        ),
        id="seed (a) fork: one anon_vma per vma, frames indirect",
    ),
    pytest.param(
        "seed-story",
        7,
        expect(
            [
                mm(
                    1,
                    [vma(2, 0x3000, 0x4000, 3, 2, "rwx"), vma(5, 0x10000, 0x12000, 1, 1)],
                    [present(0x3000, 2, False), present(0x10000, 1, False)],
                ),
                mm(
                    2,
                    [vma(3, 0x1000, 0x3000, 1, 1), vma(4, 0x3000, 0x4000, 3, 2, "rwx")],
                    [present(0x1000, 1, False), present(0x3000, 2, False)],
                ),
            ],
            pages=[indirect(1, 1, 1, 1001, mapcount=2), indirect(2, 2, 3, 1003, mapcount=2)],
            anon_vmas=[anon_vma(1, 5, 3), anon_vma(2, 2, 4)],
        ),
        id="seed (b) mremap: new vma keeps pgoff 1, F1 keeps index 1",
    ),
    pytest.param(
        "seed-story",
        9,
        expect(
            [
                mm(
                    1,
                    [vma(2, 0x3000, 0x4000, 3, 2, "rwx"), vma(5, 0x10000, 0x12000, 1, 1)],
                    [present(0x3000, 2, False), present(0x10000, 1, False)],
                ),
                mm(
                    2,
                    [vma(3, 0x1000, 0x3000, 1, 1), vma(4, 0x3000, 0x4000, 3, 2)],
                    [present(0x1000, 1, False), present(0x3000, 2, False)],
                ),
            ],
            pages=[indirect(1, 1, 1, 1001, mapcount=2), indirect(2, 2, 3, 1003, mapcount=2)],
            anon_vmas=[anon_vma(1, 5, 3), anon_vma(2, 2, 4)],
        ),
        id="seed (c) merge refused: C's two vmas stay apart",
    ),
    pytest.param(
        "seed-story",
        10,
        expect(
            [
                mm(
                    1,
                    [vma(2, 0x3000, 0x4000, 3, 2, "rwx"), vma(5, 0x10000, 0x12000, 1, 1)],
                    [present(0x3000, 2, False), swapped(0x10000, 1)],
                ),
                mm(
                    2,
                    [vma(3, 0x1000, 0x3000, 1, 1), vma(4, 0x3000, 0x4000, 3, 2)],
                    [swapped(0x1000, 1), present(0x3000, 2, False)],
                ),
            ],
            pages=[indirect(2, 2, 3, 1003, mapcount=2)],
            swap=[slot(1, 2, 1001)],
            anon_vmas=[anon_vma(1, 5, 3), anon_vma(2, 2, 4)],
        ),
        id="seed (d) reclaim shared F1: S1 ptes 2",
    ),
    pytest.param(
        "seed-story",
        11,
        expect(
            [
                mm(
                    1,
                    [vma(2, 0x3000, 0x4000, 3, 2, "rwx"), vma(5, 0x10000, 0x12000, 1, 1)],
                    [present(0x3000, 2, False), present(0x10000, 3, False)],
                ),
                mm(
                    2,
                    [vma(3, 0x1000, 0x3000, 1, 1), vma(4, 0x3000, 0x4000, 3, 2)],
                    [swapped(0x1000, 1), present(0x3000, 2, False)],
                ),
            ],
            pages=[indirect(2, 2, 3, 1003, mapcount=2), direct(3, 5, 1, 1001, swap_slot=1)],
            swap=[slot(1, 1, 1001, cached_pfn=3)],
            anon_vmas=[anon_vma(1, 5, 3), anon_vma(2, 2, 4)],
        ),
        id="seed (d) P swap-in: F3 in swap cache, direct to P's vma (J-5)",
    ),
    pytest.param(
        "seed-story",
        12,
        expect(
            [
                mm(
                    1,
                    [vma(2, 0x3000, 0x4000, 3, 2, "rwx"), vma(5, 0x10000, 0x12000, 1, 1)],
                    [present(0x3000, 2, False), present(0x10000, 3, False)],
                ),
                mm(
                    2,
                    [vma(3, 0x1000, 0x3000, 1, 1), vma(4, 0x3000, 0x4000, 3, 2)],
                    [present(0x1000, 3, False), present(0x3000, 2, False)],
                ),
            ],
            pages=[
                indirect(2, 2, 3, 1003, mapcount=2),
                indirect(3, 1, 1, 1001, mapcount=2, swap_slot=1),
            ],
            swap=[slot(1, 0, 1001, cached_pfn=3)],
            anon_vmas=[anon_vma(1, 5, 3), anon_vma(2, 2, 4)],
        ),
        id="seed (d) C swap-in hit: F3 indirect AV1, still in swap cache (J-5)",
    ),
]


@pytest.mark.parametrize(("name", "index", "expected"), STATES)
def test_reference_state_matches_spec(name, index, expected):
    assert state_view(step(run(name), index)["state"]) == expected


# ----- reclaim walks: visited (kind, id, result in order) and candidates ----------------------

WALKS = [
    pytest.param(
        "s1-first-touch",
        5,
        2,
        {"kind": "vma", "id": 1},
        [hit(1, 1, 0x3000)],
        1,
        id="S1 reclaim F2 1/1 [P.a]",
    ),
    pytest.param(
        "s2-zero-page",
        5,
        1,
        {"kind": "vma", "id": 1},
        [hit(1, 1, 0x1000)],
        1,
        id="S2 reclaim F1 1/1",
    ),
    pytest.param(
        "s3-fork-shares",
        5,
        1,
        {"kind": "anon_vma", "id": 1},
        [hit(1, 1, 0x1000), hit(2, 2, 0x1000)],
        2,
        id="S3 reclaim F1 2/2 [P.a, C.a]",
    ),
    pytest.param(
        "s4-aim7-shape",
        7,
        2,
        {"kind": "vma", "id": 2},
        [hit(2, 2, 0x1000)],
        1,
        id="S4 reclaim F2 1/1 (direct)",
    ),
    pytest.param(
        "s5-cow-both-ways",
        7,
        1,
        {"kind": "vma", "id": 2},
        [hit(2, 2, 0x1000)],
        1,
        id="S5 reclaim F1 1/1 (direct C.a)",
    ),
    pytest.param(
        "s6-mprotect-split-merge",
        7,
        3,
        {"kind": "anon_vma", "id": 1},
        [hit(3, 1, 0x3000)],
        3,
        id="S6 reclaim F3 1/3 [P.c]",
    ),
    pytest.param(
        "s7-munmap-middle",
        7,
        3,
        {"kind": "anon_vma", "id": 1},
        [hit(2, 1, 0x3000)],
        2,
        id="S7 reclaim F3 1/2 [N1]",
    ),
    pytest.param(
        "s8-mremap-move",
        6,
        2,
        {"kind": "anon_vma", "id": 1},
        [hit(2, 1, 0xB000)],
        1,
        id="S8 reclaim F2 1/1 [P.n]",
    ),
    pytest.param(
        "s9-fork-cow-mremap",
        8,
        2,
        {"kind": "anon_vma", "id": 1},
        [hit(3, 1, 0xB000), hit(2, 2, 0x3000)],
        2,
        id="S9 reclaim F2 2/2 [P.n, C.a]",
    ),
    pytest.param(
        "s13-grandchild",
        8,
        2,
        {"kind": "anon_vma", "id": 1},
        [hit(3, 3, 0x2000)],
        2,
        id="S13 reclaim F2 1/2 [G.a]",
    ),
    pytest.param(
        "seed-story",
        10,
        1,
        {"kind": "anon_vma", "id": 1},
        [hit(5, 1, 0x10000), hit(3, 2, 0x1000)],
        2,
        id="seed reclaim F1 2/2 [P's moved vma, C.a]",
    ),
]


@pytest.mark.parametrize(("name", "index", "pfn", "via", "visited", "candidates"), WALKS)
def test_reference_reclaim_walk_matches_spec(name, index, pfn, via, visited, candidates):
    found = step(run(name), index)
    assert reference_walks(found["walks"]) == [
        {
            "pfn": pfn,
            "via": via,
            "visited": visited,
            "candidates": candidates,
            "unmapped": len(visited),
            "remaining": 0,
        }
    ]
    assert found["result"] == {}


#: The designs whose reference columns these scenarios are checked against (§11): D3 here,
#: D1 and D2 in their own files; D4 and D5 check every built-in file in theirs.
SPEC_DESIGNS = ("anon_vma_rfc2", "pte_chain", "anonmm")


@pytest.mark.parametrize("design", SPEC_DESIGNS)
@pytest.mark.parametrize("name", REFERENCE)
def test_reference_invariants_hold_after_every_step(name, design):
    doc = run_in(name, design)
    broken = [(s["index"], s["invariants"]) for s in doc["steps"] if not s["invariants"]["ok"]]
    assert broken == []
    assert doc["invariants"] == {"ok": True, "violations": []}


@pytest.mark.parametrize("design", SPEC_DESIGNS)
@pytest.mark.parametrize("name", REFERENCE)
def test_reference_steps_all_succeed(name, design):
    outcomes = [s["outcome"] for s in run_in(name, design)["steps"]]
    assert outcomes == ["ok"] * len(outcomes)


# ----- what the narration must show ----------------------------------------------------------

EVENTS = [
    pytest.param(
        "s3-fork-shares",
        4,
        "anon_vma_alloc",
        [{"kind": "anon_vma", "id": 1}, {"kind": "vma", "id": 1}, {"kind": "vma", "id": 2}],
        id="S3 AV1 allocated at fork (J-2)",
    ),
    pytest.param(
        "s3-fork-shares",
        4,
        "direct_to_indirect",
        [{"kind": "anon_vma", "id": 1}, {"kind": "vma", "id": 1}, {"kind": "frame", "id": 1}],
        id="S3 fork turns F1 indirect",
    ),
    pytest.param(
        "s5-cow-both-ways",
        6,
        "indirect_to_direct",
        [{"kind": "frame", "id": 1}, {"kind": "vma", "id": 2}, {"kind": "anon_vma", "id": 1}],
        id="S5 reuse turns F1 direct (J-3)",
    ),
    pytest.param(
        "s6-mprotect-split-merge",
        6,
        "direct_to_indirect",
        [
            {"kind": "vma", "id": 1},
            {"kind": "anon_vma", "id": 1},
            {"kind": "frame", "id": 1},
            {"kind": "frame", "id": 2},
            {"kind": "frame", "id": 3},
        ],
        id="S6 J-1 before the first split",
    ),
    pytest.param(
        "s7-munmap-middle",
        6,
        "direct_to_indirect",
        [
            {"kind": "vma", "id": 1},
            {"kind": "anon_vma", "id": 1},
            {"kind": "frame", "id": 1},
            {"kind": "frame", "id": 2},
            {"kind": "frame", "id": 3},
        ],
        id="S7 J-1 before the first split",
    ),
    pytest.param(
        "s7-munmap-middle",
        9,
        "anon_vma_free",
        [{"kind": "anon_vma", "id": 1}, {"kind": "vma", "id": 2}],
        id="S7 AV1 freed when its list empties",
    ),
    pytest.param(
        "s8-mremap-move",
        5,
        "direct_to_indirect",
        [
            {"kind": "vma", "id": 1},
            {"kind": "anon_vma", "id": 1},
            {"kind": "frame", "id": 1},
            {"kind": "frame", "id": 2},
        ],
        id="S8 J-1 before the move",
    ),
    pytest.param(
        "s13-grandchild",
        6,
        "direct_to_indirect",
        [{"kind": "anon_vma", "id": 1}, {"kind": "vma", "id": 2}, {"kind": "frame", "id": 2}],
        id="S13 C's fork turns F2 indirect",
    ),
    pytest.param(
        "seed-story", 9, "merge_refused", [{"kind": "vma", "id": 4}], id="seed (c) merge refused"
    ),
    pytest.param(
        "seed-story",
        12,
        "direct_to_indirect",
        [{"kind": "frame", "id": 3}, {"kind": "vma", "id": 5}, {"kind": "anon_vma", "id": 1}],
        id="seed (d) second swap-in (J-5)",
    ),
]


@pytest.mark.parametrize(("name", "index", "kind", "objects"), EVENTS)
def test_reference_step_narrates_rmap_change(name, index, kind, objects):
    events = [
        {"kind": e["kind"], "objects": e["objects"]} for e in step(run(name), index)["events"]
    ]
    assert {"kind": kind, "objects": objects} in events


ANON_VMAS_ALLOCATED = [
    pytest.param("s1-first-touch", 0, id="S1 none: no fork"),
    pytest.param("s2-zero-page", 0, id="S2 none"),
    pytest.param("s3-fork-shares", 1, id="S3 one at fork"),
    pytest.param("s4-aim7-shape", 1, id="S4 one for the family"),
    pytest.param("s5-cow-both-ways", 1, id="S5 one"),
    pytest.param("s6-mprotect-split-merge", 1, id="S6 one at the split (J-1)"),
    pytest.param("s7-munmap-middle", 1, id="S7 one at the split (J-1)"),
    pytest.param("s8-mremap-move", 1, id="S8 one at the move (J-1)"),
    pytest.param("s9-fork-cow-mremap", 1, id="S9 one at fork, none at the move"),
    pytest.param("s13-grandchild", 1, id="S13 one for three generations"),
    pytest.param("s15-mremap-untouched", 0, id="S15 none: the moved vma is empty"),
    pytest.param("seed-story", 2, id="seed one per forked vma"),
]


@pytest.mark.parametrize(("name", "allocated"), ANON_VMAS_ALLOCATED)
def test_reference_anon_vma_allocations_match_spec(name, allocated):
    assert run(name)["steps"][-1]["counters"]["anon_vmas_allocated"] == allocated


def test_s2_read_fault_returns_zero():
    assert step(run("s2-zero-page"), 3)["value"] == 0


def test_seed_story_merge_op_lists_the_anon_vma_reason():
    merge = step(run("seed-story"), 9)["result"]["merge"]
    assert merge["merged"] is False
    assert merge["vma"] == 4
    assert [(r["side"], r["vma"]) for r in merge["reasons"]] == [("prev", 3), ("next", None)]
    assert "different anon_vmas (2 and 1)" in merge["reasons"][0]["text"]
    assert "vm_flags" not in merge["reasons"][0]["text"]
    assert "vm_pgoff" not in merge["reasons"][0]["text"]


def test_seed_story_swap_ins_read_the_value_back_once_from_disk():
    doc = run("seed-story")
    assert [step(doc, i)["value"] for i in (11, 12)] == [1001, 1001]
    counters = doc["steps"][-1]["counters"]
    assert (counters["swapins"], counters["swapcache_hits"]) == (2, 1)


# ----- rfc2_literal: the split leaves PageDirect pages behind ---------------------------------


def violations(found):
    """(rule, frame) for each violation of a step."""
    return sorted(
        (v["rule"], int(re.search(r"frame (\d+)", v["text"]).group(1)))
        for v in found["invariants"]["violations"]
    )


def test_seed_split_literal_is_sound_until_the_split():
    doc = run("seed-split-literal")
    assert [s["invariants"]["ok"] for s in doc["steps"][:5]] == [True] * 5


@pytest.mark.parametrize("index", [6, 7, 8], ids=["mprotect r", "reclaim F3", "mprotect rw"])
def test_seed_split_literal_frames_1_and_3_are_unreachable(index):
    found = step(run("seed-split-literal"), index)
    assert found["invariants"]["ok"] is False
    assert violations(found) == [("D3.1", 1), ("D3.1", 3), ("G9", 1), ("G9", 3)]


def test_seed_split_literal_split_leaves_pages_direct_to_the_middle_vma():
    state = step(run("seed-split-literal"), 6)["state"]
    assert state_view(state) == expect(
        [
            mm(
                1,
                [
                    vma(2, 0x1000, 0x2000, 1, None),
                    vma(1, 0x2000, 0x3000, 2, None, "r"),
                    vma(3, 0x3000, 0x5000, 3, None),
                ],
                [present(0x1000, 1, True), present(0x2000, 2, False), present(0x3000, 3, True)],
            )
        ],
        pages=[direct(1, 1, 1, 601), direct(2, 1, 2, 602), direct(3, 1, 3, 603)],
    )


def test_seed_split_literal_reclaim_leaves_frame_3_mapped_in_swap_cache():
    found = step(run("seed-split-literal"), 7)
    assert reference_walks(found["walks"]) == [
        {
            "pfn": 3,
            "via": {"kind": "vma", "id": 1},
            "visited": [
                {
                    "kind": "vma",
                    "id": 1,
                    "result": "skip",
                    "pid": 1,
                    "addr": None,
                    "note": "vma_address out of range",
                }
            ],
            "candidates": 1,
            "unmapped": 0,
            "remaining": 1,
        }
    ]
    assert found["result"] == {"unreachable": [{"pfn": 3, "mapcount": 1}]}
    state = found["state"]
    assert state["pages"][2] == direct(3, 1, 3, 603, swap_slot=1)
    assert state["swap"] == [slot(1, 0, 0, cached_pfn=3)]
    assert state["mms"][0]["ptes"][2] == present(0x3000, 3, True)


def test_seed_split_literal_mprotect_never_merges():
    state = step(run("seed-split-literal"), 8)["state"]
    assert state["mms"][0]["vmas"] == [
        vma(2, 0x1000, 0x2000, 1, None),
        vma(1, 0x2000, 0x3000, 2, None),
        vma(3, 0x3000, 0x5000, 3, None),
    ]
