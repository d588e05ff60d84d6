// Errors beside the act, in plain words: the server's schema messages rewritten for people,
// and each refusal said to be the kernel's own rule (with its function) or a limit of the
// simulator (where real Linux would have done something).

import { ApiError } from "./api.js";

// [pattern, kind, function or null, why]: the first match wins.
const REFUSALS = [
  [/onto a mapped range/, "limit", null, "A real mremap(MREMAP_FIXED) would first unmap whatever is "
    + "at the destination (mremap_to calls do_munmap); the simulator refuses instead, so nothing "
    + "disappears without a step of its own. Unmap the destination first, or pick a free address."],
  [/\bmmap: .*overlaps vma/, "limit", null, "The simulator maps like MAP_FIXED_NOREPLACE. A real "
    + "mmap(MAP_FIXED) would unmap what is there, and without MAP_FIXED the kernel would pick another "
    + "address; leave the address empty to let the simulator pick one."],
  [/not inside one vma/, "kernel", "mm/mremap.c:vma_to_resize", "The old range must lie inside one "
    + "vma, or mremap fails with EFAULT."],
  [/overlaps the old one/, "kernel", "mm/mremap.c:mremap_to", "The new range may not overlap the old "
    + "one (EINVAL)."],
  [/no free range|ENOMEM/, "kernel", "mm/mmap.c:get_unmapped_area", "There is no free range that "
    + "large in this address space (ENOMEM)."],
  [/not fully mapped/, "kernel", "mm/mprotect.c:sys_mprotect", "mprotect fails with ENOMEM when the "
    + "range has a hole."],
  [/TASK_SIZE/, "kernel", null, "User space ends at TASK_SIZE (3 GiB on i386); nothing can be mapped "
    + "above it."],
  [/not page-aligned/, "kernel", null, "mmap, munmap, mprotect and mremap take page-aligned "
    + "addresses (EINVAL)."],
  [/unknown pid|has exited/, "limit", null, "There is no such process in this machine: spawn or "
    + "fork it first."],
  [/used before/, "limit", null, "The simulator never reuses a pid (so a scenario can name its "
    + "processes): choose a new one."],
  [/merge: no vma/, "limit", null, "There is no vma at that address to try merging."],
  [/limit is/, "limit", null, "A size limit of this server."],
];

const SCHEMA = [
  [/valid integer/, "must be a whole number"],
  [/greater than or equal to (\d+)/, "must be $1 or more"],
  [/less than or equal to (\d+)/, "must be at most $1"],
  [/^Field required$/, "is missing"],
  [/Extra inputs are not permitted/, "is not one of its fields"],
  [/should be a valid string/, "must be text"],
];

function schemaWords(d) {
  const loc = (d.loc || []).filter((p) => !["body", "op", "scenario", "ops"].includes(p));
  const index = loc.find((p) => typeof p === "number");
  const names = loc.filter((p) => typeof p === "string");
  const field = names.length > 1 ? names.at(-1) : null;
  const op = names[0];
  let msg = String(d.msg || "").replace(/^Value error, /, "");
  if (/does not match any of the expected tags|Unable to extract tag/.test(msg)) {
    return { step: index, field: "op", text: `“${d.input?.op ?? op}” is not an op` };
  }
  const rule = SCHEMA.find(([re]) => re.test(msg));
  if (rule) msg = msg.replace(new RegExp(`.*${rule[0].source}.*`), rule[1]);
  const shown = d.input !== undefined && typeof d.input !== "object" && !msg.includes(String(d.input))
    ? ` (not “${d.input}”)` : "";
  return { step: index, field, text: `${field ? `${op}: ${field} ` : ""}${msg}${shown}` };
}

// The server turning a request away (429, 503): not the op's fault, so the words say what
// happened to the server, that nothing changed, and when to try again; the server's own
// message (with the setting that limits it) follows.
function serviceWords(err) {
  const wait = err.retryAfter ? `in ${err.retryAfter} s` : "in a moment";
  const said = err.message.replace(/ \(try again in \d+ s\)$/, "");
  let text;
  if (err.status === 429) {
    text = "Too many new sessions were started from your address just now, so the server did "
      + `not start another. Nothing changed here: try again ${wait}.`;
  } else if (/engine time/.test(said)) {
    text = "This needed more computing time than the server gives one request, so it was "
      + "stopped. Nothing changed here: try something smaller (fewer pages or processes), "
      + `or try again ${wait}.`;
  } else if (/store/.test(said)) {
    text = "The server could not save your work just now: its session store failed. Nothing "
      + `changed here: try again ${wait}.`;
  } else {
    text = `The server cannot do this right now. Nothing changed here: try again ${wait}.`;
  }
  return { text, kind: "service", why: said };
}

/** A refusal or a mistake in plain words: {text, kind ("kernel" | "limit" | "input" |
 * "service"), func, why, step (0-based op index when the server named one), field}. */
export function plainError(err) {
  if (!(err instanceof ApiError)) return { text: `Something went wrong: ${err.message}`, kind: "input" };
  if (err.status === 429 || err.status === 503) return serviceWords(err);
  if (err.errors.length) {
    const parts = err.errors.map(schemaWords);
    return { ...parts[0], text: parts.map((p) => p.text).join("; "), ...classify(parts[0].text, "input") };
  }
  const message = err.message;
  const stepMatch = /^step (\d+)(?: \([^)]*\))?: /.exec(message);
  const text = message.replace(/^step \d+(?: \([^)]*\))?: /, "");
  const step = err.step ? err.step - 1 : stepMatch ? Number(stepMatch[1]) - 1 : undefined;
  return { text, step, ...classify(text, err.status === 409 ? "refused" : "input") };
}

/** Whether a refusal ``text`` is the kernel's rule or a simulator limit: {kind, func, why}. */
export function classify(text, otherwise = "refused") {
  const rule = REFUSALS.find(([re]) => re.test(text));
  return rule ? { kind: rule[1], func: rule[2], why: rule[3] } : { kind: otherwise };
}

/** Show ``err`` (or clear, with null) in the error line at the end of ``spot``. */
export function showError(spot, err) {
  let line = spot.querySelector(":scope > .act-error");
  if (!err) { line?.remove(); return; }
  if (!line) {
    line = document.createElement("p");
    line.className = "act-error";
    line.setAttribute("role", "alert");
    spot.appendChild(line);
  }
  const p = err.text ? err : plainError(err);
  const head = { kernel: "The kernel's rule", limit: "A limit of the simulator",
    service: "The server said" }[p.kind];
  line.replaceChildren(p.text);
  if (head) {
    const why = document.createElement("span");
    why.className = `why ${p.kind}`;
    why.textContent = `${head}${p.func ? ` (${p.func})` : ""}: ${p.why}`;
    line.append(" ", why);
  }
}

/** Run ``work`` for an act made at ``spot``; its error is shown there (the state unchanged). */
export async function actAt(lab, spot, work) {
  if (lab.busy) return false;
  lab.busy = true;
  showError(spot, null);
  try {
    await work();
    return true;
  } catch (err) {
    if (!(err instanceof ApiError)) console.error(err);
    showError(spot, err);
    return false;
  } finally {
    lab.busy = false;
  }
}
