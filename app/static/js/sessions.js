// Sessions: a session on the server is what the page shows. A built-in scenario is looked
// at read-only until the first change, which makes a session of one's own; this browser
// remembers the sessions it owns (by their view id) to reuse them on a reload.

import { api } from "./api.js";
import * as branch from "./branch.js";
import * as exporting from "./export.js";
import { params, parseDesigns } from "./url.js";

const OWNER = "rmaplab.owner.";
let ctx = null;  // from app.js: {lab, initial, buildPanels, render, refreshSeries, stop}

/** Take a session document (or a step's) as the current session and view. */
export function adopt(doc) {
  const { lab } = ctx;
  lab.session = { id: doc.id, view_id: doc.view_id, read_only: doc.read_only,
    designs: doc.designs, scenario: doc.scenario, length: doc.length, step: doc.step };
  if (!doc.read_only) {
    try { localStorage.setItem(OWNER + doc.view_id, doc.id); } catch { /* private mode */ }
  }
  if (doc.ops) lab.ops = doc.ops;
  lab.view = doc.view;
  lab.series = null;
}

/** Create a session from `body` and show it. */
export async function open(body, scenarioName) {
  show(await api.createSession(body), scenarioName);
}

/** Show a session document: panels built afresh for its designs. */
export function show(doc, scenarioName) {
  const { lab } = ctx;
  lab.scenario = scenarioName ?? null;
  lab.file = null;
  adopt(doc);
  ctx.buildPanels();
  ctx.render();
  ctx.refreshSeries();
}

/** A built-in scenario, read-only: no session exists until the first change. */
export async function view(name, designs, step) {
  const spec = designs?.length ? designs.map((d) => d.design + d.options.map((o) => `+${o}`)
    .join("")).join(",") : null;
  const doc = await api.scenarioView(name, spec);
  if (step) doc.view = await api.step(doc.id, Math.min(step, doc.length));
  show({ ...doc, step: doc.view.step }, name);
}

/** Before a change to a read-only session: a session of our own, at the same step. */
export async function own() {
  const { lab } = ctx;
  if (!lab.session.read_only) return;
  const s = lab.session;
  const body = lab.scenario ? { scenario: lab.scenario, designs: s.designs, at_step: s.step }
    : { designs: s.designs, ops: lab.ops, at_step: s.step };
  const scenario = lab.scenario;
  adopt(await api.createSession(body));
  lab.scenario = scenario;
}

/** A move along the log: read-only sessions ask for the step, without moving anything. */
export async function moveTo(step, change) {
  const s = ctx.lab.session;
  if (!s.read_only) return change();
  return { ...s, view: await api.step(s.id, step), step };
}

/** Open what the URL names: a scenario link, a view, a shared session or a scenario. */
export async function start() {
  const { initial } = ctx;
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

/** Apply an op at the current step: to a session of our own, on a branch before the end of
 * the log. */
export async function applyOp(op) {
  const { lab } = ctx;
  ctx.stop();
  if (!lab.scenario) await own();  // someone else's session, read-only: ours first
  const s = lab.session;
  const doc = await branch.applyHere(op);  // before the end of the log: on a new branch
  lab.ops = [...lab.ops.slice(0, s.step), doc.view.op];
  lab.scenario = null;
  adopt({ ...doc, ops: undefined });
  document.getElementById("scenario").value = "";
  ctx.render();
  ctx.refreshSeries();
}

export function install(context) {
  ctx = context;
}
