// The SVG pointer diagram of one design: draws a layout, keeps elements keyed by engine
// id so they move (not jump) between steps, and marks what changed with short-lived
// CSS classes. One <g> layer per concept.

import { COLUMNS } from "./layout.js";

const SVG = "http://www.w3.org/2000/svg";
const MARK_MS = 2600;
const LARGE = 250;

function el(name, attrs = {}, parent = null) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (parent) parent.appendChild(e);
  return e;
}

function signature(n) {
  return `${n.h}|${n.lines.join("|")}|${(n.classes || []).join(" ")}|${n.badge || ""}`;
}

export class Diagram {
  constructor(container, design) {
    this.design = design;
    this.svg = el("svg", { class: "diagram", role: "img",
      "aria-label": `Pointer diagram of ${design}`, xmlns: SVG });
    container.appendChild(this.svg);
    const defs = el("defs", {}, this.svg);
    for (const kind of ["arrow", "arrow-hot"]) {
      const m = el("marker", { id: `${kind}-${design}`, viewBox: "0 0 10 10", refX: "9",
        refY: "5", markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse" }, defs);
      el("path", { d: "M0,0 L10,5 L0,10 z", class: kind }, m);
    }
    this.heads = el("g", { class: "layer-heads" }, this.svg);
    this.edgeLayer = el("g", { class: "layer-edges" }, this.svg);
    this.nodeLayer = el("g", { class: "layer-nodes" }, this.svg);
    for (const [key, c] of Object.entries(COLUMNS)) {
      const t = el("text", { x: c.x + 2, y: 16, class: `column-head column-${key}` }, this.heads);
      t.textContent = c.title;
    }
    this.nodes = new Map();
    this.edges = new Map();
    this.first = true;
    this.onClick = null;
    this.svg.addEventListener("click", (event) => {
      const g = event.target.closest("[data-id]");
      if (g && this.onClick) this.onClick(g.dataset.id, event);
    });
    this.svg.addEventListener("mouseover", (event) => {
      const g = event.target.closest(".node[data-id]");
      this.hover(g ? g.dataset.id : null);
    });
    this.svg.addEventListener("mouseleave", () => this.hover(null));
  }

  // Draw a layout; returns the ids of nodes that are new or changed.
  draw(layout) {
    const changed = new Set();
    const now = performance.now();
    this.svg.setAttribute("viewBox", `0 0 ${layout.width} ${layout.height}`);
    this.svg.setAttribute("width", layout.width);
    this.svg.setAttribute("height", layout.height);
    this.svg.style.maxWidth = `${layout.width}px`;
    // A large diagram moves its nodes without tweening: a software-rendered page cannot
    // repaint hundreds of sliding boxes at 60 frames a second; changes still pulse.
    this.svg.classList.toggle("large", layout.nodes.length > LARGE);
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
      if (fresh || g.dataset.sig !== sig) {
        this.fill(g, n);
        g.dataset.sig = sig;
        if (!this.first) changed.add(n.id);
      }
      // Touch the DOM only where something differs: thousands of nodes stay cheap.
      const cls = ["node", `node-${n.kind}`, ...(n.classes || [])].join(" ");
      if (g.dataset.cls !== cls) { g.setAttribute("class", cls); g.dataset.cls = cls; }
      const at = `translate(${n.x + (n.indent || 0)}px, ${n.y}px)`;
      if (g.dataset.at !== at) { g.style.transform = at; g.dataset.at = at; }
      if (fresh || changed.has(n.id)) g.setAttribute("aria-label", n.lines.join(", "));
      if (!this.first && (fresh || changed.has(n.id))) this.mark(g, fresh ? "added" : "changed", now);
    }
    for (const [id, g] of this.nodes) {
      if (!seen.has(id)) { g.remove(); this.nodes.delete(id); }
    }
    const seenEdges = new Set();
    for (const e of layout.edges) {
      seenEdges.add(e.id);
      let p = this.edges.get(e.id);
      const fresh = !p;
      if (fresh) {
        p = el("g", { "data-edge": e.id }, this.edgeLayer);
        el("path", { class: "edge-line" }, p);
        if (e.label) el("text", { class: "edge-label" }, p);
        this.edges.set(e.id, p);
      }
      if (fresh) {
        p.setAttribute("class", `edge edge-${e.kind}`);
        p.dataset.from = e.from;
        p.dataset.to = e.to;
        p.firstChild.setAttribute("marker-end", `url(#arrow-${this.design})`);
      }
      if (p.dataset.d !== e.d) { p.firstChild.setAttribute("d", e.d); p.dataset.d = e.d; }
      if (e.label) {
        const t = p.lastChild;
        t.setAttribute("x", e.mid.x);
        t.setAttribute("y", e.mid.y - 2);
        t.textContent = e.label;
      }
      if (!this.first && (fresh || changed.has(e.from) || changed.has(e.to))) {
        this.mark(p, fresh ? "added" : "changed", now);
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
    el("rect", { width: n.w - (n.indent || 0), height: n.h, rx: n.inline ? 3 : 6, class: "box" }, g);
    const size = n.inline ? 11 : 12;
    n.lines.forEach((line, i) => {
      const t = el("text", { x: 6, y: (n.inline ? 13 : 15) + i * 14,
        class: i === 0 ? "title" : "line", "font-size": size }, g);
      t.textContent = line;
    });
    if (n.inline && n.lines.length > 1) {
      // a PTE: address left, target right
      const [addr, target] = g.querySelectorAll("text");
      target.setAttribute("x", n.w - 6);
      target.setAttribute("y", 13);
      target.setAttribute("text-anchor", "end");
      addr.setAttribute("class", "title");
    }
    if (n.badge) {
      const b = el("g", { class: "badge" }, g);
      el("rect", { x: n.w - 58, y: 4, width: 52, height: 15, rx: 7 }, b);
      const t = el("text", { x: n.w - 32, y: 15, "text-anchor": "middle" }, b);
      t.textContent = n.badge;
    }
  }

  mark(elem, cls, now) {
    // restart the CSS animation on the next frame, without forcing a layout now
    elem.classList.remove("added", "changed");
    elem.dataset.marked = String(now);
    requestAnimationFrame(() => {
      if (elem.dataset.marked !== String(now)) return;
      elem.classList.add(cls);
      setTimeout(() => {
        if (elem.dataset.marked === String(now)) elem.classList.remove(cls);
      }, MARK_MS);
    });
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
