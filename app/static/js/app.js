// The laboratory: a session on the server, its designs drawn side by side, time travel,
// free play by direct manipulation, narration, comparison, export. The URL always names
// the view, so a copied link reopens it.

import { api, ApiError } from "./api.js";
import { drawChart } from "./chart.js";
import { wireClassroom } from "./classroom.js";
import { Diagram } from "./diagram.js";
import { hex, layoutState, objectNodeIds, visitNodeId } from "./layout.js";
import { askLesson } from "./lesson.js";
import { renderTables } from "./tables.js";

const $ = (id) => document.getElementById(id);
const initial = JSON.parse($("initial").textContent);
const designInfo = new Map(initial.designs.map((d) => [d.name, d]));
const params = new URLSearchParams(location.search);
const embed = params.get("embed") === "1";
const WALK_MS = 450;

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
  walkTimers: [],
  busy: false,
  predict: params.get("predict") === "1",  // ask for a prediction before each step forward
  predicting: false,  // the next step's question is shown, its outcome not yet
};
window.rmaplab = lab; // for the browser tests and the curious

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
  const p = new URLSearchParams();
  if (lab.scenario) p.set("scenario", lab.scenario);
  else p.set("session", lab.session.id);
  p.set("designs", designSpec());
  p.set("step", String(lab.session.step));
  if (embed) p.set("embed", "1");
  if (lab.predict) p.set("predict", "1");
  if (params.get("room")) p.set("room", params.get("room"));
  history.replaceState(null, "", `?${p.toString().replace(/%2C/g, ",").replace(/%2B/g, "+")}`);
}

function linkTo(extra = {}) {
  const url = new URL(location.href);
  for (const [k, v] of Object.entries(extra)) url.searchParams.set(k, v);
  return url.toString();
}

function adopt(doc) {
  lab.session = { id: doc.id, designs: doc.designs, scenario: doc.scenario,
    length: doc.length, step: doc.step };
  if (doc.ops) lab.ops = doc.ops;
  lab.view = doc.view;
  lab.series = null;
}

async function open(body, scenarioName) {
  const doc = await api.createSession(body);
  lab.scenario = scenarioName ?? null;
  lab.file = null;
  adopt(doc);
  buildPanels();
  render();
  refreshSeries();
}

async function start() {
  const step = Number(params.get("step") || 0);
  const designs = params.get("designs") ? parseDesigns(params.get("designs")) : null;
  if (params.get("session")) {
    // Reopen a shared session as our own copy, so two viewers never move each other.
    const shared = await api.session(params.get("session"));
    await open({ designs: designs ?? shared.designs, ops: shared.ops,
      at_step: Math.min(step, shared.length) }, null);
    return;
  }
  const name = params.get("scenario") || "seed-story";
  const known = initial.scenarios.find((s) => s.name === name);
  if (!known) throw new ApiError(404, `no built-in scenario ${name}`);
  await open({ scenario: name, at_step: Math.min(step, known.steps),
    designs: designs ?? [] }, name);
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
      await open({ scenario: select.value, designs: lab.session.designs }, select.value);
    }
  }));
}

function fillDesigns() {
  const box = $("designs");
  box.replaceChildren();
  const chosen = new Map(lab.session.designs.map((d) => [d.design, d.options]));
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
      const details = document.createElement("details");
      const summary = document.createElement("summary");
      summary.textContent = "options";
      details.appendChild(summary);
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
        details.append(l, document.createElement("br"));
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
    title.textContent = d.design + (d.options.length ? ` [${d.options.join(", ")}]` : "");
    title.title = info?.description || "";
    const era = document.createElement("span");
    era.className = "era";
    era.textContent = info ? `${info.title} · ${info.era}` : "";
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
    panel.append(head, scroll);
    root.appendChild(panel);
    return { root: panel, diagram, tables, costs, badge };
  });
  fillDesigns();
  $("scenario").value = lab.scenario ?? (lab.ops.length ? "__custom" : "");
  $("scenario-description").textContent = lab.session.scenario?.description
    || (lab.scenario ? "" : "Free play: click a process, a vma, a page-table entry or a frame.");
}

function render() {
  const v = lab.view;
  clearWalks();
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
    else panel.diagram.draw(layoutState(d.state));
  });
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
  setTimeout(() => animateWalks(), 250);
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
  const out = $("narration");
  out.replaceChildren();
  const several = v.designs.length > 1;
  v.designs.forEach((d, i) => {
    if (several) {
      const h = document.createElement("h3");
      h.textContent = d.design + (d.options.length ? ` [${d.options.join(", ")}]` : "");
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
      li.textContent = v.step ? "Nothing happened." : "Nothing yet: step forward (→) to play.";
      list.appendChild(li);
    }
    for (const e of d.events) {
      const li = document.createElement("li");
      li.append(e.text);
      const f = document.createElement("span");
      f.className = "func";
      f.textContent = e.func;
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
}

const MARKS = { hit: "✓ hit", miss: "✗ miss", skip: "∅ skip" };

function walkList(w, title) {
  const wrap = document.createElement("div");
  const h = document.createElement("h3");
  const via = w.via ? ` via ${w.via.kind} ${w.via.id}` : "";
  h.textContent = `${title}${via}: ${w.visited.length} visited of ${w.candidates} candidates`;
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

function clearWalks() {
  for (const t of lab.walkTimers) clearTimeout(t);
  lab.walkTimers = [];
  for (const p of lab.panels) p.diagram.clearVisits();
}

function animateWalks(designWalks = null) {
  const walks = designWalks ?? lab.view.designs.map((d) => d.walks);
  walks.forEach((list, i) => {
    let t = 0;
    for (const w of list) {
      if (w.via) {
        const via = `${w.via.kind}:${w.via.id}`;
        lab.walkTimers.push(setTimeout(() => lab.panels[i].diagram.visit(via, "via"), t));
        t += WALK_MS;
      }
      for (const visit of w.visited) {
        const id = visitNodeId(visit);
        lab.walkTimers.push(setTimeout(() => lab.panels[i].diagram.visit(id, visit.result), t));
        t += WALK_MS;
      }
    }
  });
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
  render();
  if (!lab.series) refreshSeries();
}

function go(step) {
  const s = lab.session;
  step = Math.max(0, Math.min(s.length, step));
  if (step === s.step) return;
  guarded(async () => moved(await api.cursor(s.id, step)));
}

function forward() {
  if (lab.session.step >= lab.session.length) { stop(); return; }
  if (lab.predict && !lab.timer && !lab.predicting) { ask(); return; }
  guarded(async () => moved(await api.redo(lab.session.id)));
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
  if (lab.session.step > 0) guarded(async () => moved(await api.undo(lab.session.id)));
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
  const s = lab.session;
  const doc = await api.apply(s.id, op, s.step);
  lab.ops = [...lab.ops.slice(0, s.step), doc.view.op];
  lab.scenario = null;
  adopt({ ...doc, ops: undefined });
  $("scenario").value = "";
  render();
  refreshSeries();
}

const OP_FIELDS = {
  spawn: ["pid"], mmap: ["pid", "addr?", "pages", "prot"], read: ["pid", "addr"],
  write: ["pid", "addr", "value"], fork: ["pid", "child"], exit: ["pid"],
  munmap: ["pid", "addr", "pages"], mprotect: ["pid", "addr", "pages", "prot"],
  mremap: ["pid", "addr", "pages", "new_pages", "new_addr?"], merge: ["pid", "addr"],
  reclaim: ["pfn?", "pid?", "addr?", "count?"],
};

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

function fillOpForm() {
  const kind = $("op-kind");
  for (const name of Object.keys(OP_FIELDS)) {
    const o = document.createElement("option");
    o.value = name;
    o.textContent = name;
    kind.appendChild(o);
  }
  const refresh = () => {
    const box = $("op-fields");
    box.replaceChildren(...OP_FIELDS[kind.value].map((f) => fieldInput(f)));
  };
  kind.addEventListener("change", refresh);
  refresh();
  $("opform").addEventListener("submit", (event) => {
    event.preventDefault();
    guarded(() => applyOp({ op: kind.value, ...readFields($("opform")) }));
  });
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
  for (const a of actions) {
    if (a.fields) {
      const form = document.createElement("form");
      for (const [name, value] of a.fields) form.appendChild(fieldInput(name, value));
      const b = document.createElement("button");
      b.type = "submit";
      b.textContent = a.label;
      form.appendChild(b);
      form.addEventListener("submit", (e) => {
        e.preventDefault();
        closePopover();
        guarded(() => applyOp({ ...a.op, ...readFields(form) }));
      });
      box.appendChild(form);
    } else {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = a.label;
      b.addEventListener("click", () => { closePopover(); guarded(a.run); });
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
  const preview = await api.walk(lab.session.id, pfn, lab.session.step);
  clearWalks();
  const out = $("narration");
  preview.designs.forEach((d) => {
    const h = document.createElement("h3");
    h.textContent = `If frame ${pfn} were reclaimed now (${d.design}):`;
    out.prepend(...(d.resident ? d.walks.map((w) => walkList(w, `walk of frame ${pfn}`)) : []), h);
    if (!d.resident) h.textContent += " it is not resident.";
  });
  animateWalks(preview.designs.map((d) => d.walks));
  say(`The walk of frame ${pfn} is shown on the right; nothing changed.`, "info");
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

async function composedSvg() {
  const css = await (await fetch("/static/css/diagram.css")).text();
  const svgs = lab.panels.map((p) => p.diagram.svg);
  const gap = 24;
  let width = 0; let height = 0;
  for (const s of svgs) { width += Number(s.getAttribute("width")) + gap; height = Math.max(height, Number(s.getAttribute("height")) + 24); }
  const NS = "http://www.w3.org/2000/svg";
  const out = document.createElementNS(NS, "svg");
  out.setAttribute("xmlns", NS);
  out.setAttribute("width", width);
  out.setAttribute("height", height);
  out.setAttribute("viewBox", `0 0 ${width} ${height}`);
  const style = document.createElementNS(NS, "style");
  style.textContent = css;
  out.appendChild(style);
  let x = 0;
  lab.session.designs.forEach((d, i) => {
    const g = document.createElementNS(NS, "g");
    g.setAttribute("transform", `translate(${x},0)`);
    const label = document.createElementNS(NS, "text");
    label.setAttribute("x", 4);
    label.setAttribute("y", 14);
    label.setAttribute("font-family", "sans-serif");
    label.setAttribute("font-weight", "700");
    label.textContent = `${d.design} — step ${lab.session.step}: ${opText(lab.view.op)}`;
    const inner = svgs[i].cloneNode(true);
    inner.setAttribute("y", 20);
    inner.setAttribute("x", 0);
    inner.classList.add("diagram");
    g.append(label, inner);
    out.appendChild(g);
    x += Number(svgs[i].getAttribute("width")) + gap;
  });
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
    canvas.width = img.width * 2;
    canvas.height = img.height * 2;
    const ctx = canvas.getContext("2d");
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.scale(2, 2);
    ctx.drawImage(img, 0, 0);
    URL.revokeObjectURL(url);
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
    download(`${baseName()}.png`, blob);
  } else if (kind === "scenario") {
    const doc = await api.scenario(lab.session.id);
    download(`${doc.name || "session"}.json`,
      new Blob([JSON.stringify(doc, null, 1)], { type: "application/json" }));
  } else if (kind === "link" || kind === "embed") {
    const link = kind === "embed" ? linkTo({ embed: "1" }) : location.href;
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
  if (!data || !Array.isArray(data.ops)) throw new ApiError(422, `${file.name} has no "ops" list`);
  const design = data.design || "anon_vma_rfc2";
  await open({ ops: data.ops, designs: [{ design, options: data.options || [] }] }, null);
  lab.session.scenario = { name: data.name, title: data.title, description: data.description };
  lab.file = data;  // a class started from it keeps its name and lesson
  $("scenario-description").textContent = data.description || data.title || file.name;
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
    $("view-toggle").textContent = lab.tableView ? "Diagram view" : "Table view";
    render();
  });
  $("help-button").addEventListener("click", () => $("help").showModal());
  $("predict").checked = lab.predict;
  $("scenario-description").hidden = lab.predict;
  $("predict").addEventListener("change", () => setPredict($("predict").checked));
  const menu = $("export-menu");
  $("export-button").addEventListener("click", () => {
    menu.hidden = !menu.hidden;
    $("export-button").setAttribute("aria-expanded", String(!menu.hidden));
  });
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
    // keys belong to fields being typed in (a checkbox or button keeps them for the lab)
    if (t.closest("select, textarea, dialog")
        || (t.tagName === "INPUT" && !["checkbox", "button"].includes(t.type))) return;
    if (event.key === "ArrowRight") { stop(); forward(); } else if (event.key === "ArrowLeft") { stop(); back(); } else if (event.key === "Home") go(0);
    else if (event.key === "End") go(lab.session.length);
    else if (event.key === " ") { event.preventDefault(); play(); } else if (event.key === "t") $("view-toggle").click();
    else if (event.key === "?") $("help").showModal();
    else if (event.key === "Escape") { closePopover(); menu.hidden = true; } else return;
  });
  document.addEventListener("click", (event) => {
    if (!event.target.closest("#popover, .diagram [data-id]")) closePopover();
  });
}

if (embed) document.body.classList.add("embed");
fillPicker();
fillOpForm();
wire();
wireClassroom(lab, params.get("room"), say);
guarded(start).then(() => { document.body.dataset.ready = "1"; });
