"""README.md and docs/*.md: every relative link and image resolves, #anchors included.

Anchors follow GitHub's rule: a heading's text in lower case, without
punctuation, spaces as hyphens, and -1, -2, ... on repeats. Links inside code
(fenced blocks and `spans`) are not links and are not checked.
"""

import collections
import glob
import os
import re
from urllib.parse import unquote

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGES = ["README.md"] + sorted(os.path.relpath(path, REPO)
                               for path in glob.glob(os.path.join(REPO, "docs", "*.md")))
LINK = re.compile(r"!?\[[^\]]*\]\(([^()\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.M | re.S)
CODE_SPAN = re.compile(r"`[^`\n]*`")
README_LINES = 250


def unfenced(path):
    """The text of a markdown file without its fenced code blocks."""
    with open(path, encoding="utf-8") as file:
        return FENCE.sub("", file.read())


def links(path):
    """The targets of a markdown file's links and images, outside code."""
    return LINK.findall(CODE_SPAN.sub("", unfenced(path)))


def anchors(path):
    """The #anchors of a markdown file's headings, as GitHub makes them."""
    seen, found = collections.Counter(), set()
    for heading in re.findall(r"^#{1,6} +(.+?) *$", unfenced(path), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.replace("`", "").lower()).replace(" ", "-")
        found.add(slug if not seen[slug] else f"{slug}-{seen[slug]}")
        seen[slug] += 1
    return found


def broken_links(source):
    """The relative links of a markdown file whose file or #anchor does not exist."""
    broken = []
    for target in links(source):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
            continue
        path, _, anchor = unquote(target).partition("#")
        resolved = os.path.normpath(os.path.join(os.path.dirname(source), path)) if path else source
        if not os.path.exists(resolved):
            broken.append(f"{target}: no such file")
        elif anchor and (not resolved.endswith(".md") or anchor not in anchors(resolved)):
            broken.append(f"{target}: no such heading")
    return broken


@pytest.mark.parametrize("page", PAGES)
def test_every_relative_link_resolves(page):
    assert broken_links(os.path.join(REPO, page)) == []


def test_the_readme_is_a_front_page_that_links_every_docs_page():
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as file:
        readme = file.read()
    assert readme.count("\n") <= README_LINES
    linked = {os.path.normpath(target.partition("#")[0])
              for target in links(os.path.join(REPO, "README.md"))}
    assert {page for page in PAGES if page.startswith("docs")} <= linked


def test_the_checker_finds_a_missing_file_and_a_missing_anchor(tmp_path):
    (tmp_path / "other.md").write_text("# Other page\n\n## A `code` heading: twice\n\n"
                                       "## A `code` heading: twice\n")
    (tmp_path / "page.md").write_text(
        "[fine](other.md#a-code-heading-twice-1) [gone](nowhere.md) [bad](other.md#missing)\n"
        "`[in code](nowhere.md)`\n```\n[in a block](nowhere.md)\n```\n")
    assert broken_links(str(tmp_path / "page.md")) == ["nowhere.md: no such file",
                                                       "other.md#missing: no such heading"]
