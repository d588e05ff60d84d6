"""Predict first at home with a built-in lesson: the answer is entered and checked."""

from __future__ import annotations

from playwright.sync_api import expect


def test_predict_first_checks_the_lessons_answers(lab):
    lab.open("?scenario=aim7-shape&designs=anon_vma_267&step=11&predict=1")
    page = lab.page
    expect(page.locator("#scenario-description")).to_be_hidden()  # it tells the story
    page.keyboard.press("ArrowRight")
    expect(page.locator("#step-title")).to_have_text("Predict step 12")
    questions = page.locator(".lesson-question")
    expect(questions).to_have_count(2)  # 2.6.7's walk, then anon_vma_chain's
    first = questions.nth(0)
    expect(first).to_contain_text("How many vmas will the 2.6.7 walk")
    first.get_by_label("Your answer").fill("5")
    first.get_by_role("button", name="Check").click()
    expect(first).to_contain_text("Not quite: the answer is 3.")
    first.get_by_label("Your answer").fill(" 3 ")
    first.get_by_role("button", name="Check").click()
    expect(first).to_contain_text("Right: 3.")
    assert lab.step() == 11  # checking reveals nothing of the step itself
    page.locator("#reveal").click()
    lab.wait_step(12)
    expect(page.locator("#narration")).to_contain_text("walk")
    # a step the lesson does not ask about keeps the generic question
    lab.open("?scenario=aim7-shape&step=8&predict=1")
    page.keyboard.press("ArrowRight")
    expect(page.locator(".predict-question")).to_contain_text("Does this write fault?")
    expect(page.locator(".lesson-question")).to_have_count(0)
    page.locator("#predict").uncheck()
    page.locator("#scenario-title").click()  # the description folds once a story has begun
    expect(page.locator("#scenario-description")).to_be_visible()
