"""The architecture, held by a test (docs/architecture.md): the arrows point inward, and nothing imports in a
circle.

1. The pure core (`shared/core`, crate gantry-core) depends, directly or through any crate it
   pulls in, on no AWS SDK, HTTP client or Lambda runtime. `cargo tree` is the truth: a new
   dependency that drags in hyper or an SDK fails here, however it arrived.
2. No two modules of the core or the adapters import each other in a cycle. A module may use
   its ancestors (a feature's shared vocabulary in its `mod.rs`) and its descendants; between
   any other two, the edge is drawn between the two siblings under their lowest common ancestor
   (`traffic::deployment` using `traffic::phase` is an edge deployment → phase inside
   `traffic`; `ingest::flow` using `store` is ingest → store at the crate root), and those
   edges must form no cycle at any level.
3. No two public types of the core and the adapters share a name, so a name found in a log, a
   doc or a review leads to one place.

    python tests/architecture/check_architecture.py            # checks the repository
    python tests/architecture/check_architecture.py --self-test # and that each check can fail
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from collections import defaultdict

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CRATES = {"gantry_core": "shared/core/src", "gantry_adapters": "shared/adapters/src"}
FORBIDDEN = re.compile(
    r"^(aws-sdk-.*|aws-config|aws-smithy-.*|aws-runtime.*|aws-sigv4|aws-credential-types|"
    r"reqwest|hyper.*|h2|rustls.*|lambda_runtime.*|lambda_http)$"
)


def core_dependencies() -> set[str]:
    """Every crate gantry-core builds with (normal dependencies, transitively)."""
    out = subprocess.run(
        ["cargo", "tree", "-p", "gantry-core", "-e", "normal", "--prefix", "none", "--offline"],
        cwd=ROOT, capture_output=True, text=True,
    )
    if out.returncode != 0:  # --offline fails when the lock file has news: ask the registry
        out = subprocess.run(
            ["cargo", "tree", "-p", "gantry-core", "-e", "normal", "--prefix", "none"],
            cwd=ROOT, capture_output=True, text=True, check=True,
        )
    return {line.split()[0] for line in out.stdout.splitlines() if line.strip()}


def forbidden_dependencies(crates: set[str]) -> list[str]:
    return sorted(c for c in crates if FORBIDDEN.match(c))


TEST_ONLY = ("tests", "testing")


def module_files(src: str) -> dict[tuple[str, ...], str]:
    """Module path → file, for every .rs file under `src`."""
    modules: dict[tuple[str, ...], str] = {}
    for folder, _dirs, files in os.walk(src):
        for name in files:
            if not name.endswith(".rs"):
                continue
            rel = os.path.relpath(os.path.join(folder, name), src)
            parts = rel[:-3].split(os.sep)
            if parts[-1] in ("mod", "lib"):
                parts = parts[:-1]
            modules[tuple(parts)] = os.path.join(folder, name)
    return modules


PATH = re.compile(r"\b(crate|super|self)((?:::[A-Za-z_][A-Za-z0-9_]*)+)")
GROUP = re.compile(r"\b(crate|super|self)((?:::[A-Za-z_][A-Za-z0-9_]*)*)::\{([^;]*?)\}", re.S)
COMMENT = re.compile(r"//[^\n]*")


def references(text: str) -> list[tuple[str, list[str]]]:
    """(`crate`|`super`|`self`, path segments) for every path in the code, `use` groups expanded
    one level (`use super::{a::X, b}` gives super::a::X and super::b)."""
    text = COMMENT.sub("", text)
    found = []
    for m in GROUP.finditer(text):
        head = [p for p in m.group(2).split("::") if p]
        for item in m.group(3).split(","):
            item = item.strip().split(" as ")[0].strip()
            if not item or item.startswith("{"):
                continue
            item = item.split("::{")[0]
            found.append((m.group(1), head + [p for p in item.split("::") if p]))
    for m in PATH.finditer(GROUP.sub("", text)):
        found.append((m.group(1), [p for p in m.group(2).split("::") if p]))
    return found


def resolve(module: tuple[str, ...], anchor: str, path: list[str], known: set[tuple[str, ...]]):
    """The module a path points into: the longest known module prefix."""
    if anchor == "crate":
        base: tuple[str, ...] = ()
    elif anchor == "self":
        base = module
    else:
        base = module
        while path and path[0] == "super":
            path = path[1:]
            base = base[:-1]
        base = base[:-1]
        # `super::` at the start: the first segment was eaten by the regex's anchor.
    best = base
    for i in range(1, len(path) + 1):
        candidate = base + tuple(path[:i])
        if candidate in known:
            best = candidate
        else:
            break
    return best


def import_cycles(src: str) -> list[str]:
    modules = module_files(src)
    known = set(modules)
    edges: dict[tuple[str, ...], set[tuple[str, ...]]] = defaultdict(set)
    witness: dict[tuple[tuple[str, ...], tuple[str, ...]], str] = {}
    for module, path in modules.items():
        if module and module[-1] in TEST_ONLY:
            continue  # a unit test may drive its module through the ones built on it
        with open(path, encoding="utf-8") as f:
            text = f.read()
        for anchor, segments in references(text):
            target = resolve(module, anchor, segments, known)
            if target[: len(module)] == module or module[: len(target)] == target:
                continue  # a descendant or an ancestor
            common = 0
            while module[common] == target[common]:
                common += 1
            a, b = module[: common + 1], target[: common + 1]
            edges[a].add(b)
            witness.setdefault((a, b), f"{os.path.relpath(path, ROOT)} uses {'::'.join(target) or 'crate'}")
    # Tarjan's strongly connected components.
    index: dict = {}
    low: dict = {}
    stack: list = []
    on: set = set()
    cycles: list[str] = []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                names = sorted("::".join(c) for c in component)
                why = [witness[(x, y)] for x in component for y in edges.get(x, ()) if y in component]
                cycles.append(f"cycle between {', '.join(names)}: " + "; ".join(sorted(why)))

    sys.setrecursionlimit(10_000)
    for v in list(edges):
        if v not in index:
            visit(v)
    return cycles


TYPE = re.compile(r"^pub (?:struct|enum|trait|type) ([A-Z][A-Za-z0-9_]*)", re.M)


def duplicate_type_names(srcs: list[str]) -> list[str]:
    """Public types declared at a module's top level (nested private modules' wire types, such
    as a provider's JSON shape, are not the crate's vocabulary)."""
    seen: dict[str, list[str]] = defaultdict(list)
    for src in srcs:
        for folder, _dirs, files in os.walk(src):
            for name in files:
                if name.endswith(".rs"):
                    path = os.path.join(folder, name)
                    with open(path, encoding="utf-8") as f:
                        for m in TYPE.finditer(f.read()):
                            seen[m.group(1)].append(os.path.relpath(path, ROOT))
    return [f"{n}: {', '.join(places)}" for n, places in sorted(seen.items()) if len(places) > 1]


def self_test() -> None:
    """Each check fails on what it is meant to catch."""
    assert forbidden_dependencies({"serde", "aws-sdk-dynamodb", "hyper-util", "lambda_runtime"}) == [
        "aws-sdk-dynamodb", "hyper-util", "lambda_runtime"]
    assert forbidden_dependencies({"serde", "http", "aws_lambda_events", "tokio"}) == []
    with tempfile.TemporaryDirectory() as d:
        os.makedirs(os.path.join(d, "traffic"))
        files = {
            "lib.rs": "pub mod traffic; pub mod store;",
            "store.rs": "pub struct StoreError;",
            "traffic/mod.rs": "mod phase; mod deployment; pub use phase::Phase;",
            "traffic/phase.rs": "use super::deployment::Deployment; pub struct Phase;",
            "traffic/deployment.rs": "use crate::store::StoreError;\nuse super::{phase::Phase};",
        }
        for name, text in files.items():
            with open(os.path.join(d, name), "w") as f:
                f.write(text)
        found = import_cycles(d)
        assert len(found) == 1 and "traffic::deployment, traffic::phase" in found[0], found
        with open(os.path.join(d, "traffic/phase.rs"), "w") as f:
            f.write("use super::Phase as P;\npub struct Phase;")  # an ancestor: allowed
        assert import_cycles(d) == [], import_cycles(d)
        with open(os.path.join(d, "store.rs"), "w") as f:
            f.write("use crate::traffic::Phase;\npub struct StoreError;")
        assert len(import_cycles(d)) == 1  # traffic → store → traffic
        with open(os.path.join(d, "extra.rs"), "w") as f:
            f.write("pub struct Phase;\nmod wire {\n    pub struct Phase;\n}\n")
        assert [x.split(":")[0] for x in duplicate_type_names([d])] == ["Phase"]
    print("self-test: each check fails where it should")


def main() -> int:
    if "--self-test" in sys.argv:
        self_test()
    problems = []
    bad = forbidden_dependencies(core_dependencies())
    if bad:
        problems.append("gantry-core depends on " + ", ".join(bad)
                        + " (an AWS SDK, HTTP client or Lambda runtime belongs in gantry-adapters)")
    for crate, src in CRATES.items():
        for cycle in import_cycles(os.path.join(ROOT, src)):
            problems.append(f"{crate}: {cycle}")
    for dup in duplicate_type_names([os.path.join(ROOT, s) for s in CRATES.values()]):
        problems.append(f"two public types share a name: {dup}")
    for p in problems:
        print("architecture:", p)
    if problems:
        print(f"0 passed, {len(problems)} failed")
        return 1
    print("architecture: gantry-core has no AWS SDK, HTTP or Lambda dependency; no import cycles; "
          "no public type name declared twice")
    return 0


if __name__ == "__main__":
    sys.exit(main())
