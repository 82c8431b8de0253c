"""Self-check of the documentation: the README stays short, every relative link in README.md and
docs/*.md leads somewhere (the file, and the heading when the link names one), and the
architecture picture is well-formed SVG; docs/architecture.md's module map names every module of
the core and the adapters and nothing else, every docs section a code comment points at exists,
and no Rust comment points at an issue instead;
docs/configuration.md documents every parameter of every template file (template.yaml,
service/*.yaml) and every environment variable the code reads (`gantry_core::config::Var`), each
with its real default.

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


# "issue 14", "Issue #12": a pointer into the tracker, which goes stale once the issue closes.
ISSUE_REF = re.compile(r"\bissues? #?\d+", re.I)


def issue_references(path: str, text: str) -> list[str]:
    """The `issue N` references in the comments of one Rust file, as `file:line: comment`."""
    problems = []
    for n, line in enumerate(text.splitlines(), 1):
        if "//" in line and ISSUE_REF.search(line.split("//", 1)[1]):
            problems.append(f"{path}:{n}: {line.strip()}")
    return problems


def issue_references_in_code() -> list[str]:
    """Every `issue N` a Rust comment names, in every crate of the workspace."""
    problems = []
    for top in ("shared", "functions", "bench", "tests"):
        for path in glob.glob(os.path.join(ROOT, top, "**", "*.rs"), recursive=True):
            with open(path, encoding="utf-8") as f:
                problems += issue_references(os.path.relpath(path, ROOT), f.read())
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


class StaleCommentsTest(unittest.TestCase):
    """Comments point at the docs sections that hold the reasons and figures, never at an issue:
    an issue closes, and its number then says nothing to a reader."""

    def test_no_rust_comment_points_at_an_issue(self) -> None:
        problems = issue_references_in_code()
        self.assertEqual(problems, [], "comments naming an issue (link the docs section instead):\n"
                         + "\n".join(problems))

    def test_an_issue_reference_in_a_comment_is_reported(self) -> None:
        text = ('/// Retried (issue 14).\nlet issue_1 = 1; // fine\n// Issue #12: a late event\n'
                'let s = "issue 3"; // a string, not a comment\n')
        self.assertEqual(issue_references("a.rs", text), ["a.rs:1: /// Retried (issue 14).",
                                                          "a.rs:3: // Issue #12: a late event"])


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


# -- configuration reference: template parameters and environment variables ----------------------

CONFIGURATION = os.path.join(ROOT, "docs", "configuration.md")
PARAMETERS_SECTION = "Template parameters"
VARIABLES_SECTION = "Environment variables"
CONFIG_SOURCE = os.path.join(ROOT, "shared", "core", "src", "config", "mod.rs")
DEFAULTS_SOURCE = os.path.join(ROOT, "shared", "core", "src", "config", "defaults.rs")
CODE = re.compile(r"`([^`]*)`")
REQUIRED = "(required)"


def template_files() -> list[str]:
    """Every SAM template of the project: the hub (template.yaml) and the service templates."""
    return [p for p in [os.path.join(ROOT, "template.yaml"), *sorted(glob.glob(os.path.join(ROOT, "service", "*.yaml")))]
            if os.path.isfile(p)]


def template_parameters(paths: list[str]) -> dict[str, list[tuple[str, str]]]:
    """Each parameter's default as the docs must write it (`(required)` when it has none), for
    each template that declares it: {name: [(template, default)]}."""
    import yaml  # the venv's (scripts/bootstrap.sh)

    class Loader(yaml.SafeLoader):
        pass

    # CloudFormation's short forms (!Sub, !Ref…): their values do not matter here.
    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    out: dict[str, list[tuple[str, str]]] = {}
    for path in paths:
        with open(path, encoding="utf-8") as f:
            template = yaml.load(f, Loader=Loader) or {}
        for name, p in (template.get("Parameters") or {}).items():
            if "Default" not in p:
                default = REQUIRED
            elif isinstance(p["Default"], bool):
                default = "true" if p["Default"] else "false"
            else:
                default = str(p["Default"])
            out.setdefault(name, []).append((os.path.relpath(path, ROOT), default))
    return out


def section_rows(text: str, heading: str) -> list[list[str]]:
    """The cells of each row of the tables under `## heading` (up to the next `## `)."""
    rows, inside = [], False
    for _, line in prose_lines(text):
        m = HEADING.match(line)
        if m and len(m.group(1)) == 2:
            inside = m.group(2) == heading
            continue
        if inside and line.startswith("|"):
            cells = [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
            if cells and not set(cells[0]) <= set("-: "):
                rows.append(cells)
    return rows[1:] if rows else rows  # the header row


def documented_defaults(text: str) -> dict[str, str]:
    """{parameter: the default its row gives}: the first cell names one or more parameters, the
    second is `(required)` or the default in backticks (`""` for an empty one)."""
    out = {}
    for cells in section_rows(text, PARAMETERS_SECTION):
        if len(cells) < 2:
            continue
        given = cells[1].strip()
        code = CODE.search(given)
        default = REQUIRED if given == REQUIRED else (code.group(1) if code else given)
        for name in CODE.findall(cells[0]):
            out[name] = "" if default == '""' else default
    return out


def parameter_problems(parameters: dict[str, list[tuple[str, str]]], documented: dict[str, str]) -> list[str]:
    problems = []
    for name, declared in sorted(parameters.items()):
        for template, default in declared:
            if name not in documented:
                problems.append(f"{name} ({template}): not in docs/configuration.md#{slug(PARAMETERS_SECTION)}")
            elif documented[name] != default:
                problems.append(f"{name} ({template}): documented default {documented[name]!r}, "
                                f"the template's is {default!r}")
    problems += [f"{name}: documented, but no template declares it" for name in sorted(set(documented) - set(parameters))]
    return problems


def code_variables(source: str) -> list[str]:
    """The names `Var::name` gives the variables the code reads."""
    body = source[source.index("impl Var {"):]
    body = body[body.index("pub const fn name(self)"):]
    body = body[:body.index("\n    }\n")]
    return re.findall(r'Var::\w+\s*=>\s*"([A-Z0-9_]+)"', body)


def code_defaults(source: str, config: str) -> dict[str, str]:
    """{variable's name: its default as the docs write it}, from `config::defaults`."""
    names = dict(re.findall(r'Var::(\w+)\s*=>\s*"([A-Z0-9_]+)"', config))
    return {names[v]: text for v, text in re.findall(r'\(Var::(\w+),\s*"([^"]*)"\)', source)}


def variable_problems(variables: list[str], defaults: dict[str, str], text: str) -> list[str]:
    rows = {name: " ".join(cells[1:]) for cells in section_rows(text, VARIABLES_SECTION)
            for name in CODE.findall(cells[0]) if cells}
    problems = []
    for name in variables:
        if name not in rows:
            problems.append(f"{name}: not in docs/configuration.md#{slug(VARIABLES_SECTION)}")
        elif name in defaults and f"default {defaults[name]}" not in rows[name].replace("`", ""):
            problems.append(f"{name}: its row does not say 'default {defaults[name]}' (config::defaults)")
    return problems


def read(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


class ConfigurationReferenceTest(unittest.TestCase):
    def test_every_template_parameter_is_documented_with_its_default(self) -> None:
        self.assertTrue(template_files())
        problems = parameter_problems(template_parameters(template_files()), documented_defaults(read(CONFIGURATION)))
        self.assertEqual(problems, [], "\n".join(problems))

    def test_every_variable_the_code_reads_is_documented_with_its_default(self) -> None:
        config = read(CONFIG_SOURCE)
        variables = code_variables(config)
        self.assertIn("GANTRY_ORPHAN_AFTER_SECONDS", variables)
        problems = variable_problems(variables, code_defaults(read(DEFAULTS_SOURCE), config), read(CONFIGURATION))
        self.assertEqual(problems, [], "\n".join(problems))

    def test_a_missing_parameter_or_variable_or_a_wrong_default_is_reported(self) -> None:
        page = ("## Template parameters\n\n| parameter | default | meaning |\n| --- | --- | --- |\n"
                "| `Interval` | `15` | x |\n| `DevCluster`, `QaCluster` | (required) | x |\n"
                "| `Gone` | `\"\"` | x |\n\n"
                "## Environment variables\n\n| variable | read by | value |\n| --- | --- | --- |\n"
                "| `GANTRY_WAIT` | all | default `120` |\n| `GANTRY_SLOW` | all | default 5 |\n")
        parameters = {"Interval": [("t.yaml", "30")], "DevCluster": [("t.yaml", REQUIRED)],
                      "QaCluster": [("t.yaml", REQUIRED)], "Missing": [("t.yaml", "")]}
        self.assertEqual(parameter_problems(parameters, documented_defaults(page)), [
            "Interval (t.yaml): documented default '15', the template's is '30'",
            "Missing (t.yaml): not in docs/configuration.md#template-parameters",
            "Gone: documented, but no template declares it"])
        self.assertEqual(variable_problems(["GANTRY_WAIT", "GANTRY_SLOW", "GANTRY_NEW"],
                                           {"GANTRY_WAIT": "120", "GANTRY_SLOW": "6"}, page), [
            "GANTRY_SLOW: its row does not say 'default 6' (config::defaults)",
            "GANTRY_NEW: not in docs/configuration.md#environment-variables"])


if __name__ == "__main__":
    sys.exit(unittest.main(verbosity=2))
