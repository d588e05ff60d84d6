"""Builders of expected values for the reference-scenario tests (one per design column)."""

from __future__ import annotations

import json
from pathlib import Path

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def load(name):
    """The JSON of ``scenarios/<name>.json``."""
    return json.loads((SCENARIOS / f"{name}.json").read_text())


def step(doc, index):
    """Run step ``index`` (1-based, as in the document)."""
    found = doc["steps"][index - 1]
    assert found["index"] == index
    return found


def vma(ident, start, end, pgoff, anon_vma=None, prot="rw"):
    return {
        "id": ident,
        "vm_start": start,
        "vm_end": end,
        "vm_pgoff": pgoff,
        "prot": prot,
        "anon_vma": anon_vma,
        "pages": (end - start) >> 12,
    }


def present(addr, pfn, writable):
    return {"addr": addr, "kind": "page", "pfn": pfn, "slot": None, "writable": writable}


def swapped(addr, slot):
    return {"addr": addr, "kind": "swap", "pfn": None, "slot": slot, "writable": False}


def zero(addr):
    return {"addr": addr, "kind": "zero", "pfn": None, "slot": None, "writable": False}


def mm(pid, vmas, ptes):
    return {"pid": pid, "vmas": vmas, "ptes": ptes}
