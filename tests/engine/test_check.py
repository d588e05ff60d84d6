"""The invariant checker detects each broken rule (a checker that cannot fail is no test)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from app.engine import check
from app.engine.state import PG_DIRECT, PG_SWAPCACHE, PTE_WRITE, AnonVma, State, mk_pte_page

from .helpers import corrupt, fork, mmap, reclaim, rules, run_ops, spawn, write


def base() -> State:
    """pid 1 with two touched pages, forked to pid 2, then one page COWed in pid 2 (a sound
    state with a direct page, indirect pages, an anon_vma list and a swap slot)."""
    return run_ops(
        spawn(),
        mmap(0x1000, 4),
        write(0x1000, 11),
        write(0x2000, 22),
        write(0x3000, 33),
        fork(2),
        write(0x1000, 99, pid=2),
        reclaim(3),
    )


def test_check_base_state_is_sound():
    assert check(base()) == []


def _mapcount_off(st):
    st.w("page_mapcount")[2] += 1


def _pte_outside_vma(st):
    st.w_ptes(1)[0x40] = mk_pte_page(2, False)


def _writable_shared(st):
    table = st.w_ptes(1)
    table[2] |= PTE_WRITE


def _freed_frame_mapped(st):
    for name in ("page_mapcount", "page_flags", "page_value", "page_mapping", "page_index"):
        st.w(name).pop(2, None)


def _swap_count_off(st):
    st.w("swap_ptes")[1] += 1


def _swap_cache_half(st):
    st.w("page_flags")[2] |= PG_SWAPCACHE
    st.w("page_private")[2] = 1


def _unreachable(st):
    st.w("anon_vmas")[1] = AnonVma(1, (1,))


def _direct_with_two_mappers(st):
    st.w("page_flags")[2] |= PG_DIRECT
    st.w("page_mapping")[2] = 1


def _index_wrong(st):
    st.w("page_index")[2] = 7


def _vma_not_listed(st):
    st.w("vmas")[2] = replace(st.vmas[2], anon_vma=None)


def _misaligned(st):
    st.w("vmas")[1] = replace(st.vmas[1], vm_end=0x4800)


def _zero_writable(st):
    st.w_ptes(1)[4] = 1 | PTE_WRITE


def _orphan_frame(st):
    st.w("page_mapcount")[50] = 0
    st.w("page_flags")[50] = 1
    st.w("page_value")[50] = 0


CASES = [
    ("G1", _misaligned),
    ("G2", _pte_outside_vma),
    ("G3", _mapcount_off),
    ("G4", _freed_frame_mapped),
    ("G4", _orphan_frame),
    ("G5", _swap_cache_half),
    ("G6", _swap_count_off),
    ("G7", _writable_shared),
    ("G8", _zero_writable),
    ("G9", _unreachable),
    ("G11", _index_wrong),
    ("D3.1", _direct_with_two_mappers),
    ("D3.3", _vma_not_listed),
]


@pytest.mark.parametrize(("rule", "fn"), CASES, ids=[f"{r}-{f.__name__}" for r, f in CASES])
def test_check_detects(rule, fn):
    assert rule in rules(corrupt(base(), fn))


def test_check_violation_names_the_objects():
    texts = [v.text for v in check(corrupt(base(), _mapcount_off))]
    assert any("frame 2" in t and "mapcount 3" in t for t in texts)


def test_check_literal_mode_records_bug_on():
    state = run_ops(
        spawn(), mmap(0x1000, 1), write(0x1000), fork(2), fork(3), options=("rfc2_literal",)
    )
    assert "BUG_ON(!PageDirect(page))" in rules(state)
