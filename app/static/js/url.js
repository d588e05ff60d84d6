// The URL names the view, so a copied link reopens it: the query the page was opened with,
// and the query written back after every change.

/** The query the page was opened with (the page rewrites location.search as it goes). */
export const params = new URLSearchParams(location.search);
/** Opened inside a deck's frame (?embed=1): the chrome is hidden. */
export const embed = params.get("embed") === "1";

/** "anon_vma_267+exact_267,pte_chain": the designs and options of the session, for a URL. */
function designSpec(lab) {
  return lab.session.designs.map((d) => d.design + d.options.map((o) => `+${o}`).join("")).join(",");
}

/** The designs of a URL's `designs` parameter. */
export function parseDesigns(text) {
  // "+" joins a design and its options; a query string may have turned it into a space
  return text.replace(/ /g, "+").split(",").filter(Boolean).map((spec) => {
    const [design, ...options] = spec.split("+");
    return { design, options };
  });
}

/** Write the view into the address bar (replacing the history entry). */
export function updateUrl(lab) {
  // a link carries the view id, never the session's own id: whoever opens it can look,
  // and changes a copy of their own; this browser keeps its own ids (owners) to reuse
  const p = new URLSearchParams();
  if (lab.scenario && lab.session.read_only) p.set("scenario", lab.scenario);
  else p.set("view", lab.session.view_id);
  p.set("designs", designSpec(lab));
  p.set("step", String(lab.session.step));
  if (embed) p.set("embed", "1");
  if (lab.predict) p.set("predict", "1");
  if (lab.present) p.set("present", "1");
  if (params.get("room")) p.set("room", params.get("room"));
  history.replaceState(null, "", `?${p.toString().replace(/%2C/g, ",").replace(/%2B/g, "+")}`);
}

/** The current URL with `extra` parameters set. */
export function linkTo(extra = {}) {
  const url = new URL(location.href);
  for (const [k, v] of Object.entries(extra)) url.searchParams.set(k, v);
  return url.toString();
}
