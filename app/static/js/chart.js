// A small chart of cumulative costs per design over the steps, with the current step marked.

const SVG = "http://www.w3.org/2000/svg";
const COLORS = ["#1864ab", "#e8590c", "#2b8a3e", "#862e9c", "#c92a2a"];
const METRICS = [["rmap_visits", "rmap visits (cumulative)"], ["rmap_bytes", "rmap metadata bytes"]];

function el(name, attrs, parent) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  parent?.appendChild(e);
  return e;
}

export function drawChart(container, series, step, onPick) {
  container.replaceChildren();
  if (!series) return;
  const width = 1000; const height = 120; const half = width / METRICS.length;
  const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-label": "Cumulative rmap visits and metadata bytes per design over the steps" }, container);
  const steps = series.steps;
  METRICS.forEach(([key, title], m) => {
    const x0 = m * half + 40; const w = half - 60; const top = 18; const h = height - 36;
    const max = Math.max(1, ...series.designs.flatMap((d) => d.counters.map((c) => c[key] || 0)));
    el("text", { x: x0, y: 11 }, svg).textContent = `${title} · max ${max}`;
    el("line", { x1: x0, y1: top + h, x2: x0 + w, y2: top + h, stroke: "#ccd" }, svg);
    const sx = (i) => x0 + (steps ? (i / steps) * w : 0);
    const sy = (v) => top + h - (v / max) * h;
    series.designs.forEach((d, k) => {
      const pts = d.counters.map((c, i) => `${sx(i)},${sy(c[key] || 0)}`).join(" ");
      el("polyline", { points: pts, fill: "none", stroke: COLORS[k % COLORS.length],
        "stroke-width": 1.8 }, svg);
      if (m === 0) {
        el("text", { x: x0 + w - 4, y: top + 10 + k * 12, "text-anchor": "end",
          fill: COLORS[k % COLORS.length] }, svg).textContent = d.design;
      }
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
