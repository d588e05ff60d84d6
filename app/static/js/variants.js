// A design with its options ("a variant"): its name, its era, and where its kernel source is.
// The era and the source version depend on the options (anon_vma_267 with exact_267 is 2.6.7
// without the 2.6.8 fix; anon_vma_chain's options are older kernels), so they are one table.

const RFC2_MAIL = "https://lore.kernel.org/lkml/20040311065254.GT30940@dualathlon.random/";

// Per design: the default era and kernel version, then the options that change them
// (the first listed option present wins, as in the engine: v2_6_34 overrides v3_0_to_6_15).
const ERAS = {
  pte_chain: { era: "Linux 2.6.0, December 2003", version: "v2.6.0" },
  anonmm: { era: "Hugh Dickins's -mm patches, March 2004 (never released; sources: 2.6.5, the release they applied to)",
    version: "v2.6.5" },
  anon_vma_rfc2: { era: "Andrea Arcangeli's RFC2, LKML, 11 March 2004 (posted, never merged)",
    mail: RFC2_MAIL },
  anon_vma_267: { era: "Linux 2.6.7, June 2004, with the 2.6.8 importer fix", version: "v2.6.7",
    options: { exact_267: { era: "Linux 2.6.7, June 2004, exactly as released (without the 2.6.8 importer fix)",
      version: "v2.6.7" } } },
  anon_vma_chain: { era: "Linux 6.18/6.19 (anon_vma_chain since 2.6.34, 2010)", version: "v6.18",
    options: {
      v2_6_34: { era: "Linux 2.6.34, 2010", version: "v2.6.34" },
      v2_6_34_rc3: { era: "Linux 2.6.34-rc3, 2010 (the use-after-free)", version: "v2.6.34-rc3" },
      v3_0_to_6_15: { era: "Linux 3.0 to 6.15", version: "v6.15" },
      no_reuse: { era: "Linux 2.6.34 to 3.18 (before anon_vma reuse)", version: "v3.18" },
    } },
};

/** "anon_vma_267+exact_267": the name the URL, the chart and the panels use. */
export function variantName(d) {
  return d.design + (d.options || []).map((o) => `+${o}`).join("");
}

function variantEntry(d) {
  const base = ERAS[d.design] || {};
  const option = Object.keys(base.options || {}).find((o) => (d.options || []).includes(o));
  return { ...base, ...(option ? base.options[option] : {}) };
}

/** The era a panel of this variant models, in words. */
export function variantEra(d) {
  return variantEntry(d).era || "";
}

/** Where a kernel function (event.func, "mm/memory.c:do_wp_page") of this variant is defined:
 * Bootlin Elixir's identifier page at the variant's version, or the RFC2 mail. */
export function sourceLink(d, func) {
  const entry = variantEntry(d);
  const m = /^([\w./-]+\.[ch]):(\w+)$/.exec(func || "");
  if (!m) return null;  // "MMU" and notes are not kernel functions
  if (entry.mail) return { href: entry.mail, title: `${m[2]}: the RFC2 patch, in Andrea Arcangeli's mail` };
  if (!entry.version) return null;
  return { href: `https://elixir.bootlin.com/linux/${entry.version}/A/ident/${m[2]}`,
    title: `${m[2]} (${m[1]}) in Linux ${entry.version.slice(1)}, on Bootlin Elixir` };
}
