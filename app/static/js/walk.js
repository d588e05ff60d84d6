// The reclaim walk, step by step. A step that reclaims a frame (or the walk a clicked frame
// would get) plays as sub-steps on the state *before* the reclaim: the page, its rmap
// pointer, each container in walk order with vma_address worked out, each PTE found, and
// finally the page leaving. Several designs play side by side in step; the shorter walk
// waits, finished. The player's position is in the DOM (data-walk-* attributes, lit
// classes) so that it can be read without timing.

import { hex, visitNodeId } from "./layout.js";

const LIT = ["visit-hit", "visit-miss", "visit-skip", "visit-via", "walk-visited", "walk-current",
  "walk-frame"];

function el(tag, attrs = {}, text = null) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== null) e.textContent = text;
  return e;
}

const plural = (n, one, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

// Scroll the nearest scrolling box around `elem` (a diagram, the story) so that `elem` is in
// sight; the page itself is left where the reader put it.
function reveal(elem) {
  if (!elem) return;
  let box = elem.parentElement;
  for (; box && box !== document.body; box = box.parentElement) {
    const style = getComputedStyle(box);
    if (/auto|scroll/.test(style.overflowY + style.overflowX)
        && (box.scrollHeight > box.clientHeight || box.scrollWidth > box.clientWidth)) break;
  }
  if (!box || box === document.body) return;
  const a = elem.getBoundingClientRect();
  const c = box.getBoundingClientRect();
  const margin = 8;
  if (a.top < c.top) box.scrollTop -= c.top - a.top + margin;
  else if (a.bottom > c.bottom) box.scrollTop += Math.min(a.top - c.top, a.bottom - c.bottom + margin);
  if (a.left < c.left) box.scrollLeft -= c.left - a.left + margin;
  else if (a.right > c.right) box.scrollLeft += Math.min(a.left - c.left, a.right - c.right + margin);
}

// What a PTE holds, in words ("maps frame 3", "holds swap slot 2", "is none").
function pteText(pte) {
  if (!pte) return "is none";
  if (pte.kind === "page") return `maps frame ${pte.pfn}`;
  if (pte.kind === "swap") return `holds swap slot ${pte.slot}`;
  return "maps the zero page";
}

// ----- the working copy of the state, as the walk changes it ---------------------------------

function findPage(state, pfn) {
  return state.pages.find((p) => p.pfn === pfn);
}

function findSlot(state, slot) {
  return state.swap.find((s) => s.slot === slot);
}

// add_to_swap: the page enters the swap cache at its slot.
function addToSwap(state, w) {
  const page = findPage(state, w.pfn);
  if (!page || w.slot == null) return;
  if (!page.flags.includes("swapcache")) page.flags = [...page.flags, "swapcache"];
  page.swap_slot = w.slot;
  if (!findSlot(state, w.slot)) {
    state.swap = [...state.swap, { slot: w.slot, ptes: 0, cached_pfn: w.pfn, value: page.value }]
      .sort((a, b) => a.slot - b.slot);
  }
}

// A hit: the PTE becomes the swap entry, the page's mapcount drops.
function unmapOne(state, w, visit) {
  const mm = state.mms.find((m) => m.pid === visit.pid);
  const pte = mm?.ptes.find((p) => p.addr === visit.addr);
  if (pte) Object.assign(pte, visit.pte_after);
  const page = findPage(state, w.pfn);
  if (page) page.mapcount -= 1;
  const slot = findSlot(state, w.slot);
  if (slot) slot.ptes += 1;
}

// The page is written to its slot, leaves the swap cache and is freed.
function freePage(state, w) {
  const page = findPage(state, w.pfn);
  const slot = findSlot(state, w.slot);
  if (slot) { slot.cached_pfn = null; slot.value = page ? page.value : slot.value; }
  state.pages = state.pages.filter((p) => p.pfn !== w.pfn);
}

// ----- one design's walks as sub-steps ---------------------------------------------------------

function indexText(design, w) {
  if (w.index == null) return "";
  return design === "anonmm" ? `, page->index ${hex(w.index)} (anonmm keeps the virtual address there)`
    : `, page->index ${w.index}`;
}

// The sub-steps of one walk, each {text, func (the kernel function), current (the node ids
// it looks at), marks ([id, class] it leaves lit), apply (what it does to the working copy
// of the state), after (what the next walk finds done: the page freed)}.
function walkSteps({ design, options }, w, before, preview) {
  const out = [];
  const page = findPage(before, w.pfn);
  const frame = `frame:${w.pfn}`;
  const cached = page?.flags.includes("swapcache");
  const verb = preview ? "would take" : "takes";
  out.push({
    text: `Reclaim ${verb} frame ${w.pfn} (mapcount ${w.mapcount}${indexText(design, w)}). `
      + (cached ? `It is already in the swap cache at slot ${w.slot}. `
        : `add_to_swap gives it swap slot ${w.slot} and puts it in the swap cache. `)
      + "try_to_unmap must now find every PTE that maps it.",
    func: "mm/vmscan.c:shrink_list",
    current: [frame], marks: [[frame, "walk-frame"]],
    apply: (st) => addToSwap(st, w),
  });
  const via = w.via;
  if (!via) {
    out.push({ text: "The page has no rmap pointer: there is nothing to walk.", current: [frame], marks: [] });
  } else {
    const id = visitNodeId(via);
    const n = w.candidates;
    let text;
    if (via.note === "freed") {
      text = `page->mapping points at ${via.kind} ${via.id}, which was freed: the walk cannot start.`;
    } else if (via.kind === "vma") {
      text = `PageDirect: page->as.vma points straight at vma ${via.id}, the only mapping; no list to walk.`;
    } else if (via.kind === "pte") {
      text = `PageDirect: page->pte.direct names the one PTE, pid ${via.pid} at ${hex(via.addr)}.`;
    } else if (via.kind === "pte_chain") {
      text = `page->pte.chain leads to pte_chain block ${via.id}: ${plural(n, "entry", "entries")}, each naming a PTE (pid, address) directly; no address to work out.`;
    } else if (via.kind === "anonmm") {
      text = `page->mapping leads to anonmm ${via.id}: the walk goes round its ring of ${plural(n, "mm")}, looking at the same address ${hex(w.index)} in each.`;
    } else {
      // only RFC2 has PageDirect pages: there, reaching the anon_vma means "not PageDirect"
      const direct = design === "anon_vma_rfc2" ? "Not PageDirect: " : "";
      text = design === "anon_vma_chain" && !options.includes("v2_6_34")
        ? `${direct}page->mapping leads to anon_vma ${via.id}; its interval tree gives ${plural(n, "vma")} whose range of page offsets covers page->index ${w.index}, in tree order.`
        : `${direct}page->mapping leads to anon_vma ${via.id}; walk its list of ${plural(n, "vma")}, head first.`;
    }
    out.push({ text, func: "mm/rmap.c:try_to_unmap", current: [id], marks: [[id, "visit-via"]] });
  }
  let mapcount = w.mapcount;
  for (const v of w.visited) {
    const box = visitNodeId(v);
    const pte = v.addr == null ? null : `pte:${v.pid}:${v.addr}`;
    const found = () => {
      if (v.result === "hit") {
        mapcount -= 1;
        return `${pteText(v.pte_before)}: hit. It now holds swap slot ${w.slot}; mapcount ${mapcount + 1} → ${mapcount}.`;
      }
      return `${pteText(v.pte_before)}, not frame ${w.pfn}: miss.`;
    };
    const lit = v.result === "hit" ? "visit-hit" : v.result === "miss" ? "visit-miss" : "visit-skip";
    const hitApply = v.result === "hit" ? (st) => unmapOne(st, w, v) : null;
    if (v.kind === "vma") {
      let text;
      if (v.vma_address == null) {
        text = `vma ${v.id}: ${v.note || "gone"}: skip.`;
      } else {
        const inside = v.vma_address >= v.vm_start && v.vma_address < v.vm_end;
        text = `vma ${v.id} (pid ${v.pid}, [${hex(v.vm_start)}, ${hex(v.vm_end)}), vm_pgoff ${v.vm_pgoff}): `
          + `vma_address = ${hex(v.vm_start)} + ((${w.index} − ${v.vm_pgoff}) << 12) = ${hex(v.vma_address)}`
          + (inside ? ", inside the vma." : `, outside the vma: skip.`);
      }
      // the vma shows its outcome once its PTE has been looked at (a skip knows it now)
      out.push({ text, func: "mm/rmap.c:vma_address", current: [box],
        marks: [[box, pte ? "walk-visited" : lit]] });
      if (pte) {
        out.push({ text: `pid ${v.pid}'s PTE at ${hex(v.addr)} ${found()}`, func: "mm/rmap.c:try_to_unmap_one",
          current: [box, pte], marks: [[pte, lit], [box, lit]], apply: hitApply });
      }
    } else if (v.kind === "anonmm") {
      const mm = `mm:${v.pid}`;
      out.push({ text: `anonmm ${v.id} → the mm of pid ${v.pid}: look up the same address ${hex(v.addr)} in its page table.`,
        func: "mm/rmap.c:try_to_unmap_anon", current: [box, mm], marks: [[box, "walk-visited"], [mm, "walk-visited"]] });
      out.push({ text: `pid ${v.pid}'s PTE at ${hex(v.addr)} ${found()}`, func: "mm/rmap.c:try_to_unmap_one",
        current: [box, mm, pte], marks: [[pte, lit], [box, lit], [mm, lit]], apply: hitApply });
    } else {
      const entry = v.id === 0 ? "pte.direct" : `chain entry (block ${v.id})`;
      out.push({ text: `${entry} → pid ${v.pid}'s PTE at ${hex(v.addr)}: it ${found()}`,
        func: "mm/rmap.c:try_to_unmap_one", current: [pte], marks: [[pte, lit]], apply: hitApply });
    }
  }
  const early = w.visited.length < w.candidates
    ? ` The walk stopped at mapcount 0, after ${w.visited.length} of ${plural(w.candidates, "candidate")}.` : "";
  if (w.remaining === 0) {
    out.push({
      text: `mapcount 0: every PTE that mapped frame ${w.pfn} now holds swap slot ${w.slot}.${early} `
        + `The page ${preview ? "would be" : "is"} written to slot ${w.slot}, ${preview ? "leave" : "leaves"} the swap cache and ${preview ? "be" : "is"} freed.`,
      func: "mm/vmscan.c:shrink_list", current: [frame], marks: [],
    });
  } else {
    out.push({
      text: `mapcount still ${w.remaining} after the walk: some PTE that maps frame ${w.pfn} cannot be reached through the rmap, so the frame stays mapped and in the swap cache.`,
      func: "mm/vmscan.c:shrink_list", current: [frame], marks: [],
    });
  }
  if (!preview && w.remaining === 0) out.at(-1).after = (st) => freePage(st, w);
  return out;
}

// ----- the player ----------------------------------------------------------------------------

export class WalkPlayer {
  // lab: the laboratory (panels, view, session, tableView); hooks: {step(n) → a step view
  // from the server, speed() → ms per sub-step, draw(panel, state): lay out and draw a
  // state in a panel at the size its column offers}.
  constructor(lab, hooks) {
    this.lab = lab;
    this.hooks = hooks;
    this.walk = null;      // the walk on screen: {mode, view, before, seqs, k, total, ...}
    this.seen = null;      // the last step view rendered, and its session
    this.timer = null;
    this.box = el("section", { id: "walk", class: "walk-player", "aria-live": "polite",
      "aria-label": "The reclaim walk, step by step" });
    this.box.hidden = true;
    const narration = document.getElementById("narration");
    narration.parentNode.insertBefore(this.box, narration);
    // a new speed applies at once to a walk that is playing
    document.getElementById("speed").addEventListener("change", () => {
      if (this.timer) { this.stopTimer(); this.play(); }
    });
  }

  // While a walk is on screen and not finished, → and ← belong to it.
  active() {
    return Boolean(this.walk && this.walk.k < this.walk.total);
  }

  // Called after every render of the lab: a new step that reclaimed something plays its walk.
  rendered(view) {
    const session = this.lab.session.id;
    if (this.seen?.view === view && this.seen.session === session) { this.show(); return; }
    const prev = this.seen;
    this.seen = { view, session };
    this.end();
    const reclaimed = view.designs.some((d) => d.walks.length);
    if (!reclaimed) return;
    const fresh = !prev || prev.session !== session;
    if (!fresh && view.step < prev.view.step) { this.offer(view); return; }
    if (!fresh && prev.view.step === view.step - 1) this.begin("step", view, prev.view.designs);
    else this.load(view);
  }

  async load(view) {
    let before;
    try {
      before = await this.hooks.step(view.step - 1);
    } catch (err) {
      console.warn("the state before the step could not be loaded", err);
      if (this.seen?.view === view) this.offer(view);
      return;
    }
    if (this.seen?.view === view) this.begin("step", view, before.designs);
  }

  // Arrived backwards at a step that reclaimed: the walk is one click away.
  offer(view) {
    this.box.replaceChildren();
    this.box.hidden = false;
    this.box.dataset.walkState = "offered";
    const b = el("button", { type: "button", id: "walk-replay" }, "▶ play this step's reclaim walk");
    b.addEventListener("click", () => this.load(view));
    this.box.append(el("h3", {}, "This step reclaimed a frame"), b);
  }

  // "Show the walk that would reclaim frame N": the same player on the current state.
  preview(pfn, doc) {
    const view = this.lab.view;
    this.end();
    const designs = doc.designs.map((d, i) => ({ ...view.designs[i], walks: d.resident ? d.walks : [],
      resident: d.resident }));
    this.begin("preview", { ...view, designs }, view.designs, pfn);
  }

  begin(mode, view, beforeDesigns, pfn = null) {
    const several = view.designs.length > 1;
    const seqs = view.designs.map((d, i) => {
      const before = beforeDesigns[i].state;
      if (mode === "preview" && !d.resident) {
        return [{ text: `Frame ${pfn} is not resident here: nothing to walk.`, current: [], marks: [] }];
      }
      if (!d.walks.length) {
        return [{ text: "No reclaim walk in this design at this step (its events say why).", current: [], marks: [] }];
      }
      return d.walks.flatMap((w) => walkSteps(d, w, before, mode === "preview"));
    });
    this.walk = { mode, view, pfn, several, seqs, total: Math.max(...seqs.map((s) => s.length)),
      before: beforeDesigns.map((d) => d.state),
      k: this.lab.predict && !this.lab.timer ? -1 : 0, guesses: null };
    this.show();
  }

  // Step the walk: true if the walk took the key.
  next() {
    const w = this.walk;
    if (!w || w.k >= w.total) return false;
    if (w.k === -1) w.guesses = this.readGuesses();
    w.k += 1;
    if (w.k === w.total) this.finish();
    else this.show();
    return true;
  }

  prev() {
    const w = this.walk;
    if (!w || w.k <= 0 || (w.mode === "preview" && w.k >= w.total)) return false;
    if (w.k >= w.total) this.stopTimer();
    w.k -= 1;
    this.show();
    return true;
  }

  skip() {
    if (!this.active()) return;
    this.walk.k = this.walk.total;
    this.finish();
  }

  play() {
    if (this.timer) { this.stopTimer(); this.show(); return; }
    if (!this.active() || this.lab.timer) return;  // autoplay already steps the walk
    this.timer = setInterval(() => { if (!this.next()) this.stopTimer(); }, this.hooks.speed());
    this.show();
  }

  stopTimer() {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  // The walk ran to its end: the diagrams show the state after the step (a preview: the
  // state as it is, since nothing changed).
  finish() {
    this.stopTimer();
    this.draw(null);
    this.show();
  }

  // Drop the walk on screen: a new step arrived, or a preview replaces it (both draw anew).
  end() {
    this.stopTimer();
    this.walk = null;
    this.box.hidden = true;
    this.box.replaceChildren();
    delete this.box.dataset.walkState;
    this.hideOutcome(false);
    for (const p of this.lab.panels) {
      delete p.root.dataset.walkSubstep;
      delete p.root.dataset.walkDone;
    }
  }

  // Predict mode: the step's events and costs would give the walk away until it ends.
  hideOutcome(hide) {
    document.getElementById("narration").hidden = hide;
    for (const p of this.lab.panels) p.root.classList.toggle("walk-predicting", hide);
  }

  // ----- drawing ------------------------------------------------------------------------------

  // The diagrams at sub-step k (null: the real state of the view, nothing lit).
  draw(k) {
    const w = this.walk;
    this.lab.panels.forEach((panel, i) => {
      const diagram = panel.diagram;
      for (const g of diagram.svg.querySelectorAll(LIT.map((c) => `.${c}`).join(","))) g.classList.remove(...LIT);
      if (this.lab.tableView) return;
      if (k === null) {
        this.hooks.draw(panel, this.lab.view.designs[i].state);
        delete panel.root.dataset.walkSubstep;
        delete panel.root.dataset.walkDone;
        return;
      }
      const seq = w.seqs[i];
      const upto = Math.min(k, seq.length - 1);
      const state = structuredClone(w.before[i]);
      for (let j = 0; j <= upto; j += 1) {
        seq[j].apply?.(state);
        if (j < upto) seq[j].after?.(state);
      }
      this.hooks.draw(panel, state);
      const marks = new Map();  // a later mark of a node replaces an earlier one
      for (let j = 0; j <= upto; j += 1) for (const [id, cls] of seq[j].marks) marks.set(id, cls);
      const light = (id, cls) => diagram.nodes.get(id)?.classList.add(cls);
      for (const [id, cls] of marks) light(id, cls);
      if (k >= 0 && k < seq.length) {
        for (const id of seq[k].current) light(id, "walk-current");
        // keep what the walk is looking at in sight (the PTE rather than its container)
        const shown = seq[k].current.map((id) => diagram.nodes.get(id)).filter(Boolean);
        reveal(shown.at(-1));
      }
      panel.root.dataset.walkSubstep = String(upto);
      panel.root.dataset.walkDone = String(k >= seq.length - 1);
    });
  }

  show() {
    const w = this.walk;
    if (!w) return;
    if (w.k < w.total) this.draw(Math.max(w.k, 0));
    const box = this.box;
    box.replaceChildren();
    box.hidden = false;
    box.dataset.walkMode = w.mode;
    box.dataset.walkSubstep = String(w.k);
    box.dataset.walkTotal = String(w.total);
    box.dataset.walkState = w.k === -1 ? "predict" : w.k >= w.total ? "done"
      : this.timer || this.lab.timer ? "playing" : "paused";
    this.hideOutcome(w.mode === "step" && this.lab.predict && w.k < w.total);
    const title = w.mode === "preview"
      ? `If frame ${w.pfn} were reclaimed now (a preview: nothing changes)`
      : `The reclaim walk of step ${w.view.step}, on the state before it`;
    box.append(el("h3", { class: "walk-title" }, title));
    box.append(this.controls());
    if (w.k === -1) box.append(this.question());
    w.view.designs.forEach((d, i) => {
      const seq = w.seqs[i];
      const part = el("div", { class: "walk-design", "data-design": d.design });
      if (w.several) part.append(el("h4", {}, d.design + (d.options.length ? ` [${d.options.join(", ")}]` : "")));
      const list = el("ol", { class: "walk-lines" });
      const shown = Math.min(w.k, seq.length - 1);
      for (let j = 0; j <= shown; j += 1) {
        const s = seq[j];
        const li = el("li", { "data-walk-line": String(j) });
        if (j === w.k) li.className = "current";
        li.append(s.text);
        if (s.func) li.append(el("span", { class: "func" }, s.func));
        list.append(li);
      }
      if (w.k >= 0 && w.k > seq.length - 1 && w.k < w.total) {
        list.append(el("li", { class: "walk-waiting" }, "(this walk has finished; waiting for the others)"));
      }
      part.append(list);
      if (w.k >= w.total && w.guesses) part.append(this.verdict(d, w.guesses[i]));
      box.append(part);
    });
    reveal(box.querySelector("li.current"));
  }

  controls() {
    const w = this.walk;
    const bar = el("div", { class: "walk-controls", role: "group", "aria-label": "Walk controls" });
    const button = (id, label, title, run, disabled = false) => {
      const b = el("button", { type: "button", id, title }, label);
      b.disabled = disabled;
      b.addEventListener("click", run);
      bar.append(b);
    };
    const done = w.k >= w.total;
    button("walk-back", "◀", "Previous sub-step of the walk (←)", () => this.prev(), w.k <= 0 || (done && w.mode === "preview"));
    button("walk-next", w.k === -1 ? "reveal" : "▶", "Next sub-step of the walk (→)", () => this.next(), done);
    button("walk-play", this.timer ? "pause walk" : "play walk", "Play the walk at the chosen speed",
      () => this.play(), done || Boolean(this.lab.timer));
    button("walk-skip", "skip walk", "Jump to the end of the walk (s)", () => this.skip(), done);
    const where = el("span", { class: "walk-where" },
      w.k === -1 ? "predict first" : done ? "walk finished" : `sub-step ${w.k + 1} of ${w.total}`);
    bar.append(where);
    return bar;
  }

  // ----- predict, then reveal -----------------------------------------------------------------

  question() {
    const w = this.walk;
    const form = el("div", { class: "walk-question" });
    form.append(el("p", { class: "predict-question" },
      "Before the walk: how many containers (vmas, mms, chain entries) will it visit, and how many of the PTEs it finds will be hits? "
      + "Watch which PTEs light up."));
    w.view.designs.forEach((d, i) => {
      const row = el("p", { class: "walk-guess", "data-design": d.design });
      if (w.several) row.append(el("b", {}, `${d.design}: `));
      for (const [name, label] of [["visits", "visits"], ["hits", "hits"]]) {
        const input = el("input", { type: "number", min: "0", name, "data-index": String(i), "aria-label": `${d.design} ${label}` });
        input.addEventListener("keydown", (event) => { if (event.key === "Enter") this.next(); });
        row.append(` ${label} `, input);
      }
      form.append(row);
    });
    return form;
  }

  readGuesses() {
    return this.walk.view.designs.map((d, i) => {
      const read = (name) => {
        const input = this.box.querySelector(`input[name="${name}"][data-index="${i}"]`);
        return input && input.value !== "" ? Number(input.value) : null;
      };
      return { visits: read("visits"), hits: read("hits") };
    });
  }

  verdict(design, guess) {
    const visits = design.walks.reduce((n, w) => n + w.visited.length, 0);
    const hits = design.walks.flatMap((w) => w.visited.filter((v) => v.result === "hit"));
    const names = hits.map((v) => `pid ${v.pid} at ${hex(v.addr)}`).join(", ") || "none";
    const said = (n, actual, noun) => (n == null ? ""
      : ` You said ${plural(n, noun)}${n === actual ? ": right." : "."}`);
    const p = el("p", { class: "walk-verdict" });
    p.textContent = `It visited ${plural(visits, "container")}.${said(guess.visits, visits, "visit")} `
      + `It hit ${plural(hits.length, "PTE")} (${names}).${said(guess.hits, hits.length, "hit")}`;
    return p;
  }
}
