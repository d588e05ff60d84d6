// Predict, then reveal: before each step forward, the op and a question about it; the
// outcome on the next press.

import { opText } from "./commands.js";
import { askLesson } from "./lesson.js";
import { updateUrl } from "./url.js";

const $ = (id) => document.getElementById(id);
let ctx = null;  // from app.js: {lab, forward, narrate, drawCosts}

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

/** Show the next step's op and its question instead of its outcome. */
export function ask() {
  const { lab } = ctx;
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
  reveal.addEventListener("click", () => ctx.forward());
  out.append(q, hint, reveal);
  reveal.focus();
  askLesson(lab, lab.scenario, lab.session.step + 1, [q, hint]);
}

/** Predict mode on or off. */
export function setPredict(on) {
  const { lab } = ctx;
  lab.predict = on;
  $("predict").checked = on;
  $("scenario-description").hidden = on;  // it tells the story the questions ask about
  if (!on && lab.predicting) { lab.predicting = false; ctx.narrate(); }
  ctx.drawCosts();
  updateUrl(lab);
}

export function install(context) {
  ctx = context;
}
