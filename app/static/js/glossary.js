// Words for newcomers: a glossary panel reachable from each term in the narration, and the
// designs' and options' descriptions on click or tap (not only in hover tooltips).

import { sourceLink } from "./variants.js";

const $ = (id) => document.getElementById(id);

export const GLOSSARY = [
  ["reverse mapping", ["rmap"], "Given a physical page, find every page-table entry (PTE) that maps it. "
    + "Reclaim needs it to unmap a page before swapping it out; the designs here differ in what each page "
    + "points at and how long that search is."],
  ["PageDirect", [], "A page flag of 2.6.0 and of RFC2: the page is mapped exactly once, so its rmap pointer "
    + "leads straight to the one mapping (2.6.0: the PTE's address; RFC2: the vma) and no other object is "
    + "needed until a second mapping appears (fork)."],
  ["page->mapping", ["page->as.vma"], "The struct page field that says where the page belongs. For an "
    + "anonymous page it points at the design's rmap object (the anon_vma, the anonmm, or under "
    + "PageDirect the vma itself); reclaim starts its walk there."],
  ["vm_pgoff", [], "A vma's offset, in pages, of its first page. For anonymous memory it starts as the "
    + "address >> 12 and moves with the pages (mremap keeps it), so vm_start + (page->index - vm_pgoff) "
    + "pages gives the address of a page in any vma that maps it."],
  ["page->index", [], "The page's offset in its object, in pages: for an anonymous page, the vm_pgoff-based "
    + "offset it was created at. The rmap walk uses it to compute the page's address in each vma it "
    + "visits, and to skip vmas that do not cover it."],
  ["mapcount", ["page_mapcount", "_mapcount"], "How many PTEs map the page. Reclaim can free the page once "
    + "the walk has cleared them all (mapcount 0); a write fault may reuse a page mapped once instead of "
    + "copying it."],
  ["swap cache", ["swapper_space"], "A page being written to or read from swap stays in memory, indexed by "
    + "its swap slot in swapper_space (the swap cache's address space), so a process that faults on the "
    + "slot finds the page instead of reading it again; page->mapping then points at swapper_space."],
  ["anon_vma", [], "The object of 2.6.7 and RFC2: a list of the vmas that may map a family of anonymous "
    + "pages. Each page points at one anon_vma; reclaim walks its vmas, computing the address from "
    + "page->index, and misses in those that no longer map the page."],
  ["anon_vma_chain", ["AVC", "AVCs"], "2.6.34 and later: a link (AVC) between one vma and one anon_vma. "
    + "Each vma has a chain of AVCs to its own anon_vma and its ancestors', so a page only needs to be "
    + "looked for in the vmas that can really map it."],
  ["anonmm", [], "Hugh Dickins's design: one object per mm, the anonmms of a fork family in a ring. A page "
    + "points at the anonmm of the mm that first mapped it and page->index holds its virtual address; "
    + "reclaim looks at that address in every mm of the ring."],
  ["pte_chain", [], "2.6.0's reverse mapping: a page mapped more than once points at a chain of blocks "
    + "listing the address of every PTE that maps it; exact, but the chains cost memory and time at "
    + "every fork and exit."],
];

const ALIASES = new Map(GLOSSARY.flatMap(([term, aliases]) => [term, ...aliases].map((a) => [a, term])));
const escape = (s) => s.replace(/[.*+?^${}()|[\]\\>-]/g, "\\$&");
// Longest first, so "anon_vma_chain" is not read as "anon_vma"; never inside a longer name.
const TERMS = new RegExp(`(?<![\\w>])(${[...ALIASES.keys()].sort((a, b) => b.length - a.length)
  .map(escape).join("|")})(?![\\w])`);

function dialog() {
  let box = $("glossary");
  if (box) return box;
  box = document.createElement("dialog");
  box.id = "glossary";
  box.setAttribute("aria-labelledby", "glossary-title");
  const h = document.createElement("h2");
  h.id = "glossary-title";
  h.textContent = "Glossary";
  const list = document.createElement("dl");
  for (const [term, aliases, text] of GLOSSARY) {
    const dt = document.createElement("dt");
    dt.id = `term-${term.replace(/\W+/g, "-")}`;
    dt.tabIndex = -1;
    dt.textContent = term + (aliases.length ? ` (${aliases.join(", ")})` : "");
    const dd = document.createElement("dd");
    dd.textContent = text;
    list.append(dt, dd);
  }
  const form = document.createElement("form");
  form.method = "dialog";
  const close = document.createElement("button");
  close.textContent = "Close";
  form.appendChild(close);
  box.append(h, list, form);
  document.body.appendChild(box);
  return box;
}

/** Open the glossary at ``term`` (a term or one of its aliases). */
export function openGlossary(term) {
  const box = dialog();
  if (!box.open) box.showModal();
  for (const dt of box.querySelectorAll("dt")) dt.classList.remove("current");
  const dt = term && $(`term-${(ALIASES.get(term) || term).replace(/\W+/g, "-")}`);
  if (dt) { dt.classList.add("current"); dt.scrollIntoView({ block: "center" }); dt.focus(); }
}

/** Each glossary term in the text under ``root`` becomes a button opening its entry. */
export function linkTerms(root) {
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  const nodes = [];
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    if (!n.parentElement.closest(".func, .term, button, a")) nodes.push(n);
  }
  for (let node of nodes) {
    for (let m = TERMS.exec(node.data); m; m = TERMS.exec(node.data)) {
      const after = node.splitText(m.index);
      node = after.splitText(m[1].length);
      after.replaceWith(termButton(m[1]));
    }
  }
}

function termButton(text) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = "term";
  b.dataset.term = ALIASES.get(text);
  b.title = `${b.dataset.term}: open the glossary`;
  b.textContent = text;
  return b;
}

/** The kernel function of an event, linked to its source at the variant's version. */
export function funcLink(variant, func) {
  const link = sourceLink(variant, func);
  if (!link) return document.createTextNode(func);
  const a = document.createElement("a");
  a.href = link.href;
  a.target = "_blank";
  a.rel = "noopener noreferrer";
  a.title = link.title;
  a.textContent = func;
  return a;
}

// ----- the designs' and options' descriptions, on click or tap -------------------------------

function note() {
  let box = $("design-note");
  if (!box) {
    box = document.createElement("div");
    box.id = "design-note";
    box.className = "design-note chrome";
    box.setAttribute("role", "note");
    box.hidden = true;
    $("designs").after(box);
  }
  return box;
}

function showNote(title, text, button) {
  const box = note();
  const same = !box.hidden && box.dataset.for === title;
  for (const b of document.querySelectorAll("#designs .info")) b.setAttribute("aria-expanded", "false");
  box.hidden = same;
  if (same) return;
  box.dataset.for = title;
  const b = document.createElement("b");
  b.textContent = `${title}: `;
  box.replaceChildren(b, text);
  button.setAttribute("aria-expanded", "true");
}

function infoButton(title, text) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = "info";
  b.textContent = "i";
  b.setAttribute("aria-label", `What is ${title}?`);
  b.setAttribute("aria-expanded", "false");
  b.setAttribute("aria-controls", "design-note");
  b.addEventListener("click", (event) => { event.preventDefault(); showNote(title, text, b); });
  return b;
}

/** After the design switches are (re)built: an "i" button after each design and option. */
export function describeDesigns(designs) {
  const info = new Map(designs.map((d) => [d.name, d]));
  for (const input of document.querySelectorAll("#designs input[data-design]")) {
    const label = input.closest("label");
    if (label.nextElementSibling?.classList.contains("info")) continue;
    const d = info.get(input.dataset.design);
    const option = input.dataset.option;
    const text = option ? d.options[option] : `${d.title}, ${d.era}. ${d.description}`;
    label.after(infoButton(option ? `${d.name} option ${option}` : d.name, text));
  }
}

export function install() {
  const open = document.createElement("button");
  open.type = "button";
  open.id = "glossary-button";
  open.textContent = "Glossary";
  open.addEventListener("click", () => openGlossary(null));
  $("help-button").before(open);
  document.addEventListener("click", (event) => {
    const term = event.target.closest("button.term");
    if (term) openGlossary(term.dataset.term);
  });
}
