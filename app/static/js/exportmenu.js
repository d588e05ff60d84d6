// The Export menu: the view as a 16:9 slide (SVG or PNG), the scenario as a file, links to
// this step, and loading a scenario file.

import { ApiError } from "./api.js";
import { opText } from "./commands.js";
import { Diagram, el, legend } from "./diagram.js";
import * as exporting from "./export.js";
import { layoutState } from "./layout.js";
import { linkTo } from "./url.js";

let ctx = null;  // from app.js: {lab, designInfo, say}

/** Hand `blob` to the browser as a download named `name`. */
export function download(name, blob) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = name;
  document.body.appendChild(a);
  a.click();
  setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
}

// A 16:9 slide: the title and step, every design's diagram fit side by side, what happened
// in this step, and the legend of the arrows.
const SLIDE = { width: 1920, height: 1080 };

function wrapWords(text, max) {
  const out = [];
  let cur = "";
  for (const word of text.split(" ")) {
    if (cur && `${cur} ${word}`.length > max) { out.push(cur); cur = word; } else cur = cur ? `${cur} ${word}` : word;
  }
  if (cur) out.push(cur);
  return out;
}

async function composedSvg() {
  const { lab } = ctx;
  const css = await (await fetch("/static/css/diagram.css")).text();
  const { width, height } = SLIDE;
  const NS = "http://www.w3.org/2000/svg";
  const out = el("svg", { xmlns: NS, class: "diagram", width, height, viewBox: `0 0 ${width} ${height}` });
  el("style", {}, out).textContent = `${css}
.slide-bg { fill: var(--d-bg); }
.slide-text { fill: var(--d-ink); font-family: "DejaVu Sans", sans-serif; font-size: 17px; }
.slide-text.strong { font-weight: 700; }
.slide-title { font-size: 26px; font-weight: 700; }`;
  el("rect", { width, height, class: "slide-bg" }, out);
  const title = lab.session.scenario?.title || lab.scenario || "rmaplab session";
  el("text", { x: 24, y: 38, class: "slide-text slide-title" }, out).textContent =
    `${title} — step ${lab.session.step} of ${lab.session.length}: ${opText(lab.view.op)}`;
  // the narration: each design's sentences, wrapped, in columns under the diagrams
  const kinds = new Set();
  let ghosts = false;
  const n = lab.view.designs.length;
  const colW = (width - 48 - (n - 1) * 24) / n;
  const textLines = lab.view.designs.map((d) => {
    const lines = [];
    if (n > 1) lines.push([d.design + (d.options.length ? ` [${d.options.join(", ")}]` : ""), true]);
    for (const e of d.events) wrapWords(`• ${e.text}`, Math.floor(colW / 9.2)).forEach((l) => lines.push([l, false]));
    for (const w of d.walks) lines.push([`walk of frame ${w.pfn}: ${w.visited.length} visited of ${w.candidates} candidates`, false]);
    if (!d.events.length) lines.push(["Nothing happened.", false]);
    return lines.slice(0, 12);
  });
  const narrationH = 12 + 22 * Math.max(...textLines.map((l) => l.length));
  const legendW = width - 48;
  // measure the legend by drawing it, then place it at the bottom
  for (const d of lab.view.designs) {
    const layout = layoutState(d.state, ctx.designInfo.get(d.state.design));
    for (const e of layout.edges) kinds.add(e.kind);
    ghosts ||= layout.nodes.some((x) => x.kind === "ghost");
  }
  const legendG = el("g", {}, out);
  const legendH = legend(legendG, kinds, legendW, ghosts);
  const top = 56;
  const diagramH = height - top - narrationH - legendH - 40;
  lab.view.designs.forEach((d, i) => {
    const space = { width: colW, height: diagramH, scroll: false };
    const layout = layoutState(d.state, ctx.designInfo.get(d.state.design), space);
    const scale = Math.min(colW / layout.width, diagramH / layout.height);
    const x = 24 + i * (colW + 24);
    const g = el("g", { transform: `translate(${x},${top})` }, out);
    const source = lab.panels[i].diagram;
    const copy = new Diagram(document.createElement("div"), `${source.design}-slide`);
    copy.draw(layout, scale);
    const inner = copy.svg;
    inner.setAttribute("x", 0);
    inner.setAttribute("y", 0);
    g.appendChild(inner);
    textLines[i].forEach(([line, bold], k) => {
      el("text", { x, y: top + diagramH + 30 + k * 22, class: bold ? "slide-text strong" : "slide-text" },
        out).textContent = line;
    });
  });
  legendG.setAttribute("transform", `translate(24,${height - legendH - 14})`);
  return new XMLSerializer().serializeToString(out);
}

function baseName() {
  const { lab } = ctx;
  return `rmaplab-${lab.scenario || "session"}-step${lab.session.step}`;
}

/** Do what the Export menu's item `kind` says. */
export async function exportAs(kind) {
  const { lab, say } = ctx;
  if (kind === "svg") {
    download(`${baseName()}.svg`, new Blob([await composedSvg()], { type: "image/svg+xml" }));
  } else if (kind === "png") {
    const text = await composedSvg();
    const url = URL.createObjectURL(new Blob([text], { type: "image/svg+xml" }));
    const img = new Image();
    await new Promise((resolve, reject) => { img.onload = resolve; img.onerror = reject; img.src = url; });
    const canvas = document.createElement("canvas");
    canvas.width = SLIDE.width;
    canvas.height = SLIDE.height;
    const pen = canvas.getContext("2d");
    pen.fillStyle = "#fff";
    pen.fillRect(0, 0, canvas.width, canvas.height);
    pen.drawImage(img, 0, 0, SLIDE.width, SLIDE.height);
    URL.revokeObjectURL(url);
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
    download(`${baseName()}.png`, blob);
  } else if (kind === "scenario" || kind === "scenario-to-step") {
    exporting.downloadScenario(exporting.scenarioDoc(lab, kind === "scenario-to-step"));
  } else if (kind === "link" || kind === "embed") {
    // a log of one's own travels in the link itself; a built-in scenario by its name
    const own = kind === "link" && !lab.scenario;
    const link = kind === "embed" ? linkTo({ embed: "1" }) : own ? await exporting.scenarioLink(lab) : location.href;
    try { await navigator.clipboard.writeText(link); say(`Copied: ${link}`, "info"); } catch {
      say(`Link: ${link}`, "info");
    }
  }
}

/** Open a scenario file the reader chose. */
export async function loadFile(file) {
  const { lab, say } = ctx;
  let data;
  try { data = JSON.parse(await file.text()); } catch (err) {
    throw new ApiError(422, `${file.name} is not valid JSON: ${err.message}`);
  }
  await exporting.openScenario(data, file.name);
  lab.file = data;  // a class started from it keeps its name and lesson
  say(`Loaded ${file.name}: ${data.ops.length} steps. Step forward to play it.`, "info");
}

export function install(context) {
  ctx = context;
}
