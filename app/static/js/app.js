// The laboratory: a session on the server, its designs drawn side by side, time travel,
// free play by direct manipulation, narration, comparison, export. The URL always names
// the view, so a copied link reopens it.
//
// This module holds the page's state (`lab`), its messages and its wiring; the jobs live in
// modules named for them: sessions.js (sessions, applying ops), url.js, picker.js (scenario
// and designs), panels.js (drawing), narration.js, time.js, predict.js, popovers.js (direct
// manipulation), exportmenu.js. Each gets the others' verbs through one context object, so
// no module imports another that imports it back.

import { api, ApiError } from "./api.js";
import { wireClassroom } from "./classroom.js";
import { WalkPlayer } from "./walk.js";
import * as branch from "./branch.js";
import * as editor from "./editor.js";
import * as exporting from "./export.js";
import * as exportMenu from "./exportmenu.js";
import * as freeplay from "./freeplay.js";
import * as glossary from "./glossary.js";
import * as narration from "./narration.js";
import * as panels from "./panels.js";
import * as picker from "./picker.js";
import * as popovers from "./popovers.js";
import * as predict from "./predict.js";
import * as sessions from "./sessions.js";
import * as time from "./time.js";
import { embed, params, updateUrl } from "./url.js";
import { useCatalogue } from "./variants.js";

const { back, forward, go, play, stop } = time;
const { drawDiagrams } = panels;
const { closePopover } = popovers;
const $ = (id) => document.getElementById(id);
const initial = JSON.parse($("initial").textContent);
// the design catalogue, as the server sent it: name, title, era, source, description, ...
const designInfo = new Map(initial.designs.map((d) => [d.name, d]));
useCatalogue(initial.designs);
const ZOOMS = [0.5, 0.67, 0.8, 1, 1.25, 1.5, 2, 2.5, 3];

const lab = {
  session: null,     // id, designs, scenario, length, step
  ops: [],           // the session's op log
  view: null,        // the current step's view
  scenario: null,    // the built-in scenario the log came from, while unmodified
  file: null,        // the scenario file the log came from (Load a scenario file…)
  panels: [],        // per design: {root, diagram, tables}
  series: null,
  tableView: false,
  timer: null,
  busy: false,
  predict: params.get("predict") === "1",  // ask for a prediction before each step forward
  predicting: false,  // the next step's question is shown, its outcome not yet
  present: params.get("present") === "1",  // presentation mode: diagram and narration only
  zoom: 1,           // times the scale that fits the diagram to its column
  aboutTouched: false,  // the reader opened or closed the scenario's description
};
window.rmaplab = lab; // for the browser tests and the curious
// the reclaim walk, played step by step on the state before the reclaim
const walks = new WalkPlayer(lab, { step: (n) => api.step(lab.session.id, n),
  speed: () => Number($("speed").value), draw: (panel, state) => panels.drawPanel(panel, state) });

// ----- messages ------------------------------------------------------------------------

function say(text, kind = "error") {
  const box = $("error");
  box.textContent = text;
  box.className = kind === "error" ? "error" : "error info";
  box.hidden = !text;
}

async function guarded(work) {
  if (lab.busy) return;
  lab.busy = true;
  try {
    await work();
    if (!$("error").classList.contains("info")) say("");
  } catch (err) {
    if (err instanceof ApiError) say(err.message);
    else { say(`Something went wrong: ${err.message}`); console.error(err); }
  } finally {
    lab.busy = false;
  }
}

// ----- wiring ------------------------------------------------------------------------------

// The time controls and predict mode.
function wireTime() {
  $("first").addEventListener("click", () => go(0));
  $("last").addEventListener("click", () => go(lab.session.length));
  $("back").addEventListener("click", () => { stop(); back(); });
  $("forward").addEventListener("click", () => { stop(); forward(); });
  $("play").addEventListener("click", () => play());
  $("slider").addEventListener("change", () => go(Number($("slider").value)));
  $("jump").addEventListener("change", () => go(Number($("jump").value)));
  $("speed").addEventListener("change", () => { if (lab.timer) { stop(); play(); } });
  $("predict").checked = lab.predict;
  $("scenario-description").hidden = lab.predict;
  $("predict").addEventListener("change", () => predict.setPredict($("predict").checked));
}

// The help, the menus (Designs, Export) and the drawers (Costs, Apply an op); returns
// closeMenus.
function wireMenus() {
  $("help-button").addEventListener("click", () => $("help").showModal());
  const menu = $("export-menu");
  const menus = [[$("export-button"), menu], [$("designs-button"), $("designs")]];
  const closeMenus = (except = null) => {
    for (const [button, items] of menus) {
      if (items === except) continue;
      items.hidden = true;
      button.setAttribute("aria-expanded", "false");
    }
  };
  for (const [button, items] of menus) {
    button.addEventListener("click", () => {
      closeMenus(items);
      items.hidden = !items.hidden;
      button.setAttribute("aria-expanded", String(!items.hidden));
    });
  }
  for (const [id, target] of [["chart-tab", "chart"], ["op-tab", "opform"]]) {
    $(id).addEventListener("click", () => {
      const open = $(target).hidden;
      $(target).hidden = !open;
      $(id).setAttribute("aria-expanded", String(open));
    });
  }
  for (const b of menu.querySelectorAll("[data-export]")) {
    b.addEventListener("click", () => { menu.hidden = true; guarded(() => exportMenu.exportAs(b.dataset.export)); });
  }
  $("load-file").addEventListener("change", (event) => {
    menu.hidden = true;
    const file = event.target.files[0];
    if (file) guarded(() => exportMenu.loadFile(file));
    event.target.value = "";
  });
  return closeMenus;
}

// How the diagram is shown: tables or diagram, description, zoom, presentation, colours,
// refit on resize, the legend in print.
function wireView() {
  $("view-toggle").addEventListener("click", () => {
    lab.tableView = !lab.tableView;
    $("view-toggle").setAttribute("aria-pressed", String(lab.tableView));
    $("view-toggle").textContent = lab.tableView ? "Diagram" : "Tables";
    panels.render();
  });
  $("about").querySelector("summary").addEventListener("click", () => { lab.aboutTouched = true; });
  $("zoom-in").addEventListener("click", () => zoom(1));
  $("zoom-out").addEventListener("click", () => zoom(-1));
  $("zoom-fit").addEventListener("click", () => zoom(0));
  $("present-button").addEventListener("click", () => setPresent(!lab.present));
  // the colours chosen are remembered where storage is allowed (not in a deck's frame)
  const theme = $("theme");
  const stored = { get: () => { try { return localStorage.getItem("rmaplab-theme"); } catch { return null; } },
    set: (v) => { try { localStorage.setItem("rmaplab-theme", v); } catch { /* not remembered */ } } };
  theme.value = stored.get() || "";
  const dark = window.matchMedia("(prefers-color-scheme: dark)");
  const applyTheme = () => {
    document.documentElement.dataset.theme = theme.value || (dark.matches ? "dark" : "light");
    stored.set(theme.value);
  };
  theme.addEventListener("change", applyTheme);
  dark.addEventListener("change", applyTheme);
  applyTheme();
  // the diagram refits whenever its space changes (window, drawers, zoom of the browser)
  let pending = 0;
  new ResizeObserver(() => {
    cancelAnimationFrame(pending);
    pending = requestAnimationFrame(() => drawDiagrams());
  }).observe($("stage"));
  window.addEventListener("beforeprint", () => { $("legend-box").open = true; });
}

// The keys, and a click outside closing the popover and the menus.
function wireKeys(closeMenus) {
  document.addEventListener("keydown", (event) => {
    const t = event.target;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    // keys belong to fields being typed in
    if (t.closest("select, textarea, dialog")
        || (t.tagName === "INPUT" && !["checkbox", "button", "range"].includes(t.type))) return;
    const node = t.closest(".diagram [data-id]");
    if (node && (event.key === "Enter" || event.key === " ")) {
      // a box's actions, as a click would open them
      event.preventDefault();
      const box = node.getBoundingClientRect();
      node.dispatchEvent(new MouseEvent("click", { bubbles: true, clientX: box.left + 4,
        clientY: box.bottom }));
      return;
    }
    // Space and Enter on a control work that control, never autoplay
    if ((event.key === " " || event.key === "Enter")
        && t.closest("button, a, summary, input, label, [role='button']")) return;
    if (t.type === "range" && event.key.startsWith("Arrow")) return;
    if (event.key === "ArrowRight") { stop(); forward(); } else if (event.key === "ArrowLeft") { stop(); back(); } else if (event.key === "Home") go(0);
    else if (event.key === "End") go(lab.session.length);
    else if (event.key === " ") { event.preventDefault(); play(); } else if (event.key === "t") $("view-toggle").click();
    else if (event.key === "?") $("help").showModal();
    else if (event.key === "s") walks.skip();
    else if (event.key === "p") setPresent(!lab.present);
    else if (event.key === "+" || event.key === "=") zoom(1);
    else if (event.key === "-") zoom(-1);
    else if (event.key === "0") zoom(0);
    else if (event.key === "Escape") {
      closePopover();
      closeMenus();
      if (lab.present) setPresent(false);
    } else return;
  });
  document.addEventListener("click", (event) => {
    if (!event.target.closest("#popover, .diagram [data-id]")) closePopover();
    if (!event.target.closest(".menu")) closeMenus();
  });
}

function wire() {
  wireTime();
  const closeMenus = wireMenus();
  wireView();
  wireKeys(closeMenus);
}

// Zoom: one step larger or smaller than the fitted size, or back to fit (0).
function zoom(direction) {
  const i = ZOOMS.indexOf(lab.zoom);
  lab.zoom = direction === 0 ? 1 : ZOOMS[Math.max(0, Math.min(ZOOMS.length - 1, i + direction))];
  $("zoom-fit").textContent = lab.zoom === 1 ? "fit" : `${Math.round(lab.zoom * 100)}%`;
  drawDiagrams();
}

function setPresent(on) {
  lab.present = on;
  document.body.classList.toggle("present", on);
  $("present-button").setAttribute("aria-pressed", String(on));
  if (lab.session) { updateUrl(lab); drawDiagrams(); }
  if (on) $("stage").focus();
}

// One context for every module: the page's state, its messages, and each module's verbs.
const jobs = [sessions, picker, panels, narration, time, predict, popovers, exportMenu];
const context = { lab, walks, initial, designInfo, say, guarded };
for (const module of jobs) {
  for (const [name, verb] of Object.entries(module)) if (name !== "install") context[name] = verb;
}
for (const module of jobs) module.install(context);

if (embed) document.body.classList.add("embed");
if (lab.present) setPresent(true);
picker.fillPicker();
for (const module of [branch, editor, exporting, freeplay, glossary]) module.install(context);
wire();
wireClassroom(lab, params.get("room"), say);
guarded(sessions.start).then(() => { document.body.dataset.ready = "1"; });
