"""The run document drawn as text, in the spirit of the kernel's tools/testing/vma diagrams."""

from __future__ import annotations

from typing import Any

from .engine import PAGE_SIZE

INDENT = "    "


def _ptes_line(vma: dict[str, Any], ptes: list[dict[str, Any]]) -> str:
    """One cell per page of a small vma: F3w / F3r (frame, writable or not), S1, 0, '.'."""
    by_addr = {p["addr"]: p for p in ptes}
    cells = []
    for addr in range(vma["vm_start"], vma["vm_end"], PAGE_SIZE):
        p = by_addr.get(addr)
        if p is None:
            cells.append(".")
        elif p["kind"] == "page":
            cells.append(f"F{p['pfn']}{'w' if p['writable'] else 'r'}")
        elif p["kind"] == "swap":
            cells.append(f"S{p['slot']}")
        else:
            cells.append("0")
    width = max(len(c) for c in cells)
    return "|" + "|".join(c.center(width) for c in cells) + "|"


def render_state(state: dict[str, Any]) -> list[str]:
    """The state as text lines: processes, vmas and PTEs, anon_vmas, frames, swap."""
    out = []
    for mm in state["mms"]:
        out.append(f"pid {mm['pid']}")
        if not mm["vmas"]:
            out.append(f"{INDENT}(no vmas)")
        for vma in mm["vmas"]:
            av = vma["anon_vma"] if vma["anon_vma"] is not None else "-"
            out.append(
                f"{INDENT}vma {vma['id']:<3} [{vma['vm_start']:#x},{vma['vm_end']:#x}) "
                f"{vma['prot']:<4} vm_pgoff {vma['vm_pgoff']:<6} anon_vma {av}"
            )
            mine = [p for p in mm["ptes"] if vma["vm_start"] <= p["addr"] < vma["vm_end"]]
            if vma["pages"] <= 32:
                out.append(f"{INDENT * 2}{_ptes_line(vma, mine)}")
            else:
                kinds = {
                    k: sum(1 for p in mine if p["kind"] == k) for k in ("page", "swap", "zero")
                }
                out.append(
                    f"{INDENT * 2}{kinds['page']} present, {kinds['swap']} swapped, "
                    f"{kinds['zero']} zero-page PTEs of {vma['pages']} pages"
                )
    for av in state.get("anon_vmas", []):
        members = ", ".join(f"vma {v}" for v in av["vmas"])
        out.append(f"anon_vma {av['id']}: [{members}] (walk order)")
    if state["pages"]:
        out.append("frames")
        for page in state["pages"][:64]:
            mapping = page["mapping"]
            target = f"{mapping['kind']} {mapping['id']}" if mapping else "NULL"
            slot = f"  swap slot {page['swap_slot']}" if page["swap_slot"] is not None else ""
            index = page["index"] if page["index"] is not None else "-"
            out.append(
                f"{INDENT}F{page['pfn']:<4} {','.join(page['flags']):<20} "
                f"mapping {target:<12} index {index:<6} mapcount {page['mapcount']}  "
                f"value {page['value']}{slot}"
            )
        if len(state["pages"]) > 64:
            out.append(f"{INDENT}... {len(state['pages']) - 64} more frames")
    if state["swap"]:
        out.append("swap")
        for slot in state["swap"][:64]:
            cached = f"F{slot['cached_pfn']}" if slot["cached_pfn"] is not None else "-"
            out.append(
                f"{INDENT}S{slot['slot']:<4} ptes {slot['ptes']:<3} swap cache {cached:<6} "
                f"value {slot['value']}"
            )
    return out


def _walk_line(walk: dict[str, Any]) -> str:
    via = walk["via"]
    where = f" via {via['kind']} {via['id']}" if via else ""
    marks = {"hit": "hit", "miss": "miss", "skip": "skip"}
    visits = ", ".join(f"{v['kind']} {v['id']} {marks[v['result']]}" for v in walk["visited"])
    return (
        f"walk of frame {walk['pfn']}{where}: {visits or 'nothing to visit'} -- "
        f"{len(walk['visited'])}/{walk['candidates']} visited/candidates, "
        f"{walk['unmapped']} unmapped"
    )


def render_run(doc: dict[str, Any]) -> str:
    """A whole run: every step's sentences and walks, then the final state."""
    scenario = doc["scenario"]
    options = f" [{', '.join(doc['options'])}]" if doc["options"] else ""
    lines = [
        f"{scenario['name']}: {scenario['title']}" if scenario["title"] else scenario["name"],
        f"design {doc['design']}{options}",
        "",
    ]
    for step in doc["steps"]:
        op = dict(step["op"])
        name = op.pop("op")
        args = " ".join(f"{k}={v:#x}" if "addr" in k else f"{k}={v}" for k, v in op.items())
        head = f"step {step['index']}: {name} {args}"
        if step["outcome"] == "segv":
            head += "  -> SIGSEGV"
        elif step["value"] is not None:
            head += f"  -> reads {step['value']}"
        lines.append(head)
        for event in step["events"]:
            lines.append(f"{INDENT}- {event['text']}  [{event['func']}]")
        for walk in step["walks"]:
            lines.append(f"{INDENT}* {_walk_line(walk)}")
        for v in step["invariants"]["violations"]:
            lines.append(f"{INDENT}! {v['rule']}: {v['text']}")
    lines += ["", f"final state (step {doc['state']['step']})"]
    lines += [INDENT + line for line in render_state(doc["state"])]
    counters = doc["steps"][-1]["counters"] if doc["steps"] else {}
    if counters:
        shown = ", ".join(f"{k} {v}" for k, v in counters.items() if v)
        lines += ["", f"counters: {shown}"]
    verdict = doc["invariants"]
    lines.append(
        "invariants: ok"
        if verdict["ok"]
        else f"invariants: {len(verdict['violations'])} violations"
    )
    for v in verdict["violations"]:
        lines.append(f"{INDENT}! {v['rule']}: {v['text']}")
    return "\n".join(lines) + "\n"


def render_compare(doc: dict[str, Any]) -> str:
    """The compare document as a table, a row per design."""
    scenario = doc["scenario"]
    lines = [
        f"{scenario['name']}: {scenario['title']}" if scenario["title"] else scenario["name"],
        "",
    ]
    header = (
        "design",
        "reclaim walks (visited/candidates)",
        "visits",
        "misses",
        "rmap B (pages+vmas+objects)",
        "page B",
        "allocs",
        "merges refused",
        "violations",
        "vmas",
    )
    rows = [header]
    for row in doc["designs"]:
        name = row["design"] + (f" [{','.join(row['options'])}]" if row["options"] else "")
        if not row["ok"]:
            err = row["error"]
            rows.append((name, f"refused at step {err['step']}: {err['reason']}", *[""] * 8))
            continue
        c = row["counters"]
        walks = " ".join(f"F{w['pfn']}:{w['visited']}/{w['candidates']}" for w in row["walks"][:4])
        if len(row["walks"]) > 4:
            total = sum(w["visited"] for w in row["walks"])
            every = sum(w["candidates"] for w in row["walks"])
            walks += f" ... {len(row['walks'])} walks, {total}/{every} in all"
        allocs = c.get("objects_allocated", 0)
        objects = sum(
            v
            for k, v in c.items()
            if k.startswith("rmap_bytes_") and k not in ("rmap_bytes_pages", "rmap_bytes_vmas")
        )
        rmap = (
            f"{c.get('rmap_bytes', 0)} ({c.get('rmap_bytes_pages', 0)}+"
            f"{c.get('rmap_bytes_vmas', 0)}+{objects})"
        )
        rows.append(
            (
                name,
                walks or "-",
                str(c.get("rmap_visits", 0)),
                str(c.get("rmap_misses", 0)),
                rmap,
                str(c.get("page_bytes", 0)),
                str(allocs),
                str(row["refused_merges"]),
                str(row["violations"]),
                str(row["vmas"]),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    for r in rows:
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip())
    agreement = doc["agreement"]
    lines.append("")
    if agreement["ok"]:
        lines.append(
            f"reads and writes: {len(agreement['designs'])} designs agree on every "
            "value and every SIGSEGV"
        )
    else:
        lines.append(f"reads and writes: {len(agreement['differences'])} DIFFERENCES")
        for d in agreement["differences"]:
            lines.append(
                f"{INDENT}step {d['step']}: {d['designs'][0]} {d['outcomes'][0]} "
                f"{d['values'][0]} vs {d['designs'][1]} {d['outcomes'][1]} "
                f"{d['values'][1]}"
            )
    lines.append(
        "allocs = design objects allocated (anon_vmas, anon_vma_chains, anonmms, pte_chain blocks)"
    )
    return "\n".join(lines) + "\n"
