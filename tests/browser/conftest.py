"""Browser tests: Playwright driving Debian's chromium against a real server.

Never `playwright install`: the browser is /usr/bin/chromium (apt package `chromium`,
installed by scripts/test.sh when missing). Without it the tests skip loudly, except in
CI, where a missing browser is a failure.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.api.server import Server

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def pytest_collection_modifyitems(config, items):
    if Path(CHROMIUM).exists():
        return
    if os.environ.get("CI"):
        raise pytest.UsageError(
            f"{CHROMIUM} is missing: CI must run the browser tests "
            "(scripts/test.sh installs Debian's chromium as root)"
        )
    skip = pytest.mark.skip(
        reason=f"BROWSER TESTS SKIPPED: {CHROMIUM} is missing (apt-get install chromium)"
    )
    for item in items:
        if "tests/browser" in str(item.fspath):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-quic",
        ],
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    # bypass_csp lets the tests evaluate expressions in the page; the page's own behaviour
    # under its CSP is tested without it (test_lab.py::test_page_runs_under_its_csp).
    return {
        **browser_context_args,
        "viewport": {"width": 1600, "height": 1000},
        "accept_downloads": True,
        "bypass_csp": True,
    }


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("browser") / "sessions.sqlite3").start()
    yield s
    s.stop()


@pytest.fixture
def lab(page, server):
    """A page of the laboratory that records console errors; opened by ``lab.open``."""
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))

    class Lab:
        def __init__(self):
            self.page = page
            self.errors = errors
            self.url = server.url
            #: HTTP statuses this test provokes on purpose (the browser logs them)
            self.expected_statuses: set[int] = set()

        def open(self, query: str = "") -> None:
            page.goto(f"{server.url}/{query}")
            page.wait_for_selector("body[data-ready='1']")

        def open_empty(self) -> None:
            """The empty machine, chosen in the picker as a student would."""
            self.open("?scenario=s1-first-touch")
            page.select_option("#scenario", "")
            page.wait_for_function("window.rmaplab.session.length === 0 && !window.rmaplab.busy")

        def step(self) -> int:
            return page.evaluate("window.rmaplab.session.step")

        def view(self) -> dict:
            return page.evaluate("window.rmaplab.view")

        def wait_step(self, n: int) -> None:
            page.wait_for_function(
                f"window.rmaplab.session && window.rmaplab.session.step === {n}"
                " && !window.rmaplab.busy"
            )

        def export(self, kind: str, path: Path) -> bytes:
            """Export → ``kind`` (a ``data-export`` of the menu), saved at ``path``."""
            page.click("#export-button")
            with page.expect_download() as info:
                page.click(f"[data-export='{kind}']")
            info.value.save_as(path)
            return path.read_bytes()

        def shot(self, name: str) -> Path:
            ARTIFACTS.mkdir(exist_ok=True)
            path = ARTIFACTS / f"{name}.png"
            page.screenshot(path=str(path))
            return path

    lab = Lab()
    yield lab
    allowed = tuple(
        f"the server responded with a status of {code}" for code in lab.expected_statuses
    )
    unexpected = [e for e in errors if not (allowed and any(a in e for a in allowed))]
    assert unexpected == [], unexpected
