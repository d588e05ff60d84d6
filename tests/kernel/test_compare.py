"""The comparison of one step, on hand-made views of both sides (no kernel needed)."""

from __future__ import annotations

from app.kernelcheck.check import exit_status
from app.kernelcheck.compare import AGREE, DIFFER, NOT_OBSERVABLE, Comparator
from app.kernelcheck.perform import KernelStep
from app.kernelcheck.views import EngineView, KernelView, KPte

ANON = 1 << 12
SWAPCACHE = 1 << 13
EXCL = 1 << 34


def session(root: bool = True) -> Comparator:
    """As root the kernel shows frames and kpageflags, and bit 34 is calibrated."""
    return Comparator(frames_visible=root, exclusive_bit=root, exclusive_note="not root")


def engine(ptes, pages, vmas=None, slots=()):
    vmas = vmas or {1: [(0x1000, 0x3000, "rw")], 2: [(0x1000, 0x3000, "rw")]}
    return EngineView(vmas, ptes, pages, set(slots))


def page(pfn, mapcount, *flags):
    return {"pfn": pfn, "mapcount": mapcount, "flags": ["anon", *flags]}


def kernel(ptes, vmas=None):
    vmas = vmas or {1: [(0x1000, 0x3000, "rw")], 2: [(0x1000, 0x3000, "rw")]}
    return KernelView(vmas, ptes, alive={1: True, 2: True})


def kpage(pfn, count, flags=ANON):
    return KPte("page", pfn=pfn, mapped_once=count == 1, flags=flags, count=count)


STEP = {"op": {"op": "fork", "pid": 1, "child": 2}, "outcome": "ok", "value": None, "result": {}}


def compare(s, eng, ker, ks=None, step=STEP, index=1, lingering=None):
    aspects, notes = s.compare(index, step, eng, ker, ks or KernelStep(), lingering=lingering)
    return {a.name: a for a in aspects}, notes


def shared_after_fork():
    eng = engine(
        {(1, 0x1000): {"kind": "page", "pfn": 1}, (2, 0x1000): {"kind": "page", "pfn": 1}},
        {1: page(1, 2)},
    )
    ker = kernel({(1, 0x1000): kpage(0x500, 2), (2, 0x1000): kpage(0x500, 2)})
    return eng, ker


def test_a_shared_page_agrees_on_every_aspect():
    a, notes = compare(session(), *shared_after_fork())
    assert {n: x.status for n, x in a.items()} == dict.fromkeys(a, AGREE)
    assert notes == []


def test_partitions_not_numbers_are_compared():
    eng, ker = shared_after_fork()
    ker.ptes[(2, 0x1000)] = kpage(0x777, 1)
    ker.ptes[(1, 0x1000)] = kpage(0x500, 1)
    a, _ = compare(session(), eng, ker)
    assert a["frames"].status == DIFFER
    d = a["frames"].differences[0]
    assert d["engine"] == "one frame F1 at pid 1 0x1000, pid 2 0x1000"
    assert d["kernel"] == "2 frame(s) there: 0x500, 0x777"
    assert a["mapcount"].status == DIFFER


def test_a_frame_must_stay_the_same_frame_while_the_simulator_keeps_it():
    s = session()
    compare(s, *shared_after_fork(), index=1)
    eng, ker = shared_after_fork()
    for pos in ker.ptes:
        ker.ptes[pos] = kpage(0x600, 2)
    a, _ = compare(s, eng, ker, index=2)
    assert a["frames"].status == DIFFER
    assert "was 0x500, now 0x600" in a["frames"].differences[0]["kernel"]


def test_a_kernel_frame_may_be_reused_once_the_simulators_frame_is_gone():
    s = session()
    compare(s, *shared_after_fork(), index=1)
    eng = engine(
        {(1, 0x1000): {"kind": "page", "pfn": 2}},
        {2: page(2, 1, "exclusive")},
        vmas={1: [(0x1000, 0x3000, "rw")], 2: []},
    )
    ker = kernel(
        {(1, 0x1000): kpage(0x500, 1, ANON | EXCL)}, vmas={1: [(0x1000, 0x3000, "rw")], 2: []}
    )
    a, _ = compare(s, eng, ker, index=2)
    assert a["frames"].status == AGREE
    # ...but not while F1 still exists (here: held by the swap cache alone)
    s = session()
    compare(s, *shared_after_fork(), index=1)
    eng.pages[1] = page(1, 0, "swapcache")
    a, _ = compare(s, eng, ker, index=2)
    assert a["frames"].status == DIFFER
    assert "F1, which still exists" in a["frames"].differences[0]["engine"]


def test_the_swap_cache_keeping_a_paged_out_page_is_a_note_not_a_difference():
    s = session()
    compare(s, *shared_after_fork(), index=1)
    eng = engine(
        {(1, 0x1000): {"kind": "page", "pfn": 3}},
        {3: page(3, 1, "swapcache")},
        vmas={1: [(0x1000, 0x3000, "rw")], 2: []},
    )
    ker = kernel(
        {(1, 0x1000): kpage(0x500, 1, ANON | SWAPCACHE)}, vmas={1: [(0x1000, 0x3000, "rw")], 2: []}
    )
    a, notes = compare(s, eng, ker, index=2, lingering={0x500})
    assert a["frames"].status == AGREE
    assert any("swap cache still held" in n for n in notes)


def test_swap_slots_are_compared_as_partitions_too():
    eng = engine(
        {(1, 0x1000): {"kind": "swap", "slot": 1}, (2, 0x1000): {"kind": "swap", "slot": 1}},
        {},
        slots=[1],
    )
    ker = kernel({(1, 0x1000): KPte("swap", swap=(0, 1)), (2, 0x1000): KPte("swap", swap=(0, 2))})
    a, _ = compare(session(), eng, ker)
    assert a["swap_slots"].status == DIFFER
    ker.ptes[(2, 0x1000)] = KPte("swap", swap=(0, 1))
    a, _ = compare(session(), eng, ker)
    assert a["swap_slots"].status == AGREE


def test_pte_kinds_and_the_zero_page():
    eng = engine(
        {(1, 0x1000): {"kind": "zero"}, (1, 0x2000): {"kind": "page", "pfn": 1}},
        {1: page(1, 1, "exclusive")},
    )
    ker = kernel(
        {
            (1, 0x1000): KPte("zero", pfn=0x3B34, flags=1 << 24),
            (2, 0x1000): KPte("swap", swap=(0, 1)),
        }
    )
    a, _ = compare(session(), eng, ker)
    diffs = {d["what"]: (d["engine"], d["kernel"]) for d in a["ptes"].differences}
    assert diffs == {
        "PTE pid 1 0x2000": ("frame F1", "none"),
        "PTE pid 2 0x1000": ("none", "swap entry type 0 offset 0x1"),
    }


def test_page_anon_exclusive_and_the_swap_cache_flag():
    eng = engine({(1, 0x1000): {"kind": "page", "pfn": 1}}, {1: page(1, 1, "exclusive")})
    ker = kernel({(1, 0x1000): kpage(0x500, 1, ANON | SWAPCACHE)})
    a, _ = compare(session(), eng, ker)
    assert a["exclusive"].differences == [
        {"what": "PageAnonExclusive of F1 (pid 1 0x1000)", "engine": "True", "kernel": "False"}
    ]
    assert a["swapcache"].differences[0]["engine"] == "False"


def test_vmas_and_values():
    eng, ker = shared_after_fork()
    ker.vmas[2] = [(0x1000, 0x2000, "rw"), (0x2000, 0x3000, "r")]
    read = {
        "op": {"op": "read", "pid": 1, "addr": 0x1000},
        "outcome": "ok",
        "value": 42,
        "result": {},
    }
    a, _ = compare(session(), eng, ker, KernelStep(value=41, values=[41], pages_done=1), step=read)
    assert a["vmas"].differences == [
        {
            "what": "vmas of pid 2",
            "engine": "[0x1000,0x3000) rw",
            "kernel": "[0x1000,0x2000) rw, [0x2000,0x3000) r",
        }
    ]
    assert a["outcome"].differences == [{"what": "value read", "engine": "42", "kernel": "41"}]


def test_sigsegv_and_range_outcomes():
    eng, ker = shared_after_fork()
    write = {
        "op": {"op": "write", "pid": 1, "addr": 0x1000, "value": 1, "pages": 3},
        "outcome": "segv",
        "value": None,
        "result": {"pages_done": 2},
    }
    a, _ = compare(session(), eng, ker, KernelStep(outcome="segv", pages_done=2), step=write)
    assert a["outcome"].status == AGREE
    a, _ = compare(session(), eng, ker, KernelStep(outcome="ok", pages_done=3), step=write)
    assert {d["what"] for d in a["outcome"].differences} == {"outcome", "pages done"}


def test_without_root_frames_are_not_observable_but_the_mapped_once_bit_is():
    eng, _ = shared_after_fork()
    ker = kernel(
        {
            (1, 0x1000): KPte("present", mapped_once=True),
            (2, 0x1000): KPte("present", mapped_once=False),
        }
    )
    a, _ = compare(session(root=False), eng, ker)
    assert a["frames"].status == NOT_OBSERVABLE
    assert a["exclusive"].status == NOT_OBSERVABLE
    assert a["swapcache"].status == NOT_OBSERVABLE
    assert a["ptes"].status == AGREE
    assert a["mapcount"].status == DIFFER  # pid 1's PTE claims to be the only mapping


def test_exit_status():
    assert exit_status({"summary": {"differ": 0}}) == 0
    assert exit_status({"summary": {"differ": 2}}) == 1
