// The op-log editor: the steps as a list beside the narration; insert, edit, delete or
// reorder ops, checked as you type (the command syntax at once, then the engine itself on
// every design shown); jump to any step; name and describe the result; replay it; save it
// (a download, and this browser's storage, so it reappears in the picker); copy a link that
// carries the scenario itself.

import { api, ApiError } from "./api.js";
import { formatCommand, parseCommand, CommandError } from "./commands.js";
import { classify, plainError } from "./errors.js";
import { downloadScenario, openScenario, scenarioDoc, scenarioLink } from "./export.js";
import { variantName } from "./variants.js";

const $ = (id) => document.getElementById(id);
const STORE = "rmaplab.saved";
const CHECK_MS = 350;
let ctx = null;  // from app.js: {lab, open, go, guarded, say, rendered}
let rows = [];   // the draft: one command line per op
let shownOps = null;  // the log the draft was taken from (JSON), to see when it changes
let shownNames = null;  // the name, title and description the fields were taken from
let timer = null;
let checked = 0;  // the latest engine check, so a late answer never overwrites a newer one

// ----- saved scenarios --------------------------------------------------------------------------

export function savedScenarios() {
  try { return JSON.parse(localStorage.getItem(STORE) || "{}"); } catch { return {}; }
}

function save(doc) {
  const all = savedScenarios();
  all[doc.name] = doc;
  localStorage.setItem(STORE, JSON.stringify(all));
  fillSaved();
}

function fillSaved() {
  const select = $("scenario");
  select.querySelector("optgroup.saved")?.remove();
  const names = Object.keys(savedScenarios()).sort();
  if (!names.length) return;
  const group = document.createElement("optgroup");
  group.className = "saved";
  group.label = "Saved in this browser";
  for (const name of names) {
    const o = document.createElement("option");
    o.value = `saved:${name}`;
    o.textContent = name;
    group.appendChild(o);
  }
  select.appendChild(group);
}

// ----- the draft -------------------------------------------------------------------------------

function draftOps() {
  return rows.map((text) => parseCommand(text));
}

function dirty() {
  return JSON.stringify(rows) !== JSON.stringify(ctx.lab.ops.map(formatCommand));
}

function rowError(i, text) {
  const li = $("oplog-list").children[i];
  if (!li) return;
  const input = li.querySelector("input");
  const line = li.querySelector(".row-error");
  input.toggleAttribute("aria-invalid", !!text);
  if (text) input.setAttribute("aria-invalid", "true");
  line.hidden = !text;
  line.replaceChildren();
  if (text) line.append(text.text ?? text);
  if (text?.why) {
    const why = document.createElement("span");
    why.className = `why ${text.kind}`;
    why.textContent = ` ${text.kind === "kernel" ? "The kernel's rule" : "A limit of the simulator"}`
      + `${text.func ? ` (${text.func})` : ""}: ${text.why}`;
    line.appendChild(why);
  }
}

/** Check the draft: each line's syntax now, then the whole log by the engine (debounced). */
function check() {
  let ok = true;
  rows.forEach((text, i) => {
    try { parseCommand(text); rowError(i, null); } catch (err) {
      if (!(err instanceof CommandError)) throw err;
      rowError(i, err.message);
      ok = false;
    }
  });
  status();
  clearTimeout(timer);
  checked += 1;  // any answer still on its way is about an older draft
  $("oplog").dataset.checked = !ok ? "invalid" : dirty() ? "checking" : "ok";
  if (ok && dirty()) timer = setTimeout(engineCheck, CHECK_MS);
  return ok;
}

async function engineCheck() {
  const mine = ++checked;
  const lab = ctx.lab;
  let ops;
  try { ops = draftOps(); } catch { return; }
  let problem = null;
  try {
    const doc = await api.compare({ scenario: { ops },
      designs: lab.session.designs.map(variantName) });
    const failed = doc.designs.find((d) => d.error);
    if (failed) {
      const several = doc.designs.length > 1 ? `${variantName(failed)}: ` : "";
      problem = { text: `${several}${failed.error.reason}`, step: failed.error.step - 1,
        ...classify(failed.error.reason) };
    }
  } catch (err) {
    problem = plainError(err);
  }
  if (mine !== checked) return;
  rows.forEach((_, i) => rowError(i, null));
  if (problem) rowError(problem.step ?? 0, problem);
  $("oplog").dataset.checked = problem ? "refused" : "ok";
  status(problem);
}

function status(problem = null) {
  const line = $("oplog-status");
  if (problem) line.textContent = `Step ${(problem.step ?? 0) + 1} is refused: fix it to replay.`;
  else if (dirty()) line.textContent = "Changed: replay to see it (the story as shown is unchanged).";
  else line.textContent = `${rows.length} steps, as shown.`;
}

function rowElement(text, i) {
  const li = document.createElement("li");
  li.dataset.index = String(i);
  if (i + 1 === ctx.lab.session.step) li.classList.add("current");
  const jump = document.createElement("button");
  jump.type = "button";
  jump.className = "jump-to";
  jump.textContent = String(i + 1);
  jump.title = `Go to step ${i + 1}`;
  jump.setAttribute("aria-label", `Go to step ${i + 1}`);
  jump.addEventListener("click", () => (dirty() ? replay(i + 1) : ctx.go(i + 1)));
  const input = document.createElement("input");
  input.value = text;
  input.spellcheck = false;
  input.setAttribute("aria-label", `Step ${i + 1}`);
  input.addEventListener("input", () => { rows[i] = input.value; check(); });
  const tools = document.createElement("span");
  tools.className = "row-tools";
  const tool = (label, name, run) => {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = label;
    b.title = name;
    b.setAttribute("aria-label", `${name} (step ${i + 1})`);
    b.addEventListener("click", () => { run(); draw(); check(); });
    return b;
  };
  tools.append(
    tool("↑", "Move up", () => { if (i > 0) [rows[i - 1], rows[i]] = [rows[i], rows[i - 1]]; }),
    tool("↓", "Move down", () => { if (i < rows.length - 1) [rows[i + 1], rows[i]] = [rows[i], rows[i + 1]]; }),
    tool("+", "Insert a step after", () => rows.splice(i + 1, 0, text.split(" ")[0] === "spawn" ? "mmap 1 4 rw" : text)),
    tool("✕", "Delete", () => rows.splice(i, 1)),
  );
  const error = document.createElement("p");
  error.className = "row-error";
  error.setAttribute("role", "alert");
  error.hidden = true;
  li.append(jump, input, tools, error);
  return li;
}

function draw() {
  $("oplog-list").replaceChildren(...rows.map(rowElement));
  $("oplog-count").textContent = String(ctx.lab.session.length);
}

/** Open the draft as the laboratory's log, at ``step`` (default: where we are). */
function names() {
  return { name: $("oplog-name").value.trim() || "my-scenario",
    title: $("oplog-title").value.trim(), description: $("oplog-description").value.trim() };
}

function baseNames() {
  const lab = ctx.lab;
  const base = lab.origin || lab.session.scenario || {};
  return { name: base.name || lab.scenario || "my-scenario", title: base.title || "",
    description: base.description || "" };
}

async function replay(step = null) {
  if (!check()) throw new ApiError(422, "A step is not an op yet: fix the one marked in the list of steps.");
  const lab = ctx.lab;
  const ops = draftOps();
  const origin = names();
  await ctx.open({ ops, designs: lab.session.designs,
    at_step: Math.min(step ?? lab.session.step, ops.length) }, null);
  lab.origin = origin;
  lab.stories = [];
  if (origin.description || origin.title) {
    $("scenario-description").textContent = origin.description || origin.title;
  }
  ctx.rendered();
}

/** Replay the draft if its steps changed; a new name alone makes the log one's own. */
function guardedReplay(then = null) {
  return ctx.guarded(async () => {
    if (dirty()) await replay();
    else if (JSON.stringify(names()) !== JSON.stringify(baseNames())) {
      ctx.lab.origin = names();
      ctx.lab.scenario = null;
      ctx.rendered();
    }
    if (then) await then();
  });
}

// ----- the panel -------------------------------------------------------------------------------

function field(id, label, multiline = false) {
  const l = document.createElement("label");
  l.className = "oplog-field";
  const input = document.createElement(multiline ? "textarea" : "input");
  input.id = id;
  if (multiline) input.rows = 2;
  l.append(label, input);
  return l;
}

function panel() {
  const box = document.createElement("details");
  box.className = "oplog";
  box.id = "oplog";
  const summary = document.createElement("summary");
  summary.append("Steps (", Object.assign(document.createElement("span"), { id: "oplog-count" }),
    "): edit, reorder, save, share");
  const list = document.createElement("ol");
  list.id = "oplog-list";
  list.className = "oplog-list";
  const add = document.createElement("button");
  add.type = "button";
  add.textContent = "+ add a step at the end";
  add.addEventListener("click", () => {
    rows.push(rows.length ? "read 1 0x1000" : "spawn 1");
    draw();
    check();
    $("oplog-list").lastElementChild.querySelector("input").select();
  });
  const state = document.createElement("p");
  state.id = "oplog-status";
  state.className = "oplog-status";
  state.setAttribute("aria-live", "polite");
  const names = document.createElement("div");
  names.className = "oplog-names";
  names.append(field("oplog-name", "name "), field("oplog-title", "title "),
    field("oplog-description", "description ", true));
  const actions = document.createElement("div");
  actions.className = "oplog-actions";
  const act = (text, run) => {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = text;
    b.addEventListener("click", run);
    actions.appendChild(b);
    return b;
  };
  act("Replay", () => ctx.guarded(() => replay())).id = "oplog-replay";
  act("Undo changes", () => { rows = ctx.lab.ops.map(formatCommand); draw(); check(); });
  act("Save", () => guardedReplay(async () => {
    const doc = scenarioDoc(ctx.lab);
    save(doc);
    downloadScenario(doc);
    ctx.say(`Saved ${doc.name}: downloaded, and kept in this browser (the Scenario list).`, "info");
  })).id = "oplog-save";
  act("Copy a link", () => guardedReplay(async () => {
    const link = await scenarioLink(ctx.lab);
    $("oplog-link").value = link;
    $("oplog-link").hidden = false;
    try { await navigator.clipboard.writeText(link); ctx.say("Copied a link that carries the scenario itself.", "info"); } catch {
      ctx.say("The link is below the steps: copy it from there.", "info");
    }
  })).id = "oplog-copy-link";
  act("Load a file…", () => $("load-file").click());
  const link = document.createElement("input");
  link.id = "oplog-link";
  link.readOnly = true;
  link.hidden = true;
  link.setAttribute("aria-label", "A link that carries this scenario");
  box.append(summary, list, add, state, names, actions, link);
  return box;
}

/** After each drawing: follow the log (unless the draft has changes) and the current step. */
export function rendered() {
  const lab = ctx.lab;
  const now = JSON.stringify(lab.ops);
  if (now !== shownOps) {
    shownOps = now;
    rows = lab.ops.map(formatCommand);
    draw();
    check();
  }
  const base = baseNames();
  if (JSON.stringify(base) !== shownNames) {
    shownNames = JSON.stringify(base);
    $("oplog-name").value = base.name;
    $("oplog-title").value = base.title;
    $("oplog-description").value = base.description;
  }
  $("oplog-count").textContent = String(lab.session.length);
  for (const li of $("oplog-list").children) {
    li.classList.toggle("current", Number(li.dataset.index) + 1 === lab.session.step);
  }
}

export function install(context) {
  ctx = context;
  $("narration").before(panel());
  fillSaved();
  // the picker's saved scenarios open here, before app.js reads the choice as a built-in name
  document.addEventListener("change", (event) => {
    if (event.target.id !== "scenario" || !event.target.value.startsWith("saved:")) return;
    event.stopImmediatePropagation();
    const doc = savedScenarios()[event.target.value.slice(6)];
    ctx.guarded(() => openScenario(doc, "the saved scenario"));
  }, true);
}
