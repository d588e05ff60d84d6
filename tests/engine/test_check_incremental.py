"""The incremental checker (the service's and the CLI's default) finds exactly what the full
checker finds: after every step of random runs of every design, and for every corruption
of a step's state (a corruption is a change, so it is in what the step touched)."""

from __future__ import annotations

import importlib
import random
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from app.engine import EngineError, apply, available_designs, new_state, parse_op
from app.engine.mapindex import Appended, MapIndex
from app.engine.state import PTE_SHIFT, PTE_WRITE, AnonVma, State

from .helpers import corrupt, fork, mmap, run_ops, spawn, write
from .test_check import CASES, base

checker = importlib.import_module("app.engine.check")
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from random_steps import random_op  # noqa: E402  (the benchmark's generator of valid ops)


@pytest.fixture(autouse=True)
def incremental():
    checker.set_mode("incremental")
    checker._sound.clear()
    yield
    checker.set_mode("full")
    checker._sound.clear()


def _full(state):
    design = checker.get_design(state.design, state.options)
    return sorted(
        (v.rule, v.text) for v in checker._check(state, design, MapIndex.build(state), None)
    )


def _incremental(state):
    design = checker.get_design(state.design, state.options)
    return sorted((v.rule, v.text) for v in checker._verdict(state, design))


@pytest.mark.parametrize(("rule", "fn"), CASES, ids=[f"{r}-{f.__name__}" for r, f in CASES])
def test_a_corrupted_step_is_caught_incrementally(rule, fn):
    sound = base()
    assert _incremental(sound) == []  # remembered as the base of the next check
    assert checker._sound[-1].state is sound
    broken = corrupt(sound, fn)
    found = _incremental(broken)
    assert rule in {r for r, _ in found}
    assert found == _full(broken)


def test_the_incremental_scope_is_what_changed():
    sound = base()
    _incremental(sound)
    step = apply(sound, parse_op({"op": "write", "pid": 1, "addr": 0x2000, "value": 5}))
    index, scope = checker._advance(
        checker._sound[-1], step.state, checker.get_design(sound.design, sound.options)
    )
    assert scope.frames and len(scope.frames) < len(step.state.page_mapcount)
    assert {k: sorted(v) for k, v in index.page_mappers.items()} == {
        k: sorted(v) for k, v in MapIndex.build(step.state).page_mappers.items()
    }


@pytest.mark.parametrize(
    "design",
    [
        *available_designs(),
        "anon_vma_rfc2+rfc2_literal",
        "anon_vma_chain+v2_6_34",  # the list walk, no PageAnonExclusive
        "anon_vma_chain+v2_6_34_rc3",  # the use-after-free
    ],
)
@pytest.mark.parametrize("seed", range(3))
def test_incremental_agrees_with_full_after_every_step(design, seed):
    name, *options = design.split("+")
    rng = random.Random(seed)
    state, pids = new_state(name, tuple(options)), [0]
    for _ in range(250):
        try:
            state = apply(state, parse_op(random_op(rng, state, pids))).state
        except EngineError:
            continue
        assert _incremental(state) == _full(state)
        index = (
            checker._sound[-1].index
            if checker._sound and checker._sound[-1].state is state
            else None
        )
        if index is not None:  # the index carried forward is the index of the state
            built = MapIndex.build(state)
            assert {k: sorted(v) for k, v in index.page_mappers.items()} == {
                k: sorted(v) for k, v in built.page_mappers.items()
            }
            assert {k: sorted(v) for k, v in index.slot_holders.items()} == {
                k: sorted(v) for k, v in built.slot_holders.items()
            }
            assert sorted(index.outside) == sorted(built.outside)


# ----- a fork is checked by what it added ---------------------------------------------------
# A fork adds a mapper to every frame of the parent. The incremental checker checks only the
# new mappers of such a frame (``Scope.grown``) when the design says the walk still reaches
# the old ones: each corruption below, planted in the fork's own step, must still be caught.


def _family(design: str) -> State:
    """A sound family of three (pid 1 wrote 4 pages and forked twice), remembered as the
    base of the next check."""
    sound = run_ops(
        spawn(),
        mmap(0x1000, 4),
        *(write(0x1000 * p, p) for p in range(1, 5)),
        fork(2),
        fork(3),
        design=design,
    )
    assert _incremental(sound) == []
    return sound


def _forked(design: str) -> State:
    """The state after pid 1 of the family forks pid 4."""
    return apply(_family(design), parse_op(fork(4))).state


def _child_pte_writable(st):
    table = st.w_ptes(4)
    table[1] |= PTE_WRITE


def _child_pte_elsewhere(st):  # the child maps frame of vpn 1 at vpn 2 too (index wrong)
    table = st.w_ptes(4)
    table[2] = table[1]


def _mapcount_not_raised(st):
    st.w("page_mapcount")[1] -= 1


def _child_off_the_list(st):  # the fork forgot to link the child's vma
    av = st.vmas[st.mms[4].vmas[0]].anon_vma
    st.w("anon_vmas")[av] = AnonVma(
        av, tuple(v for v in st.anon_vmas[av].vmas if v != st.mms[4].vmas[0])
    )


def _parent_off_the_list(st):  # the fork dropped an old vma from the list
    av = st.vmas[st.mms[1].vmas[0]].anon_vma
    st.w("anon_vmas")[av] = AnonVma(
        av, tuple(v for v in st.anon_vmas[av].vmas if v != st.mms[1].vmas[0])
    )


def _child_on_another_anon_vma(st):
    vid = st.mms[4].vmas[0]
    st.w("vmas")[vid] = replace(st.vmas[vid], anon_vma=99)
    st.w("anon_vmas")[99] = AnonVma(99, (vid,))


FORK_CASES = [
    ("G7", _child_pte_writable),
    ("G11", _child_pte_elsewhere),
    ("G3", _mapcount_not_raised),
]
LIST_FORK_CASES = [
    ("G9", _child_off_the_list),
    ("G9", _parent_off_the_list),
    ("D3.4", _child_on_another_anon_vma),
]


@pytest.mark.parametrize("design", available_designs())
@pytest.mark.parametrize(("rule", "fn"), FORK_CASES, ids=[r for r, _ in FORK_CASES])
def test_a_corrupted_fork_is_caught_incrementally(design, rule, fn):
    forked = _forked(design)
    broken = corrupt(forked, fn)
    found = _incremental(broken)
    if rule == "G11" and design == "pte_chain":  # 2.6.0 gives a mapped page no index
        rule = "G9"
    assert rule in {r for r, _ in found}
    assert found == _full(broken)


@pytest.mark.parametrize("design", ["anon_vma_rfc2", "anon_vma_267"])
@pytest.mark.parametrize(
    ("rule", "fn"), LIST_FORK_CASES, ids=[f.__name__ for _, f in LIST_FORK_CASES]
)
def test_a_fork_that_breaks_the_anon_vma_list_is_caught_incrementally(design, rule, fn):
    forked = _forked(design)
    broken = corrupt(forked, fn)
    found = _incremental(broken)
    rules = {r for r, _ in found}
    assert rule in rules or (rule == "D3.4" and "D4.5" in rules)
    assert found == _full(broken)


def test_a_sound_fork_checks_only_the_new_mappers():
    forked = _forked("anon_vma_rfc2")
    design = checker.get_design(forked.design, forked.options)
    _, scope = checker._advance(checker._sound[-1], forked, design)
    assert scope.grown == dict.fromkeys(forked.page_mapcount, 3)
    assert checker._verdict(forked, design) == []


# ----- a frame's long list of mappers grows in place -------------------------------------------


def test_appended_mappers_share_their_list_and_copy_on_a_branch():
    base = Appended([(1, 16, 1), (2, 16, 2)])
    grown = Appended.join(base, ((3, 16, 3),))
    assert list(base) == [(1, 16, 1), (2, 16, 2)] and len(base) == 2  # the base is unchanged
    assert list(grown) == [(1, 16, 1), (2, 16, 2), (3, 16, 3)]
    assert grown[1:] == ((2, 16, 2), (3, 16, 3)) and grown[-1] == (3, 16, 3)
    assert grown._entries is base._entries  # grown in place, not copied
    sibling = Appended.join(base, ((4, 16, 4),))  # a second successor of the same base
    assert list(sibling) == [(1, 16, 1), (2, 16, 2), (4, 16, 4)]
    assert sibling._entries is not base._entries
    assert list(grown) == [(1, 16, 1), (2, 16, 2), (3, 16, 3)]  # untouched by the sibling
    with pytest.raises(IndexError):
        grown[3]


def _index_matches(state: State) -> None:
    """The index the incremental checker carried to ``state`` is the one built from it."""
    sound = checker._sound[-1]
    assert sound.state is state
    built = MapIndex.build(state)
    for name in ("page_mappers", "slot_holders"):
        carried = getattr(sound.index, name)
        assert {k: sorted(v) for k, v in carried.items()} == {
            k: sorted(v) for k, v in getattr(built, name).items()
        }


@pytest.mark.parametrize("design", available_designs())
def test_a_long_fork_chain_and_its_branches_check_as_a_full_check_does(design):
    """Frames with more mappers than a tuple is copied for (``_SHORT``) grow their shared
    list in place; two successors of one state (an undo, then another op) must not see each
    other's mappers."""
    state = new_state(design, ())
    for op in (spawn(), mmap(0x1000, 4), *(write(0x1000 * p, p) for p in range(1, 5))):
        state = apply(state, parse_op(op)).state
    for child in range(2, 2 + checker._SHORT + 4):
        state = apply(state, parse_op(fork(child))).state
        assert _incremental(state) == _full(state) == []
    _index_matches(state)
    if design in ("anon_vma_rfc2", "anon_vma_267"):  # the designs that check a fork by growth
        assert all(isinstance(v, Appended) for v in checker._sound[-1].index.page_mappers.values())
    branches = [fork(100), write(0x2000, 7, pid=3), {"op": "exit", "pid": 5}, fork(101, pid=9)]
    for op in branches:  # each from the same parent
        assert _incremental(state) == []  # the parent again is the newest sound state
        after = apply(state, parse_op(op)).state
        assert _incremental(after) == _full(after) == []
        _index_matches(after)


# ----- the designs' own rules, seen through the scope --------------------------------------------


def _written(design: str) -> State:
    """The state after pid 2 of the family writes one page (a COW break: a new frame of
    its own)."""
    return apply(_family(design), parse_op(write(0x2000, 9, pid=2))).state


def _anonmm_count_off(st):  # the write's new page was not counted in its anonmm
    aid = st.page_mapping[st.ptes[2][2] >> PTE_SHIFT]
    st.w("anonmms")[aid] = replace(st.anonmms[aid], count=st.anonmms[aid].count + 1)


def _avc_shared_pte_writable(st):  # pid 3 maps a page it shares with pid 1 writable
    st.w_ptes(3)[3] |= PTE_WRITE


@pytest.mark.parametrize(
    ("design", "rule", "fn"),
    [("anonmm", "D2.4", _anonmm_count_off), ("anon_vma_chain", "G7", _avc_shared_pte_writable)],
)
def test_a_design_rule_broken_in_a_small_step_is_caught_incrementally(design, rule, fn):
    """A write touches one frame: the scope is small (the anonmm's count is checked over the
    whole state; anon_vma_chain's exclusive-page rule sees the frames in scope), and the
    incremental checker still finds what the full one finds."""
    step = _written(design)
    _, scope = checker._advance(checker._sound[-1], step, checker.get_design(design, frozenset()))
    assert len(scope.frames) < len(step.page_mapcount)
    broken = corrupt(step, fn)
    found = _incremental(broken)
    assert rule in {r for r, _ in found}
    assert found == _full(broken)


def _tree_without(st, pid):  # the pages' anon_vma loses the AVC of pid's vma from its tree
    vid = st.mms[pid].vmas[0]
    target = st.page_mapping[st.ptes[1][1] >> PTE_SHIFT]
    av = st.anon_vmas[target]
    tree = tuple(a for a in av.tree if st.avcs[a].vma != vid)
    assert tree != av.tree
    st.w("anon_vmas")[target] = replace(av, tree=tree)


def _child_off_the_tree(st):
    _tree_without(st, 4)


def _parent_off_the_tree(st):
    _tree_without(st, 1)


def _ring_without(st, pid):  # the family's ring loses pid's anonmm
    aid = st.mm_anonmm[pid]
    head = st.anonmms[st.anonmms[aid].head]
    st.w("anonmms")[head.id] = replace(head, ring=tuple(a for a in head.ring if a != aid))


def _child_off_the_ring(st):
    _ring_without(st, 4)


def _sibling_off_the_ring(st):  # an old member: its PTEs map every frame too
    _ring_without(st, 2)


WALK_FORK_CASES = [
    ("anon_vma_chain", _child_off_the_tree),
    ("anon_vma_chain", _parent_off_the_tree),
    ("anonmm", _child_off_the_ring),
    ("anonmm", _sibling_off_the_ring),
]


@pytest.mark.parametrize(
    ("design", "fn"), WALK_FORK_CASES, ids=[f.__name__ for _, f in WALK_FORK_CASES]
)
def test_a_fork_that_breaks_the_walk_is_caught_incrementally(design, fn):
    """anon_vma_chain and anonmm check a fork by its new mappers too: a tree that lost the
    child's AVC or an old one, a ring that lost the child's mm or an old one, is caught as
    the full check catches it."""
    forked = _forked(design)
    _, scope = checker._advance(
        checker._sound[-1], forked, checker.get_design(forked.design, forked.options)
    )
    assert scope.grown  # a sound fork is checked by its new mappers
    broken = corrupt(forked, fn)
    found = _incremental(broken)
    assert "G9" in {r for r, _ in found}
    assert found == _full(broken)
