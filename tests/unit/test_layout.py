"""The house by owner, held to its rules (../shared/DESIGN.md, "Layout"): no import circle; the
engine imports nothing of cotrepro but io; data, models, scoring and outputs import neither the
generation stage nor the engine; the engine's backends do not import each other; nothing but the
workflow's scripts imports the self-audits in checks/. Read from every import statement of every
module, lazy ones in functions included (cotrepro.code_digest.imported_files)."""

from __future__ import annotations

import pytest

from cotrepro.code_digest import imported_files, package_root

ROOT = package_root()


def _imports() -> dict[str, set[str]]:
    """Module -> the project modules it imports (paths relative to the package), the package's own
    __init__ (which every module runs first) aside."""
    graph = {}
    for path in sorted(ROOT.rglob("*.py")):
        name = path.relative_to(ROOT).as_posix()
        graph[name] = {f.relative_to(ROOT).as_posix() for f in imported_files(path, ROOT)} - {name, "__init__.py"}
    return graph


GRAPH = _imports()


def _top(module: str) -> str:
    return module.split("/")[0]


def test_no_import_circle():
    state, circles = {}, []

    def visit(node, path):
        state[node] = "open"
        for dep in sorted(GRAPH.get(node, ())):
            if state.get(dep) == "open":
                circles.append([*path[path.index(dep) :], dep])
            elif dep not in state:
                visit(dep, [*path, dep])
        state[node] = "done"

    for node in GRAPH:
        if node not in state:
            visit(node, [node])
    assert circles == []


def test_the_engine_imports_nothing_of_cotrepro_but_io():
    found = {m: d - {"io.py"} for m, d in GRAPH.items() if _top(m) == "engine"}
    assert {
        m: sorted(x for x in d if _top(x) != "engine") for m, d in found.items() if any(_top(x) != "engine" for x in d)
    } == {}


@pytest.mark.parametrize("stage", ["data", "models", "scoring", "outputs"])
def test_stages_read_files_not_the_code_that_wrote_them(stage):
    wrong = {
        m: sorted(x for x in d if _top(x) in ("generation", "engine")) for m, d in GRAPH.items() if _top(m) == stage
    }
    assert {m: d for m, d in wrong.items() if d} == {}


def test_backends_do_not_import_each_other():
    backends = {m.split("/")[1] for m in GRAPH if m.startswith("engine/") and m.count("/") == 2}
    wrong = {
        m: sorted(x for x in d if x.startswith("engine/") and x.count("/") == 2 and x.split("/")[1] != m.split("/")[1])
        for m, d in GRAPH.items()
        if m.count("/") == 2 and m.split("/")[1] in backends
    }
    assert backends >= {"hf", "scratch"}
    assert {m: d for m, d in wrong.items() if d} == {}


def test_only_scripts_import_the_checks():
    assert {m: sorted(x for x in d if _top(x) == "checks") for m, d in GRAPH.items() if _top(m) != "checks"} == {
        m: [] for m in GRAPH if _top(m) != "checks"
    }
