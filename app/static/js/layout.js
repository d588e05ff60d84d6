// Pure geometry: one design's state document -> nodes and edges. No DOM here, so it is
// tested on its own, in node (tests/js/layout.test.mjs). Every node and edge has a stable
// id made from engine ids, so the renderer can animate the same object from one step to the
// next.
//
// Every label is measured (the diagram's font is monospaced) and wrapped to its column, so
// it fits its box. Columns are arranged for the space the page offers: in one row, in two
// bands (the process side above the rmap side), or stacked for a phone; long columns of
// frames or rmap objects split into sub-columns. Arrows are routed orthogonally through the
// gutters between columns and cross a column only where it has no box.

export const FONT = 12;            // every text of the diagram, in diagram units
export const LINE = 15;
const CHAR = 0.61 * FONT;          // DejaVu Sans Mono advances 0.602 em; a little slack
const BADGE_CHAR = 0.72 * FONT;    // the badge's bold sans capitals
const HEAD_CHAR = 0.78 * FONT;     // column heads: sans capitals, letter-spaced
const PAD = 6;
const ROW = 20;                    // one PTE row
const LANE = 22;                   // the band beside a vma's title where its arrows arrive
const GUTTER = 26;
const MARGIN = 10;
const HEAD = 26;
const BAND_GAP = 34;
const GAP = 10;                    // between stacked boxes: room for an arrow to cross
export const LIMITS = { ptesPerVma: 24, ptes: 320, frames: 160, processes: 24, slots: 120 };

const HEADS = { vmas: "processes · vmas", ptes: "PTEs", frames: "frames", rmap: "rmap objects",
  swap: "swap slots" };
const MAXCH = { vmas: 23, ptes: 18, frames: 22, rmap: 22, swap: 21 };

// What each arrow is, as the kernel names the field. Shown on hover and in the legend.
export const EDGE_KINDS = {
  pte: { field: "pte → pfn", about: "a page-table entry maps a frame" },
  swapent: { field: "swp_entry", about: "a swap PTE names its slot" },
  zero: { field: "pte → zero page", about: "a PTE maps the shared zero page" },
  mapping: { field: "page->mapping", about: "the frame's rmap pointer" },
  "vma-anon": { field: "vma->anon_vma", about: "the vma's anon_vma" },
  list: { field: "anon_vma->head", about: "the list the reclaim walk follows, in walk order" },
  avc: { field: "avc->vma", about: "an anon_vma_chain links its anon_vma to a vma" },
  parent: { field: "anon_vma->parent", about: "the anon_vma it was forked from" },
  swapcache: { field: "swap cache", about: "a slot's page in the swap cache" },
  anonmm: { field: "anonmm->mm", about: "the process an anonmm stands for" },
  chain: { field: "pte_chain->ptes[]", about: "a pte_chain block lists a PTE" },
};
const MAPPING_FIELDS = { vma: "page->as.vma (PageDirect)", pte: "page->pte.direct (PageDirect)",
  anon_vma: "page->mapping → anon_vma", anonmm: "page->mapping → anonmm" };

export const hex = (n) => "0x" + Number(n).toString(16);

// Node id of an engine object reference ({kind, id} / a PTE {kind: "pte", pid, addr}).
export function objectNodeIds(obj, state) {
  switch (obj.kind) {
    case "pte": return [`pte:${obj.pid}:${obj.addr}`];
    case "pte_range": {
      const mm = (state?.mms || []).find((m) => m.pid === obj.pid);
      if (!mm) return [];
      return mm.ptes.filter((p) => p.addr >= obj.start && p.addr < obj.end)
        .map((p) => `pte:${obj.pid}:${p.addr}`);
    }
    case "frame": case "vma": case "anon_vma": case "slot": case "mm": case "avc":
    case "anonmm": case "pte_chain": return [`${obj.kind}:${obj.id}`];
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

/** A line cut to at most `max` characters, between " · " parts where it can, else between
 * words; continuation lines are indented. */
function wrapLine(text, max) {
  if (text.length <= max) return [text];
  const out = [];
  let cur = "";
  const parts = text.split(" · ");
  parts.forEach((part, i) => {
    const tail = i < parts.length - 1 ? " ·" : "";
    const next = cur ? `${cur} ${part}${tail}` : `${part}${tail}`;
    if (next.length <= max || !cur.trim()) { cur = next; return; }
    out.push(cur);
    cur = `  ${part}${tail}`;
  });
  out.push(cur);
  // a part longer than a line: between words
  return out.flatMap((line) => {
    if (line.length <= max) return [line];
    const words = [];
    let w = "";
    for (const word of line.split(" ")) {
      const next = w ? `${w} ${word}` : word;
      if (next.length > max && w.trim()) { words.push(w); w = `  ${word}`; } else w = next;
    }
    words.push(w);
    return words;
  });
}

const textWidth = (text) => text.length * CHAR;

function mappingText(m) {
  if (!m) return "mapping NULL";
  if (m.kind === "vma") return `as.vma → vma ${m.id}`;
  if (m.kind === "pte") return `pte.direct → ${hex(m.addr)} (pid ${m.pid})`;
  if (m.kind === "swapper_space") return "mapping → swapper_space";
  return `mapping → ${m.kind} ${m.id}`;
}

// A box of text lines in a column; `group` keeps boxes together when a column splits.
function box(id, kind, col, lines, extra = {}) {
  const wrapped = extra.inline ? lines : lines.flatMap((l) => wrapLine(l, MAXCH[col]));
  const h = extra.inline ? ROW - 2 : 7 + wrapped.length * LINE;
  let need = extra.inline
    ? textWidth(lines.join("  ")) + 2 * PAD
    : Math.max(...wrapped.map(textWidth)) + 2 * PAD;
  if (extra.badge) need = Math.max(need, textWidth(wrapped[0]) + 3 * PAD + badgeWidth(extra.badge));
  return { id, kind, col, lines: wrapped, h, need: need + (extra.indent || 0), x: 0, y: 0, w: 0,
    ...extra };
}

export const badgeWidth = (text) => text.length * BADGE_CHAR + 12;

// ----- the boxes ---------------------------------------------------------------------------

// The boxes of a state as they are made: in drawing order, by id, with a group number for
// each object whose boxes stay together, and the count of what the limits leave out.
function boxList() {
  const nodes = [];
  const byId = new Map();
  let group = 0;
  return {
    nodes, byId, hidden: { ptes: 0, frames: 0, processes: 0, slots: 0 },
    add(n) { nodes.push(n); byId.set(n.id, n); return n; },
    group() { group += 1; return group; },
  };
}

// Each process: its mm, its vmas, and under each vma the rows of its PTEs.
function addProcesses(state, design, out) {
  const mms = state.mms || [];
  const totalPtes = mms.reduce((n, mm) => n + mm.ptes.length, 0);
  const summarise = totalPtes > LIMITS.ptes;
  for (const mm of mms.slice(0, LIMITS.processes)) {
    const group = out.group();
    out.add(box(`mm:${mm.pid}`, "mm", "vmas", [`pid ${mm.pid} · ${plural(mm.vmas.length, "vma")} · `
      + plural(mm.ptes.length, "PTE")], { pid: mm.pid, group }));
    let next = 0;  // PTEs and vmas are both in address order
    for (const vma of mm.vmas) {
      while (next < mm.ptes.length && mm.ptes[next].addr < vma.vm_start) next += 1;
      const first = next;
      while (next < mm.ptes.length && mm.ptes[next].addr < vma.vm_end) next += 1;
      addVma(mm, vma, mm.ptes.slice(first, next), { summarise, group, design }, out);
    }
  }
  out.hidden.processes = Math.max(0, mms.length - LIMITS.processes);
  if (out.hidden.processes) {
    out.add(box("mm-more", "more", "vmas", [`… ${out.hidden.processes} more processes`]));
  }
}

// A vma and the rows of its PTEs (`mine`), or a summary of those the limits leave out.
function addVma(mm, vma, mine, { summarise, group, design }, out) {
  const shown = summarise ? [] : mine.slice(0, LIMITS.ptesPerVma);
  const extra = mine.length - shown.length;
  out.hidden.ptes += extra;
  // a design whose vmas have no anon_vma field (the catalogue says): no empty pointer
  const av = !design.vma_anon_vma ? "" : vma.anon_vma == null ? " · anon_vma NULL"
    : ` · anon_vma ${vma.anon_vma}`;
  const v = out.add(box(`vma:${vma.id}`, "vma", "vmas", [`vma ${vma.id} ${vma.prot}${av}`,
    `[${hex(vma.vm_start)}, ${hex(vma.vm_end)})`, `vm_pgoff ${vma.vm_pgoff}`],
  { pid: mm.pid, vma, group, classes: vma.prot === "none" ? ["prot-none"] : [], rows: [] }));
  for (const p of shown) {
    const classes = [`pte-${p.kind}`];
    if (p.writable) classes.push("writable");
    const target = p.kind === "page" ? `F${p.pfn} ${p.writable ? "rw" : "ro"}`
      : p.kind === "swap" ? `swap S${p.slot}` : "zero page ro";
    v.rows.push(out.add(box(`pte:${mm.pid}:${p.addr}`, "pte", "ptes", [hex(p.addr), target],
      { pid: mm.pid, pte: p, classes, inline: true })));
  }
  if (extra > 0) {
    const kinds = ["page", "swap", "zero"].map((k) => [k, mine.filter((p) => p.kind === k).length])
      .filter(([, n]) => n).map(([k, n]) => `${n} ${k === "page" ? "present" : k}`);
    const label = shown.length ? `… ${extra} more ${extra === 1 ? "PTE" : "PTEs"}`
      : `${plural(mine.length, "PTE")}: ${kinds.join(", ")}`;
    v.rows.push(out.add(box(`pte-more:${vma.id}`, "more", "ptes", [label], { inline: true })));
  }
}

// The zero page (when a PTE maps it) and the frames.
function addFrames(state, out) {
  const pages = state.pages || [];
  if ((state.mms || []).some((mm) => mm.ptes.some((p) => p.kind === "zero"))) {
    out.add(box("zero", "zero", "frames", ["the zero page", "shared, read-only, no rmap"]));
  }
  for (const p of pages.slice(0, LIMITS.frames)) {
    const index = p.index == null ? "" : ` · index ${p.mapping?.kind === "anonmm" ? hex(p.index) : p.index}`;
    const lines = [`F${p.pfn}  ${p.flags.length ? p.flags.join(" ") : "no flags"}`,
      mappingText(p.mapping), `mapcount ${p.mapcount}${index}`,
      `${p.swap_slot == null ? "" : `swap S${p.swap_slot} · `}value ${p.value}`];
    if (p.page_mapping) lines.push(`page_mapping() = ${p.page_mapping}`);
    out.add(box(`frame:${p.pfn}`, "frame", "frames", lines, { page: p,
      classes: p.flags.map((f) => `flag-${f}`), badge: p.flags.includes("direct") ? "DIRECT" : null }));
  }
  out.hidden.frames = Math.max(0, pages.length - LIMITS.frames);
  if (out.hidden.frames) out.add(box("frame-more", "more", "frames", [`… ${out.hidden.frames} more frames`]));
}

// Each anon_vma, followed by its anon_vma_chains (2.6.34+).
function addAnonVmas(state, out) {
  const avcs = new Map((state.anon_vma_chains || []).map((c) => [c.id, c]));
  for (const av of state.anon_vmas || []) {
    const group = out.group();
    const lines = [`anon_vma ${av.id}`];
    if (av.root !== undefined) {
      lines.push(`root ${av.root} · parent ${av.parent} · refcount ${av.refcount}`);
      lines.push(`children ${av.num_children} · active vmas ${av.num_active_vmas}`);
    }
    lines.push(av.vmas.length ? `walk: ${av.vmas.map((v) => `vma ${v}`).join(" → ")}` : "walk: (empty)");
    out.add(box(`anon_vma:${av.id}`, "anon_vma", "rmap", lines, { anonVma: av, group }));
    for (const cid of av.avcs || []) {
      const c = avcs.get(cid);
      if (c) {
        out.add(box(`avc:${c.id}`, "avc", "rmap", [`avc ${c.id} → vma ${c.vma}`],
          { avc: c, inline: true, indent: 14, group }));
      }
    }
  }
}

// Each anonmm of Hugh Dickins's design.
function addAnonmms(state, out) {
  for (const am of state.anonmms || []) {
    const group = out.group();
    out.add(box(`anonmm:${am.id}`, "anonmm", "rmap", [`anonmm ${am.id}${am.head === am.id ? " (head)" : ""}`,
      am.pid == null ? "mm gone (lingers for its pages)" : `mm of pid ${am.pid}`,
      `count ${am.count} · ring ${am.ring.join(" → ")}`], { anonmm: am, group,
      classes: am.pid == null ? ["dead"] : [] }));
  }
}

// Each pte_chain block of 2.6.0.
function addPteChains(state, out) {
  for (const block of state.pte_chains || []) {
    const group = out.group();
    out.add(box(`pte_chain:${block.id}`, "pte_chain", "rmap", [`pte_chain ${block.id} (frame ${block.pfn})`,
      ...block.entries.map((e) => `${hex(e.addr)} of pid ${e.pid}`)], { block, group }));
  }
}

// The swap slots.
function addSlots(state, out) {
  const swap = state.swap || [];
  for (const s of swap.slice(0, LIMITS.slots)) {
    out.add(box(`slot:${s.slot}`, "slot", "swap", [`S${s.slot}  ${s.ptes} swap PTE${s.ptes === 1 ? "" : "s"}`,
      s.cached_pfn == null ? "swap cache: none" : `swap cache → F${s.cached_pfn}`,
      `value ${s.value}`], { slot: s }));
  }
  out.hidden.slots = Math.max(0, swap.length - LIMITS.slots);
  if (out.hidden.slots) out.add(box("slot-more", "more", "swap", [`… ${out.hidden.slots} more slots`]));
}

// Every box of the state, in drawing order.
function buildNodes(state, design) {
  const out = boxList();
  addProcesses(state, design, out);
  addFrames(state, out);
  addAnonVmas(state, out);
  addAnonmms(state, out);
  addPteChains(state, out);
  addSlots(state, out);
  addGhosts(state, out);
  return out;
}

// A freed object that something still points at is drawn as a ghost, so the dangling pointer
// shows (rc3-oops: a frame whose page->mapping names an anon_vma that was freed).
function addGhosts(state, out) {
  const alive = {
    anon_vma: new Set((state.anon_vmas || []).map((a) => a.id)),
    vma: new Set((state.mms || []).flatMap((m) => m.vmas.map((v) => v.id))),
    anonmm: new Set((state.anonmms || []).map((a) => a.id)),
  };
  const wanted = [];
  for (const p of state.pages || []) if (p.mapping) wanted.push(p.mapping);
  for (const mm of state.mms || []) {
    for (const v of mm.vmas) if (v.anon_vma != null) wanted.push({ kind: "anon_vma", id: v.anon_vma });
  }
  for (const ref of wanted) {
    const id = `${ref.kind}:${ref.id}`;
    if (!alive[ref.kind] || alive[ref.kind].has(ref.id) || out.byId.has(id)) continue;
    out.add(box(id, "ghost", ref.kind === "vma" ? "vmas" : "rmap",
      [`${ref.kind} ${ref.id}`, "freed, still pointed at"], { classes: ["ghost"], group: -out.nodes.length }));
  }
}

// ----- arrangements ------------------------------------------------------------------------

// Stack one column's boxes from y, keeping groups together; split into k sub-columns.
function stackColumn(list, k) {
  const groups = [];
  for (const n of list) {
    const last = groups[groups.length - 1];
    if (last && n.group != null && last[0].group === n.group) last.push(n);
    else groups.push([n]);
  }
  const heightOf = (g) => g.reduce((s, n) => s + n.h + (n.inline ? 2 : GAP), 0);
  const total = groups.reduce((s, g) => s + heightOf(g), 0);
  const per = total / k;
  const subs = [[]];
  let acc = 0;
  for (const g of groups) {
    if (acc >= per && subs.length < k && subs[subs.length - 1].length) { subs.push([]); acc = 0; }
    subs[subs.length - 1].push(g);
    acc += heightOf(g);
  }
  return subs.map((gs) => {
    let y = 0;
    const placed = [];
    for (const g of gs) {
      for (const n of g) {
        placed.push([n, y]);
        y += n.h + (n.inline ? 2 : GAP);
      }
    }
    return { placed, height: y };
  });
}

// The process side: each vma's PTE rows start below its title lane.
function stackProcesses(list) {
  let y = 0;
  const placed = [];
  for (const n of list) {
    if (n.kind === "pte" || (n.kind === "more" && n.col === "ptes")) continue;
    if (n.kind === "mm" && y > 0) y += 6;
    placed.push([n, y]);
    if (n.kind === "vma") {
      n.h = Math.max(n.h, LANE + n.rows.length * ROW);
      n.rows.forEach((r, i) => placed.push([r, y + LANE + i * ROW]));
    }
    y += n.h + (n.kind === "mm" ? 4 : GAP);
  }
  return { placed, height: y };
}

const PREFER = { wide: 1, two: 0.92, stack: 0.7 };
const BANDS = {
  wide: [["vmas", "ptes", "frames", "rmap", "swap"]],
  two: [["vmas", "ptes", "frames"], ["rmap", "swap"]],
  stack: [["vmas", "ptes"], ["frames"], ["rmap"], ["swap"]],
};

function arrange(widths, arrangement, kf, kr, stacked) {
  const cols = stacked.cols;
  const stacks = { vmas: stacked.vmas, frames: stacked.frames[kf], rmap: stacked.rmap[kr],
    swap: stacked.swap };
  const bands = [];
  let top = 0;
  let width = 0;
  for (const keys of BANDS[arrangement]) {
    const columns = [];
    let x = MARGIN;
    for (const key of keys) {
      if (key === "ptes") {
        if (!cols.ptes.length) continue;
        columns.push({ key, x, w: widths.ptes, placed: stacks.vmas.placed.filter(([n]) => n.col === "ptes"),
          height: stacks.vmas.height });
        x += widths.ptes + GUTTER;
      } else if (key === "vmas") {
        columns.push({ key, x, w: widths.vmas, placed: stacks.vmas.placed.filter(([n]) => n.col === "vmas"),
          height: stacks.vmas.height });
        x += widths.vmas + GUTTER;
      } else {
        if (!cols[key].length) continue;
        stacks[key].forEach((sub, i) => {
          columns.push({ key, sub: i, x, w: widths[key], placed: sub.placed, height: sub.height });
          x += widths[key] + GUTTER;
        });
      }
    }
    if (!columns.length) continue;
    const height = HEAD + Math.max(...columns.map((c) => c.height));
    bands.push({ top, height, columns });
    width = Math.max(width, x);
    top += height + BAND_GAP;
  }
  const height = top - BAND_GAP + 12;
  return { bands, width: width + (bands.length > 1 ? GUTTER : 0), height };
}

function candidates(cols, widths) {
  const kfs = [1, 2, 3].filter((k) => k === 1 || cols.frames.length >= 6 * k);
  const krs = [1, 2].filter((k) => k === 1 || cols.rmap.length >= 3);
  // each column stacked once per split, shared by every arrangement
  const stacked = { cols, vmas: stackProcesses(cols.vmas), swap: stackColumn(cols.swap, 1),
    frames: Object.fromEntries(kfs.map((k) => [k, stackColumn(cols.frames, k)])),
    rmap: Object.fromEntries(krs.map((k) => [k, stackColumn(cols.rmap, k)])) };
  const out = [];
  for (const arrangement of Object.keys(BANDS)) {
    for (const kf of kfs) {
      for (const kr of krs) out.push({ arrangement, kf, kr, ...arrange(widths, arrangement, kf, kr, stacked) });
    }
  }
  return out;
}

/** The scale at which a layout w×h fits the space: both sides, or the width on a scrolling
 * page; a small state is drawn at most twice its size. */
function fitScale(w, h, space) {
  if (space.scroll) return Math.min(space.width / w, 1.6);
  return Math.min(space.width / w, space.height / h, 2);
}

/** The scale to draw at: fit, but never below 9 px text when scrolling down can show the rest. */
export function displayScale(w, h, space, zoom = 1) {
  let s = fitScale(w, h, space);
  if (!space.scroll && s * FONT < 9) s = Math.max(s, Math.min(space.width / w, 9 / FONT));
  return s * zoom;
}

// The boxes by column.
function columnsOf(nodes) {
  const cols = { vmas: [], ptes: [], frames: [], rmap: [], swap: [] };
  for (const n of nodes) cols[n.col].push(n);
  return cols;
}

// Each column as wide as its head and its widest box.
function columnWidths(cols) {
  const widths = {};
  for (const [key, list] of Object.entries(cols)) {
    widths[key] = Math.ceil(Math.max(HEADS[key].length * HEAD_CHAR, ...list.map((n) => n.need)));
  }
  return widths;
}

// The arrangement drawn largest in the space: one row reads best; bands and sub-columns
// only when they draw clearly larger.
function bestArrangement(cols, widths, space) {
  let best = null;
  for (const c of candidates(cols, widths)) {
    c.scale = fitScale(c.width, c.height, space) * PREFER[c.arrangement] / (1 + 0.06 * (c.kf + c.kr - 2));
    if (!best || c.scale > best.scale * 1.02) best = c;
  }
  return best;
}

// Give every box of the arrangement its place; returns the column heads.
function place(arrangement) {
  const heads = [];
  for (const band of arrangement.bands) {
    for (const c of band.columns) {
      c.y0 = band.top;
      if (!c.sub) heads.push({ key: c.key, x: c.x, y: band.top + 16, text: HEADS[c.key] });
      for (const [n, y] of c.placed) {
        n.x = c.x;
        n.y = band.top + HEAD + y;
        n.w = c.w;
        n.column = c;
      }
    }
  }
  return heads;
}

/** Lay out one design's state for the space {width, height, scroll} (pixels) it is drawn in.
 * `design` is the design's entry in the server's catalogue (the page's `initial.designs`).
 * Returns {width, height, nodes, edges, hidden, heads, arrangement}. */
export function layoutState(state, design, space = { width: 1100, height: 800, scroll: false }) {
  const { nodes, byId, hidden } = buildNodes(state, design);
  const cols = columnsOf(nodes);
  const best = bestArrangement(cols, columnWidths(cols), space);
  const heads = place(best);
  const edges = routeAll(nodes, byId, best);
  return { width: best.width, height: best.height, nodes, edges, hidden, heads,
    arrangement: `${best.arrangement}/${best.kf}/${best.kr}` };
}

// ----- arrows ------------------------------------------------------------------------------

function buildEdges(nodes, byId) {
  const edges = [];
  const edge = (from, to, kind, label, field) => {
    if (byId.has(from) && byId.has(to)) {
      edges.push({ id: `${kind}:${from}>${to}`, from, to, kind, label,
        field: field || EDGE_KINDS[kind].field });
    }
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
      if (!m || m.kind === "swapper_space") continue;
      const to = m.kind === "pte" ? `pte:${m.pid}:${m.addr}` : `${m.kind}:${m.id}`;
      edge(n.id, to, "mapping", null, MAPPING_FIELDS[m.kind]);
    } else if (n.kind === "slot" && n.slot.cached_pfn != null) {
      edge(n.id, `frame:${n.slot.cached_pfn}`, "swapcache");
    } else if (n.kind === "anon_vma") {
      const av = n.anonVma;
      if (!av.avcs) av.vmas.forEach((v, i) => edge(n.id, `vma:${v}`, "list", String(i + 1)));
      if (av.parent !== undefined && av.parent !== av.id) edge(n.id, `anon_vma:${av.parent}`, "parent");
    } else if (n.kind === "avc") {
      edge(n.id, `vma:${n.avc.vma}`, "avc");
    } else if (n.kind === "anonmm") {
      if (n.anonmm.pid != null) edge(n.id, `mm:${n.anonmm.pid}`, "anonmm");
    } else if (n.kind === "pte_chain") {
      for (const e of n.block.entries) edge(n.id, `pte:${e.pid}:${e.addr}`, "chain");
    }
  }
  return edges;
}

// Where an arrow leaves or reaches a box: beside the line it concerns.
function anchorY(n, role, kind) {
  if (n.kind === "vma") return n.y + (role === "from" ? 7 : 16);
  if (n.kind === "frame" && role === "from" && kind === "mapping") return n.y + 4 + LINE * 1.5;
  if (n.inline || n.kind === "mm" || n.kind === "ghost") return n.y + n.h / 2;
  return n.y + 4 + LINE / 2;
}

// Free stretches of a column, where an arrow may cross it.
function freeSpans(column) {
  const busy = column.placed.map(([n]) => [n.y - 3, n.y + n.h + 3]).sort((a, b) => a[0] - b[0]);
  const spans = [];
  let y = column.y0 + HEAD;
  for (const [a, b] of busy) {
    if (a > y) spans.push([y, a]);
    y = Math.max(y, b);
  }
  spans.push([y, column.band.top + column.band.height + BAND_GAP / 2]);
  return spans;
}

function nearestFree(column, target) {
  let best = null;
  for (const [lo, hi] of column.free) {
    if (hi - lo < 3) continue;
    const y = Math.min(Math.max(target, lo + 1.5), hi - 1.5);
    if (best === null || Math.abs(y - target) < Math.abs(best - target)) best = y;
  }
  return best;
}

// The gutters' lanes: each arrow through a gutter gets a lane of its own, 4 units apart
// (wrapping, offset by 2, when the gutter is full), in the order the arrows are routed.
function gutterLanes(layout) {
  const lanes = new Map();
  const lane = (gutter, x0, w) => {
    const k = lanes.get(gutter) || 0;
    lanes.set(gutter, k + 1);
    const n = Math.max(1, Math.floor((w - 8) / 4));
    return x0 + 4 + (k % n) * 4 + ((Math.floor(k / n) % 2) * 2);
  };
  // gutter to the right of column c (or left of the first column when side = "left")
  const gutterX = (band, i, side) => {
    const cols = band.columns;
    if (side === "left") return i === 0 ? lane(`${band.top}:L`, 0, MARGIN) : gutterX(band, i - 1, "right");
    const c = cols[i];
    const x0 = c.x + c.w;
    const w = i + 1 < cols.length ? cols[i + 1].x - x0 : GUTTER;
    return lane(`${band.top}:${i}`, x0, w);
  };
  // the vertical run between bands, right of everything
  const trunk = () => lane("trunk", layout.width - GUTTER, GUTTER);
  return { gutterX, trunk };
}

// From the last point of `pts`, cross the columns `between` (in travel order), jogging in
// the `gutters` (one more than the columns), to reach height yb and end at endX.
function cross(pts, between, gutters, endX, yb) {
  let y = pts[pts.length - 1][1];
  between.forEach((col, k) => {
    // keep the height while the column lets it through; beside the target, aim at it
    const yc = k === between.length - 1 ? nearestFree(col, yb) : nearestFree(col, y);
    const gx = gutters[k];
    pts.push([gx, y]);
    if (yc !== y) { pts.push([gx, yc]); y = yc; }
  });
  const gx = gutters[between.length];
  pts.push([gx, y]);
  if (y !== yb) pts.push([gx, yb]);
  pts.push([endX, yb]);
}

// An arrow between two columns of one band: right or left through the columns between.
function routeInBand(a, b, ya, yb, lanes) {
  const ca = a.column; const cb = b.column;
  const cols = ca.band.columns;
  const right = cb.index > ca.index;
  const step = right ? 1 : -1;
  const between = [];
  for (let i = ca.index + step; i !== cb.index; i += step) between.push(cols[i]);
  const gutters = [];
  for (let i = ca.index; i !== cb.index; i += step) gutters.push(lanes.gutterX(ca.band, i, right ? "right" : "left"));
  const pts = [[right ? a.x + a.w : a.x + (a.indent || 0), ya]];
  cross(pts, between, gutters, right ? b.x + (b.indent || 0) : b.x + b.w, yb);
  return pts;
}

// An arrow within one column: a loop through the gutter on its right.
function routeInColumn(a, b, ya, yb, lanes) {
  const gx = lanes.gutterX(a.column.band, a.column.index, "right");
  return [[a.x + a.w, ya], [gx, ya], [gx, yb], [b.x + b.w, yb]];
}

// An arrow to another band: out to the right, up or down the trunk, in from the right.
function routeAcrossBands(a, b, ya, yb, lanes) {
  const ca = a.column; const cb = b.column;
  const colsA = ca.band.columns; const colsB = cb.band.columns;
  const tx = lanes.trunk();
  const pts = [[a.x + a.w, ya]];
  let y = ya;
  for (let i = ca.index + 1; i < colsA.length; i += 1) {
    const gx = lanes.gutterX(ca.band, i - 1, "right");
    const yc = nearestFree(colsA[i], y);
    pts.push([gx, y]);
    if (yc !== y) { pts.push([gx, yc]); y = yc; }
  }
  pts.push([tx, y]);
  const between = colsB.slice(cb.index + 1).reverse();
  const gutters = [];
  for (let i = colsB.length - 1; i >= cb.index; i -= 1) gutters.push(lanes.gutterX(cb.band, i, "right"));
  // the trunk runs in the last gutter of band B, so that gutter is the trunk itself
  gutters[0] = tx;
  cross(pts, between, gutters, b.x + b.w, yb);
  return pts;
}

// Every arrow of the state, routed through the placed layout.
function routeAll(nodes, byId, layout) {
  const edges = buildEdges(nodes, byId);
  for (const band of layout.bands) {
    band.columns.forEach((c, i) => { c.band = band; c.index = i; c.free = freeSpans(c); });
  }
  const lanes = gutterLanes(layout);
  for (const e of edges) {
    const a = byId.get(e.from);
    const b = byId.get(e.to);
    const ya = anchorY(a, "from", e.kind);
    const yb = anchorY(b, "to", e.kind);
    const route = a.column.band !== b.column.band ? routeAcrossBands
      : a.column.index !== b.column.index ? routeInBand : routeInColumn;
    e.points = simplify(route(a, b, ya, yb, lanes));
    e.d = `M${e.points.map(([x, y]) => `${round(x)},${round(y)}`).join(" L")}`;
    const [lx, ly] = e.points[e.points.length - 1];
    const into = e.points[e.points.length - 2];
    e.mid = { x: into[0] < lx ? lx - 10 : lx + 4, y: ly - 4 };
  }
  return edges;
}

const round = (v) => Math.round(v * 10) / 10;

// Drop repeated points and points on a straight run.
function simplify(pts) {
  const out = [];
  for (const p of pts) {
    const last = out[out.length - 1];
    if (last && last[0] === p[0] && last[1] === p[1]) continue;
    if (out.length >= 2) {
      const q = out[out.length - 2];
      if ((q[0] === last[0] && last[0] === p[0]) || (q[1] === last[1] && last[1] === p[1])) out.pop();
    }
    out.push(p);
  }
  return out;
}
