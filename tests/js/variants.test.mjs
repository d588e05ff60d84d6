// A variant's era and source links (app/static/js/variants.js), from the catalogue the page
// receives (tests/js/states.py): the engine says each design's era and source, and the era
// and source of each option that models another kernel; the page says none of its own.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";

import { sourceLink, useCatalogue, variantEra, variantName } from "../../app/static/js/variants.js";

const path = process.env.RMAPLAB_LAYOUT_STATES;
if (!path) {
  throw new Error("RMAPLAB_LAYOUT_STATES is not set: run `pytest tests/test_js.py`");
}
const designs = JSON.parse(readFileSync(path, "utf8")).designs;
useCatalogue(designs);
const info = new Map(designs.map((d) => [d.name, d]));
const FUNC = "mm/rmap.c:try_to_unmap";

describe("variants", () => {
  it("names a variant by its design and options", () => {
    assert.equal(variantName({ design: "anon_vma_267", options: ["exact_267"] }),
      "anon_vma_267+exact_267");
  });

  it("gives a design without options its catalogue era and source", () => {
    for (const d of designs) {
      assert.equal(variantEra({ design: d.name }), d.era);
      assert.ok(d.source, `${d.name} has a source`);
      assert.ok(sourceLink({ design: d.name }, FUNC).href.includes(d.source.startsWith("v")
        ? `/linux/${d.source}/` : d.source));
    }
  });

  it("moves a variant to its option's kernel, the first listed option winning", () => {
    const avc = info.get("anon_vma_chain");
    const [first, , third] = avc.variants;
    const both = { design: "anon_vma_chain", options: [third.option, first.option] };
    assert.equal(variantEra(both), first.era);
    assert.equal(sourceLink(both, FUNC).href,
      `https://elixir.bootlin.com/linux/${first.source}/A/ident/try_to_unmap`);
    assert.match(variantEra({ design: "anon_vma_267", options: ["exact_267"] }),
      /without the 2.6.8 importer fix/);
    assert.match(variantEra({ design: "anon_vma_267" }), /with the 2.6.8 importer fix/);
  });

  it("links RFC2's functions to the mail that posted the patch", () => {
    const link = sourceLink({ design: "anon_vma_rfc2" }, FUNC);
    assert.equal(link.href, info.get("anon_vma_rfc2").source);
    assert.match(link.href, /^https:\/\/lore\.kernel\.org\//);
  });

  it("links nothing that is not a kernel function", () => {
    assert.equal(sourceLink({ design: "anon_vma_267" }, "MMU"), null);
    assert.equal(sourceLink({ design: "no_such_design" }, FUNC), null);
  });
});
