"""The two sides of a kernel check after one step: what the simulator's state document says
(``EngineView``) and what the kernel shows (``KernelView``), and how each is told in words."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .decode import kpf_names


@dataclass
class KPte:
    """What pagemap (and kpageflags/kpagecount) say about one virtual page."""

    kind: str  # page | zero | present (frame hidden) | swap
    pfn: int | None = None
    swap: tuple[int, int] | None = None
    mapped_once: bool = False
    flags: int | None = None
    count: int | None = None


@dataclass
class KernelView:
    vmas: dict[int, list[tuple[int, int, str]]]
    ptes: dict[tuple[int, int], KPte]
    stray: list[str] = field(default_factory=list)
    alive: dict[int, bool] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """What the kernel showed after a step, in scenario addresses (for scripts)."""
        ptes = []
        for (pid, addr), k in sorted(self.ptes.items()):
            item: dict[str, Any] = {"pid": pid, "addr": addr, "kind": k.kind}
            if k.pfn is not None:
                item["pfn"] = k.pfn
            if k.swap is not None:
                item["swap"] = {"type": k.swap[0], "offset": k.swap[1]}
            if k.kind in ("page", "present"):
                item["mapped_once"] = k.mapped_once
            if k.flags is not None:
                item["kpageflags"] = kpf_names(k.flags)
            if k.count is not None:
                item["kpagecount"] = k.count
            ptes.append(item)
        return {
            "vmas": [
                {"pid": pid, "vm_start": s, "vm_end": e, "prot": p}
                for pid, vmas in sorted(self.vmas.items())
                for s, e, p in vmas
            ],
            "ptes": ptes,
        }


@dataclass
class EngineView:
    vmas: dict[int, list[tuple[int, int, str]]]
    ptes: dict[tuple[int, int], dict[str, Any]]
    pages: dict[int, dict[str, Any]]
    slots: set[int]

    @classmethod
    def of(cls, doc: Mapping[str, Any]) -> EngineView:
        vmas = {
            mm["pid"]: [(v["vm_start"], v["vm_end"], v["prot"]) for v in mm["vmas"]]
            for mm in doc["mms"]
        }
        ptes = {(mm["pid"], p["addr"]): p for mm in doc["mms"] for p in mm["ptes"]}
        return cls(
            vmas, ptes, {p["pfn"]: p for p in doc["pages"]}, {s["slot"] for s in doc["swap"]}
        )


def hex_addr(addr: int) -> str:
    return f"{addr:#x}"


def pos_text(pos: tuple[int, int]) -> str:
    return f"pid {pos[0]} {pos[1]:#x}"


def vmas_text(vmas: Iterable[tuple[int, int, str]]) -> str:
    items = [f"[{s:#x},{e:#x}) {p}" for s, e, p in vmas]
    return ", ".join(items) if items else "(none)"


def engine_pte_text(p: dict[str, Any] | None) -> str:
    if p is None:
        return "none"
    if p["kind"] == "page":
        return f"frame F{p['pfn']}"
    if p["kind"] == "swap":
        return f"swap slot S{p['slot']}"
    return "zero page"


def kernel_pte_text(k: KPte | None) -> str:
    if k is None:
        return "none"
    if k.kind == "page":
        return f"frame {k.pfn:#x}"
    if k.kind == "swap":
        assert k.swap is not None
        return f"swap entry type {k.swap[0]} offset {k.swap[1]:#x}"
    if k.kind == "zero":
        return "zero page"
    return "a present page (frame number hidden)"


def ident_text(k: Any) -> str:
    """A kernel frame number, or a swap entry's type and offset."""
    if isinstance(k, tuple):
        return f"type {k[0]} offset {k[1]:#x}"
    return f"{k:#x}"
