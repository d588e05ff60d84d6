"""The reclaim walk player: a reclaim plays as sub-steps on the state before it.

Each test steps the walk by hand (→) and reads the player's position from the DOM
(``#walk[data-walk-substep]``, the lit classes), so nothing depends on timing.
"""

from __future__ import annotations

from playwright.sync_api import expect

# What the page shows at one sub-step: the player's position, per panel the nodes lit as
# "current" and as a visit's outcome, the frames drawn, and per design the narration lines.
SNAPSHOT = """() => {
  const w = document.querySelector("#walk");
  const panels = [...document.querySelectorAll(".panel")];
  return {
    mode: w.dataset.walkMode, state: w.dataset.walkState, sub: Number(w.dataset.walkSubstep),
    step: window.rmaplab.session.step,
    current: panels.map((p) =>
      [...p.querySelectorAll(".walk-current")].map((g) => g.dataset.id).sort()),
    lit: panels.map((p) => Object.fromEntries(
      [...p.querySelectorAll(".visit-hit, .visit-miss, .visit-skip")]
        .map((g) => [g.dataset.id,
                     [...g.classList].find((c) => c.startsWith("visit-")).slice(6)]))),
    frames: panels.map((p) => [...p.querySelectorAll(".node-frame")].map((g) => g.dataset.id)),
    done: panels.map((p) => p.dataset.walkDone),
    waiting: [...w.querySelectorAll(".walk-design")]
      .map((d) => Boolean(d.querySelector(".walk-waiting"))),
    lines: [...w.querySelectorAll(".walk-design")].map((d) =>
      [...d.querySelectorAll("li[data-walk-line]")].map((li) => li.firstChild.textContent)),
  };
}"""


def arrive(lab, query: str, step: int) -> None:
    """Open the step before ``step`` and press → once: the walk waits at its first sub-step."""
    lab.open(f"{query}&step={step - 1}")
    lab.page.keyboard.press("ArrowRight")
    lab.wait_step(step)
    lab.page.wait_for_selector("#walk[data-walk-state='paused'][data-walk-substep='0']")


def step_through(page) -> tuple[list[dict], dict]:
    """Press → until the walk ends; the snapshots of its sub-steps, and the one after."""
    seen = []
    while True:
        snap = page.evaluate(SNAPSHOT)
        if snap["state"] == "done":
            return seen, snap
        assert snap["sub"] == len(seen), "a sub-step was skipped"
        seen.append(snap)
        page.keyboard.press("ArrowRight")
        page.wait_for_function(
            "n => document.querySelector('#walk').dataset.walkSubstep === n",
            arg=str(snap["sub"] + 1),
        )


def currents(seen: list[dict], panel: int = 0) -> list[list[str]]:
    return [s["current"][panel] for s in seen]


def lit_order(seen: list[dict], panel: int = 0) -> list[list[tuple[str, str]]]:
    """The nodes newly lit with a visit's outcome at each sub-step that lit any, in order."""
    out: list[list[tuple[str, str]]] = []
    shown: set[tuple[str, str]] = set()
    for s in seen:
        new = sorted(set(s["lit"][panel].items()) - shown)
        shown |= set(new)
        if new:
            out.append(new)
    return out


def test_seed_story_reclaim_walk_plays_on_the_state_before(lab):
    page = lab.page
    arrive(lab, "?scenario=seed-story", 10)
    seen, end = step_through(page)
    assert currents(seen) == [
        ["frame:1"],
        ["anon_vma:1"],
        ["vma:5"],
        ["pte:1:65536", "vma:5"],
        ["vma:3"],
        ["pte:2:4096", "vma:3"],
        ["frame:1"],
    ]
    # the frame the walk starts from is drawn throughout, and leaves when the walk ends
    assert all(s["frames"][0].count("frame:1") == 1 for s in seen)
    assert "frame:1" not in end["frames"][0]
    assert lit_order(seen) == [
        [("pte:1:65536", "hit"), ("vma:5", "hit")],
        [("pte:2:4096", "hit"), ("vma:3", "hit")],
    ]
    # one narration line per sub-step, revealed in walk order
    assert [len(s["lines"][0]) for s in seen] == list(range(1, 8))
    lines = end["lines"][0]
    assert lines[0].startswith("Reclaim takes frame 1 (mapcount 2, page->index 1)")
    assert "leads to anon_vma 1; walk its list of 2 vmas" in lines[1]
    assert "vma_address = 0x10000 + ((1 \u2212 1) << 12) = 0x10000, inside the vma" in lines[2]
    assert "pid 1's PTE at 0x10000 maps frame 1: hit" in lines[3] and "mapcount 2 → 1" in lines[3]
    assert lines[4].startswith("vma 3 (pid 2, [0x1000, 0x3000), vm_pgoff 1)")
    assert "mapcount 1 → 0" in lines[5]
    assert "leaves the swap cache and is freed" in lines[6]
    # a hit PTE turns into the swap entry on screen while the frame is still there
    expect(page.locator('g[data-id="frame:1"]')).to_have_count(0)
    assert end["step"] == 10 and end["lit"] == [{}]
    # after the walk the diagram is the step's state, and → goes on to the next step
    state = lab.view()["designs"][0]["state"]
    assert set(end["frames"][0]) == {f"frame:{p['pfn']}" for p in state["pages"]}
    page.keyboard.press("ArrowRight")
    lab.wait_step(11)


def test_walk_steps_back_skips_and_shows_the_swap_entry_midway(lab):
    page = lab.page
    arrive(lab, "?scenario=seed-story", 10)
    for _ in range(4):
        page.keyboard.press("ArrowRight")
    page.wait_for_selector("#walk[data-walk-substep='4']")
    expect(page.locator('g[data-id="pte:1:65536"]')).to_contain_text("swap S1")
    expect(page.locator('g[data-id="pte:2:4096"]')).to_contain_text("F1")
    expect(page.locator('g[data-id="frame:1"]')).to_contain_text("mapcount 1")
    lab.shot("walk-midway")
    page.keyboard.press("ArrowLeft")
    page.wait_for_selector("#walk[data-walk-substep='3']")
    assert lab.step() == 10
    page.keyboard.press("s")
    page.wait_for_selector("#walk[data-walk-state='done']")
    expect(page.locator('g[data-id="frame:1"]')).to_have_count(0)
    assert lab.step() == 10
    # going back past a step that reclaimed offers its walk instead of playing it
    page.keyboard.press("ArrowRight")
    lab.wait_step(11)
    page.keyboard.press("ArrowLeft")
    lab.wait_step(10)
    page.wait_for_selector("#walk[data-walk-state='offered']")
    page.locator("#walk-replay").click()
    page.wait_for_selector("#walk[data-walk-state='paused'][data-walk-substep='0']")
    expect(page.locator('g[data-id="frame:1"]')).to_have_count(1)


def test_play_walk_plays_every_sub_step_at_the_chosen_speed_and_pauses(lab):
    page = lab.page
    arrive(lab, "?scenario=seed-story", 10)
    page.select_option("#speed", "400")
    page.evaluate("""() => {
      window.subs = [];
      const w = document.querySelector("#walk");
      new MutationObserver(() => window.subs.push(w.dataset.walkSubstep))
        .observe(w, { attributes: true, attributeFilter: ["data-walk-substep"] });
    }""")
    page.locator("#walk-play").click()
    expect(page.locator("#walk")).to_have_attribute("data-walk-state", "playing")
    expect(page.locator("#walk-play")).to_have_text("pause walk")
    page.wait_for_selector("#walk[data-walk-state='done']", timeout=15_000)
    subs = page.evaluate("window.subs")
    assert [x for i, x in enumerate(subs) if i == 0 or subs[i - 1] != x] == [
        str(n) for n in range(8)
    ]  # 0 (play pressed) to 6, then 7: done
    assert lab.step() == 10  # the walk's own play never moves the session
    # pause: a walk started again stops where it is
    page.keyboard.press("ArrowLeft")
    page.wait_for_selector("#walk[data-walk-substep='6']")
    for _ in range(6):
        page.keyboard.press("ArrowLeft")
    page.wait_for_selector("#walk[data-walk-substep='0']")
    page.locator("#walk-play").click()
    page.locator("#walk-play").click()
    expect(page.locator("#walk")).to_have_attribute("data-walk-state", "paused")
    where = page.locator("#walk").get_attribute("data-walk-substep")
    page.wait_for_timeout(900)
    assert page.locator("#walk").get_attribute("data-walk-substep") == where


def test_autoplay_waits_for_each_walk(lab):
    """AIM7 on 2.6.7 at the fast speed: the walks of steps 12 and 13 play to their end,
    each before the next step; the decisive "vma 4 miss, vma 3 hit" is drawn."""
    page = lab.page
    lab.open("?scenario=aim7-shape&designs=anon_vma_267&step=11")
    page.select_option("#speed", "400")
    page.evaluate("""() => {
      window.walkLog = [];
      const w = document.querySelector("#walk");
      new MutationObserver(() => window.walkLog.push([window.rmaplab.session.step,
        w.dataset.walkState, w.dataset.walkSubstep,
        [...document.querySelectorAll(".panel .walk-current")].map((g) => g.dataset.id).sort()]))
        .observe(w, { attributes: true,
                      attributeFilter: ["data-walk-substep", "data-walk-state"] });
    }""")
    page.locator("#play").click()
    page.wait_for_function(
        "window.rmaplab.session.step === 13 && !window.rmaplab.timer"
        " && document.querySelector('#walk').dataset.walkState === 'done'",
        timeout=60_000,
    )
    log = page.evaluate("window.walkLog")
    for step, total in ((12, 9), (13, 13)):
        mine = [entry for entry in log if entry[0] == step and entry[1] in ("playing", "done")]
        subs = [int(entry[2]) for entry in mine]
        assert sorted(set(subs)) == list(range(total + 1)), (step, subs)
        assert mine[-1][1] == "done"
    # the session moved to 13 only after step 12's walk had finished
    first13 = next(i for i, entry in enumerate(log) if entry[0] == 13)
    assert any(entry[0] == 12 and entry[1] == "done" for entry in log[:first13])
    step12 = [entry[3] for entry in log if entry[0] == 12 and entry[1] == "playing"]
    for ident in ("vma:5", "pte:5:69632", "vma:4", "pte:4:69632", "vma:3", "pte:3:69632"):
        assert any(ident in c for c in step12), ident


def test_preview_of_a_clicked_frame_narrates_in_order_and_changes_nothing(lab):
    page = lab.page
    lab.open("?scenario=s3-fork-shares&step=4")
    before = lab.view()
    page.locator("[data-id='frame:1']").click()
    page.get_by_role("button", name="show the walk that would reclaim it (changes nothing)").click()
    page.wait_for_selector("#walk[data-walk-mode='preview'][data-walk-substep='0']")
    expect(page.locator("#walk h3")).to_contain_text("If frame 1 were reclaimed now")
    # its heading stands apart from the step's events
    expect(page.locator("#narration")).not_to_contain_text("If frame 1 were reclaimed now")
    seen, end = step_through(page)
    assert currents(seen)[0] == ["frame:1"]
    assert all("frame:1" in s["frames"][0] for s in [*seen, end])
    lines = end["lines"][0]
    assert lines[0].startswith("Reclaim would take frame 1")
    vmas = [int(line.split(" ")[1]) for line in lines if line.startswith("vma ")]
    assert vmas == before["designs"][0]["state"]["anon_vmas"][0]["vmas"]  # the list, head first
    assert "would be written" in lines[-1]
    assert lab.step() == 4 and lab.view() == before
    assert lab.page.evaluate("window.rmaplab.session.step") == 4
    page.keyboard.press("ArrowRight")  # the walk is over: → is the session's again
    lab.wait_step(5)


def test_pte_chain_walk_goes_from_each_chain_entry_to_its_pte(lab):
    arrive(lab, "?scenario=seed-story&designs=pte_chain", 10)
    seen, end = step_through(lab.page)
    assert currents(seen) == [
        ["frame:1"],
        ["pte_chain:1"],
        ["pte:1:65536"],
        ["pte:2:4096"],
        ["frame:1"],
    ]
    assert lit_order(seen) == [[("pte:1:65536", "hit")], [("pte:2:4096", "hit")]]
    assert "each naming a PTE (pid, address) directly" in end["lines"][0][1]
    assert end["lines"][0][2].startswith("chain entry (block 1) → pid 1's PTE at 0x10000")
    assert "frame:1" not in end["frames"][0]


def test_anonmm_walk_looks_at_the_same_address_in_every_mm(lab):
    arrive(lab, "?scenario=seed-story&designs=anonmm", 10)
    seen, end = step_through(lab.page)
    assert currents(seen) == [
        ["frame:1"],
        ["anonmm:1"],
        ["anonmm:1", "mm:1"],
        ["anonmm:1", "mm:1"],
        ["anonmm:2", "mm:2"],
        ["anonmm:2", "mm:2", "pte:2:4096"],
        ["frame:1"],
    ]
    # pid 1 has no PTE at 0x1000 any more (its vma moved): the miss lights its mm
    assert lit_order(seen) == [
        [("anonmm:1", "miss"), ("mm:1", "miss")],
        [("anonmm:2", "hit"), ("mm:2", "hit"), ("pte:2:4096", "hit")],
    ]
    lines = end["lines"][0]
    assert "page->index 0x1000" in lines[0]
    assert "the same address 0x1000 in each" in lines[1]
    assert lines[3] == "pid 1's PTE at 0x1000 is none, not frame 1: miss."
    assert all("frame:1" in s["frames"][0] for s in seen)


def test_anon_vma_267_aim7_walk_misses_twice_then_hits(lab):
    arrive(lab, "?scenario=aim7-shape&designs=anon_vma_267", 12)
    seen, end = step_through(lab.page)
    assert lit_order(seen) == [
        [("pte:5:69632", "miss"), ("vma:5", "miss")],
        [("pte:4:69632", "miss"), ("vma:4", "miss")],
        [("pte:3:69632", "hit"), ("vma:3", "hit")],
    ]
    lines = end["lines"][0]
    assert "walk its list of 5 vmas, head first" in lines[1]
    assert "pid 5's PTE at 0x11000 maps frame 18, not frame 10: miss." in lines
    assert "pid 4's PTE at 0x11000 maps frame 14, not frame 10: miss." in lines
    assert "after 3 of 5 candidates" in lines[-1]
    assert all("frame:10" in s["frames"][0] for s in seen) and "frame:10" not in end["frames"][0]


def test_anon_vma_chain_walks_its_interval_tree(lab):
    arrive(lab, "?scenario=seed-story&designs=anon_vma_chain", 10)
    seen, end = step_through(lab.page)
    # tree order (by vm_pgoff, then age): the child's vma 3 before the parent's moved vma 5
    assert lit_order(seen) == [
        [("pte:2:4096", "hit"), ("vma:3", "hit")],
        [("pte:1:65536", "hit"), ("vma:5", "hit")],
    ]
    assert "its interval tree gives 2 vmas" in end["lines"][0][1]


def test_two_designs_walk_side_by_side_and_the_shorter_waits(lab):
    page = lab.page
    arrive(lab, "?scenario=aim7-shape&designs=anon_vma_267,anon_vma_rfc2", 12)
    seen, end = step_through(page)
    assert len(seen) == 9  # the longer walk: 2.6.7's three vmas
    assert [len(s["lines"][1]) for s in seen] == [1, 2, 3, 4, 5, 5, 5, 5, 5]
    assert [s["done"][1] for s in seen] == ["false"] * 4 + ["true"] * 5
    assert currents(seen, 1)[:5] == [
        ["frame:10"],
        ["vma:3"],
        ["vma:3"],
        ["pte:3:69632", "vma:3"],
        ["frame:10"],
    ]
    assert all(c == [] for c in currents(seen, 1)[5:])
    assert all("frame:10" in s["frames"][1] for s in seen)
    assert [s["waiting"] for s in seen] == [[False, False]] * 5 + [[False, True]] * 4
    assert "frame:10" not in end["frames"][0] and "frame:10" not in end["frames"][1]


def test_predict_asks_before_the_walk_and_the_walk_reveals(lab):
    page = lab.page
    lab.open("?scenario=seed-story&step=9&predict=1")
    page.keyboard.press("ArrowRight")  # the step's question
    page.locator("#reveal").click()
    lab.wait_step(10)
    page.wait_for_selector("#walk[data-walk-state='predict']")
    expect(page.locator("#walk .walk-question")).to_contain_text("how many containers")
    # nothing given away: no walk line, no step events, no costs, until the walk ends
    assert page.locator("#walk li[data-walk-line]").count() == 0
    expect(page.locator("#narration")).to_be_hidden()
    expect(page.locator(".panel .costs")).to_be_hidden()
    page.locator("#walk input[name='visits']").fill("3")
    page.locator("#walk input[name='hits']").fill("2")
    page.locator("#walk-next").click()
    page.wait_for_selector("#walk[data-walk-substep='0'][data-walk-state='paused']")
    expect(page.locator("#narration")).to_be_hidden()
    step_through(page)
    expect(page.locator("#narration")).to_be_visible()
    expect(page.locator("#walk .walk-verdict")).to_have_text(
        "It visited 2 containers. You said 3 visits. It hit 2 PTEs (pid 1 at 0x10000, "
        "pid 2 at 0x1000). You said 2 hits: right."
    )
