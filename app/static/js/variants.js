// A design with its options ("a variant"): its name, its era, and where its kernel source is.
// The era and the source depend on the options (anon_vma_267 with exact_267 is 2.6.7 without
// the 2.6.8 fix; anon_vma_chain's options are older kernels): the server's catalogue says
// both, per design and per option (`era`, `source`, `variants`).

let catalogue = new Map();  // design name -> its entry in the server's catalogue

/** Use the server's catalogue of designs (the page's `initial.designs`). */
export function useCatalogue(designs) {
  catalogue = new Map(designs.map((d) => [d.name, d]));
}

/** "anon_vma_267+exact_267": the name the URL, the chart and the panels use. */
export function variantName(d) {
  return d.design + (d.options || []).map((o) => `+${o}`).join("");
}

// the era and source of the first option of the design's list that the variant has
// (as in the engine: v2_6_34 overrides v3_0_to_6_15), else the design's own
function variantEntry(d) {
  const info = catalogue.get(d.design) || {};
  const option = (info.variants || []).find((v) => (d.options || []).includes(v.option));
  return { era: (option || info).era || "", source: (option || info).source || "" };
}

/** The era a panel of this variant models, in words. */
export function variantEra(d) {
  return variantEntry(d).era;
}

/** Where a kernel function (event.func, "mm/memory.c:do_wp_page") of this variant is defined:
 * Bootlin Elixir's identifier page at the variant's version, or the mail that posted it. */
export function sourceLink(d, func) {
  const { source } = variantEntry(d);
  const m = /^([\w./-]+\.[ch]):(\w+)$/.exec(func || "");
  if (!m || !source) return null;  // "MMU" and notes are not kernel functions
  if (source.startsWith("https://")) {
    return { href: source, title: `${m[2]}: the patch, in the mail that posted it` };
  }
  return { href: `https://elixir.bootlin.com/linux/${source}/A/ident/${m[2]}`,
    title: `${m[2]} (${m[1]}) in Linux ${source.slice(1)}, on Bootlin Elixir` };
}
