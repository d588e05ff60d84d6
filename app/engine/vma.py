"""``struct vm_area_struct`` of an anonymous private mapping, and its protections."""

from __future__ import annotations

from dataclasses import dataclass

from .pagetable import PAGE_SHIFT

#: the R/W/X combinations a vma's ``prot`` may name
PROTS = ("none", "r", "w", "x", "rw", "rx", "wx", "rwx")


@dataclass(frozen=True, slots=True)
class Vma:
    """``struct vm_area_struct`` of an anonymous private mapping.

    ``prot`` stands for the R/W/X bits of ``vm_flags`` (semantics.md#flags); ``anon_vma`` is the id
    of
    the vma's anon_vma or None.
    """

    id: int
    pid: int
    vm_start: int
    vm_end: int
    vm_pgoff: int
    prot: str
    anon_vma: int | None = None

    @property
    def pages(self) -> int:
        """``vma_pages(vma)``."""
        return (self.vm_end - self.vm_start) >> PAGE_SHIFT

    @property
    def readable(self) -> bool:
        """Any access right makes a vma readable on x86 (``vma_is_accessible``)."""
        return self.prot != "none"

    @property
    def writable(self) -> bool:
        return "w" in self.prot

    def linear_page_index(self, addr: int) -> int:
        """``linear_page_index(vma, addr)``: the ``page->index`` of a page mapped at addr."""
        return self.vm_pgoff + ((addr - self.vm_start) >> PAGE_SHIFT)

    def vma_address(self, index: int) -> int | None:
        """``vma_address(page, vma)``: where a page of this index sits, or None if outside."""
        addr = self.vm_start + ((index - self.vm_pgoff) << PAGE_SHIFT)
        if self.vm_start <= addr < self.vm_end:
            return addr
        return None
