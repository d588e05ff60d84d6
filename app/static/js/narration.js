// The narration: what the step did, design by design, in sentences linked to the kernel
// functions and to the objects of the diagram, with the walks it made and the invariants it
// broke.

import * as branch from "./branch.js";
import { opText } from "./commands.js";
import * as editor from "./editor.js";
import * as freeplay from "./freeplay.js";
import * as glossary from "./glossary.js";
import { hex, objectNodeIds } from "./layout.js";
import { variantName } from "./variants.js";

const $ = (id) => document.getElementById(id);
const MARKS = { hit: "✓ hit", miss: "✗ miss", skip: "∅ skip" };
let ctx = null;  // from app.js: {lab, initial}

/** Narrate the current step under the diagrams. */
export function narrate() {
  const { lab } = ctx;
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

/** The modules that extend the laboratory redraw their parts after each narration. */
export function rendered() {
  glossary.linkTerms($("narration"));
  glossary.describeDesigns(ctx.initial.designs);
  branch.rendered();
  freeplay.rendered();
  editor.rendered();
}

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

export function install(context) {
  ctx = context;
}
