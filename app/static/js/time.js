// Time travel: step forward and back along the session's log, jump to a step, autoplay.
// A walk on screen takes the steps first; in predict mode a step forward asks first.

import { api } from "./api.js";

const $ = (id) => document.getElementById(id);
let ctx = null;  // from app.js: {lab, walks, guarded, adopt, moveTo, render, refreshSeries,
                 // narrate, ask}

function moved(doc) {
  const { lab } = ctx;
  lab.predicting = false;
  ctx.adopt({ ...doc, ops: undefined });
  if (!lab.aboutTouched && lab.session.step > 0) $("about").open = false;
  ctx.render();
  if (!lab.series) ctx.refreshSeries();
}

/** Go to step `step` of the log (clamped to it). */
export function go(step) {
  const s = ctx.lab.session;
  step = Math.max(0, Math.min(s.length, step));
  if (step === s.step) return;
  ctx.guarded(async () => moved(await ctx.moveTo(step, () => api.cursor(s.id, step))));
}

/** One step forward: the walk's next step, the question first in predict mode, or the log's. */
export function forward() {
  const { lab, walks } = ctx;
  if (walks.next()) return;  // a walk on screen takes the step first
  if (lab.session.step >= lab.session.length) { stop(); return; }
  if (lab.predict && !lab.timer && !lab.predicting) { ctx.ask(); return; }
  const s = lab.session;
  ctx.guarded(async () => moved(await ctx.moveTo(s.step + 1, () => api.redo(s.id))));
}

/** One step back: away from the question, the walk's previous step, or the log's. */
export function back() {
  const { lab, walks } = ctx;
  if (lab.predicting) { lab.predicting = false; ctx.narrate(); return; }
  if (walks.prev()) return;
  const s = lab.session;
  if (s.step > 0) ctx.guarded(async () => moved(await ctx.moveTo(s.step - 1, () => api.undo(s.id))));
}

/** Autoplay, or pause it. */
export function play() {
  const { lab } = ctx;
  if (lab.timer) { stop(); return; }
  if (lab.session.step >= lab.session.length) go(0);
  $("play").textContent = "pause";
  $("play").setAttribute("aria-label", "Pause");
  lab.timer = setInterval(() => forward(), Number($("speed").value));
}

/** Stop autoplay. */
export function stop() {
  const { lab } = ctx;
  if (lab.timer) clearInterval(lab.timer);
  lab.timer = null;
  $("play").textContent = "play";
  $("play").setAttribute("aria-label", "Play");
}

export function install(context) {
  ctx = context;
}
