// The same state as text tables: for screen readers, copying, and small screens.

import { hex } from "./layout.js";

function table(caption, head, rows) {
  const t = document.createElement("table");
  t.className = "state";
  t.createCaption().textContent = caption;
  const tr = t.createTHead().insertRow();
  for (const h of head) {
    const th = document.createElement("th");
    th.scope = "col";
    th.textContent = h;
    tr.appendChild(th);
  }
  const body = t.createTBody();
  for (const row of rows) {
    const r = body.insertRow();
    for (const cell of row) r.insertCell().textContent = cell ?? "";
  }
  if (!rows.length) body.insertRow().insertCell().textContent = "(none)";
  return t;
}

const mapping = (m) => (m ? `${m.kind} ${m.kind === "pte" ? `${m.pid}:${hex(m.addr)}` : m.id}` : "NULL");

export function renderTables(container, state) {
  container.replaceChildren(
    table("vmas", ["pid", "vma", "range", "prot", "vm_pgoff", "anon_vma"],
      state.mms.flatMap((mm) => mm.vmas.map((v) => [mm.pid, v.id,
        `[${hex(v.vm_start)}, ${hex(v.vm_end)})`, v.prot, v.vm_pgoff, v.anon_vma ?? "NULL"]))),
    table("page-table entries", ["pid", "address", "kind", "frame", "slot", "writable"],
      state.mms.flatMap((mm) => mm.ptes.map((p) => [mm.pid, hex(p.addr), p.kind, p.pfn ?? "",
        p.slot ?? "", p.writable ? "rw" : "ro"]))),
    table("frames", ["pfn", "flags", "mapping", "index", "mapcount", "swap slot", "value"],
      state.pages.map((p) => [p.pfn, p.flags.join(" "), mapping(p.mapping), p.index ?? "",
        p.mapcount, p.swap_slot ?? "", p.value])),
    table("swap slots", ["slot", "swap PTEs", "swap cache", "value"],
      state.swap.map((s) => [s.slot, s.ptes, s.cached_pfn ?? "", s.value])),
  );
  if (state.anon_vmas?.length) {
    container.appendChild(table("anon_vmas", ["id", "walk order", "root", "parent", "children",
      "active vmas"], state.anon_vmas.map((a) => [a.id, a.vmas.join(" → "), a.root ?? "",
      a.parent ?? "", a.num_children ?? "", a.num_active_vmas ?? ""])));
  }
  if (state.anon_vma_chains?.length) {
    container.appendChild(table("anon_vma_chains", ["id", "vma", "anon_vma"],
      state.anon_vma_chains.map((c) => [c.id, c.vma, c.anon_vma])));
  }
  if (state.anonmms?.length) {
    container.appendChild(table("anonmms", ["id", "pid", "head", "ring", "count"],
      state.anonmms.map((a) => [a.id, a.pid ?? "gone", a.head, a.ring.join(" → "), a.count])));
  }
  if (state.pte_chains?.length) {
    container.appendChild(table("pte_chain blocks", ["id", "frame", "entries"],
      state.pte_chains.map((b) => [b.id, b.pfn,
        b.entries.map((e) => `${e.pid}:${hex(e.addr)}`).join(", ")])));
  }
}
