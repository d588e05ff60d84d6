"""Decoding what the kernel shows in procfs: pagemap words, kpageflags, kpagecount, maps.

Pure functions on bytes and text, so they can be tested on recorded data. The layouts are
those of Documentation/admin-guide/mm/pagemap.rst and include/uapi/linux/kernel-page-flags.h
(Linux 6.18):

``/proc/PID/pagemap``, one little-endian u64 per virtual page:

* bits 0-54  page frame number if present (zero unless the reader has CAP_SYS_ADMIN)
* bits 0-4   swap type if swapped
* bits 5-54  swap offset if swapped
* bit  55    pte is soft-dirty
* bit  56    page exclusively mapped (``PM_MMAP_EXCLUSIVE``: the page's mapcount is 1;
  this is *not* PageAnonExclusive, which pagemap does not show)
* bit  57    pte is uffd-wp write-protected
* bit  58    pte is a guard region
* bit  61    page is file-page or shared-anon
* bit  62    page swapped
* bit  63    page present

``/proc/kpageflags``, one u64 per pfn (root only). ``/proc/kpagecount``, one u64 per pfn:
the page's mapcount (0 for the zero page and for unmapped pages).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

PM_PFN_MASK = (1 << 55) - 1
PM_SWAP_TYPE_BITS = 5  # MAX_SWAPFILES_SHIFT
PM_SOFT_DIRTY = 1 << 55
PM_MMAP_EXCLUSIVE = 1 << 56
PM_UFFD_WP = 1 << 57
PM_GUARD_REGION = 1 << 58
PM_FILE = 1 << 61
PM_SWAP = 1 << 62
PM_PRESENT = 1 << 63

# include/uapi/linux/kernel-page-flags.h (stable ABI)
KPF_LOCKED = 0
KPF_ERROR = 1
KPF_REFERENCED = 2
KPF_UPTODATE = 3
KPF_DIRTY = 4
KPF_LRU = 5
KPF_ACTIVE = 6
KPF_SLAB = 7
KPF_WRITEBACK = 8
KPF_RECLAIM = 9
KPF_BUDDY = 10
KPF_MMAP = 11
KPF_ANON = 12
KPF_SWAPCACHE = 13
KPF_SWAPBACKED = 14
KPF_COMPOUND_HEAD = 15
KPF_COMPOUND_TAIL = 16
KPF_HUGE = 17
KPF_UNEVICTABLE = 18
KPF_HWPOISON = 19
KPF_NOPAGE = 20
KPF_KSM = 21
KPF_THP = 22
KPF_OFFLINE = 23
KPF_ZERO_PAGE = 24
KPF_IDLE = 25
KPF_PGTABLE = 26
# include/linux/kernel-page-flags.h ("kernel hacking assistances", not ABI). For an
# anonymous page PG_anon_exclusive is the bit the kernel reports as KPF_MAPPEDTODISK:
# the checker verifies that on the running kernel before trusting it (calibration).
KPF_RESERVED = 32
KPF_MAPPEDTODISK = 34
KPF_PRIVATE = 35
KPF_PRIVATE_2 = 36
KPF_OWNER_PRIVATE = 37
KPF_ANON_EXCLUSIVE_ALIAS = KPF_MAPPEDTODISK

KPF_NAMES = {
    KPF_LOCKED: "locked",
    KPF_ERROR: "error",
    KPF_REFERENCED: "referenced",
    KPF_UPTODATE: "uptodate",
    KPF_DIRTY: "dirty",
    KPF_LRU: "lru",
    KPF_ACTIVE: "active",
    KPF_SLAB: "slab",
    KPF_WRITEBACK: "writeback",
    KPF_RECLAIM: "reclaim",
    KPF_BUDDY: "buddy",
    KPF_MMAP: "mmap",
    KPF_ANON: "anon",
    KPF_SWAPCACHE: "swapcache",
    KPF_SWAPBACKED: "swapbacked",
    KPF_COMPOUND_HEAD: "compound_head",
    KPF_COMPOUND_TAIL: "compound_tail",
    KPF_HUGE: "huge",
    KPF_UNEVICTABLE: "unevictable",
    KPF_HWPOISON: "hwpoison",
    KPF_NOPAGE: "nopage",
    KPF_KSM: "ksm",
    KPF_THP: "thp",
    KPF_OFFLINE: "offline",
    KPF_ZERO_PAGE: "zero_page",
    KPF_IDLE: "idle",
    KPF_PGTABLE: "pgtable",
    KPF_RESERVED: "reserved",
    KPF_MAPPEDTODISK: "mappedtodisk",
    KPF_PRIVATE: "private",
    KPF_PRIVATE_2: "private_2",
    KPF_OWNER_PRIVATE: "owner_private",
}


@dataclass(frozen=True, slots=True)
class PagemapEntry:
    """One decoded pagemap word."""

    raw: int

    @property
    def present(self) -> bool:
        return bool(self.raw & PM_PRESENT)

    @property
    def swapped(self) -> bool:
        return bool(self.raw & PM_SWAP) and not self.present

    @property
    def none(self) -> bool:
        return not (self.present or self.swapped)

    @property
    def exclusive(self) -> bool:
        """Bit 56: the page is mapped exactly once (present pages only)."""
        return bool(self.raw & PM_MMAP_EXCLUSIVE)

    @property
    def file_or_shared(self) -> bool:
        return bool(self.raw & PM_FILE)

    @property
    def soft_dirty(self) -> bool:
        return bool(self.raw & PM_SOFT_DIRTY)

    @property
    def pfn(self) -> int | None:
        """The frame number of a present page; 0 means hidden (no CAP_SYS_ADMIN)."""
        return self.raw & PM_PFN_MASK if self.present else None

    @property
    def swap_type(self) -> int | None:
        return self.raw & ((1 << PM_SWAP_TYPE_BITS) - 1) if self.swapped else None

    @property
    def swap_offset(self) -> int | None:
        return (self.raw & PM_PFN_MASK) >> PM_SWAP_TYPE_BITS if self.swapped else None

    @property
    def swap_entry(self) -> tuple[int, int] | None:
        """``(type, offset)`` of a swap entry, or None."""
        if not self.swapped:
            return None
        return (
            self.raw & ((1 << PM_SWAP_TYPE_BITS) - 1),
            (self.raw & PM_PFN_MASK) >> PM_SWAP_TYPE_BITS,
        )

    @property
    def kind(self) -> str:
        """``present``, ``swap`` or ``none``."""
        return "present" if self.present else "swap" if self.swapped else "none"


def decode_pagemap(data: bytes) -> list[PagemapEntry]:
    """The entries of a run of pagemap words (8 bytes each, little-endian)."""
    if len(data) % 8:
        raise ValueError(f"pagemap data must be a multiple of 8 bytes, not {len(data)}")
    return [PagemapEntry(w) for w in struct.unpack(f"<{len(data) // 8}Q", data)]


def decode_u64s(data: bytes) -> list[int]:
    """A run of little-endian u64 words (kpageflags, kpagecount)."""
    if len(data) % 8:
        raise ValueError(f"data must be a multiple of 8 bytes, not {len(data)}")
    return list(struct.unpack(f"<{len(data) // 8}Q", data))


def kpf_has(flags: int, bit: int) -> bool:
    return bool(flags >> bit & 1)


def kpf_names(flags: int) -> list[str]:
    """The names of the set kpageflags bits (unknown bits as ``bitN``)."""
    return [KPF_NAMES.get(b, f"bit{b}") for b in range(64) if flags >> b & 1]


@dataclass(frozen=True, slots=True)
class MapsLine:
    """One line of ``/proc/PID/maps``."""

    start: int
    end: int
    perms: str  # e.g. "rw-p"
    offset: int
    path: str

    @property
    def prot(self) -> str:
        """The scenario's spelling of the protection: ``none``, ``r``, ``rw``, ``rwx``..."""
        letters = "".join(c for c in self.perms[:3] if c != "-")
        return letters or "none"

    @property
    def private(self) -> bool:
        return self.perms[3:4] == "p"


def parse_maps(text: str) -> list[MapsLine]:
    """The lines of ``/proc/PID/maps``."""
    out = []
    for line in text.splitlines():
        parts = line.split(None, 5)
        if len(parts) < 5:
            continue
        lo, hi = parts[0].split("-")
        out.append(
            MapsLine(
                int(lo, 16),
                int(hi, 16),
                parts[1],
                int(parts[2], 16),
                parts[5].strip() if len(parts) > 5 else "",
            )
        )
    return out


def maps_in_window(lines: list[MapsLine], base: int, size: int) -> list[MapsLine]:
    """The maps lines that overlap ``[base, base + size)``."""
    return [m for m in lines if m.end > base and m.start < base + size]
