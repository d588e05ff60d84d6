"""Decoding procfs words recorded by hand: pagemap, kpageflags, kpagecount, maps.

The 8-byte words are built bit by bit as Documentation/admin-guide/mm/pagemap.rst lays
them out, packed little-endian as the kernel writes them; no kernel is needed.
"""

from __future__ import annotations

import struct

import pytest

from app.kernelcheck.decode import (
    KPF_ANON,
    KPF_MAPPEDTODISK,
    KPF_SWAPCACHE,
    KPF_ZERO_PAGE,
    decode_pagemap,
    decode_u64s,
    kpf_has,
    kpf_names,
    maps_in_window,
    parse_maps,
)

PRESENT = 1 << 63
SWAPPED = 1 << 62
FILE_OR_SHARED = 1 << 61
EXCLUSIVE = 1 << 56
SOFT_DIRTY = 1 << 55


def words(*values: int) -> bytes:
    return b"".join(struct.pack("<Q", v) for v in values)


def test_a_present_page_mapped_once():
    raw = PRESENT | EXCLUSIVE | SOFT_DIRTY | 0x19BC19
    # little-endian on disk: the pfn's low byte comes first, the flags byte last
    assert words(raw)[:3] == bytes([0x19, 0xBC, 0x19]) and words(raw)[7] == 0x81
    (e,) = decode_pagemap(words(raw))
    assert e.present and not e.swapped and not e.none
    assert e.kind == "present"
    assert e.pfn == 0x19BC19
    assert e.exclusive and e.soft_dirty and not e.file_or_shared
    assert e.swap_entry is None and e.swap_type is None and e.swap_offset is None


def test_a_shared_page_after_fork_is_not_mapped_once():
    (e,) = decode_pagemap(words(PRESENT | 0x19BC19))
    assert e.present and not e.exclusive and e.pfn == 0x19BC19


def test_the_pfn_is_zero_without_cap_sys_admin():
    (e,) = decode_pagemap(words(PRESENT | EXCLUSIVE))
    assert e.present and e.pfn == 0


def test_the_pfn_field_is_bits_0_to_54():
    (e,) = decode_pagemap(words(PRESENT | (1 << 55) - 1))
    assert e.pfn == (1 << 55) - 1 and e.soft_dirty is False


def test_a_swap_entry_type_and_offset():
    # bits 0-4 type, 5-54 offset: type 1, offset 0x1234
    raw = SWAPPED | (0x1234 << 5) | 1
    (e,) = decode_pagemap(words(raw))
    assert e.swapped and not e.present and e.kind == "swap"
    assert e.swap_type == 1 and e.swap_offset == 0x1234
    assert e.swap_entry == (1, 0x1234)
    assert e.pfn is None
    assert not e.exclusive  # the kernel sets bit 56 for present pages only


def test_the_first_slot_of_the_first_swap_area():
    (e,) = decode_pagemap(words(SWAPPED | (1 << 5)))
    assert e.swap_entry == (0, 1)


def test_an_empty_pte_and_a_soft_dirty_hole():
    a, b = decode_pagemap(words(0, SOFT_DIRTY))
    assert a.none and a.kind == "none" and a.pfn is None
    assert b.none and b.soft_dirty


def test_several_words_in_address_order():
    entries = decode_pagemap(words(PRESENT | 5, 0, SWAPPED | (7 << 5)))
    assert [e.kind for e in entries] == ["present", "none", "swap"]
    assert entries[0].pfn == 5 and entries[2].swap_entry == (0, 7)


def test_a_short_read_is_refused():
    with pytest.raises(ValueError, match="multiple of 8"):
        decode_pagemap(b"\x00" * 7)
    with pytest.raises(ValueError, match="multiple of 8"):
        decode_u64s(b"\x00" * 9)


def test_kpageflags_of_an_anonymous_page_in_the_swap_cache():
    # uptodate(3) lru(5) mmap(11) anon(12) swapcache(13) swapbacked(14)
    flags = decode_u64s(words((1 << 3) | (1 << 5) | (1 << 11) | (1 << 12) | (1 << 13) | (1 << 14)))[
        0
    ]
    assert kpf_has(flags, KPF_ANON) and kpf_has(flags, KPF_SWAPCACHE)
    assert not kpf_has(flags, KPF_ZERO_PAGE)
    assert kpf_names(flags) == ["uptodate", "lru", "mmap", "anon", "swapcache", "swapbacked"]


def test_kpageflags_of_the_zero_page():
    flags = decode_u64s(words((1 << 24) | (1 << 32)))[0]
    assert kpf_has(flags, KPF_ZERO_PAGE)
    assert kpf_names(flags) == ["zero_page", "reserved"]


def test_kpageflags_bit_34_is_where_pg_anon_exclusive_shows():
    flags = decode_u64s(words((1 << 12) | (1 << 34)))[0]
    assert kpf_has(flags, KPF_MAPPEDTODISK)
    assert kpf_names(flags) == ["anon", "mappedtodisk"]
    assert kpf_names(1 << 60) == ["bit60"]


def test_kpagecount_words():
    assert decode_u64s(words(0, 1, 2)) == [0, 1, 2]


def test_maps_lines():
    text = (
        "7e0000001000-7e0000003000 rw-p 00000000 00:00 0 \n"
        "7e0000003000-7e0000004000 ---p 00000000 00:00 0\n"
        "7e0000009000-7e000000a000 r-xp 00000000 00:00 0\n"
        "7f0000000000-7f0000001000 r--p 00001000 fd:00 1234     /usr/lib/libc.so.6\n"
        "7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0        [stack]\n"
    )
    lines = parse_maps(text)
    assert [(m.start, m.end, m.prot) for m in lines[:3]] == [
        (0x7E0000001000, 0x7E0000003000, "rw"),
        (0x7E0000003000, 0x7E0000004000, "none"),
        (0x7E0000009000, 0x7E000000A000, "rx"),
    ]
    assert lines[0].private and lines[0].path == "" and lines[0].offset == 0
    assert lines[3].path == "/usr/lib/libc.so.6" and lines[3].offset == 0x1000
    assert lines[4].path == "[stack]"
    window = maps_in_window(lines, 0x7E0000000000, 0xC0000000)
    assert len(window) == 3
