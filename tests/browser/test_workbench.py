"""Your own scenarios in the page (issue 17): branches, the op-log editor, links that carry
the scenario, free play from nothing, whole exports, errors beside the act, words for
newcomers."""

from __future__ import annotations

import base64
import json
import zlib

import httpx
from playwright.sync_api import expect

from tests.browser.test_lab import command, node_ids, open_op_form


def scenario_link(doc: dict) -> str:
    """``?s=``: the scenario itself, deflate-raw and base64url, as the page writes it."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    raw = packer.compress(json.dumps(doc).encode()) + packer.flush()
    return "?s=" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def unpack_link(url: str) -> dict:
    text = url.split("s=", 1)[1].split("&", 1)[0]
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    return json.loads(zlib.decompress(raw, -15))


def test_acting_mid_story_starts_a_branch_and_back_to_the_story_returns(lab):
    page = lab.page
    lab.open("?scenario=seed-story&step=6")
    story = page.evaluate("window.rmaplab.session.id")
    page.locator('g[data-id="pte:2:4096"]').click()
    page.locator("#popover").get_by_role("button", name="write", exact=True).click()
    lab.wait_step(7)
    assert page.evaluate("window.rmaplab.session.length") == 7
    assert page.evaluate("window.rmaplab.session.id") != story
    picker = page.locator("#scenario option:checked")
    expect(picker).to_have_text("seed-story, your branch from step 6")
    expect(page.locator("#scenario-description")).to_contain_text(
        "Your branch of seed-story from step 6"
    )
    expect(page.locator("#scenario-description")).to_contain_text("all its 12 steps")
    lab.shot("branch")
    back = page.get_by_role("button", name="Back to the story")
    expect(back).to_be_visible()
    back.click()
    page.wait_for_function("window.rmaplab.session.length === 12 && !window.rmaplab.busy")
    assert lab.step() == 6
    assert page.evaluate("window.rmaplab.session.id") == story  # the story's own session
    assert page.evaluate("window.rmaplab.scenario") == "seed-story"
    expect(page.locator("#scenario")).to_have_value("seed-story")
    expect(page.locator("#step-title")).to_have_text("Step 6 of 12")
    expect(back).to_be_hidden()
    assert "scenario=seed-story" in page.url and "step=6" in page.url
    # and the story plays on to its end, as prepared; acting there branches too
    page.keyboard.press("End")
    lab.wait_step(12)
    command(page, "read 1 0x10000")
    lab.wait_step(13)
    expect(picker).to_have_text("seed-story, your branch from step 12")
    back.click()
    page.wait_for_function("window.rmaplab.session.length === 12 && !window.rmaplab.busy")
    assert lab.step() == 12 and page.evaluate("window.rmaplab.session.id") == story


def test_back_to_the_story_after_its_session_expired(lab, server):
    """A built-in scenario is a shared read-only view that never expires; a scenario of
    one's own lives in a session, which can."""
    page = lab.page
    lab.expected_statuses = {404}
    doc = httpx.get(f"{server.url}/api/scenarios/seed-story").json()
    lab.open(scenario_link({**doc, "name": "my-story"}) + "&step=4")
    lab.wait_step(4)
    story = page.evaluate("window.rmaplab.session")
    assert not story["read_only"]
    command(page, "read 1 0x1000")
    lab.wait_step(5)
    assert httpx.delete(f"{server.url}/api/sessions/{story['id']}").status_code == 204
    page.get_by_role("button", name="Back to the story").click()
    page.wait_for_function("window.rmaplab.session.length === 12 && !window.rmaplab.busy")
    assert lab.step() == 4


def test_a_refused_act_mid_story_keeps_the_story(lab):
    page = lab.page
    lab.expected_statuses = {409}
    lab.open("?scenario=seed-story&step=6")
    page.locator('[data-id="mm:1"]').click()
    page.get_by_role("button", name="fork (child 3)").click()
    lab.wait_step(7)  # a branch
    page.get_by_role("button", name="Back to the story").click()
    page.wait_for_function("window.rmaplab.session.length === 12 && !window.rmaplab.busy")
    deleted = []
    page.on("request", lambda r: deleted.append(r.url) if r.method == "DELETE" else None)
    command(page, "fork 1 2")  # pid 2 exists: refused
    expect(page.locator("#opform .act-error")).to_contain_text("already in use")
    page.wait_for_timeout(300)
    assert len(deleted) == 1  # the branch that never started is not left on the server
    assert lab.step() == 6 and page.evaluate("window.rmaplab.session.length") == 12
    expect(page.get_by_role("button", name="Back to the story")).to_be_hidden()


def test_edited_op_log_replays_and_its_link_survives_a_restart(lab, server, tmp_path):
    page = lab.page
    lab.expected_statuses = {422}
    lab.open("?scenario=s3-fork-shares&step=5")
    page.locator("#oplog summary").click()
    rows = page.locator("#oplog-list li")
    expect(rows).to_have_count(5)
    step4 = rows.nth(3).locator("input")
    expect(step4).to_have_value("fork 1 2")
    # a typo is named at once, at its row
    step4.fill("frok 1 2")
    expect(rows.nth(3).locator(".row-error")).to_contain_text("“frok” is not an op")
    # the engine's own refusal, in plain words, at the row it names
    step4.fill("fork 9 2")
    expect(rows.nth(3).locator(".row-error")).to_contain_text("unknown pid 9")
    expect(rows.nth(3).locator(".row-error")).to_contain_text("A limit of the simulator")
    step4.fill("fork 1 2")
    expect(page.locator("#oplog")).to_have_attribute("data-checked", "ok")
    # insert, reorder, delete
    page.get_by_role("button", name="+ add a step at the end").click()
    rows.nth(5).locator("input").fill("write 2 0x1000 77")
    rows.nth(5).get_by_role("button", name="Move up").click()  # before the reclaim
    expect(rows.nth(4).locator("input")).to_have_value("write 2 0x1000 77")
    rows.nth(1).get_by_role("button", name="Insert a step after").click()
    rows.nth(2).locator("input").fill("read 1 0x2000")
    rows.nth(2).get_by_role("button", name="Delete").click()
    expect(rows).to_have_count(6)
    page.fill("#oplog-name", "my-cow")
    page.fill("#oplog-description", "The child writes before the reclaim.")
    expect(page.locator("#oplog")).to_have_attribute("data-checked", "ok")
    page.click("#oplog-replay")
    page.wait_for_function("window.rmaplab.session.length === 6 && !window.rmaplab.busy")
    ops = page.evaluate("window.rmaplab.ops")
    assert [op["op"] for op in ops] == ["spawn", "mmap", "write", "fork", "write", "reclaim"]
    assert ops[4]["pid"] == 2 and ops[4]["value"] == 77
    expect(page.locator("#scenario option:checked")).to_have_text("my-cow (your scenario)")
    # jump to any step from the list
    rows.nth(2).get_by_role("button", name="Go to step 3").click()
    lab.wait_step(3)
    # the Export menu's link of one's own scenario carries it too
    page.click("#export-button")
    page.click("[data-export='link']")
    expect(page.locator("#error")).to_contain_text("?s=")
    page.click("#oplog-copy-link")
    link = page.locator("#oplog-link")
    page.wait_for_function("document.getElementById('oplog-link').value.includes('s=')")
    url = link.input_value()
    assert "session=" not in url
    doc = unpack_link(url)
    assert doc["name"] == "my-cow" and len(doc["ops"]) == 6 and doc["ops"][1]["addr"] == "0x1000"
    # the server forgets everything: the link alone brings the scenario back
    server.stop()
    server.db = tmp_path / "empty.sqlite3"
    server.start()
    page.goto(url)
    page.wait_for_selector("body[data-ready='1']")
    assert lab.step() == 3
    assert page.evaluate("window.rmaplab.ops") == ops
    expect(page.locator("#scenario-description")).to_have_text(
        "The child writes before the reclaim."
    )
    expect(page.locator("#scenario option:checked")).to_have_text("my-cow (your scenario)")


def test_saved_scenarios_reappear_in_the_picker(lab, tmp_path):
    page = lab.page
    lab.open("?scenario=s3-fork-shares&step=2")
    page.locator("#oplog summary").click()
    page.fill("#oplog-name", "kept")
    with page.expect_download() as info:
        page.click("#oplog-save")
    path = tmp_path / "kept.json"
    info.value.save_as(path)
    assert json.loads(path.read_text())["name"] == "kept"
    lab.open("?scenario=seed-story")
    page.select_option("#scenario", "saved:kept")
    page.wait_for_function("window.rmaplab.session.length === 5 && !window.rmaplab.busy")
    assert lab.step() == 2
    expect(page.locator("#scenario option:checked")).to_have_text("kept (your scenario)")
    # another design beside it: still one's own scenario, at the same step
    page.click("#designs-button")
    page.locator("#designs input[data-design='anon_vma_267']:not([data-option])").check()
    page.wait_for_function(
        "document.querySelectorAll('.panel').length === 2 && !window.rmaplab.busy"
    )
    assert lab.step() == 2
    expect(page.locator("#scenario option:checked")).to_have_text("kept (your scenario)")
    # choosing a built-in scenario leaves it
    page.select_option("#scenario", "s1-first-touch")
    page.wait_for_function("window.rmaplab.scenario === 's1-first-touch' && !window.rmaplab.busy")
    expect(page.locator("#scenario")).to_have_value("s1-first-touch")


def test_free_play_from_an_empty_machine_reaches_a_cow_fault_by_clicking(lab):
    page = lab.page
    lab.open_empty()
    expect(page.locator("#narration")).not_to_contain_text("step forward")
    expect(page.locator("#scenario-description")).to_contain_text("An empty machine")
    page.locator("#quick-starts").get_by_role("button", name="spawn process 1").click()
    lab.wait_step(1)
    page.locator("[data-id='mm:1']").click()
    page.locator("#popover").get_by_role("button", name="mmap", exact=True).click()
    lab.wait_step(2)
    vma = lab.view()["designs"][0]["state"]["mms"][0]["vmas"][0]
    page.locator(f"[data-id='vma:{vma['id']}']").click()
    page.locator("#popover").get_by_role("button", name="write page 0").click()
    lab.wait_step(3)
    page.locator("[data-id='mm:1']").click()
    page.get_by_role("button", name="fork (child 2)").click()
    lab.wait_step(4)
    page.locator(f"[data-id='pte:2:{vma['vm_start']}']").click()
    page.locator("#popover").get_by_role("button", name="write", exact=True).click()
    lab.wait_step(5)
    kinds = [e["kind"] for e in lab.view()["designs"][0]["events"]]
    assert "cow_copy" in kinds
    assert "frame:2" in node_ids(page, "frame")
    expect(page.locator("#scenario option:checked")).to_have_text("free play: your 5 steps")
    lab.shot("free-play-cow")


def test_quick_starts_open_at_their_last_step(lab):
    page = lab.page
    lab.open_empty()
    page.get_by_role("button", name="parent and child after fork").click()
    page.wait_for_function("window.rmaplab.session.length === 5 && !window.rmaplab.busy")
    assert lab.step() == 5
    assert {m["pid"] for m in lab.view()["designs"][0]["state"]["mms"]} == {1, 2}


def test_export_keeps_every_step_and_every_design(lab, server, tmp_path):
    page = lab.page
    lab.open(
        "?scenario=seed-story&designs=anon_vma_rfc2,anon_vma_267%2Bexact_267,pte_chain&step=10"
    )
    docs = {}
    for kind in ("scenario", "scenario-to-step"):
        docs[kind] = json.loads(lab.export(kind, tmp_path / f"{kind}.json"))
    whole = docs["scenario"]
    assert len(whole["ops"]) == 12 and whole["at_step"] == 10 and whole["name"] == "seed-story"
    assert whole["designs"] == [
        {"design": "anon_vma_rfc2", "options": []},
        {"design": "anon_vma_267", "options": ["exact_267"]},
        {"design": "pte_chain", "options": []},
    ]
    assert whole["ops"][1]["addr"].startswith("0x")
    part = docs["scenario-to-step"]
    assert len(part["ops"]) == 10 and part["name"] == "seed-story-to-step-10"
    assert "The first 10 of the 12 steps" in part["description"]
    # the file is a valid scenario for the API (and so for the CLI)
    r = httpx.post(f"{server.url}/api/runs", json={"scenario": whole})
    assert r.status_code == 200, r.text
    # and it loads back with all its designs, at its step
    page.click("#export-button")
    page.set_input_files("#load-file", str(tmp_path / "scenario.json"))
    page.wait_for_function("window.rmaplab.session.length === 12 && !window.rmaplab.busy")
    assert lab.step() == 10
    expect(page.locator(".panel")).to_have_count(3)


def test_a_refused_mremap_shows_its_reason_beside_the_form(lab):
    page = lab.page
    lab.expected_statuses = {409}
    lab.open(
        scenario_link(
            {
                "name": "two-vmas",
                "ops": [
                    {"op": "spawn", "pid": 1},
                    {"op": "mmap", "pid": 1, "addr": "0x1000", "pages": 2, "prot": "rw"},
                    {"op": "mmap", "pid": 1, "addr": "0x9000", "pages": 2, "prot": "r"},
                ],
                "at_step": 3,
            }
        )
    )
    assert lab.step() == 3
    before = lab.view()
    page.locator("[data-id='vma:1']").click()
    popover = page.locator("#popover")
    expect(popover.locator("form:visible")).to_have_count(0)  # one form per action, on demand
    popover.get_by_role("button", name="mremap…").click()
    expect(popover.locator("form:visible")).to_have_count(1)
    popover.locator("input[name='new_addr']").fill("0x9000")
    popover.get_by_role("button", name="mremap", exact=True).click()
    error = popover.locator("form .act-error")
    expect(error).to_contain_text("mremap onto a mapped range")
    expect(error).to_contain_text("A limit of the simulator")
    expect(error).to_contain_text("MREMAP_FIXED")
    expect(popover).to_be_visible()
    expect(page.locator("#error")).to_be_hidden()
    assert lab.view() == before
    lab.shot("refused-mremap")


def test_the_glossary_opens_from_a_narration_term(lab):
    page = lab.page
    lab.open("?scenario=seed-story&step=6")
    # every occurrence of a term is a way in, not only the first of a sentence
    unlinked = page.evaluate("""() => {
      const w = document.createTreeWalker(document.getElementById('narration'),
                                          NodeFilter.SHOW_TEXT);
      const left = [];
      for (let n = w.nextNode(); n; n = w.nextNode()) {
        const term = /(?<![\\w>])anon_vma(?!\\w)/;
        if (!n.parentElement.closest('.func, .term, h3') && term.test(n.data)) left.push(n.data);
      }
      return left;
    }""")
    assert unlinked == []
    assert page.locator("#narration button.term[data-term='anon_vma']").count() >= 2
    term = page.locator("#narration button.term[data-term='anon_vma']").first
    term.click()
    glossary = page.locator("dialog#glossary")
    expect(glossary).to_be_visible()
    expect(glossary.locator("dt.current")).to_have_text("anon_vma")
    expect(glossary).to_contain_text("PageDirect")
    expect(glossary).to_contain_text("swapper_space")
    page.keyboard.press("Escape")
    expect(glossary).to_be_hidden()
    # each kernel function links to its source at the design's version, in a new tab
    link = page.locator("#narration .func a").first
    expect(link).to_have_attribute(
        "href", "https://lore.kernel.org/lkml/20040311065254.GT30940@dualathlon.random/"
    )
    expect(link).to_have_attribute("target", "_blank")
    lab.open("?scenario=seed-story&step=6&designs=anon_vma_267")
    href = page.locator("#narration .func a").first.get_attribute("href")
    assert href.startswith("https://elixir.bootlin.com/linux/v2.6.7/A/ident/")
    # the design's description on click (touch screens have no hover)
    page.click("#designs-button")
    page.locator("#designs .info").first.click()
    expect(page.locator("#design-note")).to_contain_text("pte_chain")
    expect(page.locator("#design-note")).to_contain_text("2.6.0")


def test_chart_legend_and_panels_name_the_options(lab):
    page = lab.page
    lab.open("?scenario=importer-bug-267&designs=anon_vma_267,anon_vma_267%2Bexact_267&step=6")
    legend = page.locator("#chart text.legend")
    # two variants in each of the chart's three plots (the series arrives after the first
    # drawing)
    expect(legend).to_have_count(6)
    texts = legend.all_text_contents()
    for plot in range(3):
        assert texts[2 * plot].startswith("anon_vma_267 ")
        assert texts[2 * plot + 1].startswith("anon_vma_267+exact_267 ")
    titles = page.locator(".panel h2").all_text_contents()
    assert titles == ["anon_vma_267", "anon_vma_267+exact_267"]
    eras = page.locator(".panel .era").all_text_contents()
    assert "with the 2.6.8 importer fix" in eras[0]
    assert "without the 2.6.8 importer fix" in eras[1]


def test_a_bad_link_says_what_was_not_found(lab):
    page = lab.page
    lab.open("?scenario=no-such-thing")
    expect(page.locator("#scenario-description")).to_contain_text(
        "There is no scenario called “no-such-thing”"
    )
    expect(page.locator("#scenario-description a", has_text="seed-story")).to_be_visible()
    expect(page.locator("#scenario")).to_be_focused()
    lab.expected_statuses = {422}
    lab.open("?s=not-a-scenario")
    expect(page.locator("#error")).to_contain_text("could not be read")


def test_the_command_line_completes_from_the_state(lab):
    page = lab.page
    lab.open("?scenario=s3-fork-shares&step=4")
    open_op_form(page)
    page.fill("#command", "fork ")
    options = page.locator("#command-list option").evaluate_all("os => os.map(o => o.value)")
    assert "fork 1 3" in options and "fork 2 3" in options
    expect(page.locator("#command-usage")).to_have_text("fork pid child")
    command(page, "mremap 1 0x1000 2 0x9000")
    lab.wait_step(5)
    assert lab.view()["op"] == {
        "op": "mremap",
        "pid": 1,
        "addr": 4096,
        "pages": 2,
        "new_pages": 2,
        "new_addr": 0x9000,
    }
