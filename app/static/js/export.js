// Scenarios out and in: the whole scenario as a file (every step, every design and option,
// hex addresses, the step it was exported at) or explicitly up to this step; a link that
// carries the scenario itself, compressed (deflate-raw, base64url), so it needs no session on
// the server; and opening such files and links.

import { ApiError } from "./api.js";
import { hex } from "./layout.js";
import { logLabel } from "./branch.js";

const ADDRESS_FIELDS = ["addr", "new_addr"];
let ctx = null;  // from app.js: {lab, open, download, say}

function hexOp(op) {
  const out = { ...op };
  for (const f of ADDRESS_FIELDS) if (out[f] !== undefined && out[f] !== null) out[f] = hex(Number(out[f]));
  return out;
}

/** The current log as a scenario file; ``upTo``: only the steps up to the current one. */
export function scenarioDoc(lab, upTo = false) {
  const base = lab.origin || lab.session.scenario || {};
  const s = lab.session;
  const top = lab.stories.at(-1);
  let name = base.name || "free-play";
  let title = base.title || "";
  let description = base.description || "";
  if (top) {
    name = `${top.label}-branch-${top.step}`;
    title = `${top.label}, a branch from step ${top.step}`;
    description = `Steps 1-${top.step} are ${top.label}'s; the rest were added in the laboratory.`;
  }
  const ops = upTo ? lab.ops.slice(0, s.step) : lab.ops;
  if (upTo && s.step < s.length) {
    name = `${name}-to-step-${s.step}`;
    title = `${title || name}, up to step ${s.step}`;
    description = `The first ${s.step} of the ${s.length} steps of ${logLabel(lab)}. ${description}`.trim();
  }
  const [first] = s.designs;
  return { name, title, description, design: first.design, options: first.options,
    designs: s.designs.map((d) => ({ design: d.design, options: d.options })),
    at_step: s.step, ops: ops.map(hexOp) };
}

export function downloadScenario(doc) {
  ctx.download(`${doc.name}.json`, new Blob([`${JSON.stringify(doc, null, 1)}\n`],
    { type: "application/json" }));
}

// ----- links that carry the scenario ----------------------------------------------------------

async function pack(doc) {
  const stream = new Blob([JSON.stringify(doc)]).stream()
    .pipeThrough(new CompressionStream("deflate-raw"));
  const bytes = new Uint8Array(await new Response(stream).arrayBuffer());
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

async function unpack(text) {
  const bin = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
  const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate-raw"));
  return JSON.parse(await new Response(stream).text());
}

/** A link to this step that carries the whole scenario (no server session needed). */
export async function scenarioLink(lab) {
  const url = new URL(location.pathname, location.origin);
  url.searchParams.set("s", await pack(scenarioDoc(lab)));
  url.searchParams.set("step", String(lab.session.step));
  if (lab.predict) url.searchParams.set("predict", "1");
  return url.toString();
}

/** Open a scenario document (a file, a saved scenario, a link) as one's own scenario. */
export async function openScenario(data, source, step = null) {
  if (!data || typeof data !== "object" || !Array.isArray(data.ops)) {
    throw new ApiError(422, `${source} has no "ops" list`);
  }
  const designs = Array.isArray(data.designs) && data.designs.length ? data.designs
    : [{ design: data.design || "anon_vma_rfc2", options: data.options || [] }];
  const at = Math.min(step ?? data.at_step ?? 0, data.ops.length);
  ctx.lab.stories = [];
  await ctx.open({ ops: data.ops, designs, at_step: at }, null);
  ctx.lab.origin = { name: data.name || "untitled", title: data.title || "",
    description: data.description || "" };
  document.getElementById("scenario-description").textContent = data.description || data.title
    || `${ctx.lab.origin.name}: a scenario of your own, from ${source}, ${data.ops.length} steps.`;
  ctx.rendered();
}

/** ``?s=...``: the scenario the link carries. */
export async function openLink(text, step) {
  let data;
  try { data = await unpack(text); } catch {
    throw new ApiError(422, "This link's scenario could not be read (it is cut short or "
      + "damaged); choose a scenario from the list.");
  }
  await openScenario(data, "the link", step);
}

/** A link naming a scenario that does not exist: say so, and show the picker's choices. */
export function notFound(name, scenarios) {
  const box = document.getElementById("scenario-description");
  const p = document.createElement("span");
  p.className = "not-found";
  p.setAttribute("role", "alert");
  p.textContent = `There is no scenario called “${name}”. Choose one: `;
  const links = scenarios.map((s) => {
    const a = document.createElement("a");
    a.href = `?scenario=${encodeURIComponent(s.name)}`;
    a.textContent = s.name;
    a.title = s.title || "";
    return a;
  });
  box.replaceChildren(p, ...links.flatMap((a, i) => (i ? [", ", a] : [a])));
  document.getElementById("scenario").focus();
}

export function install(context) {
  ctx = context;
  const menu = document.getElementById("export-menu");
  const whole = menu.querySelector("[data-export='scenario']");
  whole.textContent = "Scenario as JSON: all steps";
  const upTo = document.createElement("button");
  upTo.type = "button";
  upTo.dataset.export = "scenario-to-step";
  upTo.textContent = "Scenario as JSON: up to this step";
  whole.after(upTo);
}
