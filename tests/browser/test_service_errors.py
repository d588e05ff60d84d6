"""The server turning a request away (429: too many new sessions; 503: the store failed or
the request ran past its CPU budget): the page says in plain words what happened and what
to do, beside the act, and nothing changes. The responses are faked (``page.route``) with
the server's own status, headers and messages."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from .test_lab import command

TOO_MANY = (
    "too many new sessions from 127.0.0.1: 400 at once, then 120 a minute "
    "(RMAPLAB_CREATE_BURST, RMAPLAB_CREATE_PER_MINUTE); reuse your session or try "
    "again shortly"
)
STORE = "the session store (RMAPLAB_DB=/data/sessions.sqlite3) failed: disk I/O error"
BUDGET = (
    "the request needed more than 2.0 s of engine time and was stopped; the limit is "
    "RMAPLAB_MAX_REQUEST_SECONDS"
)


def refuse(status: int, detail: str, wait: str):
    """A route handler answering POSTs as the server does when it turns them away."""

    def handler(route):
        if route.request.method != "POST":
            return route.continue_()
        return route.fulfill(
            status=status,
            headers={"Retry-After": wait},
            content_type="application/json",
            body=json.dumps({"detail": detail}),
        )

    return handler


def test_a_rate_limited_new_session_says_so_and_keeps_the_view(lab):
    page = lab.page
    lab.expected_statuses = {429}
    lab.open("?scenario=s3-fork-shares&step=5")
    before = lab.view()
    # acting on a built-in scenario starts a session of one's own: refused
    page.route("**/api/sessions", refuse(429, TOO_MANY, "30"))
    command(page, "fork 1 10")
    error = page.locator("#opform .act-error")
    expect(error).to_contain_text("Too many new sessions were started from your address")
    expect(error).to_contain_text("Nothing changed here: try again in 30 s.")
    expect(error).to_contain_text("The server said: too many new sessions")
    expect(error).to_have_attribute("role", "alert")
    page.wait_for_function("!window.rmaplab.busy")
    assert lab.step() == 5 and lab.view() == before
    assert page.evaluate("window.rmaplab.session.read_only") is True
    expect(page.get_by_role("button", name="Back to the story")).to_be_hidden()
    # once the server takes it again, the same act works
    page.unroute("**/api/sessions")
    command(page, "fork 1 10")
    lab.wait_step(6)
    expect(error).to_have_count(0)


@pytest.mark.parametrize(
    ("detail", "wait", "words"),
    [
        (
            STORE,
            "5",
            "could not save your work just now: its session store failed. Nothing "
            "changed here: try again in 5 s.",
        ),
        (
            BUDGET,
            "1",
            "needed more computing time than the server gives one request, so it was "
            "stopped. Nothing changed here: try something smaller",
        ),
    ],
    ids=["store-fault", "over-budget"],
)
def test_a_503_says_what_happened_and_changes_nothing(lab, detail, wait, words):
    page = lab.page
    lab.expected_statuses = {503}
    lab.open_empty()
    command(page, "spawn 1")
    lab.wait_step(1)
    before = lab.view()
    page.route("**/api/sessions/*/ops", refuse(503, detail, wait))
    command(page, "spawn 2")
    error = page.locator("#opform .act-error")
    expect(error).to_contain_text(words)
    expect(error).to_contain_text(f"The server said: {detail[:40]}")
    page.wait_for_function("!window.rmaplab.busy")
    assert lab.step() == 1 and lab.view() == before
    assert page.evaluate("window.rmaplab.session.length") == 1
