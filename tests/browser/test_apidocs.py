"""/docs and /redoc render the API offline, under the CSP (no bypass), with no request
leaving the server's own origin."""

from __future__ import annotations

import pytest


@pytest.fixture
def strict_page(browser, server):
    """A page that enforces the CSP and may reach nothing but the server."""
    context = browser.new_context()
    page = context.new_page()
    errors: list[str] = []
    outside: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))

    def only_here(route):
        if route.request.url.startswith(server.url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_here)
    yield page, errors, outside
    context.close()


@pytest.mark.parametrize(
    ("path", "ready"),
    [
        ("/docs", ".opblock-summary-path"),
        ("/redoc", "[data-section-id^='operation/']"),
    ],
)
def test_api_docs_render_offline_under_the_csp(strict_page, server, path, ready):
    page, errors, outside = strict_page
    response = page.goto(server.url + path)
    assert "script-src 'self'" in response.headers["content-security-policy"]
    page.wait_for_selector(ready, timeout=20000)
    assert "/api/sessions" in page.content()
    assert outside == []
    assert [e for e in errors if "Content Security Policy" in e or "Refused" in e] == []
