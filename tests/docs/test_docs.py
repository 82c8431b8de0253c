"""Self-check of the documentation: the README stays short, every relative link in README.md and
docs/*.md leads somewhere (the file, and the heading when the link names one), and the
architecture picture is well-formed SVG; docs/architecture.md's module map names every module of
the core and the adapters and nothing else, and every docs section a code comment points at exists.

    python tests/docs/test_docs.py
"""

from __future__ import annotations

import glob
import os
import re
import sys
import unittest
import xml.etree.ElementTree as ET
from urllib.parse import unquote

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
README_MAX_LINES = 250

FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
# [text](target) and ![alt](target); the target stops at whitespace or the closing parenthesis.
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HTML_LINK = re.compile(r"""<(?:a|img)\s[^>]*?(?:href|src)\s*=\s*["']([^"']+)["']""", re.I)
INLINE_CODE = re.compile(r"`+[^`]*`+")


def prose_lines(text: str) -> list[tuple[int, str]]:
    """The lines outside fenced code blocks, numbered from 1."""
    out, fenced = [], False
    for n, line in enumerate(text.split("\n"), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            out.append((n, line))
    return out


def slug(heading: str) -> str:
    """GitHub's anchor for a heading's text (github-slugger): markup dropped, lower case,
    punctuation removed (letters, digits, `_`, `-` and spaces kept), spaces become hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML
    text = text.lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: str) -> set[str]:
    """Every anchor GitHub makes for a Markdown file's headings (repeats get -1, -2, …)."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    seen: dict[str, int] = {}
    out = set()
    for _, line in prose_lines(text):
        m = HEADING.match(line)
        if not m:
            continue
        base = slug(m.group(2))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def links(path: str) -> list[tuple[int, str]]:
    """The relative links of a Markdown file (outside code), with their line numbers."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    out = []
    for n, line in prose_lines(text):
        line = INLINE_CODE.sub("", line)
        for target in LINK.findall(line) + HTML_LINK.findall(line):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # http:, https:, mailto:, …
                continue
            out.append((n, target))
    return out


def broken_links(path: str) -> list[str]:
    """What is wrong with each relative link of one Markdown file, as `file:line: message`."""
    problems = []
    rel = os.path.relpath(path, ROOT)
    for n, target in links(path):
        file_part, _, anchor = target.partition("#")
        dest = os.path.normpath(os.path.join(os.path.dirname(path), unquote(file_part))) if file_part else path
        where = f"{rel}:{n}: {target}"
        if not dest.startswith(ROOT + os.sep) and dest != ROOT:
            problems.append(f"{where}: leads outside the repository")
        elif not os.path.exists(dest):
            problems.append(f"{where}: no such file")
        elif anchor:
            if not dest.endswith(".md"):
                problems.append(f"{where}: an anchor into a file that is not Markdown")
            elif unquote(anchor) not in anchors(dest):
                problems.append(f"{where}: no heading with that anchor in {os.path.relpath(dest, ROOT)}")
    return problems


MODULE_MAP_CRATES = {"shared/core/src": "gantry_core", "shared/adapters/src": "gantry_adapters"}
CODE_SPAN = re.compile(r"`([^`]+)`")


def modules_on_disk(src: str) -> set[str]:
    """Every module of a crate as the module map names it: its path under `src`, a folder module
    (`mod.rs`) with a trailing `/`; the crate root and unit-test bodies (`tests.rs`) left out."""
    found = set()
    for folder, _dirs, files in os.walk(os.path.join(ROOT, src)):
        for name in files:
            if not name.endswith(".rs"):
                continue
            rel = os.path.relpath(os.path.join(folder, name), os.path.join(ROOT, src))[:-3]
            parts = rel.split(os.sep)
            if parts == ["lib"] or parts[-1] == "tests":
                continue
            found.add("/".join(parts[:-1]) + "/" if parts[-1] == "mod" else "/".join(parts))
    return found


def modules_in_map(text: str) -> dict[str, set[str]]:
    """The modules docs/architecture.md's module map names, per crate: the code spans in the
    first cell of each table row, under the bold heading that names the crate's `src`."""
    section = text.split("## Module map", 1)[1].split("\n## ", 1)[0]
    named: dict[str, set[str]] = {src: set() for src in MODULE_MAP_CRATES}
    crate = None
    for line in section.splitlines():
        heading = re.match(r"\*\*`([^`]+)`", line)
        if heading:
            crate = heading.group(1) if heading.group(1) in named else None
            continue
        if crate and line.startswith("| ") and not line.startswith("| ---") and not line.startswith("| module |"):
            first = line.split("|")[1]
            named[crate].update(CODE_SPAN.findall(first))
    return named


def module_map_drift(text: str) -> list[str]:
    problems = []
    named = modules_in_map(text)
    for src in MODULE_MAP_CRATES:
        disk = modules_on_disk(src)
        problems += [f"{src}/{m}: on disk, missing from the module map" for m in sorted(disk - named[src])]
        problems += [f"{src}/{m}: in the module map, not on disk" for m in sorted(named[src] - disk)]
    return problems


# A docs page and heading a code comment points at: docs/traffic-shifting.md#orphaned-deployments-the-sweep
DOCS_REF = re.compile(r"\bdocs/([a-z0-9_-]+\.md)(?:#([a-z0-9_-]+))?")


def broken_docs_references_in_code() -> list[str]:
    """Every `docs/<page>.md#<heading>` a Rust comment names leads to a page and heading that exist."""
    problems = []
    for top in ("shared", "functions", "bench", "tests/src"):
        for path in glob.glob(os.path.join(ROOT, top, "**", "*.rs"), recursive=True):
            with open(path, encoding="utf-8") as f:
                for n, line in enumerate(f, 1):
                    if "//" not in line:
                        continue
                    for page, anchor in DOCS_REF.findall(line.split("//", 1)[1]):
                        dest = os.path.join(ROOT, "docs", page)
                        where = f"{os.path.relpath(path, ROOT)}:{n}: docs/{page}"
                        if not os.path.exists(dest):
                            problems.append(f"{where}: no such page")
                        elif anchor and anchor not in anchors(dest):
                            problems.append(f"{where}#{anchor}: no such heading")
    return problems


def documentation() -> list[str]:
    return [os.path.join(ROOT, "README.md")] + sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))


class ReadmeTest(unittest.TestCase):
    def test_the_readme_stays_short_enough_to_read_through(self) -> None:
        with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
            count = len(f.read().splitlines())
        self.assertLessEqual(
            count, README_MAX_LINES, f"README.md is {count} lines; move detail to a page under docs/"
        )

    def test_the_readme_shows_the_architecture_picture(self) -> None:
        targets = [t for _, t in links(os.path.join(ROOT, "README.md"))]
        self.assertIn("docs/architecture.svg", targets)


class LinksTest(unittest.TestCase):
    def test_every_relative_link_leads_to_a_file_and_heading_that_exist(self) -> None:
        problems = [p for path in documentation() for p in broken_links(path)]
        self.assertEqual(problems, [], "broken links:\n" + "\n".join(problems))

    def test_every_docs_page_is_listed_in_the_docs_index(self) -> None:
        listed = {os.path.normpath(os.path.join(ROOT, "docs", t.partition("#")[0]))
                  for _, t in links(os.path.join(ROOT, "docs", "README.md"))}
        missing = [os.path.relpath(p, ROOT) for p in documentation()[1:]
                   if p not in listed and os.path.basename(p) != "README.md"]
        self.assertEqual(missing, [], "pages missing from docs/README.md")


class ModuleMapTest(unittest.TestCase):
    """docs/architecture.md's module map names every module of the core and the adapters, and
    nothing else; the code's pointers into the docs lead somewhere."""

    def test_the_module_map_names_every_module_on_disk_and_nothing_else(self) -> None:
        with open(os.path.join(ROOT, "docs", "architecture.md"), encoding="utf-8") as f:
            problems = module_map_drift(f.read())
        self.assertEqual(problems, [], "module map drift:\n" + "\n".join(problems))

    def test_a_missing_or_extra_module_is_reported(self) -> None:
        with open(os.path.join(ROOT, "docs", "architecture.md"), encoding="utf-8") as f:
            text = f.read()
        text = text.replace("| `store` |", "| `storage` |", 1)
        problems = module_map_drift(text)
        self.assertIn("shared/core/src/store: on disk, missing from the module map", problems)
        self.assertIn("shared/core/src/storage: in the module map, not on disk", problems)

    def test_every_docs_section_a_code_comment_names_exists(self) -> None:
        problems = broken_docs_references_in_code()
        self.assertEqual(problems, [], "comments pointing nowhere:\n" + "\n".join(problems))


class CheckerTest(unittest.TestCase):
    """The checker itself: a broken link or a missing heading must be caught."""

    def test_slugs_follow_githubs_rules(self) -> None:
        self.assertEqual(slug("Routes (`GANTRY_ROUTES`)"), "routes-gantry_routes")
        self.assertEqual(slug("Notifier: one live Slack message per execution, and SNS"),
                         "notifier-one-live-slack-message-per-execution-and-sns")
        self.assertEqual(slug("1. Create the app from a manifest"), "1-create-the-app-from-a-manifest")
        self.assertEqual(slug("Compared with CodeDeploy's ECS blue/green"), "compared-with-codedeploys-ecs-bluegreen")
        self.assertEqual(slug("Delivery: at least once, any order, no duplicates"),
                         "delivery-at-least-once-any-order-no-duplicates")

    def test_a_link_to_a_missing_file_or_heading_is_reported(self) -> None:
        import tempfile

        with tempfile.TemporaryDirectory(dir=ROOT, prefix=".docs-check-") as tmp:
            page = os.path.join(tmp, "page.md")
            with open(page, "w", encoding="utf-8") as f:
                f.write("# Page\n\n## A heading\n\n## A heading\n\n"
                        "[ok](#a-heading) [ok too](#a-heading-1) [gone](#no-such-heading)\n"
                        "[file](missing.md) `[code](ignored.md)` [web](https://example.com/x.md)\n"
                        "```\n[fenced](ignored-too.md)\n```\n")
            problems = broken_links(page)
        self.assertEqual(len(problems), 2, problems)
        self.assertIn("#no-such-heading: no heading", problems[0])
        self.assertIn("missing.md: no such file", problems[1])


class ArchitecturePictureTest(unittest.TestCase):
    def test_the_architecture_picture_is_well_formed_svg(self) -> None:
        root = ET.parse(os.path.join(ROOT, "docs", "architecture.svg")).getroot()
        self.assertEqual(root.tag, "{http://www.w3.org/2000/svg}svg")
        self.assertIn("viewBox", root.attrib)
        texts = " ".join(t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text"))
        for box in ("webhook", "CodePipeline", "EventBridge", "notifier", "approval", "traffic-shifter",
                    "Slack", "SNS", "ECS"):
            self.assertIn(box, texts)


if __name__ == "__main__":
    sys.exit(unittest.main(verbosity=2))
