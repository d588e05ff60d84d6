"""The laboratory where it is taught: a projector, a zoomed browser, designs side by side, a
phone, presentation mode, and arrows a student can trust. Measured in the DOM: bounding boxes,
computed font sizes times the diagram's scale."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
from playwright.sync_api import expect

SCENARIO_DIR = Path(__file__).resolve().parents[2] / "scenarios"
SCENARIOS = sorted(p.stem for p in SCENARIO_DIR.glob("*.json"))

#: the smallest diagram text on screen, in CSS pixels: font size times the SVG's scale
MIN_TEXT = """() => {
  const sizes = [];
  for (const svg of document.querySelectorAll('.panel svg.diagram')) {
    const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
    for (const t of svg.querySelectorAll('text')) {
      sizes.push(parseFloat(getComputedStyle(t).fontSize) * scale);
    }
  }
  return Math.min(...sizes);
}"""

#: boxes of every node drawn outside the viewport
OUTSIDE = """() => [...document.querySelectorAll('.panel svg.diagram g.node[data-id] rect.box')]
  .map((r) => [r.parentNode.dataset.id, r.getBoundingClientRect()])
  .filter(([, b]) => b.left < -0.5 || b.top < -0.5 || b.right > innerWidth + 0.5
    || b.bottom > innerHeight + 0.5)
  .map(([id]) => id)"""

#: every geometric promise of one panel's diagram, as a list of broken ones
GEOMETRY = """(index) => {
  const problems = [];
  const svg = document.querySelectorAll('.panel svg.diagram')[index];
  const rects = [];
  for (const g of svg.querySelectorAll('g.node[data-id]')) {
    const r = g.querySelector('rect.box').getBoundingClientRect();
    rects.push([g.dataset.id, r]);
    for (const t of g.querySelectorAll('text')) {
      const b = t.getBoundingClientRect();
      if (b.left < r.left - 0.5 || b.right > r.right + 0.5 || b.top < r.top - 0.5
          || b.bottom > r.bottom + 0.5) {
        problems.push(`label "${t.textContent}" outside its box ${g.dataset.id}`);
      }
    }
  }
  for (let i = 0; i < rects.length; i += 1) {
    for (let j = i + 1; j < rects.length; j += 1) {
      const [a, ra] = rects[i]; const [b, rb] = rects[j];
      if (ra.left < rb.right - 0.5 && rb.left < ra.right - 0.5 && ra.top < rb.bottom - 0.5
          && rb.top < ra.bottom - 0.5) {
        problems.push(`boxes ${a} and ${b} overlap`);
      }
    }
  }
  // arrows are polylines: each segment is clipped against every box but its two ends
  const m = svg.getScreenCTM();
  const at = ([x, y]) => [m.a * x + m.c * y + m.e, m.b * x + m.d * y + m.f];
  const crosses = ([x1, y1], [x2, y2], r) => {
    let t0 = 0; let t1 = 1;
    const dx = x2 - x1; const dy = y2 - y1;
    const sides = [[-dx, x1 - (r.left + 1)], [dx, (r.right - 1) - x1],
      [-dy, y1 - (r.top + 1)], [dy, (r.bottom - 1) - y1]];
    for (const [p, q] of sides) {
      if (p === 0) { if (q < 0) return false; continue; }
      const t = q / p;
      if (p < 0) t0 = Math.max(t0, t); else t1 = Math.min(t1, t);
      if (t0 > t1) return false;
    }
    return true;
  };
  for (const line of svg.querySelectorAll('g.edge[data-edge] path.edge-line')) {
    const g = line.parentNode;
    const pts = line.getAttribute('d').slice(1).split(' L')
      .map((p) => at(p.split(',').map(Number)));
    let under = null;
    for (let k = 1; k < pts.length && !under; k += 1) {
      for (const [id, r] of rects) {
        if (id === g.dataset.from || id === g.dataset.to) continue;
        if (crosses(pts[k - 1], pts[k], r)) { under = id; break; }
      }
    }
    if (under) problems.push(`edge ${g.dataset.edge} passes under ${under}`);
    const [ex, ey] = pts[pts.length - 1];
    const target = rects.find(([id]) => id === g.dataset.to)[1];
    const onSide = (Math.abs(ex - target.left) < 1.5 || Math.abs(ex - target.right) < 1.5)
      && ey > target.top && ey < target.bottom;
    if (!onSide) problems.push(`edge ${g.dataset.edge} does not end on its box`);
  }
  return problems;
}"""


def relative_luminance(rgb: tuple[float, float, float]) -> float:
    def channel(c: float) -> float:
        c /= 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: tuple[float, float, float], b: tuple[float, float, float]) -> float:
    la, lb = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def rgb(css: str) -> tuple[float, float, float]:
    inner = css[css.index("(") + 1 : css.index(")")].replace(",", " ").split()
    return float(inner[0]), float(inner[1]), float(inner[2])


def at_size(lab, width: int, height: int, query: str) -> None:
    lab.page.set_viewport_size({"width": width, "height": height})
    lab.page.emulate_media(reduced_motion="reduce")
    lab.open(query)
    lab.page.wait_for_function("document.querySelector('.panel svg.diagram[data-arrangement]')")


def test_projector_1280x720_one_design_fits_and_reads(lab):
    at_size(lab, 1280, 720, "?scenario=seed-story&step=6")
    page = lab.page
    assert page.evaluate(OUTSIDE) == []
    smallest = page.evaluate(MIN_TEXT)
    assert smallest >= 12, smallest
    # the description is folded away once the story has started; the drawers are closed
    expect(page.locator("#scenario-description")).to_be_hidden()
    expect(page.locator("#chart")).to_be_hidden()
    lab.shot("projector-1280x720")
    # presentation mode: one key, diagram and narration only, large type
    page.locator("#stage").focus()
    page.keyboard.press("p")
    expect(page.locator("header.chrome")).to_be_hidden()
    assert "present=1" in page.url
    page.wait_for_function("document.body.classList.contains('present')")
    page.wait_for_timeout(100)
    assert page.evaluate(OUTSIDE) == []
    assert page.evaluate(MIN_TEXT) >= 16
    narration = page.locator("#narration li").first
    assert float(narration.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")) >= 18
    lab.shot("present-1280x720")
    page.keyboard.press("ArrowRight")
    lab.wait_step(7)
    page.keyboard.press("Escape")
    expect(page.locator("header.chrome")).to_be_visible()


def test_present_link_opens_in_presentation_mode(lab):
    at_size(lab, 1280, 720, "?scenario=seed-story&step=6&present=1")
    expect(lab.page.locator("footer.controls")).to_be_hidden()
    assert lab.page.evaluate(MIN_TEXT) >= 16


def test_browser_zoom_150_percent_keeps_the_diagram(lab):
    """853x480 is a 1280x720 screen at 150%: the diagram keeps at least half the height."""
    at_size(lab, 853, 480, "?scenario=seed-story&step=6")
    box = lab.page.locator(".panel svg.diagram").bounding_box()
    assert box["height"] >= 240, box
    narration = lab.page.locator("#narration").bounding_box()
    assert narration["height"] > 100
    lab.shot("zoomed-853x480")


def test_zoom_buttons_enlarge_the_diagram(lab):
    at_size(lab, 1280, 720, "?scenario=seed-story&step=6")
    page = lab.page
    before = page.evaluate(MIN_TEXT)
    page.click("#zoom-in")
    page.click("#zoom-in")
    assert page.evaluate(MIN_TEXT) >= before * 1.4
    expect(page.locator("#zoom-fit")).to_have_text("150%")
    page.click("#zoom-fit")
    assert page.evaluate(MIN_TEXT) == pytest.approx(before, rel=0.02)


def columns(page) -> list[dict]:
    panels = page.locator(".panel")
    return [panels.nth(i).bounding_box() for i in range(panels.count())]


@pytest.mark.parametrize(
    ("width", "height", "query", "name"),
    [
        (
            1280,
            720,
            "?scenario=seed-story&step=6&designs=anon_vma_rfc2,anon_vma_chain",
            "side-by-side-1280x720",
        ),
        (
            1920,
            1080,
            "?scenario=aim7-shape&step=12&designs=anon_vma_267,anon_vma_chain",
            "side-by-side-1920x1080",
        ),
    ],
)
def test_two_designs_side_by_side(lab, width, height, query, name):
    at_size(lab, width, height, query)
    page = lab.page
    a, b = columns(page)
    assert a["x"] + a["width"] <= b["x"], (a, b)  # disjoint columns, not stacked
    assert abs(a["y"] - b["y"]) < 1
    assert page.evaluate(OUTSIDE) == []
    smallest = page.evaluate(MIN_TEXT)
    assert smallest >= 10, smallest
    lab.shot(name)


def test_phone_layout_scrolls_down_never_sideways(lab):
    at_size(lab, 390, 844, "?scenario=seed-story&step=6")
    page = lab.page
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 390
    assert page.evaluate(MIN_TEXT) >= 10
    lab.shot("phone-390x844")
    frame = page.locator("[data-id='frame:1']")
    frame.evaluate("e => e.scrollIntoView({block: 'center'})")
    assert page.evaluate("scrollY") > 0
    box = frame.locator("rect.box").bounding_box()
    # the controls stay at hand at the bottom of the screen, and the frame shows above them
    controls = page.locator("footer.controls").bounding_box()
    assert controls["y"] + controls["height"] <= 845
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390
    assert box["y"] >= 0 and box["y"] + box["height"] <= controls["y"]
    page.locator("#forward").click()
    lab.wait_step(7)
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 390
    lab.shot("phone-390x844-scrolled")


def test_embed_fits_960x540(lab):
    at_size(lab, 960, 540, "?scenario=seed-story&step=6&embed=1")
    assert lab.page.evaluate(OUTSIDE) == []
    assert lab.page.evaluate("document.scrollingElement.scrollWidth") <= 960
    lab.shot("embed-960x540")


def test_embed_frames_in_a_deck_opened_from_disk(lab, tmp_path):
    deck = tmp_path / "deck.html"
    deck.write_text(
        f'<!doctype html><title>deck</title><iframe id="lab" width="960" height="540" '
        f'src="{lab.url}/?scenario=seed-story&step=6&embed=1"></iframe>'
    )
    page = lab.page
    page.goto(deck.as_uri())
    frame = page.frame_locator("#lab")
    expect(frame.locator("body[data-ready='1']")).to_have_count(1, timeout=15000)
    expect(frame.locator("[data-id='frame:1']")).to_be_visible()


@pytest.mark.parametrize("name", SCENARIOS)
def test_every_step_geometry(lab, server, name):
    """1440x900, every step of a built-in scenario under all five designs at once (so narrow
    columns and the stacked arrangement too): no label outside its box, no two boxes
    overlapping, no arrow under a box that is not one of its ends, every arrow ending on its
    box."""
    scenario = json.loads((SCENARIO_DIR / f"{name}.json").read_text())
    options = "".join(f"+{o}" for o in scenario.get("options", []))
    own = scenario.get("design", "anon_vma_rfc2") + options
    others = [
        d
        for d in ("pte_chain", "anonmm", "anon_vma_rfc2", "anon_vma_267", "anon_vma_chain")
        if d != scenario.get("design", "anon_vma_rfc2")
    ]
    at_size(lab, 1440, 900, f"?scenario={name}&step=0&designs={','.join([own, *others])}")
    page = lab.page
    steps = len(scenario["ops"])
    for step in range(steps + 1):
        if step:
            page.keyboard.press("ArrowRight")
            lab.wait_step(step)
            page.keyboard.press("s")  # a reclaim's walk (the state before) ends: the step's own
        for i in range(page.locator(".panel").count()):
            problems = page.evaluate(GEOMETRY, i)
            assert problems == [], f"{name} step {step} panel {i}: {problems[:5]}"


def test_arrows_contrast_and_name_their_field(lab):
    at_size(lab, 1440, 900, "?scenario=seed-story&step=10")
    page = lab.page
    for theme in ("", "dark", "contrast"):
        page.select_option("#theme", theme)
        strokes = page.evaluate("""() => {
          const svg = document.querySelector('.panel svg.diagram');
          const bg = getComputedStyle(svg).backgroundColor;
          return [bg, [...svg.querySelectorAll('.edge .edge-line')].map((p) => [
            p.parentNode.dataset.edge, getComputedStyle(p).stroke, getComputedStyle(p).opacity,
            getComputedStyle(p.parentNode).opacity])];
        }""")
        bg, lines = strokes
        assert lines
        for edge, stroke, opacity, group_opacity in lines:
            assert float(opacity) == 1 and float(group_opacity) == 1, edge
            assert contrast(rgb(stroke), rgb(bg)) >= 3, (theme, edge, stroke, bg)
    page.select_option("#theme", "")
    title = page.locator("[data-edge^='mapping:frame:'] title").first
    assert "page->mapping" in title.text_content() or "page->as.vma" in title.text_content()
    assert "anon_vma->head" in page.locator("[data-edge^='list:'] title").first.text_content()
    page.locator("[data-edge^='list:'] .edge-hit").first.dispatch_event("click")
    expect(page.locator("#error")).to_contain_text("anon_vma->head")
    page.locator("#legend-box summary").click()
    legend = page.locator("#legend")
    expect(legend).to_contain_text("anon_vma->head")
    expect(legend).to_contain_text("pte → pfn")
    expect(legend).to_contain_text("page->mapping")
    # the list's walk order sits beside its arrow, in the lane next to the vma
    label = page.locator("[data-edge-label^='list:']").first.bounding_box()
    assert label["width"] > 0


def test_ghost_of_a_freed_anon_vma_still_pointed_at(lab):
    """rc3-oops: the child's exit frees anon_vma 2 while frame 2 still points at it."""
    at_size(lab, 1440, 900, "?scenario=rc3-oops&step=8")
    page = lab.page
    state = lab.view()["designs"][0]["state"]
    assert 2 not in [a["id"] for a in state["anon_vmas"]]
    ghost = page.locator("g[data-id='anon_vma:2']")
    expect(ghost).to_have_class("node node-ghost ghost")
    expect(ghost).to_contain_text("freed")
    expect(page.locator("[data-edge='mapping:frame:2>anon_vma:2']")).to_have_count(1)
    expect(page.locator("[data-id='frame:2']")).to_contain_text("page_mapping() =")
    expect(page.locator("[data-id='frame:2']")).to_contain_text("anon_vma 2")
    lab.shot("ghost-rc3-oops")


def test_picker_opens_a_scenario_on_its_own_designs_then_steps(lab):
    at_size(lab, 1440, 900, "?scenario=seed-story&step=3")
    page = lab.page
    page.select_option("#scenario", "rc3-oops")
    page.wait_for_function("window.rmaplab.scenario === 'rc3-oops' && !window.rmaplab.busy")
    designs = [(d["design"], d["options"]) for d in lab.view()["designs"]]
    assert designs == [("anon_vma_chain", ["v2_6_34_rc3"])]
    assert "designs=anon_vma_chain+v2_6_34_rc3" in page.url
    assert page.evaluate("document.activeElement.id") == "stage"
    page.keyboard.press("ArrowRight")
    lab.wait_step(1)
    assert lab.page.evaluate("window.rmaplab.scenario") == "rc3-oops"
    for name, design in (
        ("importer-bug-267", ("anon_vma_267", ["exact_267"])),
        ("seed-split-literal", ("anon_vma_rfc2", ["rfc2_literal"])),
    ):
        page.select_option("#scenario", name)
        page.wait_for_function(f"window.rmaplab.scenario === '{name}' && !window.rmaplab.busy")
        assert [(d["design"], d["options"]) for d in lab.view()["designs"]] == [design]


def test_keyboard_nodes_controls_and_skip_link(lab):
    at_size(lab, 1440, 900, "?scenario=s3-fork-shares&step=4")
    page = lab.page
    # the first tab stop is the skip link; it leads to the controls
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "first"
    # the controls come before the diagram's boxes in the tab order
    order = page.evaluate("""() => {
      const all = [...document.querySelectorAll('button, input, select, a[href], [tabindex="0"]')];
      return [all.indexOf(document.getElementById('forward')),
              all.findIndex((e) => e.matches('.diagram [data-id]'))];
    }""")
    assert order[0] < order[1]
    # Space on a checkbox ticks it; autoplay does not start
    page.locator("#predict").focus()
    page.keyboard.press(" ")
    expect(page.locator("#predict")).to_be_checked()
    assert page.evaluate("window.rmaplab.timer") is None
    page.keyboard.press(" ")
    expect(page.locator("#predict")).not_to_be_checked()
    # Space on a button presses that button
    page.locator("#view-toggle").focus()
    page.keyboard.press(" ")
    expect(page.locator("#view-toggle")).to_have_attribute("aria-pressed", "true")
    page.keyboard.press(" ")
    assert page.evaluate("window.rmaplab.timer") is None
    # Enter on a focused box opens its actions
    page.locator("[data-id='frame:1']").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#popover")).to_be_visible()
    expect(page.locator("#popover")).to_contain_text("frame 1")
    page.keyboard.press("Escape")
    page.locator("[data-id='mm:1']").focus()
    page.keyboard.press(" ")
    expect(page.locator("#popover")).to_contain_text("process 1")
    assert page.evaluate("window.rmaplab.timer") is None


def test_change_cues_last_until_the_next_step(lab):
    at_size(lab, 1440, 900, "?scenario=seed-story&step=5")
    page = lab.page
    page.keyboard.press("ArrowRight")
    lab.wait_step(6)
    page.wait_for_timeout(3000)
    marked = page.locator(".panel .node.changed, .panel .node.added")
    assert marked.count() > 0
    ids = set(marked.evaluate_all("els => els.map(e => e.dataset.id)"))
    assert "frame:1" in ids
    page.keyboard.press("ArrowRight")
    lab.wait_step(7)
    after = set(
        page.locator(".panel .node.changed, .panel .node.added").evaluate_all(
            "els => els.map(e => e.dataset.id)"
        )
    )
    assert after != ids


def test_reduced_motion_stops_transitions(lab):
    at_size(lab, 1440, 900, "?scenario=seed-story&step=5")
    duration = lab.page.locator("[data-id='frame:1']").evaluate(
        "e => getComputedStyle(e).transitionDuration"
    )
    assert duration in ("0s", "")


def test_print_shows_the_diagram_without_controls(lab):
    at_size(lab, 1440, 900, "?scenario=seed-story&step=6")
    page = lab.page
    page.emulate_media(media="print")
    expect(page.locator("header.chrome")).to_be_hidden()
    expect(page.locator("footer.controls")).to_be_hidden()
    expect(page.locator(".panel svg.diagram")).to_be_visible()
    expect(page.locator("#narration")).to_be_visible()
    pdf = page.pdf()
    assert pdf[:4] == b"%PDF"


def test_export_is_a_16_9_slide_with_narration_and_legend(lab, tmp_path):
    at_size(lab, 1440, 900, "?scenario=seed-story&step=6&designs=anon_vma_rfc2,anon_vma_chain")
    files = {}
    for kind in ("svg", "png"):
        files[kind] = lab.export(kind, tmp_path / f"slide.{kind}")
    width, height = struct.unpack(">II", files["png"][16:24])
    assert (width, height) == (1920, 1080)
    svg = files["svg"].decode()
    assert 'width="1920"' in svg and 'height="1080"' in svg
    assert "anon_vma-&gt;head" in svg  # the legend
    assert "pid 1 forks pid 2" in svg  # the narration
    assert svg.count('class="diagram"') >= 3  # the slide and both designs


def test_geometry_check_sees_a_box_in_the_way(lab):
    """The measure above can fail: a box moved onto arrows and another box is reported."""
    at_size(lab, 1440, 900, "?scenario=seed-story&step=6")
    page = lab.page
    assert page.evaluate(GEOMETRY, 0) == []
    page.evaluate("""() => {
      const vma = document.querySelector("[data-id='vma:1']");
      const [x, y] = vma.dataset.at.match(/[0-9.]+/g).map(Number);
      const frame = document.querySelector("[data-id='frame:2']");
      // frame 2 now half covers vma 1 and the lane where its arrows arrive
      frame.style.transform = `translate(${x + vma.getBBox().width / 2}px, ${y}px)`;
      frame.querySelector('text').textContent = 'a label far too long for any box at all';
    }""")
    problems = " ".join(page.evaluate(GEOMETRY, 0))
    assert "boxes vma:1 and frame:2 overlap" in problems or "frame:2 and vma:1" in problems
    assert "passes under frame:2" in problems
    assert "outside its box frame:2" in problems


def test_system_dark_preference_picks_the_dark_theme(lab):
    lab.page.emulate_media(color_scheme="dark")
    at_size(lab, 1280, 720, "?scenario=seed-story&step=6")
    page = lab.page
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"
    bg = page.locator(".panel svg.diagram").evaluate("e => getComputedStyle(e).backgroundColor")
    assert contrast(rgb(bg), (0, 0, 0)) < 2  # a dark diagram
    page.select_option("#theme", "light")
    assert page.evaluate("document.documentElement.dataset.theme") == "light"
