// The panels: one per design shown, side by side, each with its costs, its invariants
// badge, and its state drawn as a diagram (or as tables) at the size its column offers.

import { api } from "./api.js";
import { drawChart } from "./chart.js";
import { Diagram, el } from "./diagram.js";
import { EDGE_KINDS, displayScale, layoutState } from "./layout.js";
import { renderTables } from "./tables.js";
import { updateUrl } from "./url.js";
import { variantEra, variantName } from "./variants.js";

const $ = (id) => document.getElementById(id);
const narrow = window.matchMedia("(max-width: 760px)");
let ctx = null;  // from app.js: {lab, walks, designInfo, say, clicked, fillDesigns, narrate, go}

/** A panel per design of the session; the picker, the switches and the description follow. */
export function buildPanels() {
  const { lab } = ctx;
  const root = $("panels");
  root.replaceChildren();
  lab.panels = lab.session.designs.map((d, i) => {
    const panel = document.createElement("section");
    panel.className = "panel";
    panel.dataset.design = d.design;
    const head = document.createElement("header");
    const title = document.createElement("h2");
    const info = ctx.designInfo.get(d.design);
    title.textContent = variantName(d);
    title.title = info?.description || "";
    const era = document.createElement("span");
    era.className = "era";
    era.textContent = info ? `${info.title} · ${variantEra(d)}` : "";
    era.title = era.textContent;  // the whole line, where the panel cuts it short
    const costs = document.createElement("span");
    costs.className = "costs";
    const badge = document.createElement("span");
    head.append(title, era, costs, badge);
    const scroll = document.createElement("div");
    scroll.className = "scroll";
    const diagram = new Diagram(scroll, `${d.design}-${i}`);
    diagram.onClick = (id, event) => ctx.clicked(i, id, event);
    const tables = document.createElement("div");
    tables.className = "tables";
    tables.hidden = true;
    scroll.appendChild(tables);
    diagram.onEdge = (id, field) => {
      const [, ends] = id.split(/:(.*)/s);
      ctx.say(`${field}: ${ends.replace(">", " → ").replace(/:/g, " ")}`, "info");
    };
    panel.append(head, scroll);
    root.appendChild(panel);
    return { root: panel, diagram, tables, costs, badge, scroll };
  });
  root.style.setProperty("--designs", String(lab.panels.length));
  document.body.style.setProperty("--designs", String(lab.panels.length));
  document.body.classList.toggle("multi", lab.panels.length > 1);
  ctx.fillDesigns();
  $("scenario").value = lab.scenario ?? (lab.ops.length ? "__custom" : "");
  describe(lab.session.scenario?.title || (lab.scenario ? lab.scenario : "Free play"),
    lab.session.scenario?.description
    || (lab.scenario ? "" : "Free play: click a process, a vma, a page-table entry or a frame."));
}

// The scenario's description: open at step 0, folded away once the story has started.
function describe(title, text) {
  $("scenario-title").textContent = title;
  $("scenario-description").textContent = text;
  if (!ctx.lab.aboutTouched) $("about").open = ctx.lab.session.step === 0;
}

// The space a panel's diagram may fill, in pixels.
function spaceOf(panel) {
  const box = panel.scroll;
  if (narrow.matches) return { width: Math.max(200, box.clientWidth - 2), height: 0, scroll: true };
  return { width: Math.max(200, box.clientWidth - 4), height: Math.max(120, box.clientHeight - 4),
    scroll: false };
}

/** Lay out and draw one panel's state at the size its column offers. */
export function drawPanel(panel, state) {
  const space = spaceOf(panel);
  const layout = layoutState(state, ctx.designInfo.get(state.design), space);
  panel.diagram.draw(layout, displayScale(layout.width, layout.height, space, ctx.lab.zoom));
  return layout;
}

/** Lay out and draw every design at the size its column offers; the legend follows. */
export function drawDiagrams() {
  const { lab } = ctx;
  if (lab.tableView || !lab.view) return;
  const kinds = new Set();
  let ghosts = false;
  lab.view.designs.forEach((d, i) => {
    const layout = drawPanel(lab.panels[i], d.state);
    for (const e of layout.edges) kinds.add(e.kind);
    ghosts ||= layout.nodes.some((n) => n.kind === "ghost");
  });
  drawLegend(kinds, ghosts);
}

function drawLegend(kinds, ghosts) {
  const list = $("legend");
  list.replaceChildren();
  const item = (swatch, field, about) => {
    const li = document.createElement("li");
    const svg = el("svg", { class: "diagram", viewBox: "0 0 44 14", "aria-hidden": "true" });
    swatch(svg);
    const code = document.createElement("code");
    code.textContent = field;
    li.append(svg, code, ` ${about}`);
    list.appendChild(li);
  };
  for (const kind of Object.keys(EDGE_KINDS).filter((k) => kinds.has(k))) {
    item((svg) => el("path", { class: "edge-line", d: "M2,7 L42,7" },
      el("g", { class: `edge edge-${kind}` }, svg)), EDGE_KINDS[kind].field, EDGE_KINDS[kind].about);
  }
  if (ghosts) {
    item((svg) => el("rect", { class: "box", x: 2, y: 1, width: 40, height: 12, rx: 3 },
      el("g", { class: "node ghost" }, svg)), "freed", "an object already freed that something still points at");
  }
}

/** Show the current view: costs, badges, diagrams or tables, narration, the time controls,
 * the chart and the URL. */
export function render() {
  const { lab } = ctx;
  const v = lab.view;
  const started = performance.now();
  v.designs.forEach((d, i) => {
    const panel = lab.panels[i];
    const c = d.counters;
    panel.costs.innerHTML = "";
    const parts = [["walks", c.rmap_walks], ["visits", c.rmap_visits], ["misses", c.rmap_misses],
      ["rmap bytes", c.rmap_bytes], ["struct page bytes", c.page_bytes]];
    for (const [name, value] of parts) {
      const b = document.createElement("b");
      b.textContent = value ?? 0;
      panel.costs.append(`${name} `, b, "  ");
    }
    const ok = d.invariants.ok;
    panel.badge.className = ok ? "badge-ok" : "badge-bad";
    panel.badge.textContent = ok ? "✓ invariants hold"
      : `✗ ${d.invariants.violations.length} invariant violation${d.invariants.violations.length === 1 ? "" : "s"}`;
    panel.diagram.svg.style.display = lab.tableView ? "none" : "";
    panel.tables.hidden = !lab.tableView;
    if (lab.tableView) renderTables(panel.tables, d.state);
  });
  drawDiagrams();
  lab.lastRenderMs = performance.now() - started;
  ctx.narrate();
  const s = lab.session;
  $("slider").max = String(s.length);
  $("slider").value = String(s.step);
  $("jump").max = String(s.length);
  $("jump").value = String(s.step);
  $("length").textContent = String(s.length);
  $("back").disabled = $("first").disabled = s.step === 0;
  $("forward").disabled = $("last").disabled = s.step >= s.length;
  drawCosts();
  updateUrl(lab);
  ctx.walks.rendered(v);
}

/** The cost chart; in predict mode it stops at the current step, so it gives nothing away. */
export function drawCosts() {
  const { lab } = ctx;
  drawChart($("chart"), lab.series, lab.session.step, (n) => ctx.go(n), lab.predict);
}

/** Fetch the session's cost series for the chart. */
export async function refreshSeries() {
  const { lab } = ctx;
  try {
    lab.series = await api.series(lab.session.id);
    drawCosts();
  } catch (err) {
    console.error(err);
  }
}

export function install(context) {
  ctx = context;
}
