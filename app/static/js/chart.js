// A small chart of cumulative costs per design over the steps, with the current step marked.

import { variantName } from "./variants.js";

const SVG = "http://www.w3.org/2000/svg";
const COLORS = ["#1864ab", "#e8590c", "#2b8a3e", "#862e9c", "#c92a2a"];
const METRICS = [["rmap_visits", "rmap visits (cumulative)"], ["rmap_bytes", "rmap metadata bytes"],
  ["objects_allocated", "rmap objects allocated (cumulative)"]];

function el(name, attrs, parent) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  parent?.appendChild(e);
  return e;
}

// Where each design's legend entry goes under a plot of width w: [dx, row], wrapping rows.
function legendPlaces(labels, w) {
  let dx = 0; let row = 0;
  return labels.map((text) => {
    const need = 28 + 7.5 * text.length;
    if (dx > 0 && dx + need > w) { dx = 0; row += 1; }
    const place = [dx, row];
    dx += need;
    return place;
  });
}

/** ``hideFuture``: draw the lines only up to ``step`` (predict mode: no spoilers). */
export function drawChart(container, series, step, onPick, hideFuture = false) {
  container.replaceChildren();
  if (!series) return;
  const width = 1000; const half = width / METRICS.length; const w = half - 60;
  const top = 20; const h = 86;
  const legends = METRICS.map(([key]) => {
    const labels = series.designs.map((d) => {
      const now = d.counters[Math.min(step, d.counters.length - 1)]?.[key] || 0;
      return `${variantName(d)} ${now}`;
    });
    return { labels, places: legendPlaces(labels, w) };
  });
  const rows = 1 + Math.max(...legends.flatMap((l) => l.places.map(([, row]) => row)));
  const height = top + h + 6 + rows * 16;
  const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-label": "Cumulative rmap visits and metadata bytes per design over the steps" }, container);
  svg.style.height = `${height}px`;
  const steps = series.steps;
  METRICS.forEach(([key, title], m) => {
    const x0 = m * half + 40;
    const upTo = (d) => (hideFuture ? d.counters.slice(0, step + 1) : d.counters);
    const max = Math.max(1, ...series.designs.flatMap((d) => upTo(d).map((c) => c[key] || 0)));
    el("text", { x: x0, y: 12 }, svg).textContent = `${title} · max ${max}`;
    el("line", { x1: x0, y1: top + h, x2: x0 + w, y2: top + h, stroke: "#ccd" }, svg);
    const sx = (i) => x0 + (steps ? (i / steps) * w : 0);
    const sy = (v) => top + h - (v / max) * h;
    series.designs.forEach((d, k) => {
      const color = COLORS[k % COLORS.length];
      const pts = upTo(d).map((c, i) => `${sx(i)},${sy(c[key] || 0)}`).join(" ");
      el("polyline", { points: pts, fill: "none", stroke: color, "stroke-width": 1.8 }, svg);
      // The legend entry, with the design's value at this step.
      const [dx, row] = legends[m].places[k]; const y = top + h + 6 + row * 16;
      el("rect", { x: x0 + dx, y: y + 3, width: 9, height: 9, fill: color }, svg);
      el("text", { x: x0 + dx + 13, y: y + 12, class: "legend" }, svg).textContent =
        legends[m].labels[k];
    });
    el("line", { x1: sx(step), y1: top, x2: sx(step), y2: top + h, class: "cursor" }, svg);
    const hit = el("rect", { x: x0, y: top, width: w, height: h, fill: "transparent",
      cursor: "pointer" }, svg);
    hit.addEventListener("click", (event) => {
      const box = hit.getBoundingClientRect();
      onPick(Math.round(((event.clientX - box.left) / box.width) * steps));
    });
  });
}
