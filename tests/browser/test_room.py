"""A room in real browsers: a teacher at 1280x720 and a student on a phone (390x844), one
browser, two people (two contexts, each under the pages' own CSP, so the tests wait with
``expect``, never with ``wait_for_function``, which the CSP forbids)."""

from __future__ import annotations

import json

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import ARTIFACTS


@pytest.fixture
def people(browser, server, request):
    """A new room on the seed's story; the teacher's page and a student's phone. A test
    named ``*stale_token*`` provokes one 403 on purpose (the browser logs it)."""
    doc = httpx.post(f"{server.url}/api/rooms", json={"scenario": "seed-story"}).json()
    errors: list[str] = []
    contexts, pages = [], []
    for who, size, mobile in [("teacher", (1280, 720), False), ("student", (390, 844), True)]:
        context = browser.new_context(
            viewport={"width": size[0], "height": size[1]}, is_mobile=mobile, has_touch=mobile
        )
        page = context.new_page()
        page.on(
            "console",
            lambda m, who=who: errors.append(f"{who}: {m.text}") if m.type == "error" else None,
        )
        page.on("pageerror", lambda e, who=who: errors.append(f"{who}: {e}"))
        contexts.append(context)
        pages.append(page)
    teacher, student = pages
    teacher.goto(f"{server.url}/r/{doc['code']}?key={doc['key']}")
    student.goto(f"{server.url}/r/{doc['code']}")
    for page in pages:
        page.wait_for_selector("body[data-ready='1']")
    expect(student.locator("#room-status")).to_have_text("live")
    yield doc, teacher, student
    for context in contexts:
        context.close()
    if "stale_token" in request.node.name:
        errors = [e for e in errors if "status of 403" not in e]
    assert errors == []


def drawn(page) -> tuple[int, set[str]]:
    """The step a room page shows and the ids of the nodes its diagram draws."""
    return page.evaluate("window.rmaplabRoom.view.step"), set(
        page.locator(".panel .node").evaluate_all("els => els.map(e => e.dataset.id)")
    )


def slide(page, step: int) -> None:
    """Drag the instructor's step slider to ``step``."""
    page.locator("#slider").fill(str(step))
    page.locator("#slider").dispatch_event("change")


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def test_the_student_follows_the_teachers_steps(people):
    doc, teacher, student = people
    expect(teacher.locator(".join-code")).to_have_text(doc["code"])
    expect(teacher.locator("#following")).to_have_text("1")
    assert teacher.locator("#qr").evaluate("img => img.naturalWidth") > 0
    teacher.keyboard.press("ArrowRight")
    teacher.keyboard.press("ArrowRight")
    expect(teacher.locator("#step-title")).to_have_text("Step 2 of 12")
    expect(student.locator("#step-title")).to_have_text("Step 2 of 12")
    step, nodes = drawn(student)
    assert step == 2 and nodes == drawn(teacher)[1] and "vma:1" in nodes
    # the phone shows the whole diagram, no sideways scrolling
    assert student.evaluate("document.documentElement.scrollWidth") <= 390
    shot(student, "room-student-step-2")


def test_a_students_answer_reaches_the_teachers_tally(people):
    _, teacher, student = people
    slide(teacher, 8)
    expect(student.locator("#q-prompt")).to_contain_text("Will the merge be allowed?")
    student.get_by_role("button", name="no, it is refused").click()
    expect(student.locator("#q-status")).to_contain_text("Your answer: no, it is refused")
    bar = teacher.locator(".bar[data-choice='no, it is refused'] .bar-count")
    expect(bar).to_have_text("1")
    expect(teacher.locator(".tally-total")).to_have_text("1 answer")
    assert student.locator(".bar").count() == 0  # hidden from followers until the reveal
    teacher.keyboard.press("ArrowRight")  # reveal first
    expect(student.locator("#q-status")).to_have_text("Right: no, it is refused.")
    expect(student.locator(".bar.right .bar-count")).to_have_text("1")
    shot(teacher, "room-teacher-tally")
    teacher.keyboard.press("ArrowRight")  # then the step that shows it
    expect(student.locator("#step-title")).to_have_text("Step 9 of 12")
    expect(student.locator("#narration")).to_be_hidden()  # the phone layout


def test_a_typed_answer_is_checked(people):
    _, teacher, student = people
    slide(teacher, 5)
    expect(student.locator("#q-prompt")).to_contain_text("How many processes map frame 1")
    student.get_by_label("Your answer").fill("1")
    student.get_by_role("button", name="Answer").click()
    expect(student.locator("#q-status")).to_contain_text("Your answer: 1")
    expect(teacher.locator(".bar[data-choice='1'] .bar-count")).to_have_text("1")
    teacher.get_by_role("button", name="Reveal the tally").click()
    expect(student.locator("#q-status")).to_have_text("The answer is 2; you said 1.")


def test_a_stale_token_joins_again(people):
    doc, teacher, student = people
    slide(teacher, 8)
    expect(student.locator("#q-prompt")).to_contain_text("Will the merge be allowed?")
    student.evaluate("window.rmaplabRoom.participant = 'a-token-of-a-reset-database'")
    student.get_by_role("button", name="yes, they merge").click()
    expect(student.locator("#q-status")).to_contain_text("Your answer: yes, they merge")
    expect(teacher.locator(".bar[data-choice='yes, they merge'] .bar-count")).to_have_text("1")
    token = student.evaluate(f"localStorage.getItem('rmaplab-room-{doc['code']}')")
    assert token and token != "a-token-of-a-reset-database"


def test_explore_on_my_own_and_back_to_the_room(people):
    doc, teacher, student = people
    slide(teacher, 4)
    expect(student.locator("#step-title")).to_have_text("Step 4 of 12")
    student.get_by_role("button", name="Explore on my own").click()
    student.wait_for_url("**/?session=*")
    student.wait_for_selector("body[data-ready='1']")
    assert student.evaluate("window.rmaplab.session.step") == 4
    student.keyboard.press("ArrowRight")
    expect(student.locator("#step-title")).to_have_text("Step 5 of 12")
    assert f"room={doc['code']}" in student.url
    assert (
        httpx.get(student.url.split("/?")[0] + f"/api/rooms/{doc['code']}").json()["step"] == 4
    )  # exploring moves nobody else
    student.get_by_role("link", name="← back to the room").click()
    student.wait_for_url(f"**/r/{doc['code']}")
    student.wait_for_selector("body[data-ready='1']")
    expect(student.locator("#step-title")).to_have_text("Step 4 of 12")


def test_start_a_class_from_the_lab(lab):
    lab.open("?scenario=aim7-shape&designs=anon_vma_267,anon_vma_chain&step=11")
    lab.page.click("#export-button")
    lab.page.get_by_role("button", name="Start a class").click()
    lab.page.wait_for_selector("body[data-role='instructor'][data-ready='1']")
    expect(lab.page.locator("#step-title")).to_have_text("Step 11 of 13")
    expect(lab.page.locator(".panel h2")).to_have_text(["anon_vma_267", "anon_vma_chain"])
    expect(lab.page.locator(".q-prompt")).to_contain_text("How many vmas will the 2.6.7 walk")


def test_a_class_from_a_loaded_file_keeps_its_lesson(lab):
    lesson = {
        "name": "my-lesson",
        "title": "My lesson",
        "ops": [
            {"op": "spawn", "pid": 1},
            {"op": "mmap", "pid": 1, "addr": "0x10000", "pages": 1, "prot": "rw"},
            {"op": "write", "pid": 1, "addr": "0x10000", "value": 7},
            {"op": "fork", "pid": 1, "child": 2},
        ],
        "questions": [
            {"step": 1, "prompt": "Who spawns?", "choices": ["pid 1", "pid 2"], "answer": "pid 1"}
        ],
    }
    lab.open()
    lab.page.locator("#load-file").set_input_files(
        files=[
            {
                "name": "my-lesson.json",
                "mimeType": "application/json",
                "buffer": json.dumps(lesson).encode(),
            }
        ]
    )
    expect(lab.page.locator("#error")).to_contain_text("Loaded my-lesson.json")
    lab.page.click("#export-button")
    lab.page.get_by_role("button", name="Start a class").click()
    lab.page.wait_for_selector("body[data-role='instructor'][data-ready='1']")
    expect(lab.page.locator("#room-title")).to_have_text("My lesson")
    expect(lab.page.locator(".q-prompt")).to_have_text("Who spawns?")
    expect(lab.page.locator("#q-status")).to_have_text("Answer: pid 1")
