"""Every relative link in README.md, docs/*.md and configs/gitops/README.md reaches a file that
exists and, when it names an anchor (`file.md#heading`, `#heading`), a heading of that file.

Anchors are made as GitHub makes them: the heading's text lower-cased, every character that is not a
letter, mark, digit, connector (`_`), space or `-` dropped, spaces turned into `-`; a repeated
heading gets `-1`, `-2` … Headings and links inside fenced code blocks are ignored.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [
    ROOT / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
    ROOT / "configs" / "gitops" / "README.md",
]

_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_LINK = re.compile(r"(?<!!)\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_HTML_ID = re.compile(r"""<a\s+(?:name|id)=["']([^"']+)["']""")
_INLINE_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")


def _outside_fences(text: str) -> list[str]:
    lines: list[str] = []
    fenced = False
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


def _slug(heading: str) -> str:
    text = _INLINE_LINK.sub(r"\1", heading).lower()
    kept = "".join(
        ch
        for ch in text
        if ch in " -" or unicodedata.category(ch)[0] in "LMN" or unicodedata.category(ch) == "Pc"
    )
    return kept.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """The anchors GitHub gives the headings (and `<a id>` tags) of one Markdown file."""
    found: set[str] = set()
    seen: dict[str, int] = {}
    for line in _outside_fences(path.read_text(encoding="utf-8")):
        found.update(_HTML_ID.findall(line))
        match = _HEADING.match(line)
        if match is None:
            continue
        base = _slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def broken_links(path: Path) -> list[str]:
    """Each relative link of `path` that reaches no file, or no heading of the file it names."""
    problems: list[str] = []
    for number, line in enumerate(_outside_fences(path.read_text(encoding="utf-8")), 1):
        for target in _LINK.findall(re.sub(r"`[^`]*`", "", line)):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto: …
                continue
            file_part, _, anchor = target.partition("#")
            linked = path if not file_part else (path.parent / file_part).resolve()
            if not linked.exists():
                problems.append(f"{path.name} (line ~{number}): {target}: no such file")
            elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
                problems.append(f"{path.name} (line ~{number}): {target}: no such heading")
    return problems


def test_the_slug_is_githubs() -> None:
    assert _slug("The HTTP edge") == "the-http-edge"
    assert _slug("`localrouter stats`") == "localrouter-stats"
    assert _slug("Metrics in memory (`runtime/metrics.py`)") == "metrics-in-memory-runtimemetricspy"
    assert _slug("LR1xx — YAML") == "lr1xx--yaml"
    assert _slug("state_dir, keys & [links](x.md)") == "state_dir-keys--links"


def test_a_broken_link_is_found(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text(
        "# Top\n\n## Top\n\n[ok](#top-1) [ok](b.md#there) [bad](#nowhere) [bad](c.md)\n"
        "```\n[in code](#ignored)\n```\n[bad](b.md#gone) [web](https://example.com/#x)\n",
        encoding="utf-8",
    )
    (tmp_path / "b.md").write_text("## There\n", encoding="utf-8")
    found = broken_links(tmp_path / "a.md")
    assert [p.split(": ", 1)[1] for p in found] == [
        "#nowhere: no such heading",
        "c.md: no such file",
        "b.md#gone: no such heading",
    ]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_relative_link_and_anchor_resolves(doc: Path) -> None:
    assert broken_links(doc) == []
