"""D5: anon_vma + anon_vma_chain (Rik van Riel, 2.6.34, 2010) as in current mainline.

Every vma that holds anonymous pages has a *chain* of anon_vma_chain objects (AVCs), one
per anon_vma its pages may live in: its own anon_vma first, its ancestors' after it, the
root last. Every anon_vma indexes the AVCs that link it to vmas in an interval tree keyed
by the vma's pgoff range. Fork gives the child's vma a copy of the parent's chain
(``anon_vma_clone``) plus its own new anon_vma, where its copy-on-write pages go, so a page
private to one child is found through that child's anon_vma alone: the AIM7 problem of
the 2.6.7 design (one anon_vma per fork family) is gone, at the price of an AVC per
ancestor per vma.

Modelled version (docs/semantics.md#anon-vma-chain): Linux 6.18/6.19 including the
January 2026 mremap-merge fixes (61f67c230a5e, 3b617fd3d317): the 3.7 interval tree
(bf181b9f9d8d), the 3.19 reuse of orphaned anon_vmas (7a3ef208e662) in its 6.0 form
with ``num_children`` and ``num_active_vmas`` (2555283eb40d), ``PageAnonExclusive`` and
the exclusive swap-PTE marker (5.19+), the 6.16 merge rule (879bca0a2c4f). Options go
back in time (semantics.md#avc-options).

Simplified: no locks (the root's rwsem is only named), no KSM, migration or pinning
references on anon_vmas, small pages only, a disk-like swap device (semantics.md#swap-cache).
"""

from .design import AnonVmaChain
from .structs import Avc, AvcAnonVma

__all__ = ["AnonVmaChain", "Avc", "AvcAnonVma"]
