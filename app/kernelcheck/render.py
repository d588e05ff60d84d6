"""The kernel-check document as a per-step table for a terminal."""

from __future__ import annotations

from typing import Any

MARKS = {
    "agree": "ok",
    "differ": "DIFFER",
    "not observable": "n/o",
    "not checkable": "n/c",
    "suspended": "--",
    "not checked": "--",
}
SHORT = {
    "op": "op",
    "outcome": "out",
    "processes": "procs",
    "vmas": "vmas",
    "ptes": "ptes",
    "frames": "frames",
    "swap_slots": "slots",
    "mapcount": "mapc",
    "exclusive": "excl",
    "swapcache": "swapc",
}


def render_check(doc: dict[str, Any]) -> str:
    host = doc["host"]
    lines = [
        f"rmaplab kernel-check: {doc['scenario']['name']} on Linux {host['release']} "
        f"against the simulator's {doc['engine']['design']}"
    ]
    engine = doc["engine"]
    options = ", ".join(engine["options"]) or "default options: current mainline"
    if engine["scenario_design"] != engine["design"] or engine["options"]:
        lines.append(
            f"  (the scenario names {engine['scenario_design']}; the kernel is "
            f"compared with {engine['design']}, {options})"
        )
    lines.append(
        f"  root: {'yes' if host['root'] else 'no'}; swap: "
        + (doc["swap"]["how"] if doc.get("swap") else "not used")
    )
    if doc.get("exclusive"):
        lines.append(f"  {doc['exclusive']}")
    for item in doc["skipped"]:
        lines.append(f"  skipped: {item}")
    for item in doc.get("warnings", []):
        lines.append(f"  warning: {item}")
    lines.append("")
    width = max([len(s["label"]) for s in doc["steps"]] + [10])
    names = list(SHORT)
    header = (
        f"{'step':>4}  {'op':<{width}}  {'verdict':<13}  "
        + " ".join(f"{SHORT[n]:<6}" for n in names)
    ).rstrip()
    lines.append(header)
    lines.append("-" * len(header))
    for step in doc["steps"]:
        by_name = {a["aspect"]: a for a in step["aspects"]}
        cells = " ".join(
            f"{MARKS.get(by_name[n]['status'], '?') if n in by_name else '':<6}" for n in names
        )
        lines.append(
            f"{step['index']:>4}  {step['label']:<{width}}  {step['verdict']:<13}  {cells}".rstrip()
        )
        for a in step["aspects"]:
            for d in a["differences"]:
                lines.append(f"{'':6}{a['aspect']} differs: {d['what']}")
                lines.append(f"{'':10}simulator: {d['engine']}")
                lines.append(f"{'':10}kernel:    {d['kernel']}")
            if a["status"] == "not checkable" and a.get("note"):
                lines.append(f"{'':6}not checkable ({a['aspect']}): {a['note']}")
        if step["not_checkable"]:
            lines.append(f"{'':6}{step['verdict']}: {step['not_checkable']}")
        for note in step["notes"]:
            lines.append(f"{'':6}note: {note}")
        for item in step["not_observable"]:
            lines.append(f"{'':6}not observable: {item}")
    suspended = [a for s in doc["steps"] for a in s["aspects"] if a["status"] == "suspended"]
    if suspended:
        lines.append("")
        lines.append(f"-- = {suspended[0].get('note', 'not compared')}")
    lines.append("")
    lines.append("not observable on any step: " + "; ".join(doc["not_observable"]) + ".")
    if doc.get("swap") and doc["swap"].get("cleanup"):
        lines.append("swap: " + "; ".join(doc["swap"]["cleanup"]))
    s = doc["summary"]
    lines.append(
        f"{len(doc['steps'])} steps: {s['agree']} agree, {s['differ']} differ, "
        f"{s['not checkable']} not checkable"
        + (f", {s['not checked']} not checked" if s["not checked"] else "")
        + f" -- {'DIFFERS' if s['differ'] else 'agrees'}"
    )
    return "\n".join(lines) + "\n"
