// The command line: one op as a line of words ("fork 1 2", "mremap 1 0x1000 4 0x9000"),
// parsed and printed here, with completion from the current state. Addresses are written
// in hex (0x...), counts and pids in decimal, so each word's kind is plain; any field may
// also be given by name ("mmap 1 pages=4").

import { hex } from "./layout.js";

/** Every protection an op may give, as the scenario format writes it. */
export const PROTS = ["none", "r", "w", "x", "rw", "rx", "wx", "rwx"];

/** "fork pid=1 child=2": an op as the narration and the slides show it. */
export function opText(op) {
  if (!op) return "the empty machine";
  const parts = Object.entries(op).filter(([k]) => k !== "op")
    .map(([k, v]) => `${k}=${k.includes("addr") ? hex(v) : v}`);
  return `${op.op} ${parts.join(" ")}`;
}

// Per op, its fields in command order: [name, kind ("int" | "addr" | "prot"), optional].
export const SIGNATURES = {
  spawn: [["pid", "int"]],
  mmap: [["pid", "int"], ["addr", "addr", true], ["pages", "int"], ["prot", "prot", true]],
  read: [["pid", "int"], ["addr", "addr"], ["pages", "int", true]],
  write: [["pid", "int"], ["addr", "addr"], ["value", "int"], ["pages", "int", true]],
  fork: [["pid", "int"], ["child", "int"]],
  exit: [["pid", "int"]],
  munmap: [["pid", "int"], ["addr", "addr"], ["pages", "int"]],
  mprotect: [["pid", "int"], ["addr", "addr"], ["pages", "int"], ["prot", "prot"]],
  mremap: [["pid", "int"], ["addr", "addr"], ["pages", "int"], ["new_pages", "int", true],
    ["new_addr", "addr", true]],
  merge: [["pid", "int"], ["addr", "addr"]],
  reclaim: [["pfn", "int", true], ["pid", "int", true], ["addr", "addr", true], ["count", "int", true]],
};

export class CommandError extends Error {
  /** ``incomplete``: the line is right so far, only a field is still missing. */
  constructor(field, message, incomplete = false) {
    super(message);
    this.field = field;
    this.incomplete = incomplete;
  }
}

/** The syntax of an op, e.g. "mremap pid addr pages [new_pages] [new_addr]". */
export function usage(name) {
  const sig = SIGNATURES[name];
  if (!sig) return `the ops: ${Object.keys(SIGNATURES).join(", ")}`;
  if (name === "reclaim") return "reclaim pfn | reclaim pid addr | reclaim count=N";
  return [name, ...sig.map(([f, , opt]) => (opt ? `[${f}]` : f))].join(" ");
}

function kindOf(word) {
  if (/^0x[0-9a-f]+$/i.test(word)) return "addr";
  if (/^-?\d+$/.test(word)) return "int";
  if (PROTS.includes(word)) return "prot";
  return null;
}

function value(kind, word) {
  return kind === "int" ? Number(word) : word.toLowerCase();
}

/** The op a line describes; CommandError names the field at fault, in plain words. */
export function parseCommand(text) {
  const [name, ...words] = text.trim().split(/\s+/).filter(Boolean);
  if (!name) throw new CommandError("op", "type an op, e.g. “fork 1 2”");
  const sig = SIGNATURES[name.toLowerCase()];
  if (!sig) throw new CommandError("op", `“${name}” is not an op; ${usage(null)}`);
  const op = { op: name.toLowerCase() };
  const free = [...sig];
  const positional = [];
  for (const word of words) {
    const eq = word.indexOf("=");
    if (eq > 0) {
      const key = word.slice(0, eq); const raw = word.slice(eq + 1);
      const field = sig.find(([f]) => f === key);
      if (!field) throw new CommandError(key, `${op.op} has no field “${key}” — usage: ${usage(op.op)}`);
      if (kindOf(raw) !== field[1] && !(field[1] === "addr" && kindOf(raw) === "int")) {
        throw new CommandError(key, `${key} must be ${describeKind(field[1])}, not “${raw}”`);
      }
      op[key] = value(field[1], raw);
      free.splice(free.indexOf(field), 1);
    } else {
      positional.push(word);
    }
  }
  if (op.op === "reclaim" && positional.some((w) => kindOf(w) === "addr")) free.shift(); // pid addr
  for (const word of positional) {
    const kind = kindOf(word);
    if (!kind) throw new CommandError(null, `“${word}” is not a number, an address (0x…) or a protection (${PROTS.join(", ")})`);
    let i = 0;
    while (i < free.length && free[i][1] !== kind && free[i][2]) i += 1;
    const field = free[i];
    if (!field) throw new CommandError(null, `too many words — usage: ${usage(op.op)}`);
    if (field[1] !== kind) throw new CommandError(field[0], `${field[0]} must be ${describeKind(field[1])}, not “${word}” — usage: ${usage(op.op)}`);
    op[field[0]] = value(kind, word);
    free.splice(0, i + 1);
  }
  const missing = free.find(([f, , opt]) => !opt && !(f in op));
  if (missing && !(op.op === "mprotect" && missing[0] === "prot")) {
    throw new CommandError(missing[0], `${op.op} needs ${missing[0]} — usage: ${usage(op.op)}`, true);
  }
  if (op.op === "mprotect" && !op.prot) throw new CommandError("prot", `mprotect needs prot — usage: ${usage("mprotect")}`, true);
  if (op.op === "mmap" && !op.prot) op.prot = "rw";
  if (op.op === "mremap" && !op.new_pages) op.new_pages = op.pages;
  return op;
}

function describeKind(kind) {
  return { int: "a whole number", addr: "an address in hex (0x…)", prot: `one of ${PROTS.join(", ")}` }[kind];
}

/** The line for an op: the inverse of parseCommand. */
export function formatCommand(op) {
  const sig = SIGNATURES[op.op] || [];
  const words = [op.op];
  for (const [f, kind] of sig) {
    if (op[f] === undefined || op[f] === null) continue;
    if (op.op === "reclaim" && f !== "pfn" && !(f === "addr" || f === "pid")) words.push(`${f}=${op[f]}`);
    else if (op.op === "mremap" && f === "new_pages" && op.new_pages === op.pages && op.new_addr === undefined) continue;
    else words.push(kind === "addr" ? hex(Number(op[f])) : String(op[f]));
  }
  return words.join(" ");
}

/** Whole lines that complete ``text`` in the state ``state`` (the first design's), where
 * ``next`` is the first pid never used. */
export function completions(text, state, next) {
  const live = (state?.mms || []).map((m) => m.pid);
  const vmas = (state?.mms || []).flatMap((m) => m.vmas.map((v) => ({ pid: m.pid, ...v })));
  const pages = state?.pages || [];
  const lines = [`spawn ${next}`];
  for (const pid of live) lines.push(`fork ${pid} ${next}`, `exit ${pid}`, `mmap ${pid} 4 rw`);
  for (const v of vmas) {
    const a = hex(v.vm_start);
    lines.push(`read ${v.pid} ${a}`, `write ${v.pid} ${a} 1`, `mprotect ${v.pid} ${a} ${v.pages} r`,
      `munmap ${v.pid} ${a} ${v.pages}`, `mremap ${v.pid} ${a} ${v.pages} ${hex(v.vm_end + 0x10000)}`,
      `merge ${v.pid} ${a}`);
  }
  for (const p of pages) lines.push(`reclaim ${p.pfn}`);
  const typed = text.trim().toLowerCase();
  const own = typed.split(/\s+/)[0];
  return lines.filter((l) => l.startsWith(typed) || (own && l.startsWith(own) && !typed.includes(" ")))
    .slice(0, 40);
}
