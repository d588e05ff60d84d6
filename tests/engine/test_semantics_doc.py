"""docs/semantics.md is the reference the code cites: every citation in app/ must resolve,
and no comment may cite the codes of a document the repository does not hold."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "semantics.md"
SOURCES = sorted(
    p for p in (ROOT / "app").rglob("*") if p.suffix in (".py", ".js", ".html", ".css")
) + sorted((ROOT / "templates").rglob("*.html"))
CITE = re.compile(r"semantics\.md#([A-Za-z0-9_-]+)")
#: J-3, §4.1, (E12): the ids of the old behavioural reference, which is not in the repo
FOREIGN = re.compile(r"\bJ-\d+\b|§\s?\d|\(E\d{1,2}\)|\bE\d{1,2}[,)]|\bE-pinned\b")


def anchors(text):
    return set(re.findall(r'<a id="([^"]+)"></a>', text))


def test_the_reference_exists_and_has_anchors():
    have = anchors(DOC.read_text(encoding="utf-8"))
    assert {
        "eras",
        "sizes",
        "invariants",
        "mremap-adoption",
        "pte-chain-swap-cache",
        "avc-2634",
        "rfc2-page-table-walk",
    } <= have


def test_links_inside_the_reference_resolve():
    text = DOC.read_text(encoding="utf-8")
    have = anchors(text)
    assert sorted(set(re.findall(r"\]\(#([A-Za-z0-9_-]+)\)", text)) - have) == []


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_citation_in_app_resolves(path):
    have = anchors(DOC.read_text(encoding="utf-8"))
    text = path.read_text(encoding="utf-8")
    missing = [
        (text.count("\n", 0, m.start()) + 1, m.group(1))
        for m in CITE.finditer(text)
        if m.group(1) not in have
    ]
    assert missing == []


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_comment_cites_the_old_reference(path):
    found = [
        (n, line.strip())
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if FOREIGN.search(line)
    ]
    assert found == []


def test_a_missing_anchor_is_caught(tmp_path):
    have = anchors(DOC.read_text(encoding="utf-8"))
    assert "no-such-rule" not in have
    assert [
        m.group(1)
        for m in CITE.finditer("see docs/semantics.md#no-such-rule")
        if m.group(1) not in have
    ] == ["no-such-rule"]


@pytest.mark.parametrize("doc", ["designs.md", "state.md", "scenarios.md", "teaching.md"])
def test_docs_links_into_the_reference_resolve(doc):
    have = anchors(DOC.read_text(encoding="utf-8"))
    text = (ROOT / "docs" / doc).read_text(encoding="utf-8")
    assert sorted({a for a in CITE.findall(text) if a not in have}) == []
