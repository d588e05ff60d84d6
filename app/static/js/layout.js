// Pure geometry: one design's state document -> nodes and edges in fixed columns.
// No DOM here, so it can be tested on its own. Every node and edge has a stable id made
// from engine ids, so the renderer can animate the same object from one step to the next.

export const ROW = 20;
export const LIMITS = { ptesPerVma: 24, ptes: 320, frames: 160, processes: 24, slots: 120 };

export const COLUMNS = {
  vmas: { x: 8, w: 232, title: "processes and vmas" },
  ptes: { x: 262, w: 150, title: "page-table entries" },
  frames: { x: 446, w: 214, title: "frames (struct page)" },
  rmap: { x: 694, w: 212, title: "rmap objects" },
  swap: { x: 940, w: 150, title: "swap slots" },
};
export const WIDTH = 1100;
const NO_ANON_VMA = new Set(["pte_chain", "anonmm"]);
const TOP = 30;

export const hex = (n) => "0x" + Number(n).toString(16);

// Node id of an engine object reference ({kind, id} / a PTE {kind: "pte", pid, addr}).
export function objectNodeIds(obj, state) {
  switch (obj.kind) {
    case "frame": return [`frame:${obj.id}`];
    case "vma": return [`vma:${obj.id}`];
    case "anon_vma": return [`anon_vma:${obj.id}`];
    case "slot": return [`slot:${obj.id}`];
    case "mm": return [`mm:${obj.id}`];
    case "avc": return [`avc:${obj.id}`];
    case "anonmm": return [`anonmm:${obj.id}`];
    case "pte_chain": return [`pte_chain:${obj.id}`];
    case "pte": return [`pte:${obj.pid}:${obj.addr}`];
    case "pte_range": {
      const mm = (state?.mms || []).find((m) => m.pid === obj.pid);
      if (!mm) return [];
      return mm.ptes.filter((p) => p.addr >= obj.start && p.addr < obj.end)
        .map((p) => `pte:${obj.pid}:${p.addr}`);
    }
    default: return [];
  }
}

// Node id of one container a reclaim walk visited.
export function visitNodeId(visit) {
  if (visit.kind === "pte") return `pte:${visit.pid}:${visit.addr}`;
  return `${visit.kind}:${visit.id}`;
}

/** "1 PTE", "2 PTEs". */
function plural(n, noun) {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

function ptesLabel(p) {
  if (p.kind === "page") return [`${hex(p.addr)}`, `F${p.pfn} ${p.writable ? "rw" : "ro"}`];
  if (p.kind === "swap") return [`${hex(p.addr)}`, `swap S${p.slot}`];
  return [`${hex(p.addr)}`, "zero page ro"];
}

function mappingText(m) {
  if (!m) return "mapping NULL";
  if (m.kind === "vma") return `as.vma → vma ${m.id}`;
  if (m.kind === "pte") return `pte.direct → ${hex(m.addr)} (pid ${m.pid})`;
  if (m.kind === "swapper_space") return "mapping → swapper_space";
  return `→ ${m.kind.replace("_", " ")} ${m.id}`;
}

function node(nodes, id, kind, col, y, h, lines, extra = {}) {
  const c = COLUMNS[col];
  const n = { id, kind, col, x: c.x, y, w: c.w, h, lines, ...extra };
  nodes.push(n);
  return n;
}

// Lay out one design's state. Returns {width, height, nodes, edges, hidden}.
export function layoutState(state) {
  const nodes = [];
  const edges = [];
  const hidden = { ptes: 0, frames: 0, processes: 0, slots: 0 };
  const byId = new Map();
  const add = (n) => { byId.set(n.id, n); return n; };

  // processes, vmas and their PTEs; beyond a total budget, each vma shows one summary row
  let y = TOP;
  const mms = state.mms || [];
  const totalPtes = mms.reduce((n, mm) => n + mm.ptes.length, 0);
  const summarise = totalPtes > LIMITS.ptes;
  mms.slice(0, LIMITS.processes).forEach((mm) => {
    add(node(nodes, `mm:${mm.pid}`, "mm", "vmas", y, 34, [`pid ${mm.pid}`,
      `${plural(mm.vmas.length, "vma")} · ${plural(mm.ptes.length, "PTE")}`],
    { pid: mm.pid }));
    y += 38;
    if (!mm.vmas.length) { y += 8; return; }
    for (const vma of mm.vmas) {
      const mine = mm.ptes.filter((p) => p.addr >= vma.vm_start && p.addr < vma.vm_end);
      const shown = summarise ? [] : mine.slice(0, LIMITS.ptesPerVma);
      const extra = mine.length - shown.length;
      hidden.ptes += extra;
      const rows = Math.max(2, shown.length + (extra > 0 ? 1 : 0));
      const h = Math.max(50, rows * ROW + 4);
      // pte_chain and anonmm have no anon_vma at all: do not show an empty pointer
      const av = NO_ANON_VMA.has(state.design) ? "" : vma.anon_vma == null ? " · anon_vma NULL"
        : ` · anon_vma ${vma.anon_vma}`;
      add(node(nodes, `vma:${vma.id}`, "vma", "vmas", y, h, [
        `vma ${vma.id}  ${vma.prot}`,
        `[${hex(vma.vm_start)}, ${hex(vma.vm_end)})`,
        `vm_pgoff ${vma.vm_pgoff}${av}`,
      ], { pid: mm.pid, vma, classes: vma.prot === "none" ? ["prot-none"] : [] }));
      shown.forEach((p, i) => {
        const classes = [`pte-${p.kind}`];
        if (p.writable) classes.push("writable");
        add(node(nodes, `pte:${mm.pid}:${p.addr}`, "pte", "ptes", y + 2 + i * ROW, ROW - 2,
          ptesLabel(p), { pid: mm.pid, pte: p, classes, inline: true }));
      });
      if (extra > 0) {
        const kinds = ["page", "swap", "zero"].map((k) => [k, mine.filter((p) => p.kind === k).length])
          .filter(([, n]) => n).map(([k, n]) => `${n} ${k === "page" ? "present" : k}`);
        const label = shown.length ? `… ${extra} more ${extra === 1 ? "PTE" : "PTEs"}`
          : `${plural(mine.length, "PTE")}: ${kinds.join(", ")}`;
        add(node(nodes, `pte-more:${vma.id}`, "more", "ptes", y + 2 + shown.length * ROW,
          ROW - 2, [label], { inline: true }));
      }
      y += h + 6;
    }
    y += 10;
  });
  hidden.processes = Math.max(0, mms.length - LIMITS.processes);
  if (hidden.processes) {
    add(node(nodes, "mm-more", "more", "vmas", y, 24, [`… ${hidden.processes} more processes`]));
    y += 30;
  }
  const leftHeight = y;

  // frames (and the shared zero page, if any PTE maps it)
  y = TOP;
  const zeroUsers = [];
  const pages = state.pages || [];
  for (const n of nodes) if (n.kind === "pte" && n.pte.kind === "zero") zeroUsers.push(n);
  if (zeroUsers.length) {
    add(node(nodes, "zero", "zero", "frames", y, 34, ["the zero page",
      "shared, read-only, no rmap"]));
    y += 40;
  }
  pages.slice(0, LIMITS.frames).forEach((p) => {
    const flags = p.flags.length ? p.flags.join(" ") : "no flags";
    const classes = p.flags.map((f) => `flag-${f}`);
    const index = p.index == null ? "" : ` · index ${p.mapping?.kind === "anonmm" ? hex(p.index) : p.index}`;
    const slot = p.swap_slot == null ? "" : ` · swap S${p.swap_slot}`;
    add(node(nodes, `frame:${p.pfn}`, "frame", "frames", y, 64, [
      `F${p.pfn}  ${flags}`,
      mappingText(p.mapping),
      `mapcount ${p.mapcount}${index}${slot}`,
      `value ${p.value}`,
    ], { page: p, classes, badge: p.flags.includes("direct") ? "DIRECT" : null }));
    y += 70;
  });
  hidden.frames = Math.max(0, pages.length - LIMITS.frames);
  if (hidden.frames) {
    add(node(nodes, "frame-more", "more", "frames", y, 24, [`… ${hidden.frames} more frames`]));
    y += 30;
  }
  const frameHeight = y;

  // the design's rmap objects
  y = TOP;
  const avcs = new Map((state.anon_vma_chains || []).map((c) => [c.id, c]));
  for (const av of state.anon_vmas || []) {
    const lines = [`anon_vma ${av.id}`];
    if (av.root !== undefined) {
      lines.push(`root ${av.root} · parent ${av.parent} · refcount ${av.refcount}`);
      lines.push(`children ${av.num_children} · active vmas ${av.num_active_vmas}`);
    }
    lines.push(av.vmas.length ? `walk: ${av.vmas.map((v) => `vma ${v}`).join(" → ")}`
      : "walk: (empty)");
    const n = add(node(nodes, `anon_vma:${av.id}`, "anon_vma", "rmap", y, 10 + lines.length * 14,
      lines, { anonVma: av }));
    y += n.h + 4;
    for (const cid of av.avcs || []) {
      const c = avcs.get(cid);
      if (!c) continue;
      add(node(nodes, `avc:${c.id}`, "avc", "rmap", y, 18, [`avc ${c.id}: vma ${c.vma} ↔ anon_vma ${c.anon_vma}`],
        { avc: c, inline: true, indent: 14 }));
      y += 20;
    }
    y += 8;
  }
  for (const am of state.anonmms || []) {
    const lines = [`anonmm ${am.id}${am.head === am.id ? " (head)" : ""}`,
      am.pid == null ? "mm gone (lingers for its pages)" : `mm of pid ${am.pid}`,
      `count ${am.count} · ring ${am.ring.join(" → ")}`];
    add(node(nodes, `anonmm:${am.id}`, "anonmm", "rmap", y, 50, lines, { anonmm: am,
      classes: am.pid == null ? ["dead"] : [] }));
    y += 56;
  }
  for (const block of state.pte_chains || []) {
    const lines = [`pte_chain ${block.id} (frame ${block.pfn})`,
      ...block.entries.map((e) => `${hex(e.addr)} of pid ${e.pid}`)];
    const n = add(node(nodes, `pte_chain:${block.id}`, "pte_chain", "rmap", y,
      10 + lines.length * 14, lines, { block }));
    y += n.h + 6;
  }
  const rmapHeight = y;

  // swap slots
  y = TOP;
  const swap = state.swap || [];
  swap.slice(0, LIMITS.slots).forEach((s) => {
    add(node(nodes, `slot:${s.slot}`, "slot", "swap", y, 50, [
      `S${s.slot}  ${s.ptes} swap PTE${s.ptes === 1 ? "" : "s"}`,
      s.cached_pfn == null ? "not in the swap cache" : `swap cache → F${s.cached_pfn}`,
      `value ${s.value}`,
    ], { slot: s }));
    y += 56;
  });
  hidden.slots = Math.max(0, swap.length - LIMITS.slots);
  if (hidden.slots) {
    add(node(nodes, "slot-more", "more", "swap", y, 24, [`… ${hidden.slots} more slots`]));
    y += 30;
  }
  const swapHeight = y;

  // every pointer is an arrow
  const edge = (from, to, kind, label) => {
    if (byId.has(from) && byId.has(to)) edges.push({ id: `${kind}:${from}>${to}`, from, to, kind, label });
  };
  for (const n of nodes) {
    if (n.kind === "pte") {
      const p = n.pte;
      if (p.kind === "page") edge(n.id, `frame:${p.pfn}`, "pte");
      else if (p.kind === "swap") edge(n.id, `slot:${p.slot}`, "swapent");
      else edge(n.id, "zero", "zero");
    } else if (n.kind === "vma" && n.vma.anon_vma != null) {
      edge(n.id, `anon_vma:${n.vma.anon_vma}`, "vma-anon");
    } else if (n.kind === "frame") {
      const m = n.page.mapping;
      if (!m) continue;
      if (m.kind === "pte") edge(n.id, `pte:${m.pid}:${m.addr}`, "mapping");
      else if (m.kind !== "swapper_space") edge(n.id, `${m.kind}:${m.id}`, "mapping");
    } else if (n.kind === "slot" && n.slot.cached_pfn != null) {
      edge(n.id, `frame:${n.slot.cached_pfn}`, "swapcache");
    } else if (n.kind === "anon_vma") {
      const av = n.anonVma;
      if (!av.avcs) av.vmas.forEach((v, i) => edge(n.id, `vma:${v}`, "list", String(i + 1)));
      if (av.parent !== undefined && av.parent !== av.id) edge(n.id, `anon_vma:${av.parent}`, "parent");
    } else if (n.kind === "avc") {
      edge(n.id, `vma:${n.avc.vma}`, "avc");
    } else if (n.kind === "anonmm") {
      const am = n.anonmm;
      if (am.pid != null) edge(n.id, `mm:${am.pid}`, "anonmm");
    } else if (n.kind === "pte_chain") {
      for (const e of n.block.entries) edge(n.id, `pte:${e.pid}:${e.addr}`, "chain");
    }
  }
  for (const e of edges) routeEdge(e, byId);
  const height = Math.max(leftHeight, frameHeight, rmapHeight, swapHeight, 120) + 10;
  return { width: WIDTH, height, nodes, edges, hidden };
}

// A cubic curve from the side of `from` facing `to` to the side of `to` facing `from`.
export function routeEdge(e, byId) {
  const a = byId.get(e.from);
  const b = byId.get(e.to);
  const ay = a.y + Math.min(a.h / 2, 12);
  const by = b.y + Math.min(b.h / 2, 12);
  let x1; let x2; let dir;
  if (b.x > a.x + a.w / 2) { x1 = a.x + a.w; x2 = b.x; dir = 1; } else if (b.x + b.w < a.x + a.w / 2) {
    x1 = a.x; x2 = b.x + b.w; dir = -1;
  } else { // same column: loop out on the right
    x1 = a.x + a.w; x2 = b.x + b.w; dir = 0;
  }
  const bend = dir === 0 ? 40 : Math.max(30, Math.abs(x2 - x1) / 2);
  const c1 = dir === 0 ? x1 + bend : x1 + dir * bend;
  const c2 = dir === 0 ? x2 + bend : x2 - dir * bend;
  e.d = `M${x1},${ay} C${c1},${ay} ${c2},${by} ${x2},${by}`;
  e.mid = { x: (x1 + x2) / 2 + (dir === 0 ? bend * 0.75 : 0), y: (ay + by) / 2 };
  return e;
}
