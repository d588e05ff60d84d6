"""The laboratory in a real browser: drawing, time, free play, errors, links, compare, export."""

from __future__ import annotations

import json

import httpx
from playwright.sync_api import expect


def command(page, text):
    """Type one op in the command line (in its drawer under the timeline) and apply it."""
    open_op_form(page)
    page.fill("#command", text)
    page.click("#opform button[type=submit]")


def node_ids(page, kind, design_index=0):
    panel = page.locator(".panel").nth(design_index)
    return set(panel.locator(f".node-{kind}").evaluate_all("els => els.map(e => e.dataset.id)"))


def open_op_form(page):
    """The op form lives in a drawer under the timeline."""
    if page.locator("#opform").is_hidden():
        page.click("#op-tab")


def test_opens_the_seed_story_at_step_0(lab):
    lab.open()
    assert lab.step() == 0
    expect(lab.page.locator(".panel h2")).to_have_text("anon_vma_rfc2")
    expect(lab.page.locator("#step-title")).to_have_text("Step 0")
    assert "scenario=seed-story" in lab.page.url
    lab.shot("start")


def test_diagram_matches_the_api_state_step_by_step(lab):
    lab.open("?scenario=seed-story")
    for n in range(1, 13):
        lab.page.keyboard.press("ArrowRight")
        lab.wait_step(n)
        if lab.page.locator("#walk[data-walk-state='paused']").count():
            lab.page.keyboard.press("s")  # a reclaim plays its walk first (test_walk.py)
        state = lab.view()["designs"][0]["state"]
        assert node_ids(lab.page, "frame") == {f"frame:{p['pfn']}" for p in state["pages"]}
        assert node_ids(lab.page, "vma") == {
            f"vma:{v['id']}" for m in state["mms"] for v in m["vmas"]
        }
        assert node_ids(lab.page, "anon_vma") == {f"anon_vma:{a['id']}" for a in state["anon_vmas"]}
        assert node_ids(lab.page, "slot") == {f"slot:{s['slot']}" for s in state["swap"]}
        ptes = {f"pte:{m['pid']}:{p['addr']}" for m in state["mms"] for p in m["ptes"]}
        assert node_ids(lab.page, "pte") == ptes
        edges = set(
            lab.page.locator(".panel .edge").evaluate_all("els => els.map(e => e.dataset.edge)")
        )
        for page_doc in state["pages"]:
            m = page_doc["mapping"]
            if m:
                assert f"mapping:frame:{page_doc['pfn']}>{m['kind']}:{m['id']}" in edges
        if n == 6:  # the fork: both frames now point at anon_vmas, not vmas
            kinds = {p["mapping"]["kind"] for p in state["pages"]}
            assert kinds == {"anon_vma"}
            expect(lab.page.locator("#narration")).to_contain_text("was PageDirect to vma 1")
            lab.shot("fork")
    lab.page.keyboard.press("ArrowLeft")
    lab.wait_step(11)
    lab.page.keyboard.press("Home")
    lab.wait_step(0)
    lab.page.keyboard.press("End")
    lab.wait_step(12)


def test_reclaim_walk_is_listed_and_animated(lab):
    lab.open("?scenario=s4-aim7-shape&designs=anon_vma_267&step=7")
    expect(lab.page.locator("#narration")).to_contain_text("2 visited of 3 candidates")
    expect(lab.page.locator(".node-mm").first).to_contain_text("1 vma · 1 PTE")
    expect(lab.page.locator(".node-mm").first).not_to_contain_text("PTEs")
    expect(lab.page.locator("#narration .walk li.miss")).to_have_count(1)
    lab.page.wait_for_selector("#walk[data-walk-state='paused']")
    lab.page.locator("#walk-play").click()
    lab.page.wait_for_selector(".panel .node.visit-hit")
    lab.shot("walk")


def test_free_play_fork_cow_mremap_mprotect_reclaim(lab):
    page = lab.page
    lab.open_empty()

    def apply(line):
        before = lab.step()
        command(page, line)
        lab.wait_step(before + 1)

    apply("spawn 1")
    apply("mmap 1 0x1000 2")
    apply("write 1 0x1000 7")
    frame = page.locator("[data-id='frame:1']")
    expect(frame.locator("text").first).to_have_text("F1  anon direct")
    # click the process, then fork from its menu
    page.locator("[data-id='mm:1']").click()
    page.get_by_role("button", name="fork (child 2)").click()
    lab.wait_step(4)
    expect(frame.locator("text").nth(1)).to_have_text("mapping → anon_vma 1")
    # write in the child: a COW copy
    page.locator("[data-id='pte:2:4096']").click()
    page.locator("#popover input[name='value']").fill("9")
    page.locator("#popover").get_by_role("button", name="write").click()
    lab.wait_step(5)
    assert "frame:2" in node_ids(page, "frame")
    # mremap the parent's vma through its menu
    page.locator("[data-id='vma:1']").click()
    page.locator("#popover").get_by_role("button", name="mremap…").click()
    page.locator("#popover input[name='new_addr']").fill("0x9000")
    page.locator("#popover").get_by_role("button", name="mremap", exact=True).click()
    lab.wait_step(6)
    state = lab.view()["designs"][0]["state"]
    assert [v["vm_start"] for v in state["mms"][0]["vmas"]] == [0x9000]
    # mprotect it read-only
    vma = state["mms"][0]["vmas"][0]["id"]
    page.locator(f"[data-id='vma:{vma}']").click()
    page.locator("#popover").get_by_role("button", name="mprotect…").click()
    page.locator("#popover").get_by_role("button", name="mprotect", exact=True).click()
    lab.wait_step(7)
    # reclaim frame 1 from its menu
    page.locator("[data-id='frame:1']").click()
    page.get_by_role("button", name="reclaim it", exact=True).click()
    lab.wait_step(8)
    # the walk plays on the state before: the frame is still drawn until it ends
    page.wait_for_selector("#walk[data-walk-state='paused']")
    assert "frame:1" in node_ids(page, "frame")
    page.locator("#walk-skip").click()
    assert "slot:1" in node_ids(page, "slot")
    assert "frame:1" not in node_ids(page, "frame")
    lab.shot("free-play")


def test_refused_op_shows_its_message_and_changes_nothing(lab):
    page = lab.page
    lab.expected_statuses = {409, 422}
    lab.open("?scenario=s3-fork-shares&step=5")
    before = lab.view()
    command(page, "fork 9 10")
    error = page.locator("#opform .act-error")
    expect(error).to_contain_text("unknown pid 9")
    expect(error).to_contain_text("A limit of the simulator")
    assert lab.step() == 5 and lab.view() == before
    command(page, "mmap 1 0x1001 1")
    expect(error).to_contain_text("not page-aligned")
    expect(error).to_contain_text("The kernel's rule")
    assert lab.view() == before
    # a line that is not an op is refused before it reaches the server, in plain words
    command(page, "fork 1 x")
    expect(error).to_contain_text("child must be a whole number, not “x”")
    expect(page.locator("#error")).to_be_hidden()


def test_url_reopens_the_same_step(lab):
    page = lab.page
    lab.open("?scenario=s9-fork-cow-mremap&designs=anon_vma_rfc2,anon_vma_chain")
    for n in range(1, 6):
        page.keyboard.press("ArrowRight")
        lab.wait_step(n)
    url = page.url
    assert "step=5" in url and "designs=anon_vma_rfc2,anon_vma_chain" in url
    frames = [node_ids(page, "frame", i) for i in (0, 1)]
    page.goto(url)
    page.wait_for_selector("body[data-ready='1']")
    assert lab.step() == 5
    assert [node_ids(page, "frame", i) for i in (0, 1)] == frames
    # looking at a built-in scenario created no session: it is the shared read-only view
    assert page.evaluate("window.rmaplab.session.read_only") is True
    # the first change makes a session of our own; its link carries the view id only
    command(page, "read 1 0x1000")
    lab.wait_step(6)
    mine = page.evaluate("window.rmaplab.session")
    assert mine["read_only"] is False
    shared = page.url
    assert f"view={mine['view_id']}" in shared and mine["id"] not in shared
    # a reload reuses the same session
    page.goto(shared)
    page.wait_for_selector("body[data-ready='1']")
    assert lab.step() == 6
    assert page.evaluate("window.rmaplab.session.id") == mine["id"]
    assert page.evaluate("window.rmaplab.ops.length") == 6


def test_a_shared_link_is_read_only_until_the_viewer_changes_a_copy(
    lab, browser, server, browser_context_args
):
    page = lab.page
    lab.open("?scenario=s3-fork-shares&step=2")
    command(page, "read 1 0x1000")
    lab.wait_step(3)
    owner = page.evaluate("window.rmaplab.session")
    # another participant: a browser with no stored sessions
    other = browser.new_context(**browser_context_args).new_page()
    other.goto(page.url)
    other.wait_for_selector("body[data-ready='1']")
    seen = other.evaluate("window.rmaplab.session")
    assert seen["read_only"] is True and seen["id"] == owner["view_id"]
    r = httpx.post(f"{server.url}/api/sessions/{owner['view_id']}/undo")
    assert r.status_code == 403
    command(other, "read 1 0x2000")
    other.wait_for_function("window.rmaplab.session.step === 4")
    copy = other.evaluate("window.rmaplab.session")
    assert copy["read_only"] is False and copy["id"] != owner["id"]
    # the owner's session did not move
    assert httpx.get(f"{server.url}/api/sessions/{owner['id']}").json()["step"] == 3


def test_compare_two_designs_in_two_clicks(lab):
    page = lab.page
    lab.open("?scenario=s4-aim7-shape&step=7")
    page.click("#designs-button")
    page.locator("#designs input[data-design='anon_vma_267']:not([data-option])").check()
    page.wait_for_function(
        "document.querySelectorAll('.panel').length === 2 && !window.rmaplab.busy"
    )
    page.locator("#designs input[data-design='anon_vma_chain']:not([data-option])").check()
    page.wait_for_function(
        "document.querySelectorAll('.panel').length === 3 && !window.rmaplab.busy"
    )
    assert lab.step() == 7
    narration = page.locator("#narration")
    expect(narration).to_contain_text("anon_vma_267")
    walks = {
        d["design"]: (len(d["walks"][0]["visited"]), d["walks"][0]["candidates"])
        for d in lab.view()["designs"]
    }
    assert walks == {"anon_vma_rfc2": (1, 1), "anon_vma_267": (2, 3), "anon_vma_chain": (1, 1)}
    expect(page.locator(".panel").nth(1).locator(".costs")).to_contain_text("visits 2")
    expect(page.locator("#chart svg polyline")).to_have_count(9)
    # the chart's legend gives each design's value at this step: visits, metadata bytes,
    # then rmap objects allocated (anon_vma_chain: 2 anon_vmas + 3 AVCs after the fork)
    legend = page.locator("#chart text.legend")
    expect(legend).to_have_count(9)
    expect(legend.nth(1)).to_have_text("anon_vma_267 2")
    counters = lab.view()["designs"][2]["counters"]
    expect(legend.nth(5)).to_have_text(f"anon_vma_chain {counters['rmap_bytes']}")
    expect(legend.nth(8)).to_have_text(f"anon_vma_chain {counters['objects_allocated']}")
    assert counters["objects_allocated"] == (
        counters["anon_vmas_allocated"] + counters["anon_vma_chains_allocated"]
    )
    lab.shot("compare")


def test_design_options_in_the_url(lab):
    """The teaching guide's link: a design twice, once with the 2.6.7 bug."""
    lab.open("?scenario=importer-bug-267&designs=anon_vma_267,anon_vma_267%2Bexact_267&step=6")
    designs = [(d["design"], d["options"]) for d in lab.view()["designs"]]
    assert designs == [("anon_vma_267", []), ("anon_vma_267", ["exact_267"])]
    expect(lab.page.locator(".panel").nth(1).locator(".badge-bad")).to_be_visible()
    expect(lab.page.locator(".panel").nth(0).locator(".badge-ok")).to_be_visible()
    lab.page.goto(lab.page.url)  # the URL as the app rewrote it ("+" unescaped)
    lab.page.wait_for_selector("body[data-ready='1']")
    assert [(d["design"], d["options"]) for d in lab.view()["designs"]] == designs


def test_frame_click_previews_its_walk_without_changing_anything(lab):
    page = lab.page
    lab.open("?scenario=s3-fork-shares&step=4")
    before = lab.view()
    page.locator("[data-id='frame:1']").click()
    page.get_by_role("button", name="show the walk that would reclaim it (changes nothing)").click()
    expect(page.locator("#walk")).to_contain_text("If frame 1 were reclaimed now")
    page.locator("#walk-skip").click()
    # the page, its anon_vma, two vmas (address, then PTE) and the end
    expect(page.locator("#walk .walk-lines li")).to_have_count(7)
    assert lab.step() == 4 and lab.view() == before


def test_export_svg_png_and_scenario(lab, tmp_path):
    page = lab.page
    lab.open("?scenario=s3-fork-shares&step=5")
    for kind, suffix in (("svg", ".svg"), ("png", ".png"), ("scenario", ".json")):
        page.click("#export-button")
        with page.expect_download() as info:
            page.click(f"[data-export='{kind}']")
        path = tmp_path / f"out{suffix}"
        info.value.save_as(path)
        data = path.read_bytes()
        assert len(data) > 200
        if kind == "svg":
            assert b"<svg" in data and b"anon_vma" in data
        elif kind == "png":
            assert data[:8] == b"\x89PNG\r\n\x1a\n"
        else:
            doc = json.loads(data)
            assert doc["name"] == "s3-fork-shares" and len(doc["ops"]) == 5


def test_load_a_scenario_file(lab, tmp_path):
    page = lab.page
    lab.open()
    path = tmp_path / "mine.json"
    path.write_text(
        json.dumps(
            {
                "name": "mine",
                "title": "Mine",
                "design": "anon_vma_267",
                "ops": [
                    {"op": "spawn", "pid": 1},
                    {"op": "mmap", "pid": 1, "pages": 1, "prot": "rw"},
                ],
            }
        )
    )
    page.click("#export-button")
    page.set_input_files("#load-file", str(path))
    page.wait_for_function("window.rmaplab.session.length === 2 && !window.rmaplab.busy")
    expect(page.locator(".panel h2")).to_have_text("anon_vma_267")
    page.keyboard.press("End")
    lab.wait_step(2)
    assert node_ids(page, "vma") == {"vma:1"}


def test_table_view_shows_the_same_state(lab):
    page = lab.page
    lab.open("?scenario=s3-fork-shares&step=4")
    page.keyboard.press("t")
    table = page.get_by_role("table", name="frames", exact=True)
    expect(table).to_contain_text("anon_vma 1")
    expect(page.locator(".panel svg.diagram")).to_be_hidden()
    page.keyboard.press("t")
    expect(page.locator(".panel svg.diagram")).to_be_visible()


def test_embed_mode_hides_the_chrome(lab):
    lab.open("?scenario=s3-fork-shares&step=3&embed=1")
    expect(lab.page.locator("header.chrome")).to_be_hidden()
    expect(lab.page.locator(".panel svg.diagram")).to_be_visible()
    assert "embed=1" in lab.page.url


def test_page_runs_under_its_csp(browser, server):
    """No bypass here: the page must work, and log nothing, under its own CSP."""
    context = browser.new_context()
    page = context.new_page()
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{server.url}/?scenario=s3-fork-shares&step=4")
    page.wait_for_selector("body[data-ready='1']")
    page.keyboard.press("ArrowRight")
    page.wait_for_selector("#step-title:has-text('Step 5')")
    page.wait_for_selector(".panel .node-slot")
    assert errors == []
    context.close()


def test_page_security_headers(server):
    r = httpx.get(server.url + "/")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert r.headers["x-content-type-options"] == "nosniff"


def test_predict_first_asks_then_reveals(lab):
    """Predict mode: → shows the next op and a question, the state stays; → again reveals."""
    lab.open("?scenario=seed-story&step=5")
    page = lab.page
    page.locator("#predict").check()
    assert "predict=1" in page.url
    page.keyboard.press("ArrowRight")
    expect(page.locator("#step-title")).to_have_text("Predict step 6")
    expect(page.locator("#step-op")).to_contain_text("fork pid=1 child=2")
    # step 6 is a question of the lesson: it replaces the generic one
    expect(page.locator(".predict-question")).to_contain_text("How many processes map frame 1")
    assert lab.step() == 5 and lab.view()["step"] == 5
    # the cost chart stops at this step: no spoilers
    points = page.locator("#chart polyline").first.get_attribute("points").split()
    assert len(points) == 6
    frames_before = node_ids(page, "frame")
    page.locator("#reveal").click()
    lab.wait_step(6)
    expect(page.locator("#narration")).to_contain_text("was PageDirect to vma 1")
    assert node_ids(page, "frame") == frames_before  # the fork shares, copies nothing
    # ← while a question is shown takes the question back, not a step
    page.keyboard.press("ArrowRight")
    expect(page.locator("#step-title")).to_have_text("Predict step 7")
    page.keyboard.press("ArrowLeft")
    expect(page.locator("#step-title")).to_have_text("Step 6 of 12")
    assert lab.step() == 6
    # the link keeps the mode; turning it off steps at once
    lab.open("?scenario=seed-story&step=0&predict=1")
    expect(page.locator("#predict")).to_be_checked()
    page.locator("#predict").uncheck()
    page.keyboard.press("ArrowRight")
    lab.wait_step(1)
    points = page.locator("#chart polyline").first.get_attribute("points").split()
    assert len(points) == 13  # the whole story again
    assert "predict=1" not in page.url
