// Free play that starts somewhere: quick starts on the empty machine, "touch page N" /
// "write page N" on a vma, and the bottom command line with completion and errors beside it.

import { hex } from "./layout.js";
import { completions, CommandError, parseCommand, usage } from "./commands.js";
import { actAt, showError } from "./errors.js";

const $ = (id) => document.getElementById(id);
let ctx = null;  // from app.js: {lab, open, applyOp, nextPid, closePopover}

const spawn = (pid) => ({ op: "spawn", pid });
const mmap = (pid, addr, pages) => ({ op: "mmap", pid, addr, pages, prot: "rw" });
const write = (pid, addr, value) => ({ op: "write", pid, addr, value });
const fork = (pid, child) => ({ op: "fork", pid, child });

export const QUICK_STARTS = [
  ["one process with 4 pages", [spawn(1), mmap(1, "0x1000", 4), write(1, "0x1000", 1),
    write(1, "0x2000", 2), write(1, "0x3000", 3), write(1, "0x4000", 4)]],
  ["parent and child after fork", [spawn(1), mmap(1, "0x1000", 2), write(1, "0x1000", 1),
    write(1, "0x2000", 2), fork(1, 2)]],
  ["the AIM7 family (a parent and four children)", [spawn(1), mmap(1, "0x1000", 2),
    write(1, "0x1000", 1), write(1, "0x2000", 2), fork(1, 2), fork(1, 3), fork(1, 4), fork(1, 5),
    write(2, "0x1000", 21), write(3, "0x2000", 32)]],
];

function button(text, run) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = text;
  b.addEventListener("click", run);
  return b;
}

/** The empty machine's way in: spawn a process, or a quick start (at its last step). */
function startBox() {
  const box = document.createElement("div");
  box.className = "quick-starts";
  box.id = "quick-starts";
  const h = document.createElement("h3");
  h.textContent = "Start somewhere";
  const list = document.createElement("div");
  list.className = "actions";
  list.append(button("spawn process 1", () => actAt(ctx.lab, box, () => ctx.applyOp(spawn(1)))));
  for (const [title, ops] of QUICK_STARTS) {
    list.append(button(title, () => actAt(ctx.lab, box, () => ctx.open(
      { designs: ctx.lab.session.designs, ops, at_step: ops.length }, null))));
  }
  const hint = document.createElement("p");
  hint.className = "hint";
  hint.textContent = "Then click a process (fork, mmap, exit), a vma (touch or write a page, "
    + "mremap, mprotect, munmap, merge), a page-table entry or a frame, or type a command below.";
  box.append(h, list, hint);
  return box;
}

/** A vma's "touch page N" / "write page N": a page number and two buttons that say it. */
export function pageActions(vma) {
  const row = document.createElement("div");
  row.className = "page-actions";
  const pick = document.createElement("select");
  pick.setAttribute("aria-label", "page of the vma");
  for (let i = 0; i < vma.pages; i += 1) {
    const o = document.createElement("option");
    o.value = String(i);
    o.textContent = `page ${i} (${hex(vma.vm_start + i * 4096)})`;
    pick.appendChild(o);
  }
  const addr = () => hex(vma.vm_start + Number(pick.value) * 4096);
  const act = (op) => actAt(ctx.lab, row.parentElement, () => ctx.applyOp(op))
    .then((ok) => ok && ctx.closePopover());
  const touch = button("", () => act({ op: "read", pid: vma.pid, addr: addr() }));
  const change = button("", () => act(write(vma.pid, addr(), ctx.lab.session.step + 100)));
  const label = () => {
    touch.textContent = `touch page ${pick.value}`;
    change.textContent = `write page ${pick.value}`;
  };
  pick.addEventListener("change", label);
  label();
  if (vma.pages > 1) row.append(pick);
  row.append(touch, change);
  return row;
}

// ----- the command line ----------------------------------------------------------------------

function wireCommandLine() {
  const form = $("opform");
  const input = $("command");
  const list = $("command-list");
  const hint = $("command-usage");
  const check = () => {
    const text = input.value.trim();
    list.replaceChildren(...completions(text, ctx.lab.view?.designs[0]?.state, ctx.nextPid())
      .map((line) => Object.assign(document.createElement("option"), { value: line })));
    if (!text) { hint.textContent = "ops: spawn, mmap, read, write, fork, exit, munmap, mprotect, mremap, merge, reclaim"; input.removeAttribute("aria-invalid"); return null; }
    try {
      const op = parseCommand(text);
      hint.textContent = usage(op.op);
      input.removeAttribute("aria-invalid");
      return op;
    } catch (err) {
      if (!(err instanceof CommandError)) throw err;
      // while a line is only unfinished, show how it goes on; a wrong word is an error
      hint.textContent = err.incomplete ? usage(text.split(/\s+/)[0].toLowerCase()) : err.message;
      if (err.incomplete) input.removeAttribute("aria-invalid");
      else input.setAttribute("aria-invalid", "true");
      return null;
    }
  };
  input.addEventListener("input", () => { showError(form, null); check(); });
  input.addEventListener("focus", check);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    let op;
    try { op = parseCommand(input.value); } catch (err) {
      if (!(err instanceof CommandError)) throw err;
      showError(form, { text: err.message, kind: "input" });
      return;
    }
    actAt(ctx.lab, form, () => ctx.applyOp(op)).then((ok) => { if (ok) { input.value = ""; check(); } });
  });
}

/** After each drawing: on the empty machine, say so and offer the way in. */
export function rendered() {
  const { lab } = ctx;
  if (lab.session.length || lab.stories.length) return;
  $("scenario-description").textContent = "An empty machine: nothing to step through yet. "
    + "Start with a process or a quick start, then act on what appears.";
  $("narration").prepend(startBox());
}

export function install(context) {
  ctx = context;
  wireCommandLine();
}
