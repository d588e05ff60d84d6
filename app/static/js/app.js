// The laboratory: a session on the server, its designs drawn side by side, time travel,
// free play by direct manipulation, narration, comparison, export. The URL always names
// the view, so a copied link reopens it.

import { api, ApiError } from "./api.js";
import { drawChart } from "./chart.js";
import { wireClassroom } from "./classroom.js";
import { Diagram, el, legend } from "./diagram.js";
import { EDGE_KINDS, displayScale, hex, layoutState, objectNodeIds } from "./layout.js";
import { askLesson } from "./lesson.js";
import { renderTables } from "./tables.js";
import { WalkPlayer } from "./walk.js";
import * as branch from "./branch.js";
import * as editor from "./editor.js";
import { actAt } from "./errors.js";
import * as exporting from "./export.js";
import * as freeplay from "./freeplay.js";
import * as glossary from "./glossary.js";
import { variantEra, variantName } from "./variants.js";

const $ = (id) => document.getElementById(id);
const initial = JSON.parse($("initial").textContent);
const designInfo = new Map(initial.designs.map((d) => [d.name, d]));
const params = new URLSearchParams(location.search);
const embed = params.get("embed") === "1";
const ZOOMS = [0.5, 0.67, 0.8, 1, 1.25, 1.5, 2, 2.5, 3];
const narrow = window.matchMedia("(max-width: 760px)");

const lab = {
  session: null,     // id, designs, scenario, length, step
  ops: [],           // the session's op log
  view: null,        // the current step's view
  scenario: null,    // the built-in scenario the log came from, while unmodified
  file: null,        // the scenario file the log came from (Load a scenario file…)
  panels: [],        // per design: {root, diagram, tables}
  series: null,
  tableView: false,
  timer: null,
  busy: false,
  predict: params.get("predict") === "1",  // ask for a prediction before each step forward
  predicting: false,  // the next step's question is shown, its outcome not yet
  present: params.get("present") === "1",  // presentation mode: diagram and narration only
  zoom: 1,           // times the scale that fits the diagram to its column
  aboutTouched: false,  // the reader opened or closed the scenario's description
};
window.rmaplab = lab; // for the browser tests and the curious
// the reclaim walk, played step by step on the state before the reclaim
const walks = new WalkPlayer(lab, { step: (n) => api.step(lab.session.id, n),
  speed: () => Number($("speed").value), draw: (panel, state) => drawPanel(panel, state) });

// ----- messages ------------------------------------------------------------------------

function say(text, kind = "error") {
  const box = $("error");
  box.textContent = text;
  box.className = kind === "error" ? "error" : "error info";
  box.hidden = !text;
}

async function guarded(work) {
  if (lab.busy) return;
  lab.busy = true;
  try {
    await work();
    if (!$("error").classList.contains("info")) say("");
  } catch (err) {
    if (err instanceof ApiError) say(err.message);
    else { say(`Something went wrong: ${err.message}`); console.error(err); }
  } finally {
    lab.busy = false;
  }
}

// ----- sessions and the URL ------------------------------------------------------------

function designSpec() {
  return lab.session.designs.map((d) => d.design + d.options.map((o) => `+${o}`).join("")).join(",");
}

function parseDesigns(text) {
  // "+" joins a design and its options; a query string may have turned it into a space
  return text.replace(/ /g, "+").split(",").filter(Boolean).map((spec) => {
    const [design, ...options] = spec.split("+");
    return { design, options };
  });
}

function updateUrl() {
  // a link carries the view id, never the session's own id: whoever opens it can look,
  // and changes a copy of their own; this browser keeps its own ids (owners) to reuse
  const p = new URLSearchParams();
  if (lab.scenario && lab.session.read_only) p.set("scenario", lab.scenario);
  else p.set("view", lab.session.view_id);
  p.set("designs", designSpec());
  p.set("step", String(lab.session.step));
  if (embed) p.set("embed", "1");
  if (lab.predict) p.set("predict", "1");
  if (lab.present) p.set("present", "1");
  if (params.get("room")) p.set("room", params.get("room"));
  history.replaceState(null, "", `?${p.toString().replace(/%2C/g, ",").replace(/%2B/g, "+")}`);
}

function linkTo(extra = {}) {
  const url = new URL(location.href);
  for (const [k, v] of Object.entries(extra)) url.searchParams.set(k, v);
  return url.toString();
}

const OWNER = "rmaplab.owner.";

function adopt(doc) {
  lab.session = { id: doc.id, view_id: doc.view_id, read_only: doc.read_only,
    designs: doc.designs, scenario: doc.scenario, length: doc.length, step: doc.step };
  if (!doc.read_only) {
    try { localStorage.setItem(OWNER + doc.view_id, doc.id); } catch { /* private mode */ }
  }
  if (doc.ops) lab.ops = doc.ops;
  lab.view = doc.view;
  lab.series = null;
}

async function open(body, scenarioName) {
  show(await api.createSession(body), scenarioName);
}

function show(doc, scenarioName) {
  lab.scenario = scenarioName ?? null;
  lab.file = null;
  adopt(doc);
  buildPanels();
  render();
  refreshSeries();
}

// A built-in scenario, read-only: no session exists until the first change.
async function view(name, designs, step) {
  const spec = designs?.length ? designs.map((d) => d.design + d.options.map((o) => `+${o}`)
    .join("")).join(",") : null;
  const doc = await api.scenarioView(name, spec);
  if (step) doc.view = await api.step(doc.id, Math.min(step, doc.length));
  show({ ...doc, step: doc.view.step }, name);
}

// Before a change to a read-only session: a session of our own, at the same step.
async function own() {
  if (!lab.session.read_only) return;
  const s = lab.session;
  const body = lab.scenario ? { scenario: lab.scenario, designs: s.designs, at_step: s.step }
    : { designs: s.designs, ops: lab.ops, at_step: s.step };
  const scenario = lab.scenario;
  adopt(await api.createSession(body));
  lab.scenario = scenario;
}

// A move along the log: read-only sessions ask for the step, without moving anything.
async function moveTo(step, change) {
  const s = lab.session;
  if (!s.read_only) return change();
  return { ...s, view: await api.step(s.id, step), step };
}

async function start() {
  const step = Number(params.get("step") || 0);
  const designs = params.get("designs") ? parseDesigns(params.get("designs")) : null;
  if (params.get("s")) { await exporting.openLink(params.get("s"), params.has("step") ? step : null); return; }
  if (params.get("view")) {
    let owner = null;
    try { owner = localStorage.getItem(OWNER + params.get("view")); } catch { /* none */ }
    // ours: reuse it (a reload); anyone else's: look at it, read-only
    const doc = await (owner ? api.session(owner).catch(() => api.session(params.get("view")))
      : api.session(params.get("view")));
    if (doc.read_only && step !== doc.step) {
      doc.view = await api.step(doc.id, Math.min(step, doc.length));
      doc.step = doc.view.step;
    }
    show(doc, null);
    return;
  }
  if (params.get("session")) {
    // Reopen a shared session as our own copy, so two viewers never move each other.
    const shared = await api.session(params.get("session"));
    await open({ designs: designs ?? shared.designs, ops: shared.ops,
      at_step: Math.min(step, shared.length) }, null);
    return;
  }
  const name = params.get("scenario") || "seed-story";
  const known = initial.scenarios.find((s) => s.name === name);
  if (!known) {
    await open({ designs: designs ?? [] }, null);
    exporting.notFound(name, initial.scenarios);
    return;
  }
  await view(name, designs, Math.min(step, known.steps));
}

// ----- the picker and the design switches ------------------------------------------------

function fillPicker() {
  const select = $("scenario");
  for (const s of initial.scenarios) {
    const o = document.createElement("option");
    o.value = s.name;
    o.textContent = s.title || s.name;
    select.appendChild(o);
  }
  const empty = document.createElement("option");
  empty.value = "";
  empty.textContent = "(an empty machine: free play)";
  select.appendChild(empty);
  select.addEventListener("change", () => guarded(async () => {
    stop();
    if (!select.value) {
      await open({ designs: lab.session.designs }, null);
      lab.session.scenario = null;
    } else {
      // a scenario opens on its own design and options (the bug it shows needs them)
      await view(select.value, [], 0);
    }
    $("stage").focus();
  }));
}

function fillDesigns() {
  const box = $("designs");
  box.replaceChildren();
  const chosen = new Map(lab.session.designs.map((d) => [d.design, d.options]));
  $("designs-button").textContent = `${lab.session.designs.length === 1 ? lab.session.designs[0].design
    : `${lab.session.designs.length} designs`} ▾`;
  for (const d of initial.designs) {
    const label = document.createElement("label");
    const check = document.createElement("input");
    check.type = "checkbox";
    check.value = d.name;
    check.checked = chosen.has(d.name);
    check.dataset.design = d.name;
    check.addEventListener("change", () => switchDesigns());
    label.append(check, ` ${d.name}`);
    label.title = `${d.title} — ${d.era}`;
    box.appendChild(label);
    const options = Object.entries(d.options || {});
    if (options.length) {
      const details = document.createElement("div");
      details.className = "options";
      for (const [opt, help] of options) {
        const l = document.createElement("label");
        const c = document.createElement("input");
        c.type = "checkbox";
        c.dataset.design = d.name;
        c.dataset.option = opt;
        c.checked = (chosen.get(d.name) || []).includes(opt);
        c.addEventListener("change", () => switchDesigns());
        l.append(c, ` ${opt}`);
        l.title = help;
        details.append(l);
      }
      box.appendChild(details);
    }
  }
}

function switchDesigns() {
  const box = $("designs");
  const designs = [...box.querySelectorAll("input[data-design]:not([data-option])")]
    .filter((c) => c.checked)
    .map((c) => ({ design: c.value, options: [...box.querySelectorAll(
      `input[data-option][data-design="${c.value}"]`)].filter((o) => o.checked)
      .map((o) => o.dataset.option) }));
  if (!designs.length) { say("Choose at least one design."); fillDesigns(); return; }
  guarded(async () => {
    if (lab.scenario && lab.session.read_only) {
      await view(lab.scenario, designs, lab.session.step);
      return;
    }
    const body = lab.scenario
      ? { scenario: lab.scenario, designs, at_step: lab.session.step }
      : { designs, ops: lab.ops, at_step: lab.session.step };
    await open(body, lab.scenario);
  });
}

// ----- drawing ----------------------------------------------------------------------------

function buildPanels() {
  const root = $("panels");
  root.replaceChildren();
  lab.panels = lab.session.designs.map((d, i) => {
    const panel = document.createElement("section");
    panel.className = "panel";
    panel.dataset.design = d.design;
    const head = document.createElement("header");
    const title = document.createElement("h2");
    const info = designInfo.get(d.design);
    title.textContent = variantName(d);
    title.title = info?.description || "";
    const era = document.createElement("span");
    era.className = "era";
    era.textContent = info ? `${info.title} · ${variantEra(d)}` : "";
    const costs = document.createElement("span");
    costs.className = "costs";
    const badge = document.createElement("span");
    head.append(title, era, costs, badge);
    const scroll = document.createElement("div");
    scroll.className = "scroll";
    const diagram = new Diagram(scroll, `${d.design}-${i}`);
    diagram.onClick = (id, event) => clicked(i, id, event);
    const tables = document.createElement("div");
    tables.className = "tables";
    tables.hidden = true;
    scroll.appendChild(tables);
    diagram.onEdge = (id, field) => {
      const [, ends] = id.split(/:(.*)/s);
      say(`${field}: ${ends.replace(">", " → ").replace(/:/g, " ")}`, "info");
    };
    panel.append(head, scroll);
    root.appendChild(panel);
    return { root: panel, diagram, tables, costs, badge, scroll };
  });
  root.style.setProperty("--designs", String(lab.panels.length));
  document.body.style.setProperty("--designs", String(lab.panels.length));
  document.body.classList.toggle("multi", lab.panels.length > 1);
  fillDesigns();
  $("scenario").value = lab.scenario ?? (lab.ops.length ? "__custom" : "");
  describe(lab.session.scenario?.title || (lab.scenario ? lab.scenario : "Free play"),
    lab.session.scenario?.description
    || (lab.scenario ? "" : "Free play: click a process, a vma, a page-table entry or a frame."));
}

// The scenario's description: open at step 0, folded away once the story has started.
function describe(title, text) {
  $("scenario-title").textContent = title;
  $("scenario-description").textContent = text;
  if (!lab.aboutTouched) $("about").open = lab.session.step === 0;
}

// The space a panel's diagram may fill, in pixels.
function spaceOf(panel) {
  const box = panel.scroll;
  if (narrow.matches) return { width: Math.max(200, box.clientWidth - 2), height: 0, scroll: true };
  return { width: Math.max(200, box.clientWidth - 4), height: Math.max(120, box.clientHeight - 4),
    scroll: false };
}

// Lay out and draw one panel's state at the size its column offers.
function drawPanel(panel, state) {
  const space = spaceOf(panel);
  const layout = layoutState(state, space);
  panel.diagram.draw(layout, displayScale(layout.width, layout.height, space, lab.zoom));
  return layout;
}

// Lay out and draw every design at the size its column offers; the legend follows.
function drawDiagrams() {
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

function render() {
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
  narrate();
  const s = lab.session;
  $("slider").max = String(s.length);
  $("slider").value = String(s.step);
  $("jump").max = String(s.length);
  $("jump").value = String(s.step);
  $("length").textContent = String(s.length);
  $("back").disabled = $("first").disabled = s.step === 0;
  $("forward").disabled = $("last").disabled = s.step >= s.length;
  drawCosts();
  updateUrl();
  walks.rendered(v);
}

function opText(op) {
  if (!op) return "the empty machine";
  const parts = Object.entries(op).filter(([k]) => k !== "op")
    .map(([k, v]) => `${k}=${k.includes("addr") ? hex(v) : v}`);
  return `${op.op} ${parts.join(" ")}`;
}

function narrate() {
  const v = lab.view;
  $("step-title").textContent = `Step ${v.step}${v.step ? ` of ${lab.session.length}` : ""}`;
  $("step-op").textContent = opText(v.op);
  const all = $("narration");
  all.replaceChildren();
  const several = v.designs.length > 1;
  v.designs.forEach((d, i) => {
    // one block per design: side by side under the diagrams' columns
    const out = document.createElement("section");
    out.className = "design-narration";
    all.appendChild(out);
    if (several) {
      const h = document.createElement("h3");
      h.textContent = variantName(d);
      out.appendChild(h);
    }
    if (d.outcome === "segv") {
      const p = document.createElement("p");
      p.className = "outcome-segv";
      p.textContent = "SIGSEGV: the access is refused; nothing changes.";
      out.appendChild(p);
    } else if (d.value !== null && d.value !== undefined) {
      const p = document.createElement("p");
      p.textContent = `The process reads ${d.value}.`;
      out.appendChild(p);
    }
    const list = document.createElement("ol");
    if (!d.events.length) {
      const li = document.createElement("li");
      li.textContent = v.step ? "Nothing happened."
        : lab.session.length ? "Nothing yet: step forward (→) to play." : "An empty machine: nothing has happened yet.";
      list.appendChild(li);
    }
    for (const e of d.events) {
      const li = document.createElement("li");
      li.append(e.text);
      const f = document.createElement("span");
      f.className = "func";
      f.append(glossary.funcLink(d, e.func));
      li.appendChild(f);
      const ids = e.objects.flatMap((o) => objectNodeIds(o, d.state));
      li.addEventListener("mouseenter", () => lab.panels[i].diagram.focus(ids));
      li.addEventListener("mouseleave", () => lab.panels[i].diagram.focus(null));
      list.appendChild(li);
    }
    out.appendChild(list);
    for (const w of d.walks) out.appendChild(walkList(w, `walk of frame ${w.pfn}`));
    for (const viol of d.invariants.violations) {
      const p = document.createElement("p");
      p.className = "violation";
      p.textContent = `✗ ${viol.rule}: ${viol.text}`;
      out.appendChild(p);
    }
  });
  rendered();
}

// The modules that extend the laboratory redraw their parts after each narration.
function rendered() {
  glossary.linkTerms($("narration"));
  glossary.describeDesigns(initial.designs);
  branch.rendered();
  freeplay.rendered();
  editor.rendered();
}

const MARKS = { hit: "✓ hit", miss: "✗ miss", skip: "∅ skip" };

function walkList(w, title) {
  const wrap = document.createElement("div");
  const h = document.createElement("h3");
  const via = w.via ? ` via ${w.via.kind} ${w.via.id}` : "";
  h.textContent = `${title}${via}: ${w.visited.length} visited of ${w.candidates} ${w.candidates === 1 ? "candidate" : "candidates"}`;
  const list = document.createElement("ol");
  list.className = "walk";
  for (const visit of w.visited) {
    const li = document.createElement("li");
    li.className = visit.result;
    const where = visit.addr != null ? ` (pid ${visit.pid}, ${hex(visit.addr)})` : "";
    li.textContent = `${MARKS[visit.result]} ${visit.kind} ${visit.id}${where}${visit.note ? ` — ${visit.note}` : ""}`;
    list.appendChild(li);
  }
  wrap.append(h, list);
  return wrap;
}

// The cost chart; in predict mode it stops at the current step, so it gives nothing away.
function drawCosts() {
  drawChart($("chart"), lab.series, lab.session.step, (n) => go(n), lab.predict);
}

async function refreshSeries() {
  try {
    lab.series = await api.series(lab.session.id);
    drawCosts();
  } catch (err) {
    console.error(err);
  }
}

// ----- time -------------------------------------------------------------------------------

function moved(doc) {
  lab.predicting = false;
  adopt({ ...doc, ops: undefined });
  if (!lab.aboutTouched && lab.session.step > 0) $("about").open = false;
  render();
  if (!lab.series) refreshSeries();
}

function go(step) {
  const s = lab.session;
  step = Math.max(0, Math.min(s.length, step));
  if (step === s.step) return;
  guarded(async () => moved(await moveTo(step, () => api.cursor(s.id, step))));
}

function forward() {
  if (walks.next()) return;  // a walk on screen takes the step first
  if (lab.session.step >= lab.session.length) { stop(); return; }
  if (lab.predict && !lab.timer && !lab.predicting) { ask(); return; }
  const s = lab.session;
  guarded(async () => moved(await moveTo(s.step + 1, () => api.redo(s.id))));
}

// ----- predict, then reveal -------------------------------------------------------------

const QUESTIONS = {
  spawn: "A new process with an empty mm: what does the diagram gain?",
  mmap: "Does the new vma merge with a neighbour? Does it get an anon_vma now?",
  read: "Which value is read? Is there a fault, and does a frame appear?",
  write: "Does this write fault? If the page is shared, is it copied or reused, and what does the page's rmap pointer say afterwards?",
  fork: "Which PTEs does the child get, which pages become read-only, and what must each page's rmap pointer (or each anon_vma) gain?",
  exit: "What is freed? Which rmap objects lose a member, and which disappear?",
  munmap: "Does a vma split or shrink? Which frames lose their last mapping?",
  mprotect: "Does the vma split, or does a boundary move into a neighbour? What happens to the anon_vma?",
  mremap: "Do the pages themselves need updating (page->index, the rmap pointer)? Does the destination merge?",
  merge: "Will vma_merge allow it? If not, which rule refuses?",
  reclaim: "Which containers will the rmap walk visit, in which order, and how many are misses?",
};

function ask() {
  lab.predicting = true;
  const op = lab.ops[lab.session.step];
  $("step-title").textContent = `Predict step ${lab.session.step + 1}`;
  $("step-op").textContent = opText(op);
  const out = $("narration");
  out.replaceChildren();
  const q = document.createElement("p");
  q.className = "predict-question";
  q.textContent = QUESTIONS[op?.op] ?? "What will change?";
  const hint = document.createElement("p");
  hint.className = "predict-hint";
  hint.textContent = lab.session.designs.length > 1
    ? "Think it through for each design shown, then reveal."
    : "Think it through, then reveal.";
  const reveal = document.createElement("button");
  reveal.type = "button";
  reveal.id = "reveal";
  reveal.textContent = "Reveal (→)";
  reveal.addEventListener("click", () => forward());
  out.append(q, hint, reveal);
  reveal.focus();
  askLesson(lab, lab.scenario, lab.session.step + 1, [q, hint]);
}

function setPredict(on) {
  lab.predict = on;
  $("predict").checked = on;
  $("scenario-description").hidden = on;  // it tells the story the questions ask about
  if (!on && lab.predicting) { lab.predicting = false; narrate(); }
  drawCosts();
  updateUrl();
}

function back() {
  if (lab.predicting) { lab.predicting = false; narrate(); return; }
  if (walks.prev()) return;
  const s = lab.session;
  if (s.step > 0) guarded(async () => moved(await moveTo(s.step - 1, () => api.undo(s.id))));
}

function play() {
  if (lab.timer) { stop(); return; }
  if (lab.session.step >= lab.session.length) go(0);
  $("play").textContent = "pause";
  $("play").setAttribute("aria-label", "Pause");
  lab.timer = setInterval(() => forward(), Number($("speed").value));
}

function stop() {
  if (lab.timer) clearInterval(lab.timer);
  lab.timer = null;
  $("play").textContent = "play";
  $("play").setAttribute("aria-label", "Play");
}

// ----- applying ops ----------------------------------------------------------------------

async function applyOp(op) {
  stop();
  if (!lab.scenario) await own();  // someone else's session, read-only: ours first
  const s = lab.session;
  const doc = await branch.applyHere(op);  // before the end of the log: on a new branch
  lab.ops = [...lab.ops.slice(0, s.step), doc.view.op];
  lab.scenario = null;
  adopt({ ...doc, ops: undefined });
  $("scenario").value = "";
  render();
  refreshSeries();
}

function fieldInput(name, value = "") {
  const optional = name.endsWith("?");
  const key = optional ? name.slice(0, -1) : name;
  const label = document.createElement("label");
  let input;
  if (key === "prot") {
    input = document.createElement("select");
    for (const p of ["none", "r", "w", "x", "rw", "rx", "wx", "rwx"]) {
      const o = document.createElement("option");
      o.value = p;
      o.textContent = p;
      input.appendChild(o);
    }
    input.value = value || "rw";
  } else {
    input = document.createElement("input");
    input.value = value;
    input.placeholder = optional ? "optional" : "";
    if (!key.includes("addr")) input.inputMode = "numeric";
  }
  input.name = key;
  input.setAttribute("aria-label", key);
  label.append(`${key}${optional ? "?" : ""} `, input);
  return label;
}

function readFields(form) {
  const op = {};
  for (const input of form.querySelectorAll("input[name], select[name]")) {
    const raw = input.value.trim();
    if (!raw) continue;
    if (input.name === "prot") op.prot = raw;
    else if (input.name.includes("addr")) op[input.name] = raw.startsWith("0x") ? raw : Number(raw);
    else op[input.name] = Number(raw);
  }
  return op;
}

// ----- direct manipulation ----------------------------------------------------------------

function closePopover() {
  $("popover").hidden = true;
}

function popover(event, title, detail, actions) {
  const pop = $("popover");
  pop.replaceChildren();
  const h = document.createElement("h3");
  h.textContent = title;
  pop.appendChild(h);
  if (detail) {
    const p = document.createElement("p");
    p.className = "detail";
    p.textContent = detail;
    pop.appendChild(p);
  }
  const box = document.createElement("div");
  box.className = "actions";
  // several actions with fields: a button each, showing only that action's form
  const several = actions.filter((a) => a.fields).length > 1;
  const forms = [];
  for (const a of actions) {
    if (a.element) {
      box.appendChild(a.element);
    } else if (a.fields) {
      const form = document.createElement("form");
      for (const [name, value] of a.fields) form.appendChild(fieldInput(name, value));
      const b = document.createElement("button");
      b.type = "submit";
      b.textContent = a.label;
      form.appendChild(b);
      form.addEventListener("submit", (e) => {
        e.preventDefault();
        actAt(lab, form, () => applyOp({ ...a.op, ...readFields(form) })).then((ok) => ok && closePopover());
      });
      forms.push(form);
      if (several) {
        form.hidden = true;
        const open = document.createElement("button");
        open.type = "button";
        open.textContent = `${a.label}…`;
        open.setAttribute("aria-expanded", "false");
        open.addEventListener("click", () => {
          for (const f of forms) { f.hidden = f !== form; f.previousElementSibling.setAttribute("aria-expanded", String(f === form)); }
          form.querySelector("input, select")?.focus();
        });
        box.appendChild(open);
      }
      box.appendChild(form);
    } else {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = a.label;
      b.addEventListener("click", () => actAt(lab, box, a.run).then((ok) => ok && closePopover()));
      box.appendChild(b);
    }
  }
  pop.appendChild(box);
  pop.hidden = false;
  const x = Math.min(event.clientX + 8, window.innerWidth - 360);
  const y = Math.min(event.clientY + 8, window.innerHeight - pop.offsetHeight - 8);
  pop.style.left = `${Math.max(8, x)}px`;
  pop.style.top = `${Math.max(8, y)}px`;
  pop.querySelector("button, input")?.focus();
}

function nextPid() {
  const used = new Set();
  for (const op of lab.ops.slice(0, lab.session.step)) {
    if (op.pid) used.add(op.pid);
    if (op.child) used.add(op.child);
  }
  let pid = 1;
  while (used.has(pid)) pid += 1;
  return pid;
}

function clicked(designIndex, id, event) {
  const d = lab.view.designs[designIndex];
  const [kind, a, b] = id.split(":");
  if (kind === "mm") {
    const pid = Number(a);
    popover(event, `process ${pid}`, null, [
      { label: `fork (child ${nextPid()})`, run: () => applyOp({ op: "fork", pid, child: nextPid() }) },
      { label: "exit", run: () => applyOp({ op: "exit", pid }) },
      { label: "mmap", op: { op: "mmap", pid }, fields: [["addr?", ""], ["pages", "4"], ["prot", "rw"]] },
    ]);
  } else if (kind === "vma") {
    const vma = d.state.mms.flatMap((m) => m.vmas.map((v) => ({ ...v, pid: m.pid })))
      .find((v) => v.id === Number(a));
    if (!vma) return;
    const pid = vma.pid; const addr = hex(vma.vm_start); const pages = String(vma.pages);
    popover(event, `vma ${vma.id} of pid ${pid}`,
      `[${hex(vma.vm_start)}, ${hex(vma.vm_end)}) ${vma.prot}, vm_pgoff ${vma.vm_pgoff}, anon_vma ${vma.anon_vma ?? "NULL"}`, [
        { element: freeplay.pageActions(vma) },
        { label: "mremap", op: { op: "mremap", pid }, fields: [["addr", addr], ["pages", pages], ["new_pages", pages], ["new_addr?", ""]] },
        { label: "mprotect", op: { op: "mprotect", pid }, fields: [["addr", addr], ["pages", pages], ["prot", vma.prot === "rw" ? "r" : "rw"]] },
        { label: "munmap", op: { op: "munmap", pid }, fields: [["addr", addr], ["pages", "1"]] },
        { label: "try to merge with its neighbours", run: () => applyOp({ op: "merge", pid, addr }) },
      ]);
  } else if (kind === "pte") {
    const pid = Number(a); const addr = hex(Number(b));
    popover(event, `pid ${pid} at ${addr}`, null, [
      { label: "read", run: () => applyOp({ op: "read", pid, addr }) },
      { label: "write", op: { op: "write", pid, addr }, fields: [["value", String(lab.session.step + 100)]] },
      { label: "reclaim the frame mapped here", run: () => applyOp({ op: "reclaim", pid, addr }) },
    ]);
  } else if (kind === "frame") {
    const pfn = Number(a);
    const page = d.state.pages.find((p) => p.pfn === pfn);
    popover(event, `frame ${pfn}`, page ? `${page.flags.join(" ")} · mapcount ${page.mapcount} · value ${page.value}` : null, [
      { label: "show the walk that would reclaim it (changes nothing)", run: () => previewWalk(pfn) },
      { label: "reclaim it", run: () => applyOp({ op: "reclaim", pfn }) },
    ]);
  }
}

async function previewWalk(pfn) {
  walks.preview(pfn, await api.walk(lab.session.id, pfn, lab.session.step));
}

// ----- export ------------------------------------------------------------------------------

function download(name, blob) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = name;
  document.body.appendChild(a);
  a.click();
  setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
}

// A 16:9 slide: the title and step, every design's diagram fit side by side, what happened
// in this step, and the legend of the arrows.
const SLIDE = { width: 1920, height: 1080 };

function wrapWords(text, max) {
  const out = [];
  let cur = "";
  for (const word of text.split(" ")) {
    if (cur && `${cur} ${word}`.length > max) { out.push(cur); cur = word; } else cur = cur ? `${cur} ${word}` : word;
  }
  if (cur) out.push(cur);
  return out;
}

async function composedSvg() {
  const css = await (await fetch("/static/css/diagram.css")).text();
  const { width, height } = SLIDE;
  const NS = "http://www.w3.org/2000/svg";
  const out = el("svg", { xmlns: NS, class: "diagram", width, height, viewBox: `0 0 ${width} ${height}` });
  el("style", {}, out).textContent = `${css}
.slide-bg { fill: var(--d-bg); }
.slide-text { fill: var(--d-ink); font-family: "DejaVu Sans", sans-serif; font-size: 17px; }
.slide-text.strong { font-weight: 700; }
.slide-title { font-size: 26px; font-weight: 700; }`;
  el("rect", { width, height, class: "slide-bg" }, out);
  const title = lab.session.scenario?.title || lab.scenario || "rmaplab session";
  el("text", { x: 24, y: 38, class: "slide-text slide-title" }, out).textContent =
    `${title} — step ${lab.session.step} of ${lab.session.length}: ${opText(lab.view.op)}`;
  // the narration: each design's sentences, wrapped, in columns under the diagrams
  const kinds = new Set();
  let ghosts = false;
  const n = lab.view.designs.length;
  const colW = (width - 48 - (n - 1) * 24) / n;
  const textLines = lab.view.designs.map((d) => {
    const lines = [];
    if (n > 1) lines.push([d.design + (d.options.length ? ` [${d.options.join(", ")}]` : ""), true]);
    for (const e of d.events) wrapWords(`• ${e.text}`, Math.floor(colW / 9.2)).forEach((l) => lines.push([l, false]));
    for (const w of d.walks) lines.push([`walk of frame ${w.pfn}: ${w.visited.length} visited of ${w.candidates} candidates`, false]);
    if (!d.events.length) lines.push(["Nothing happened.", false]);
    return lines.slice(0, 12);
  });
  const narrationH = 12 + 22 * Math.max(...textLines.map((l) => l.length));
  const legendW = width - 48;
  // measure the legend by drawing it, then place it at the bottom
  for (const d of lab.view.designs) {
    const layout = layoutState(d.state);
    for (const e of layout.edges) kinds.add(e.kind);
    ghosts ||= layout.nodes.some((x) => x.kind === "ghost");
  }
  const legendG = el("g", {}, out);
  const legendH = legend(legendG, kinds, legendW, ghosts);
  const top = 56;
  const diagramH = height - top - narrationH - legendH - 40;
  lab.view.designs.forEach((d, i) => {
    const space = { width: colW, height: diagramH, scroll: false };
    const layout = layoutState(d.state, space);
    const scale = Math.min(colW / layout.width, diagramH / layout.height);
    const x = 24 + i * (colW + 24);
    const g = el("g", { transform: `translate(${x},${top})` }, out);
    const source = lab.panels[i].diagram;
    const copy = new Diagram(document.createElement("div"), `${source.design}-slide`);
    copy.draw(layout, scale);
    const inner = copy.svg;
    inner.setAttribute("x", 0);
    inner.setAttribute("y", 0);
    g.appendChild(inner);
    textLines[i].forEach(([line, bold], k) => {
      el("text", { x, y: top + diagramH + 30 + k * 22, class: bold ? "slide-text strong" : "slide-text" },
        out).textContent = line;
    });
  });
  legendG.setAttribute("transform", `translate(24,${height - legendH - 14})`);
  return new XMLSerializer().serializeToString(out);
}

function baseName() {
  return `rmaplab-${lab.scenario || "session"}-step${lab.session.step}`;
}

async function exportAs(kind) {
  if (kind === "svg") {
    download(`${baseName()}.svg`, new Blob([await composedSvg()], { type: "image/svg+xml" }));
  } else if (kind === "png") {
    const text = await composedSvg();
    const url = URL.createObjectURL(new Blob([text], { type: "image/svg+xml" }));
    const img = new Image();
    await new Promise((resolve, reject) => { img.onload = resolve; img.onerror = reject; img.src = url; });
    const canvas = document.createElement("canvas");
    canvas.width = SLIDE.width;
    canvas.height = SLIDE.height;
    const ctx = canvas.getContext("2d");
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.drawImage(img, 0, 0, SLIDE.width, SLIDE.height);
    URL.revokeObjectURL(url);
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
    download(`${baseName()}.png`, blob);
  } else if (kind === "scenario" || kind === "scenario-to-step") {
    exporting.downloadScenario(exporting.scenarioDoc(lab, kind === "scenario-to-step"));
  } else if (kind === "link" || kind === "embed") {
    // a log of one's own travels in the link itself; a built-in scenario by its name
    const own = kind === "link" && !lab.scenario;
    const link = kind === "embed" ? linkTo({ embed: "1" }) : own ? await exporting.scenarioLink(lab) : location.href;
    try { await navigator.clipboard.writeText(link); say(`Copied: ${link}`, "info"); } catch {
      say(`Link: ${link}`, "info");
    }
  }
}

async function loadFile(file) {
  let data;
  try { data = JSON.parse(await file.text()); } catch (err) {
    throw new ApiError(422, `${file.name} is not valid JSON: ${err.message}`);
  }
  await exporting.openScenario(data, file.name);
  lab.file = data;  // a class started from it keeps its name and lesson
  say(`Loaded ${file.name}: ${data.ops.length} steps. Step forward to play it.`, "info");
}

// ----- wiring ------------------------------------------------------------------------------

function wire() {
  $("first").addEventListener("click", () => go(0));
  $("last").addEventListener("click", () => go(lab.session.length));
  $("back").addEventListener("click", () => { stop(); back(); });
  $("forward").addEventListener("click", () => { stop(); forward(); });
  $("play").addEventListener("click", () => play());
  $("slider").addEventListener("change", () => go(Number($("slider").value)));
  $("jump").addEventListener("change", () => go(Number($("jump").value)));
  $("speed").addEventListener("change", () => { if (lab.timer) { stop(); play(); } });
  $("view-toggle").addEventListener("click", () => {
    lab.tableView = !lab.tableView;
    $("view-toggle").setAttribute("aria-pressed", String(lab.tableView));
    $("view-toggle").textContent = lab.tableView ? "Diagram" : "Tables";
    render();
  });
  $("help-button").addEventListener("click", () => $("help").showModal());
  $("predict").checked = lab.predict;
  $("scenario-description").hidden = lab.predict;
  $("predict").addEventListener("change", () => setPredict($("predict").checked));
  const menu = $("export-menu");
  const menus = [[$("export-button"), menu], [$("designs-button"), $("designs")]];
  const closeMenus = (except = null) => {
    for (const [button, items] of menus) {
      if (items === except) continue;
      items.hidden = true;
      button.setAttribute("aria-expanded", "false");
    }
  };
  for (const [button, items] of menus) {
    button.addEventListener("click", () => {
      closeMenus(items);
      items.hidden = !items.hidden;
      button.setAttribute("aria-expanded", String(!items.hidden));
    });
  }
  for (const [id, target] of [["chart-tab", "chart"], ["op-tab", "opform"]]) {
    $(id).addEventListener("click", () => {
      const open = $(target).hidden;
      $(target).hidden = !open;
      $(id).setAttribute("aria-expanded", String(open));
    });
  }
  $("about").querySelector("summary").addEventListener("click", () => { lab.aboutTouched = true; });
  $("zoom-in").addEventListener("click", () => zoom(1));
  $("zoom-out").addEventListener("click", () => zoom(-1));
  $("zoom-fit").addEventListener("click", () => zoom(0));
  $("present-button").addEventListener("click", () => setPresent(!lab.present));
  // the colours chosen are remembered where storage is allowed (not in a deck's frame)
  const theme = $("theme");
  const stored = { get: () => { try { return localStorage.getItem("rmaplab-theme"); } catch { return null; } },
    set: (v) => { try { localStorage.setItem("rmaplab-theme", v); } catch { /* not remembered */ } } };
  theme.value = stored.get() || "";
  const dark = window.matchMedia("(prefers-color-scheme: dark)");
  const applyTheme = () => {
    document.documentElement.dataset.theme = theme.value || (dark.matches ? "dark" : "light");
    stored.set(theme.value);
  };
  theme.addEventListener("change", applyTheme);
  dark.addEventListener("change", applyTheme);
  applyTheme();
  // the diagram refits whenever its space changes (window, drawers, zoom of the browser)
  let pending = 0;
  new ResizeObserver(() => {
    cancelAnimationFrame(pending);
    pending = requestAnimationFrame(() => drawDiagrams());
  }).observe($("stage"));
  window.addEventListener("beforeprint", () => { $("legend-box").open = true; });
  for (const b of menu.querySelectorAll("[data-export]")) {
    b.addEventListener("click", () => { menu.hidden = true; guarded(() => exportAs(b.dataset.export)); });
  }
  $("load-file").addEventListener("change", (event) => {
    menu.hidden = true;
    const file = event.target.files[0];
    if (file) guarded(() => loadFile(file));
    event.target.value = "";
  });
  document.addEventListener("keydown", (event) => {
    const t = event.target;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    // keys belong to fields being typed in
    if (t.closest("select, textarea, dialog")
        || (t.tagName === "INPUT" && !["checkbox", "button", "range"].includes(t.type))) return;
    const node = t.closest(".diagram [data-id]");
    if (node && (event.key === "Enter" || event.key === " ")) {
      // a box's actions, as a click would open them
      event.preventDefault();
      const box = node.getBoundingClientRect();
      node.dispatchEvent(new MouseEvent("click", { bubbles: true, clientX: box.left + 4,
        clientY: box.bottom }));
      return;
    }
    // Space and Enter on a control work that control, never autoplay
    if ((event.key === " " || event.key === "Enter")
        && t.closest("button, a, summary, input, label, [role='button']")) return;
    if (t.type === "range" && event.key.startsWith("Arrow")) return;
    if (event.key === "ArrowRight") { stop(); forward(); } else if (event.key === "ArrowLeft") { stop(); back(); } else if (event.key === "Home") go(0);
    else if (event.key === "End") go(lab.session.length);
    else if (event.key === " ") { event.preventDefault(); play(); } else if (event.key === "t") $("view-toggle").click();
    else if (event.key === "?") $("help").showModal();
    else if (event.key === "s") walks.skip();
    else if (event.key === "p") setPresent(!lab.present);
    else if (event.key === "+" || event.key === "=") zoom(1);
    else if (event.key === "-") zoom(-1);
    else if (event.key === "0") zoom(0);
    else if (event.key === "Escape") {
      closePopover();
      closeMenus();
      if (lab.present) setPresent(false);
    } else return;
  });
  document.addEventListener("click", (event) => {
    if (!event.target.closest("#popover, .diagram [data-id]")) closePopover();
    if (!event.target.closest(".menu")) closeMenus();
  });
}

// Zoom: one step larger or smaller than the fitted size, or back to fit (0).
function zoom(direction) {
  const i = ZOOMS.indexOf(lab.zoom);
  lab.zoom = direction === 0 ? 1 : ZOOMS[Math.max(0, Math.min(ZOOMS.length - 1, i + direction))];
  $("zoom-fit").textContent = lab.zoom === 1 ? "fit" : `${Math.round(lab.zoom * 100)}%`;
  drawDiagrams();
}

function setPresent(on) {
  lab.present = on;
  document.body.classList.toggle("present", on);
  $("present-button").setAttribute("aria-pressed", String(on));
  if (lab.session) { updateUrl(); drawDiagrams(); }
  if (on) $("stage").focus();
}

if (embed) document.body.classList.add("embed");
if (lab.present) setPresent(true);
fillPicker();
const context = { lab, open, show, applyOp, go, guarded, say, download, nextPid, closePopover, rendered };
for (const module of [branch, editor, exporting, freeplay, glossary]) module.install(context);
wire();
wireClassroom(lab, params.get("room"), say);
guarded(start).then(() => { document.body.dataset.ready = "1"; });
