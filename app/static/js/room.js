// A room: the follower's page (read-only, follows the instructor over server-sent events,
// answers questions) and the instructor's page (?key=: drives the step, the designs and
// the questions; sees who follows and the live tally). Draws with the laboratory's own
// diagram modules.

import { api, ApiError } from "./api.js";
import { opText } from "./commands.js";
import { Diagram } from "./diagram.js";
import { layoutState } from "./layout.js";

const $ = (id) => document.getElementById(id);
const initial = JSON.parse($("initial").textContent);
const designInfo = new Map(initial.designs.map((d) => [d.name, d]));  // the catalogue
const code = initial.code;
const key = initial.instructor ? new URLSearchParams(location.search).get("key") : null;
const TALLY_MS = 1000;

const room = {
  doc: null,        // the room as the last event (or response) described it
  view: null,       // the step view drawn now
  panels: [],       // per design: {diagram, title}
  participant: localStorage.getItem(`rmaplab-room-${code}`),
  answers: JSON.parse(sessionStorage.getItem(`rmaplab-answers-${code}`) || "{}"),
  instructor: initial.instructor,
  loading: null,
};
window.rmaplabRoom = room; // for the browser tests and the curious

// ----- the server ----------------------------------------------------------------------

async function call(method, path, body) {
  const init = { method, headers: { accept: "application/json" } };
  if (key) init.headers["x-room-key"] = key;
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(`/api/rooms/${code}${path}`, init);
  const data = await response.json().catch(() => ({ detail: response.statusText }));
  if (!response.ok) throw new ApiError(response.status, data.detail, data);
  return data;
}

function say(text) {
  const box = $("error");
  box.textContent = text;
  box.hidden = !text;
}

async function guarded(work) {
  try {
    await work();
    say("");
  } catch (err) {
    say(err instanceof ApiError ? err.message : `Something went wrong: ${err.message}`);
    if (!(err instanceof ApiError)) console.error(err);
  }
}

// ----- drawing -------------------------------------------------------------------------

const designLabel = (d) => d.design + (d.options.length ? ` [${d.options.join(", ")}]` : "");

function buildPanels(designs) {
  const root = $("panels");
  root.replaceChildren();
  room.panels = designs.map((d, i) => {
    const panel = document.createElement("section");
    panel.className = "panel";
    panel.dataset.design = d.design;
    const title = document.createElement("h2");
    title.textContent = designLabel(d);
    const scroll = document.createElement("div");
    scroll.className = "scroll";
    panel.append(title, scroll);
    root.appendChild(panel);
    return { diagram: new Diagram(scroll, `${d.design}-${i}`), key: designLabel(d) };
  });
}

function draw(view) {
  if (room.panels.map((p) => p.key).join() !== view.designs.map(designLabel).join()) {
    buildPanels(view.designs);
  }
  view.designs.forEach((d, i) => room.panels[i].diagram.draw(layoutState(d.state,
    designInfo.get(d.state.design))));
  room.view = view;
  $("step-title").textContent = `Step ${view.step} of ${room.doc.length}`;
  $("step-op").textContent = opText(view.op);
  const out = $("narration");
  out.replaceChildren();
  for (const d of view.designs) {
    if (view.designs.length > 1) {
      const h = document.createElement("h3");
      h.textContent = designLabel(d);
      out.appendChild(h);
    }
    const list = document.createElement("ol");
    for (const e of d.events) {
      const li = document.createElement("li");
      li.textContent = e.text;
      list.appendChild(li);
    }
    if (!d.events.length) {
      const li = document.createElement("li");
      li.textContent = view.step ? "Nothing happened." : "The empty machine.";
      list.appendChild(li);
    }
    out.appendChild(list);
  }
}

// Fetch and draw the step the room shows, unless it is drawn already; a newer change
// arriving meanwhile wins.
async function follow() {
  const doc = room.doc;
  const wanted = `${doc.step}|${doc.designs.map(designLabel).join()}`;
  if (room.loading === wanted) return;
  room.loading = wanted;
  const response = await fetch(`/api/rooms/${code}/steps/${doc.step}`);
  if (!response.ok) throw new ApiError(response.status, (await response.json()).detail);
  const view = await response.json();
  if (room.loading !== wanted) return;
  draw(view);
  document.body.dataset.ready = "1";
}

// ----- questions -----------------------------------------------------------------------

function tallyChart(container, tally, answer) {
  container.replaceChildren();
  const most = Math.max(1, ...Object.values(tally.counts));
  for (const [choice, n] of Object.entries(tally.counts)) {
    const row = document.createElement("div");
    row.className = "bar" + (answer !== null && choice === answer ? " right" : "");
    row.dataset.choice = choice;
    const label = document.createElement("span");
    label.className = "bar-label";
    label.textContent = choice;
    const track = document.createElement("span");
    track.className = "bar-track";
    const fill = document.createElement("span");
    fill.className = "bar-fill";
    fill.style.width = `${(100 * n) / most}%`;
    track.appendChild(fill);
    const count = document.createElement("span");
    count.className = "bar-count";
    count.textContent = String(n);
    row.append(label, track, count);
    container.appendChild(row);
  }
  const total = document.createElement("p");
  total.className = "tally-total";
  total.textContent = `${tally.answers} answer${tally.answers === 1 ? "" : "s"}`;
  container.appendChild(total);
}

async function join() {
  room.participant = (await call("POST", "/join")).participant;
  localStorage.setItem(`rmaplab-room-${code}`, room.participant);
}

async function answer(q, value) {
  await guarded(async () => {
    if (!room.participant) await join();
    const send = () => call("POST", "/answers",
      { participant: room.participant, question: q.id, answer: value });
    // a token the room no longer knows (its database was reset): join again, once
    const done = await send().catch(async (err) => {
      if (!(err instanceof ApiError) || err.status !== 403) throw err;
      await join();
      return send();
    });
    room.answers[q.id] = done.answer;
    sessionStorage.setItem(`rmaplab-answers-${code}`, JSON.stringify(room.answers));
    showQuestion();
  });
}

function answerForm(q) {
  const box = document.createElement("div");
  box.className = "answer-form";
  if (q.choices) {
    for (const choice of q.choices) {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "choice" + (room.answers[q.id] === choice ? " chosen" : "");
      b.textContent = choice;
      b.addEventListener("click", () => answer(q, choice));
      box.appendChild(b);
    }
    return box;
  }
  const form = document.createElement("form");
  form.autocomplete = "off";
  const input = document.createElement("input");
  input.name = "answer";
  input.maxLength = 40;
  input.required = true;
  input.setAttribute("aria-label", "Your answer");
  input.inputMode = "text";
  input.value = room.answers[q.id] ?? "";
  const send = document.createElement("button");
  send.type = "submit";
  send.textContent = "Answer";
  form.append(input, send);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    answer(q, input.value);
  });
  box.appendChild(form);
  return box;
}

function showQuestion() {
  const q = room.doc.question;
  const box = $("question");
  box.hidden = !q && !room.instructor;
  $("q-prompt").textContent = q ? q.prompt : "No question is put to the room now.";
  const body = $("q-body");
  const status = $("q-status");
  status.textContent = "";
  if (room.instructor) {
    // the tally stays drawn while it is polled (tick); another question starts afresh
    if (!q || body.dataset.question !== String(q.id)) body.replaceChildren();
    body.dataset.question = q ? String(q.id) : "";
    $("reveal").hidden = !q;
    if (!q) return;
    if (q.tally) tallyChart(body, q.tally, q.answer ?? null);
    status.textContent = q.answer == null ? "No right answer is set." : `Answer: ${q.answer}`;
    $("reveal").textContent = q.revealed ? "Hide the tally" : "Reveal the tally";
    return;
  }
  body.replaceChildren();
  if (!q) return;
  const mine = room.answers[q.id];
  if (q.revealed) {
    tallyChart(body, q.tally, q.answer ?? null);
    if (q.answer == null) status.textContent = "The tally is revealed.";
    else if (mine === undefined) status.textContent = `The answer: ${q.answer}.`;
    else status.textContent = mine === q.answer ? `Right: ${q.answer}.`
      : `The answer is ${q.answer}; you said ${mine}.`;
    return;
  }
  body.appendChild(answerForm(q));
  status.textContent = mine === undefined ? "Answer before the reveal."
    : `Your answer: ${mine}. You may change it until the reveal.`;
}

// ----- applying a change -------------------------------------------------------------------

function adopt(doc) {
  room.doc = { ...room.doc, ...doc };
  $("room-title").textContent = room.doc.scenario.title || room.doc.scenario.name;
  showQuestion();
  if (room.instructor) instructorState();
  return follow();
}

// ----- the follower ------------------------------------------------------------------------

function listen() {
  const source = new EventSource(`/api/rooms/${code}/events`);
  source.onopen = () => { $("room-status").textContent = "live"; $("room-status").className = "room-status live"; };
  source.onerror = () => { $("room-status").textContent = "reconnecting…"; $("room-status").className = "room-status"; };
  source.onmessage = (event) => guarded(() => adopt(JSON.parse(event.data)));
  source.addEventListener("closed", () => {
    source.close();
    $("room-status").textContent = "the class has ended";
  });
}

async function explore() {
  await guarded(async () => {
    const doc = room.doc;
    const session = await api.createSession({ ops: doc.ops, designs: doc.designs,
      at_step: doc.step });
    const designs = doc.designs.map((d) => [d.design, ...d.options].join("+")).join(",");
    location.href = `/?session=${session.id}&designs=${designs}&step=${doc.step}&room=${code}`;
  });
}

// ----- the instructor ----------------------------------------------------------------------

// The instructor's actions run one after another, each from the room as the previous one
// left it: two quick presses of → are two steps.
let queue = Promise.resolve();

function act(work) {
  queue = queue.then(() => guarded(work));
  return queue;
}

function move(delta, to = null) {
  return act(async () => {
    const step = Math.max(0, Math.min(room.doc.length, to ?? room.doc.step + delta));
    if (step !== room.doc.step) await adopt(await call("POST", "/cursor", { step }));
  });
}

function forward() {
  return act(async () => {
    const q = room.doc.question;
    if (q && !q.revealed) {  // answers first, then the step that shows it
      await adopt(await call("POST", "/question", { question: q.id, revealed: true }));
    } else if (room.doc.step < room.doc.length) {
      await adopt(await call("POST", "/cursor", { step: room.doc.step + 1 }));
    }
  });
}

function reveal() {
  return act(async () => {
    const q = room.doc.question;
    if (q) await adopt(await call("POST", "/question", { question: q.id, revealed: !q.revealed }));
  });
}

function instructorState() {
  const d = room.doc;
  $("slider").max = String(d.length);
  $("slider").value = String(d.step);
  $("back").disabled = d.step === 0;
  $("forward").disabled = d.step >= d.length && !(d.question && !d.question.revealed);
  if (d.following !== undefined) $("following").textContent = String(d.following);
  if (d.participants !== undefined) $("participants").textContent = String(d.participants);
  const picker = $("q-pick");
  picker.replaceChildren();
  const none = new Option("no question", "");
  picker.appendChild(none);
  for (const q of d.questions || []) {
    const label = `${q.step ? `step ${q.step}: ` : ""}${q.prompt}`;
    picker.appendChild(new Option(label.length > 70 ? `${label.slice(0, 69)}…` : label, String(q.id)));
  }
  picker.value = d.question ? String(d.question.id) : "";
  for (const box of $("room-designs").querySelectorAll("input")) {
    box.checked = d.designs.some((x) => x.design === box.value);
  }
}

async function tick() {
  try {
    const doc = await call("GET", "");
    room.doc.following = doc.following;
    room.doc.participants = doc.participants;
    $("following").textContent = String(doc.following);
    $("participants").textContent = String(doc.participants);
    const q = room.doc.question;
    if (q) tallyChart($("q-body"), await call("GET", `/tally?question=${q.id}`), q.answer ?? null);
  } catch (err) {
    say(err.message);
  }
}

function wireInstructor() {
  $("join-link").textContent = initial.join;
  $("back").addEventListener("click", () => move(-1));
  $("forward").addEventListener("click", () => forward());
  $("slider").addEventListener("change", () => move(0, Number($("slider").value)));
  $("reveal").addEventListener("click", () => reveal());
  $("q-pick").addEventListener("change", () => act(async () => adopt(await call(
    "POST", "/question", { question: $("q-pick").value ? Number($("q-pick").value) : null })))
    .then(tick));
  for (const d of initial.designs) {
    const label = document.createElement("label");
    const box = document.createElement("input");
    box.type = "checkbox";
    box.value = d.name;
    box.addEventListener("change", () => {
      const chosen = [...$("room-designs").querySelectorAll("input:checked")].map((b) => b.value);
      if (!chosen.length) { box.checked = true; return; }
      act(async () => adopt(await call("POST", "/designs", { designs: chosen })));
    });
    label.append(box, ` ${d.name}`);
    $("room-designs").appendChild(label);
  }
  $("new-question").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.target;
    const choices = form.choices.value.split(/[\n,]/).map((c) => c.trim()).filter(Boolean);
    guarded(async () => {
      await call("POST", "/questions", { prompt: form.prompt.value,
        ...(choices.length ? { choices } : {}) });
      form.reset();
      await adopt(await call("GET", ""));
      await tick();
    });
  });
  document.addEventListener("keydown", (event) => {
    // the arrows are the lesson's, even on the step slider (it would skip the reveal)
    if (event.target.closest("input:not([type=range]), textarea, select")) return;
    if (event.key === "ArrowRight") { event.preventDefault(); forward(); }
    if (event.key === "ArrowLeft") { event.preventDefault(); move(-1); }
  });
  setInterval(tick, TALLY_MS);
}

// ----- start -------------------------------------------------------------------------------

async function start() {
  await guarded(async () => {
    room.doc = await call("GET", "");
    if (room.instructor) {
      wireInstructor();
      await adopt(room.doc);
      await tick();
    } else {
      $("explore").addEventListener("click", explore);
      await adopt(room.doc);
      listen();
    }
  });
}

start();
