// Free play by direct manipulation: a click on a process, a vma, a PTE or a frame opens a
// popover of the ops that apply to it, with their fields filled in.

import { api } from "./api.js";
import { PROTS } from "./commands.js";
import { actAt } from "./errors.js";
import * as freeplay from "./freeplay.js";
import { hex } from "./layout.js";

const $ = (id) => document.getElementById(id);
let ctx = null;  // from app.js: {lab, walks, applyOp}

function fieldInput(name, value = "") {
  const optional = name.endsWith("?");
  const key = optional ? name.slice(0, -1) : name;
  const label = document.createElement("label");
  let input;
  if (key === "prot") {
    input = document.createElement("select");
    for (const p of PROTS) {
      const o = document.createElement("option");
      o.value = p;
      o.textContent = p;
      input.appendChild(o);
    }
    input.value = value || "rw";
  } else {
    input = document.createElement("input");
    input.value = value;
    input.placeholder = optional ? "optional" : "";
    if (!key.includes("addr")) input.inputMode = "numeric";
  }
  input.name = key;
  input.setAttribute("aria-label", key);
  label.append(`${key}${optional ? "?" : ""} `, input);
  return label;
}

function readFields(form) {
  const op = {};
  for (const input of form.querySelectorAll("input[name], select[name]")) {
    const raw = input.value.trim();
    if (!raw) continue;
    if (input.name === "prot") op.prot = raw;
    else if (input.name.includes("addr")) op[input.name] = raw.startsWith("0x") ? raw : Number(raw);
    else op[input.name] = Number(raw);
  }
  return op;
}

export function closePopover() {
  $("popover").hidden = true;
}

function popover(event, title, detail, actions) {
  const { lab } = ctx;
  const pop = $("popover");
  pop.replaceChildren();
  const h = document.createElement("h3");
  h.textContent = title;
  pop.appendChild(h);
  if (detail) {
    const p = document.createElement("p");
    p.className = "detail";
    p.textContent = detail;
    pop.appendChild(p);
  }
  const box = document.createElement("div");
  box.className = "actions";
  // several actions with fields: a button each, showing only that action's form
  const several = actions.filter((a) => a.fields).length > 1;
  const forms = [];
  for (const a of actions) {
    if (a.element) {
      box.appendChild(a.element);
    } else if (a.fields) {
      const form = document.createElement("form");
      for (const [name, value] of a.fields) form.appendChild(fieldInput(name, value));
      const b = document.createElement("button");
      b.type = "submit";
      b.textContent = a.label;
      form.appendChild(b);
      form.addEventListener("submit", (e) => {
        e.preventDefault();
        actAt(lab, form, () => ctx.applyOp({ ...a.op, ...readFields(form) })).then((ok) => ok && closePopover());
      });
      forms.push(form);
      if (several) {
        form.hidden = true;
        const open = document.createElement("button");
        open.type = "button";
        open.textContent = `${a.label}…`;
        open.setAttribute("aria-expanded", "false");
        open.addEventListener("click", () => {
          for (const f of forms) { f.hidden = f !== form; f.previousElementSibling.setAttribute("aria-expanded", String(f === form)); }
          form.querySelector("input, select")?.focus();
        });
        box.appendChild(open);
      }
      box.appendChild(form);
    } else {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = a.label;
      b.addEventListener("click", () => actAt(lab, box, a.run).then((ok) => ok && closePopover()));
      box.appendChild(b);
    }
  }
  pop.appendChild(box);
  pop.hidden = false;
  const x = Math.min(event.clientX + 8, window.innerWidth - 360);
  const y = Math.min(event.clientY + 8, window.innerHeight - pop.offsetHeight - 8);
  pop.style.left = `${Math.max(8, x)}px`;
  pop.style.top = `${Math.max(8, y)}px`;
  pop.querySelector("button, input")?.focus();
}

/** The lowest pid no process of the log up to this step has used. */
export function nextPid() {
  const { lab } = ctx;
  const used = new Set();
  for (const op of lab.ops.slice(0, lab.session.step)) {
    if (op.pid) used.add(op.pid);
    if (op.child) used.add(op.child);
  }
  let pid = 1;
  while (used.has(pid)) pid += 1;
  return pid;
}

/** A box of design `designIndex`'s diagram was clicked: its ops, in a popover. */
export function clicked(designIndex, id, event) {
  const { lab, applyOp } = ctx;
  const d = lab.view.designs[designIndex];
  const [kind, a, b] = id.split(":");
  if (kind === "mm") {
    const pid = Number(a);
    popover(event, `process ${pid}`, null, [
      { label: `fork (child ${nextPid()})`, run: () => applyOp({ op: "fork", pid, child: nextPid() }) },
      { label: "exit", run: () => applyOp({ op: "exit", pid }) },
      { label: "mmap", op: { op: "mmap", pid }, fields: [["addr?", ""], ["pages", "4"], ["prot", "rw"]] },
    ]);
  } else if (kind === "vma") {
    const vma = d.state.mms.flatMap((m) => m.vmas.map((v) => ({ ...v, pid: m.pid })))
      .find((v) => v.id === Number(a));
    if (!vma) return;
    const pid = vma.pid; const addr = hex(vma.vm_start); const pages = String(vma.pages);
    popover(event, `vma ${vma.id} of pid ${pid}`,
      `[${hex(vma.vm_start)}, ${hex(vma.vm_end)}) ${vma.prot}, vm_pgoff ${vma.vm_pgoff}, anon_vma ${vma.anon_vma ?? "NULL"}`, [
        { element: freeplay.pageActions(vma) },
        { label: "mremap", op: { op: "mremap", pid }, fields: [["addr", addr], ["pages", pages], ["new_pages", pages], ["new_addr?", ""]] },
        { label: "mprotect", op: { op: "mprotect", pid }, fields: [["addr", addr], ["pages", pages], ["prot", vma.prot === "rw" ? "r" : "rw"]] },
        { label: "munmap", op: { op: "munmap", pid }, fields: [["addr", addr], ["pages", "1"]] },
        { label: "try to merge with its neighbours", run: () => applyOp({ op: "merge", pid, addr }) },
      ]);
  } else if (kind === "pte") {
    const pid = Number(a); const addr = hex(Number(b));
    popover(event, `pid ${pid} at ${addr}`, null, [
      { label: "read", run: () => applyOp({ op: "read", pid, addr }) },
      { label: "write", op: { op: "write", pid, addr }, fields: [["value", String(lab.session.step + 100)]] },
      { label: "reclaim the frame mapped here", run: () => applyOp({ op: "reclaim", pid, addr }) },
    ]);
  } else if (kind === "frame") {
    const pfn = Number(a);
    const page = d.state.pages.find((p) => p.pfn === pfn);
    popover(event, `frame ${pfn}`, page ? `${page.flags.join(" ")} · mapcount ${page.mapcount} · value ${page.value}` : null, [
      { label: "show the walk that would reclaim it (changes nothing)", run: () => previewWalk(pfn) },
      { label: "reclaim it", run: () => applyOp({ op: "reclaim", pfn }) },
    ]);
  }
}

async function previewWalk(pfn) {
  const { lab } = ctx;
  ctx.walks.preview(pfn, await api.walk(lab.session.id, pfn, lab.session.step));
}

export function install(context) {
  ctx = context;
}
