"""Run a scenario on the host kernel and compare every step with the simulator.

The simulator side is ``anon_vma_chain`` (D5, mainline 6.18/6.19) with its default
options, whatever design the scenario names. The kernel side is one real process per
scenario process (see ``agent.py``), observed after every step through
``/proc/PID/maps``, ``/proc/PID/pagemap``, ``/proc/kpageflags`` and ``/proc/kpagecount``.
What the kernel cannot show is reported as not observable; what it cannot do as the
scenario asks is reported as not checkable, with the reason.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from typing import Any

from ..engine import (
    EngineError,
    Op,
    State,
    StepResult,
    describe_op,
    iterate,
    new_state,
    op_to_json,
    parse_scenario,
    state_to_json,
    step_to_json,
)
from ..engine.scenario import Scenario
from .compare import AGREE, DIFFER, NOT_CHECKABLE, NOT_CHECKED, Comparator
from .decode import maps_in_window
from .host import (
    WINDOW_BASES,
    WINDOW_SIZE,
    AgentDied,
    Environment,
    Host,
    HostError,
    KPages,
    probe,
    read_maps,
    swap_area,
)
from .observe import Observer
from .perform import Performer
from .views import EngineView

ENGINE_DESIGN = "anon_vma_chain"
#: The kernel the simulator's D5 models (Errata, "Pinned version").
MODELLED_KERNELS = ("6.18", "6.19")

#: What the kernel never shows, for every step.
NEVER_OBSERVABLE = (
    "anon_vma and anon_vma_chain objects: which exist, their interval trees, the vmas' "
    "chains, num_children/num_active_vmas",
    "page->mapping and page->index (which anon_vma a page points at)",
    "the write permission of a present PTE (pagemap has no write bit)",
    "the exclusive marker of a swap PTE (pagemap shows no flag for it)",
    "rmap walks: which vmas try_to_unmap visits, in which order, and what that costs",
    "frames that only the swap cache holds (no PTE maps them, so no pagemap entry finds them)",
    "the simulator's counters and metadata sizes",
)


class CheckError(Exception):
    """The scenario or an argument is bad (exit status 2)."""


# ----- the whole run ---------------------------------------------------------------------------


def _engine_steps(
    scenario: Scenario, options: tuple[str, ...]
) -> list[tuple[Op, StepResult, dict[str, Any]]]:
    out = []
    try:
        for index, op, result in iterate(scenario, ENGINE_DESIGN, options):
            out.append((op, result, step_to_json(index, op_to_json(op), result)))
    except EngineError as exc:
        raise CheckError(str(exc)) from None
    return out


def _choose_base(host: Host) -> int:
    assert host.zygote is not None
    for base in WINDOW_BASES:
        lines = maps_in_window(read_maps(host.zygote.pid), base, WINDOW_SIZE + 0x10000)
        if not lines:
            return base
    raise HostError("no free window for the scenario's address space in the agent")


def kernel_check(
    data: Mapping[str, Any] | Scenario,
    *,
    allow_swap_create: bool = True,
    env: Environment | None = None,
    engine_options: Iterable[str] = (),
) -> dict[str, Any]:
    """The kernel-check document of one scenario (see docs/kernel-check.md).

    The simulator side is ``anon_vma_chain`` with ``engine_options`` (default none: current
    mainline; an older-kernel switch is how the tests make sure a difference is caught).
    Raises ``CheckError`` for a bad scenario (one the simulator refuses).
    """
    try:
        scenario = data if isinstance(data, Scenario) else parse_scenario(data)
    except EngineError as exc:
        raise CheckError(str(exc)) from None
    options = tuple(engine_options)
    engine_steps = _engine_steps(scenario, options)
    env = env or probe()
    doc: dict[str, Any] = {
        "scenario": {"name": scenario.name, "title": scenario.title},
        "engine": {
            "design": ENGINE_DESIGN,
            "options": sorted(options),
            "scenario_design": scenario.design,
        },
        "host": env.to_json(),
        "ran": False,
        "swap": None,
        "skipped": [],
        "warnings": list(env.warnings),
        "exclusive": None,
        "window_base": None,
        "processes": [],
        "page_state_suspended_since": None,
        "not_observable": list(NEVER_OBSERVABLE),
        "steps": [],
    }
    if env.release and not env.release.startswith(MODELLED_KERNELS):
        doc["warnings"].append(
            f"the simulator models Linux 6.18/6.19; this kernel is "
            f"{env.release}: differences may be version differences"
        )
    if not env.can_run:
        reason = "; ".join(env.problems)
        doc["skipped"].append(f"nothing can run on this host: {reason}")
        doc["steps"] = [
            _unrun(i, op, step, NOT_CHECKABLE, reason)
            for i, (op, _, step) in enumerate(engine_steps, start=1)
        ]
        return _finish(doc)
    if not env.root:
        doc["skipped"].append(
            "not root: frame numbers (pagemap PFNs), /proc/kpageflags and /proc/kpagecount "
            "are hidden, so frame identity, mapcounts, the zero page, PageAnonExclusive and "
            "the swap cache are not observable, and no swap area can be made; compared: "
            "vmas, present/swap/none PTEs, swap-slot identity, pagemap's mapped-once bit, "
            "values and SIGSEGV outcomes"
        )
    with contextlib.ExitStack() as stack:
        swap = stack.enter_context(swap_area(env, allow_create=allow_swap_create))
        doc["swap"] = swap.to_json()
        if not swap.available:
            doc["skipped"].append(swap.how)
        try:
            host = stack.enter_context(Host(env))
            base = _choose_base(host)
        except (HostError, OSError) as exc:
            reason = f"the agent processes could not start: {exc}"
            doc["skipped"].append(reason)
            doc["steps"] = [
                _unrun(i, op, step, NOT_CHECKABLE, reason)
                for i, (op, _, step) in enumerate(engine_steps, start=1)
            ]
            host = None
        if host is None:
            stack.close()
            doc["swap"] = swap.to_json()
            return _finish(doc)
        kpages = KPages() if env.pfns_visible else None
        if kpages is not None:
            stack.callback(kpages.close)
        observer = Observer(base, kpages)
        try:
            observer.calibrate(host)
        except (HostError, OSError) as exc:
            observer.exclusive_note = (
                f"PageAnonExclusive: not observable (calibration failed: {exc})"
            )
        doc["exclusive"] = observer.exclusive_note
        doc["window_base"] = base
        doc["ran"] = True
        performer = Performer(host, swap, base, kpages)
        comparator = Comparator(kpages is not None, observer.exclusive_bit, observer.exclusive_note)
        try:
            _run_steps(doc, observer, performer, comparator, engine_steps)
        finally:
            doc["processes"] = host.process_list()
            doc["page_state_suspended_since"] = performer.suspended_since
    doc["swap"] = swap.to_json()
    return _finish(doc)


def _run_steps(
    doc: dict[str, Any],
    observer: Observer,
    performer: Performer,
    comparator: Comparator,
    engine_steps: list[tuple[Op, StepResult, dict[str, Any]]],
) -> None:
    pre_state: State = new_state(
        ENGINE_DESIGN, engine_steps[0][1].state.options if engine_steps else ()
    )
    pre_doc = state_to_json(pre_state)
    pre_view = EngineView.of(pre_doc)
    for index, (op, result, step) in enumerate(engine_steps, start=1):
        post_doc = state_to_json(result.state)
        post_view = EngineView.of(post_doc)
        try:
            ks = performer.perform(op, pre_state, pre_view, result)
            ker = observer.observe(performer.agents, post_view)
        except (AgentDied, HostError, OSError) as exc:
            doc["steps"].append(_unrun(index, op, step, DIFFER, f"the host failed: {exc}"))
            for j, (op2, _, step2) in enumerate(engine_steps[index:], start=index + 1):
                doc["steps"].append(
                    _unrun(j, op2, step2, NOT_CHECKED, f"not run after the failure at step {index}")
                )
            return
        if (
            ks.not_checkable
            and performer.suspended_since is None
            and (pre_view.ptes != post_view.ptes)
        ):
            performer.suspended_since = index
            performer.suspend_reason = (
                "the simulator changed PTEs in a step the kernel could not perform"
            )
        suspended = (
            None
            if performer.suspended_since is None
            else (performer.suspended_since, performer.suspend_reason)
        )
        aspects, notes = comparator.compare(
            index, step, post_view, ker, ks, lingering=performer.lingering, suspended=suspended
        )
        verdict = (
            DIFFER
            if any(a.status == DIFFER for a in aspects)
            else NOT_CHECKABLE
            if ks.not_checkable
            else AGREE
        )
        not_obs = []
        for walk in step["walks"]:
            not_obs.append(
                f"the rmap walk of F{walk['pfn']}: {len(walk['visited'])} "
                f"visited of {walk['candidates']} candidates"
            )
        if _anon_summary(pre_doc) != _anon_summary(post_doc):
            not_obs.append("the anon_vma / anon_vma_chain changes of this step")
        before = {p["pfn"]: p["mapping"] for p in pre_doc["pages"]}
        moved = [
            f"F{p['pfn']}"
            for p in post_doc["pages"]
            if p["mapping"] is not None and before.get(p["pfn"]) != p["mapping"]
        ]
        if moved:
            not_obs.append(f"which anon_vma {', '.join(moved)} now point(s) at (page->mapping)")
        doc["steps"].append(
            {
                "index": index,
                "op": op_to_json(op),
                "label": describe_op(op),
                "verdict": verdict,
                "not_checkable": ks.not_checkable,
                "aspects": [a.to_json() for a in aspects],
                "notes": ks.notes + notes,
                "not_observable": not_obs,
                "kernel": {
                    "outcome": ks.outcome,
                    "value": ks.value,
                    "values": ks.values,
                    "observed": ker.to_json(),
                },
            }
        )
        pre_state, pre_doc, pre_view = result.state, post_doc, post_view


def _anon_summary(doc: Mapping[str, Any]) -> Any:
    return doc.get("anon_vmas"), doc.get("vma_chains")


def _unrun(
    index: int, op: Op, step: Mapping[str, Any], verdict: str, reason: str
) -> dict[str, Any]:
    return {
        "index": index,
        "op": op_to_json(op),
        "label": describe_op(op),
        "verdict": verdict,
        "not_checkable": reason,
        "aspects": [],
        "notes": [],
        "not_observable": [],
        "kernel": None,
    }


def _finish(doc: dict[str, Any]) -> dict[str, Any]:
    counts = dict.fromkeys((AGREE, DIFFER, NOT_CHECKABLE, NOT_CHECKED), 0)
    for step in doc["steps"]:
        counts[step["verdict"]] += 1
    doc["summary"] = counts
    doc["verdict"] = DIFFER if counts[DIFFER] else AGREE
    return doc


def exit_status(doc: Mapping[str, Any]) -> int:
    """1 when anything differs, else 0 (a bad scenario is 2, raised as CheckError)."""
    return 1 if doc["summary"][DIFFER] else 0
