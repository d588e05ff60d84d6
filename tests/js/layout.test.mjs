// The diagram's geometry (app/static/js/layout.js) on real state documents, without a
// browser: `node --test tests/js/`. The states and the design catalogue come from the
// engine and the page (tests/js/states.py); tests/test_js.py makes them and runs this file.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";

import { FONT, LIMITS, layoutState } from "../../app/static/js/layout.js";

const path = process.env.RMAPLAB_LAYOUT_STATES;
if (!path) {
  throw new Error("RMAPLAB_LAYOUT_STATES is not set: run `pytest tests/test_js.py`, or "
    + "`python -m tests.js.states > states.json` and set it to that file");
}
const doc = JSON.parse(readFileSync(path, "utf8"));
const catalogue = new Map(doc.designs.map((d) => [d.name, d]));
const SPACES = {
  "a wide window": { width: 1600, height: 800, scroll: false },
  "a tall column": { width: 520, height: 1000, scroll: false },
  "a phone": { width: 360, height: 0, scroll: true },
};

const copy = (state) => JSON.parse(JSON.stringify(state));
const layout = (state, space) => layoutState(copy(state), catalogue.get(state.design), space);
const stateNamed = (prefix) => doc.states.find((s) => s.name.startsWith(prefix)).state;

// What the renderer draws of a layout, in order: every box and every arrow.
function drawn(l) {
  return JSON.stringify({ width: l.width, height: l.height, heads: l.heads, arrangement: l.arrangement,
    nodes: l.nodes.map((n) => [n.id, n.x, n.y, n.w, n.h, n.lines]),
    edges: l.edges.map((e) => [e.id, e.d, e.mid]) });
}

const overlap = (a, b) => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;

for (const { name, state } of doc.states) {
  describe(name, () => {
    for (const [where, space] of Object.entries(SPACES)) {
      it(`places every box apart, inside the drawing, in ${where}`, () => {
        const l = layout(state, space);
        assert.ok(l.nodes.length > 0);
        for (const n of l.nodes) {
          assert.ok(n.w > 0 && n.h > 0, `${n.id} has no size`);
          assert.ok(n.x >= 0 && n.y >= 0 && n.x + n.w <= l.width && n.y + n.h <= l.height,
            `${n.id} at (${n.x}, ${n.y}) ${n.w}x${n.h} is outside ${l.width}x${l.height}`);
        }
        l.nodes.forEach((a, i) => {
          for (const b of l.nodes.slice(i + 1)) assert.ok(!overlap(a, b), `${a.id} overlaps ${b.id}`);
        });
      });

      it(`gives every arrow both ends, routed at right angles, in ${where}`, () => {
        const l = layout(state, space);
        const byId = new Map(l.nodes.map((n) => [n.id, n]));
        for (const e of l.edges) {
          const a = byId.get(e.from);
          const b = byId.get(e.to);
          assert.ok(a && b, `${e.id} misses an end`);
          const [x0, y0] = e.points[0];
          const [x1, y1] = e.points[e.points.length - 1];
          assert.ok([a.x + a.w, a.x + (a.indent || 0)].includes(x0) && y0 >= a.y && y0 <= a.y + a.h,
            `${e.id} does not leave ${a.id}`);
          assert.ok([b.x + b.w, b.x + (b.indent || 0)].includes(x1) && y1 >= b.y && y1 <= b.y + b.h,
            `${e.id} does not reach ${b.id}`);
          e.points.slice(1).forEach(([x, y], k) => {
            const [px, py] = e.points[k];
            assert.ok(x === px || y === py, `${e.id} has a slanted segment`);
          });
          assert.ok(e.points.every(([x, y]) => x >= 0 && y >= 0 && x <= l.width && y <= l.height),
            `${e.id} leaves the drawing`);
        }
        assert.equal(new Set(l.edges.map((e) => e.id)).size, l.edges.length, "an arrow is drawn twice");
      });
    }

    it("fits every label in its box", () => {
      for (const n of layout(state).nodes) {
        const text = n.inline ? n.lines.join("  ") : null;
        for (const line of text ? [text] : n.lines) {
          assert.ok(line.length * 0.602 * FONT <= n.w, `${n.id}: "${line}" is wider than its box`);
        }
      }
    });

    it("draws every pointer of the state as an arrow", () => {
      const l = layout(state);
      const ids = new Set(l.edges.map((e) => `${e.from}>${e.to}`));
      const shown = new Set(l.nodes.map((n) => n.id));
      for (const mm of state.mms) {
        for (const p of mm.ptes.filter((q) => shown.has(`pte:${mm.pid}:${q.addr}`))) {
          const to = p.kind === "page" ? `frame:${p.pfn}` : p.kind === "swap" ? `slot:${p.slot}` : "zero";
          assert.ok(ids.has(`pte:${mm.pid}:${p.addr}>${to}`), `the PTE at ${p.addr} of pid ${mm.pid}`);
        }
        for (const v of mm.vmas.filter((w) => w.anon_vma != null)) {
          assert.ok(ids.has(`vma:${v.id}>anon_vma:${v.anon_vma}`), `vma ${v.id}'s anon_vma`);
        }
      }
      for (const page of state.pages.filter((p) => p.mapping && p.mapping.kind !== "swapper_space")) {
        assert.ok([...ids].some((id) => id.startsWith(`frame:${page.pfn}>`)), `frame ${page.pfn}'s mapping`);
      }
      for (const s of state.swap.filter((t) => t.cached_pfn != null)) {
        assert.ok(ids.has(`slot:${s.slot}>frame:${s.cached_pfn}`), `slot ${s.slot}'s swap cache`);
      }
    });

    it("is the same for the same state", () => {
      for (const space of Object.values(SPACES)) assert.equal(drawn(layout(state, space)), drawn(layout(state, space)));
    });
  });
}

describe("the design catalogue", () => {
  // each vma's label, its wrapped lines joined again
  const vmaLines = (state) => layout(state).nodes.filter((n) => n.kind === "vma")
    .map((n) => n.lines.map((l) => l.trim()).join(" "));

  it("shows each vma's anon_vma where the design's vmas have one", () => {
    const lines = vmaLines(stateNamed("s3-fork-shares under anon_vma_267"));
    assert.ok(lines.length && lines.every((l) => / · anon_vma \d+ /.test(l)), lines.join("; "));
  });

  it("shows no anon_vma pointer where the design has none", () => {
    for (const design of doc.designs.filter((d) => !d.vma_anon_vma)) {
      const lines = vmaLines(stateNamed(`s3-fork-shares under ${design.name}`));
      assert.ok(lines.length && lines.every((l) => !l.includes("anon_vma")), lines.join("; "));
    }
  });

  it("comes from the server for every design the states use", () => {
    for (const { state } of doc.states) assert.equal(typeof catalogue.get(state.design)?.vma_anon_vma, "boolean");
  });
});

describe("a state too large to draw whole", () => {
  // tons-of-vmas' processes again and again, each with its own pid and vma ids
  const base = stateNamed("tons-of-vmas");
  const big = copy(base);
  big.mms = [];
  for (let k = 0; k < LIMITS.processes + 3; k += 1) {
    for (const mm of base.mms) {
      big.mms.push({ ...mm, pid: 1000 * (k + 1) + mm.pid,
        vmas: mm.vmas.map((v) => ({ ...v, id: 1000 * (k + 1) + v.id })) });
    }
  }
  const l = layout(big);

  it("shows the first processes and says how many more there are", () => {
    assert.equal(l.nodes.filter((n) => n.kind === "mm").length, LIMITS.processes);
    assert.equal(l.hidden.processes, big.mms.length - LIMITS.processes);
    assert.ok(l.nodes.some((n) => n.id === "mm-more" && n.lines[0].includes(String(l.hidden.processes))));
  });

  it("summarises the PTEs of each vma instead of drawing them", () => {
    assert.equal(l.nodes.filter((n) => n.kind === "pte").length, 0);
    const shown = big.mms.slice(0, LIMITS.processes).reduce((s, mm) => s + mm.ptes.length, 0);
    assert.equal(l.hidden.ptes, shown);
  });
});

describe("a freed object still pointed at", () => {
  it("is drawn as a ghost the dangling pointer reaches", () => {
    const l = layout(stateNamed("rc3-oops"));
    const ghosts = l.nodes.filter((n) => n.kind === "ghost");
    assert.ok(ghosts.length > 0);
    for (const g of ghosts) assert.ok(l.edges.some((e) => e.to === g.id), `nothing reaches ${g.id}`);
  });
});
