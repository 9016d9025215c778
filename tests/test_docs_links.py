"""Every relative link in the README, CHANGELOG and docs/ leads somewhere: the file exists and,
for a Markdown file, so does the section its #anchor names (GitHub's anchor rules)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
DOCS = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]


def anchors(markdown: Path) -> set[str]:
    headings = (line.lstrip("#").strip() for line in markdown.read_text().splitlines() if line.startswith("#"))
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(doc):
    broken = []
    for link in re.findall(r"\]\(([^)\s]+)\)", doc.read_text()):
        if re.match(r"[a-z]+:", link):
            continue  # https:, mailto:
        path, _, anchor = link.partition("#")
        target = (doc.parent / path) if path else doc
        if not target.exists():
            broken.append(link)
        elif anchor and target.suffix == ".md" and anchor not in anchors(target):
            broken.append(link)
    assert broken == []


def test_install_md_walks_each_install_path_for_merchant_and_operator():
    text = (ROOT / "docs" / "install.md").read_text()
    sections = re.split(r"^## ", text, flags=re.MULTILINE)
    paths = {s.split("\n", 1)[0]: s for s in sections if re.match(r"[1-4]\. ", s)}
    assert [title[:2] for title in paths] == ["1.", "2.", "3.", "4."], list(paths)
    for title, body in paths.items():
        for who in ("What the merchant", "What the operator"):
            assert f"**{who}" in body, (title, who)
    assert "client credentials" in "".join(paths).lower() and "legacy" in "".join(paths).lower()
    assert "token exchange" in "".join(paths).lower() and "oauth" in "".join(paths).lower()
