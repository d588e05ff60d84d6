// The SVG pointer diagram of one design: draws a layout at a scale, keeps elements keyed by
// engine id so they move (not jump) between steps, and marks what changed until the next
// step. One <g> layer per concept.

import { EDGE_KINDS, FONT, LINE, badgeWidth } from "./layout.js";

const SVG = "http://www.w3.org/2000/svg";
const LARGE = 250;

export function el(name, attrs = {}, parent = null) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (parent) parent.appendChild(e);
  return e;
}

function signature(n) {
  return `${n.w}|${n.h}|${n.lines.join("|")}|${(n.classes || []).join(" ")}|${n.badge || ""}`;
}

// What a node is, for its tooltip and screen readers.
function nodeLabel(n) {
  return n.kind === "ghost" ? `${n.lines[0]}: freed, but still pointed at (a dangling pointer)`
    : n.lines.join(", ");
}

export class Diagram {
  constructor(container, design) {
    this.design = design;
    this.svg = el("svg", { class: "diagram", role: "group",
      "aria-label": `Pointer diagram of ${design}`, xmlns: SVG });
    container.appendChild(this.svg);
    const defs = el("defs", {}, this.svg);
    for (const kind of ["arrow", "arrow-hot"]) {
      const m = el("marker", { id: `${kind}-${design}`, viewBox: "0 0 10 10", refX: "10",
        refY: "5", markerWidth: "6", markerHeight: "6", orient: "auto-start-reverse",
        markerUnits: "strokeWidth" }, defs);
      el("path", { d: "M0,0 L10,5 L0,10 z", class: kind }, m);
    }
    this.heads = el("g", { class: "layer-heads" }, this.svg);
    this.edgeLayer = el("g", { class: "layer-edges" }, this.svg);
    this.nodeLayer = el("g", { class: "layer-nodes" }, this.svg);
    this.labelLayer = el("g", { class: "layer-labels" }, this.svg);
    this.nodes = new Map();
    this.edges = new Map();
    this.first = true;
    this.onClick = null;
    this.onEdge = null;
    this.svg.addEventListener("click", (event) => {
      const g = event.target.closest("[data-id]");
      if (g && this.onClick) { this.onClick(g.dataset.id, event); return; }
      const e = event.target.closest("[data-edge]");
      if (e && this.onEdge) this.onEdge(e.dataset.edge, e.dataset.field);
    });
    this.svg.addEventListener("mouseover", (event) => {
      const g = event.target.closest(".node[data-id]");
      this.hover(g ? g.dataset.id : null);
    });
    this.svg.addEventListener("mouseleave", () => this.hover(null));
  }

  // Draw a layout at `scale` pixels per unit; returns the ids of nodes that are new or changed.
  draw(layout, scale = 1) {
    const changed = new Set();
    this.scale = scale;
    this.layout = layout;
    this.svg.setAttribute("viewBox", `0 0 ${layout.width} ${layout.height}`);
    this.svg.setAttribute("width", Math.round(layout.width * scale));
    this.svg.setAttribute("height", Math.round(layout.height * scale));
    this.svg.dataset.arrangement = layout.arrangement;
    // A large diagram moves its nodes without tweening: a software-rendered page cannot
    // repaint hundreds of sliding boxes at 60 frames a second.
    this.svg.classList.toggle("large", layout.nodes.length > LARGE);
    // what changed stays marked until the next step
    for (const g of this.svg.querySelectorAll(".added, .changed")) g.classList.remove("added", "changed");
    this.heads.replaceChildren();
    for (const h of layout.heads) {
      el("text", { x: h.x + 2, y: h.y, class: `column-head column-${h.key}` }, this.heads)
        .textContent = h.text;
    }
    const seen = new Set();
    for (const n of layout.nodes) {
      seen.add(n.id);
      let g = this.nodes.get(n.id);
      const sig = signature(n);
      const fresh = !g;
      if (fresh) {
        g = el("g", { "data-id": n.id, tabindex: "0", role: "button" }, this.nodeLayer);
        this.nodes.set(n.id, g);
      }
      const content = n.lines.join("|") + (n.classes || []).join(" ");
      if (fresh || g.dataset.sig !== sig) {
        this.fill(g, n);
        g.dataset.sig = sig;
        if (!this.first && (fresh || g.dataset.content !== content)) changed.add(n.id);
        g.dataset.content = content;
        g.setAttribute("aria-label", nodeLabel(n));
      }
      const cls = ["node", `node-${n.kind}`, ...(n.classes || [])].join(" ");
      if (g.dataset.cls !== cls) { g.setAttribute("class", cls); g.dataset.cls = cls; }
      const at = `translate(${n.x + (n.indent || 0)}px, ${n.y}px)`;
      if (g.dataset.at !== at) { g.style.transform = at; g.dataset.at = at; }
      if (changed.has(n.id)) g.classList.add(fresh ? "added" : "changed");
    }
    for (const [id, g] of this.nodes) {
      if (!seen.has(id)) { g.remove(); this.nodes.delete(id); }
    }
    this.labelLayer.replaceChildren();
    const seenEdges = new Set();
    for (const e of layout.edges) {
      seenEdges.add(e.id);
      let p = this.edges.get(e.id);
      const fresh = !p;
      if (fresh) {
        p = el("g", { "data-edge": e.id, class: `edge edge-${e.kind}` }, this.edgeLayer);
        p.dataset.from = e.from;
        p.dataset.to = e.to;
        p.dataset.field = e.field;
        el("title", {}, p).textContent = `${e.field}: ${e.from.replace(":", " ")} → ${e.to.replace(":", " ")}`;
        el("path", { class: "edge-hit" }, p);
        el("path", { class: "edge-line", "marker-end": `url(#arrow-${this.design})` }, p);
        this.edges.set(e.id, p);
      }
      if (p.dataset.d !== e.d) {
        for (const path of p.querySelectorAll("path")) path.setAttribute("d", e.d);
        p.dataset.d = e.d;
      }
      if (e.label) {
        el("text", { class: `edge-label edge-label-${e.kind}`, x: e.mid.x, y: e.mid.y,
          "data-edge-label": e.id }, this.labelLayer).textContent = e.label;
      }
      if (!this.first && (fresh || changed.has(e.from) || changed.has(e.to))) {
        p.classList.add(fresh ? "added" : "changed");
      }
    }
    for (const [id, p] of this.edges) {
      if (!seenEdges.has(id)) { p.remove(); this.edges.delete(id); }
    }
    this.first = false;
    return changed;
  }

  fill(g, n) {
    while (g.firstChild) g.firstChild.remove();
    const w = n.w - (n.indent || 0);
    el("rect", { width: w, height: n.h, rx: n.inline ? 3 : 6, class: "box" }, g);
    if (n.inline) {
      // a PTE: address left, target right
      const [left, right] = n.lines;
      el("text", { x: 6, y: 13.5, class: "title", "font-size": FONT }, g).textContent = left;
      if (right) {
        el("text", { x: w - 6, y: 13.5, class: "line", "text-anchor": "end", "font-size": FONT }, g)
          .textContent = right;
      }
    } else {
      n.lines.forEach((line, i) => {
        el("text", { x: 6, y: 15 + i * LINE, class: i === 0 ? "title" : "line", "font-size": FONT }, g)
          .textContent = line;
      });
    }
    if (n.badge) {
      const bw = badgeWidth(n.badge);
      const b = el("g", { class: "badge" }, g);
      el("rect", { x: w - bw - 5, y: 3, width: bw, height: 16, rx: 8 }, b);
      el("text", { x: w - 5 - bw / 2, y: 15.5, "text-anchor": "middle" }, b).textContent = n.badge;
    }
  }

  // Emphasise some nodes (and the arrows between them); null clears.
  focus(ids, cls = "focus") {
    for (const g of this.svg.querySelectorAll(`.${cls}`)) g.classList.remove(cls);
    if (!ids) return;
    const set = new Set(ids);
    for (const id of set) this.nodes.get(id)?.classList.add(cls);
    for (const p of this.edges.values()) {
      if (set.has(p.dataset.from) || set.has(p.dataset.to)) p.classList.add(cls);
    }
  }

  hover(id) {
    this.focus(id ? [id] : null, "hover");
  }
}

// A legend of the arrows of the given kinds (and of ghosts), as an SVG group `width` wide.
export function legend(parent, kinds, width, ghosts = false) {
  const g = el("g", { class: "legend" }, parent);
  const rows = [...kinds].filter((k) => EDGE_KINDS[k]).map((k) => [k, EDGE_KINDS[k]]);
  const colW = 470;
  const perRow = Math.max(1, Math.floor(width / colW));
  rows.forEach(([kind, info], i) => {
    const x = (i % perRow) * colW;
    const y = Math.floor(i / perRow) * 20;
    const item = el("g", { class: `edge edge-${kind}`, transform: `translate(${x},${y})` }, g);
    el("path", { class: "edge-line", d: "M2,8 L40,8" }, item);
    el("text", { x: 48, y: 12, class: "legend-text" }, item).textContent = `${info.field}: ${info.about}`;
  });
  let n = rows.length;
  if (ghosts) {
    const x = (n % perRow) * colW;
    const y = Math.floor(n / perRow) * 20;
    const item = el("g", { class: "node node-ghost ghost", transform: `translate(${x},${y})` }, g);
    el("rect", { class: "box", x: 2, y: 1, width: 38, height: 14, rx: 3 }, item);
    el("text", { x: 48, y: 12, class: "legend-text" }, item).textContent = "freed, still pointed at";
    n += 1;
  }
  return Math.ceil(n / perRow) * 20;
}
