"""One scenario through several designs: what each costs, and whether they agree.

The designs are different bookkeepings of the same memory: every process must read the
same values and meet the same SIGSEGVs whatever the design. ``compare_scenario`` runs
the scenario once per design and reports, side by side, the reclaim walks, the counters,
the metadata sizes, refused merges, invariant violations and the final vma count, plus
the agreement check.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .designs import available_designs, check_design, design_class
from .ops import new_state
from .run import Guard, StepFailed, StepHook, run_scenario
from .scenario import Scenario, parse_scenario
from .serialize import counters_json


def _options_for(design: str, options: Iterable[str]) -> list[str]:
    """The scenario's options that this design knows (each option belongs to one design)."""
    known = design_class(design).option_help
    return sorted(o for o in options if o in known)


def _summary(
    design: str, options: list[str], doc: dict[str, Any] | None, error: StepFailed | None
) -> dict[str, Any]:
    out: dict[str, Any] = {"design": design, "options": options, "ok": error is None, "error": None}
    if error is not None:
        out["error"] = {"step": error.index, "op": error.op_json, "reason": error.reason}
        return out
    assert doc is not None
    steps = doc["steps"]
    # with no step, the empty machine's (its sizes are not all zero)
    counters = steps[-1]["counters"] if steps else counters_json(new_state(design, tuple(options)))
    out.update(
        {
            "walks": [
                {
                    "step": s["index"],
                    "pfn": w["pfn"],
                    "visited": len(w["visited"]),
                    "candidates": w["candidates"],
                    "unmapped": w["unmapped"],
                    "remaining": w["remaining"],
                }
                for s in steps
                for w in s["walks"]
            ],
            "counters": counters,
            "memory": {
                k: v for k, v in counters.items() if k.startswith(("rmap_bytes", "page_bytes"))
            },
            "refused_merges": sum(
                1 for s in steps for e in s["events"] if e["kind"] == "merge_refused"
            ),
            "steps_with_violations": sum(1 for s in steps if not s["invariants"]["ok"]),
            "violations": len(doc["invariants"]["violations"]),
            "vmas": sum(len(m["vmas"]) for m in doc["state"]["mms"]),
            "run": doc,
        }
    )
    return out


def _accesses(doc: dict[str, Any]) -> list[tuple[int, str, Any]]:
    """(step, outcome, what was read) of every read and write of a run."""
    out = []
    for s in doc["steps"]:
        if s["op"]["op"] in ("read", "write"):
            out.append((s["index"], s["outcome"], s["result"].get("values", s["value"])))
    return out


def _agreement(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Do all designs that ran give every access the same outcome and value?"""
    ran = [r for r in rows if r["ok"]]
    differences = []
    if ran:
        base = _accesses(ran[0]["run"])
        for row in ran[1:]:
            for mine, theirs in zip(base, _accesses(row["run"]), strict=True):
                if mine != theirs:
                    differences.append(
                        {
                            "step": mine[0],
                            "designs": [ran[0]["design"], row["design"]],
                            "outcomes": [mine[1], theirs[1]],
                            "values": [mine[2], theirs[2]],
                        }
                    )
    return {
        "ok": not differences,
        "designs": [r["design"] for r in ran],
        "differences": differences,
    }


def parse_variant(spec: str) -> tuple[str, list[str]]:
    """``anon_vma_chain+no_reuse`` -> (design, [options]); a bare name -> (name, [])."""
    name, *options = spec.split("+")
    check_design(name, frozenset(options))
    return name, sorted(options)


def compare_scenario(
    data: Mapping[str, Any] | Scenario,
    designs: Iterable[str] | None = None,
    *,
    guard: Guard | None = None,
    on_step: StepHook | None = None,
) -> dict[str, Any]:
    """The compare document: one summary (and full run) per design, and the agreement.

    Without ``designs``, every available design runs, each with the scenario's options
    that belong to it. Otherwise each entry runs exactly as named: ``name`` with no
    option, ``name+option+...`` with those options. ``guard`` and ``on_step`` go to
    each run (``run_scenario``).
    """
    scenario = data if isinstance(data, Scenario) else parse_scenario(data)
    if designs is None:
        variants = [(name, _options_for(name, scenario.options)) for name in available_designs()]
    else:
        variants = [parse_variant(spec) for spec in designs]
    rows = []
    for name, options in variants:
        try:
            doc = run_scenario(scenario, design=name, options=options, guard=guard, on_step=on_step)
        except StepFailed as exc:
            rows.append(_summary(name, options, None, exc))
            continue
        rows.append(_summary(name, options, doc, None))
    return {
        "scenario": {
            "name": scenario.name,
            "title": scenario.title,
            "description": scenario.description,
        },
        "designs": rows,
        "agreement": _agreement(rows),
    }
