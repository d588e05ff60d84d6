// Branches, not truncation: acting at a step before the end of the log (or anywhere in a
// built-in scenario) starts a new session forked at that step, and the story (its session,
// its step, all its ops) is kept; a "Back to the story" control returns to it. The picker
// and the description say what is shown.

import { api, ApiError } from "./api.js";

const $ = (id) => document.getElementById(id);
let ctx = null;  // from app.js: {lab, show}

/** What the current log is called: a built-in scenario, a scenario of one's own, or free play. */
export function logLabel(lab) {
  return lab.scenario || lab.origin?.name || "free play";
}

/** Apply ``op`` at the current step: at the end of one's own log, to its session; before the
 * end, or in a built-in scenario, to a new session holding the log up to this step (the
 * story is kept). Returns the session document at the new step; a refused op leaves
 * everything as it was. */
export async function applyHere(op) {
  const { lab } = ctx;
  const s = lab.session;
  if (s.step >= s.length && !lab.scenario) return api.apply(s.id, op, s.step);
  const fork = await api.createSession({ designs: s.designs, ops: lab.ops.slice(0, s.step),
    at_step: s.step });
  let doc;
  try {
    doc = await api.apply(fork.id, op, s.step);
  } catch (err) {
    api.remove(fork.id).catch(() => {});  // a branch that never started leaves nothing behind
    throw err;
  }
  lab.stories.push({ id: s.id, scenario: lab.scenario, origin: lab.origin, label: logLabel(lab),
    designs: s.designs, ops: lab.ops, step: s.step, length: s.length, readOnly: s.read_only });
  return doc;
}

/** Return to the story (or the branch) this branch left, at the step it was left. */
async function back() {
  const { lab } = ctx;
  const story = lab.stories.at(-1);
  let doc;
  try {
    if (story.readOnly) {  // a built-in scenario's shared view: look at the step again
      doc = { ...await api.session(story.id), ops: story.ops, step: story.step,
        view: await api.step(story.id, story.step) };
    } else {
      doc = { ...await api.cursor(story.id, story.step), ops: story.ops };
    }
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 404) throw err;
    // the story's session expired: rebuild it from what the page kept
    doc = await api.createSession({ designs: story.designs, at_step: story.step,
      ...(story.scenario ? { scenario: story.scenario } : { ops: story.ops }) });
  }
  lab.stories.pop();
  lab.origin = story.origin;
  ctx.show(doc, story.scenario);
}

/** Leave every branch, and any scenario of one's own, behind (another scenario was chosen). */
export function forget() {
  ctx.lab.stories = [];
  ctx.lab.origin = null;
}

function hereOption() {
  const select = $("scenario");
  let here = select.querySelector("option[value='__here']");
  if (!here) {
    here = document.createElement("option");
    here.value = "__here";
    select.prepend(here);
  }
  return here;
}

/** After each drawing: the back control, the picker's entry and the description. */
export function rendered() {
  const { lab } = ctx;
  const top = lab.stories.at(-1);
  const button = $("back-to-story");
  button.hidden = !top;
  let text = null;
  if (top) {
    button.textContent = lab.stories.length > 1 ? "Back to your earlier branch" : "Back to the story";
    button.title = `Return to ${top.label} at step ${top.step}, with all its ${top.length} steps`;
    text = `${top.label}, your branch from step ${top.step}`;
    $("scenario-description").textContent = `Your branch of ${top.label} from step ${top.step}. `
      + `The story is kept with all its ${top.length} steps: “${button.textContent}” returns `
      + `to its step ${top.step}.`;
  } else if (!lab.scenario && lab.origin) {
    text = `${lab.origin.name} (your scenario)`;
  } else if (!lab.scenario && lab.ops.length) {
    text = `free play: your ${lab.ops.length} step${lab.ops.length === 1 ? "" : "s"}`;
  }
  const select = $("scenario");
  if (text) {
    hereOption().textContent = text;
    select.value = "__here";
  } else {
    select.querySelector("option[value='__here']")?.remove();
    select.value = lab.scenario ?? "";
  }
}

export function install(context) {
  ctx = context;
  ctx.lab.stories = [];
  ctx.lab.origin = null;  // a scenario of one's own: {name, title, description} (export.js)
  const button = document.createElement("button");
  button.type = "button";
  button.id = "back-to-story";
  button.className = "back-to-story";
  button.hidden = true;
  button.addEventListener("click", () => ctx.guarded(back));
  $("scenario").after(button);
  $("scenario").addEventListener("change", forget);
  $("load-file").addEventListener("change", forget);
}
