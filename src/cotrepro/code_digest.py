"""Which project modules a piece of code depends on, and a digest of what the code that shapes a
generated row does, one that survives moves.

Every generated row's key hashes its exact model input, its unit's settings and :func:`code_digest`,
so that a journal or file written by other code is never resumed. That digest must change when the
code that shapes rows changes and only then: a refactor must not throw away a GPU-day of rows. So it
hashes the code's syntax trees, not its bytes, over the modules of :func:`output_shaping` (the
import closure of the generation job, less :data:`PLUMBING` and :data:`KEYED_OTHERWISE`), after
dropping what cannot change behaviour: docstrings, comments and formatting (not in the tree), type
annotations, logging calls, and import statements (the project's are resolved away: ``runner.finish``
reads as ``finish``; the third-party ones are kept as one set). The module-level statements of all
the modules then count as one set, keyed by nothing but their content. A row's digest covers the
backend that generated it only (:data:`BACKEND_ENTRIES`): editing the served client changes no
in-process row's key, and editing the transformers engine no served row's. Moving a function to another
module, splitting, merging or renaming modules, reordering definitions, editing a docstring and
reformatting leave the digest as it was; changing a prompt string, a constant or a line of logic
changes it.

:func:`import_closure` also tells which modules a workflow script really imports, which the rules
declare as inputs (``code(...)``) so that editing one reruns what it shapes.
"""

from __future__ import annotations

import ast
import hashlib
from collections.abc import Iterable
from functools import cache
from pathlib import Path

PACKAGE = "cotrepro"
GENERATION_ENTRY = "generation/job.py"
"""The module that turns a unit's settings into its rows; its import closure is what shapes them."""

PLUMBING = (
    "__init__.py",
    "io.py",
    "provenance.py",
    "joblog.py",
    "errors.py",
    "code_digest.py",
    "data/download.py",
    "generation/gpu_slots.py",
    "models/__init__.py",
    "models/hub.py",
)
"""Modules that cannot change an output's content: the package's version, file I/O, checksums and
provenance, logging, the error type, this module, downloading a pinned file (its sha256 is
checked), the GPU slot a job holds, locating and downloading a model's files. No
rule declares them and no digest covers them (a refactor there reruns nothing); the closure does not
follow their imports."""

KEYED_OTHERWISE = ("methods.py", "generation/meta.py")
"""Modules of the generation job's closure that shape no row's text, or whose effect reaches a row's
key another way: a method's declaration through the unit's settings (``MethodSpec.shaping()``) and
the unit's metadata.
The generation rules still declare them (editing one rewrites the metadata); the digest leaves them
out, so that a method's label or colour changes no key."""

BACKEND_ENTRIES = {
    "hf": ("engine/hf/backend.py",),
    "scratch": ("engine/scratch/backend.py",),
    "served": ("engine/served/backend.py", "engine/served/launcher.py", "generation/served_job.py"),
}
"""The modules through which the generation job and the checks reach each backend's own code (the
loader imports each lazily, the job starts a served model's server through ``served_job``, which
does nothing for an in-process model, and the agreement check through the launcher). A backend's
digest, and the code inputs of a job that runs it, do not follow the other backends' entries."""

_UNTYPED_IMPORTS = ("__future__", "typing")
"""Third-party imports that serve type hints only, which the digest drops with the annotations."""
_LOG_CALLS = {"debug", "info", "warning", "error", "exception", "critical"}
_LOGGERS = {"log", "logger", "logging"}


def package_root() -> Path:
    """This installation's ``cotrepro`` package directory."""
    return Path(__file__).resolve().parent


def _has_code(path: Path) -> bool:
    """Whether a module holds more than a docstring (an empty package ``__init__`` runs nothing)."""
    body = ast.parse(path.read_text(encoding="utf-8")).body
    return any(not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant)) for s in body)


def _module_file(root: Path, dotted: str) -> Path | None:
    """The file of project module ``dotted`` (``cotrepro.generation.job``), or None when it is none."""
    parts = dotted.split(".")
    if parts[0] != PACKAGE:
        return None
    base = root.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _parents(root: Path, dotted: str) -> list[Path]:
    """The package ``__init__`` files Python runs before ``dotted``, those with code only."""
    parts = dotted.split(".")
    inits = [root.joinpath(*parts[1:i], "__init__.py") for i in range(1, len(parts))]
    return [p for p in inits if p.is_file() and _has_code(p)]


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and (
        (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING")
        or (isinstance(node.test, ast.Attribute) and node.test.attr == "TYPE_CHECKING")
    )


def _runtime_nodes(tree: ast.AST) -> Iterable[ast.AST]:
    """Every node of ``tree`` outside ``if TYPE_CHECKING:`` blocks (whose imports never run)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(child for child in ast.iter_child_nodes(node) if not _is_type_checking(child))


def _imported(root: Path, node: ast.Import | ast.ImportFrom) -> list[tuple[str, Path]]:
    """(name bound in the importing module, file) of each project module an import statement loads."""
    if isinstance(node, ast.Import):
        return [(a.asname or a.name.split(".")[0], f) for a in node.names if (f := _module_file(root, a.name))]
    if node.level or not node.module or node.module.split(".")[0] != PACKAGE:
        return []
    found = []
    for alias in node.names:
        # ``from cotrepro.generation import runner`` loads a module; ``from cotrepro.io import read_json`` a name.
        sub = _module_file(root, f"{node.module}.{alias.name}")
        found.append((alias.asname or alias.name, sub or _module_file(root, node.module)))
    return [(name, f) for name, f in found if f]


def imported_files(path: Path, root: Path) -> set[Path]:
    """The project modules one file imports anywhere in it (a function's lazy imports included, the
    ``if TYPE_CHECKING:`` ones not), with the package ``__init__`` files that run first."""
    tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    files: set[Path] = set()
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.Import):
            dotted = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            dotted = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        else:
            continue
        for name in dotted:
            if found := _module_file(root, name):
                files.add(found)
                files.update(_parents(root, name))
    # A package whose __init__ is a docstring only runs nothing of its own.
    return {f for f in files if f.name != "__init__.py" or _has_code(f)}


def import_closure(entries: Iterable[Path], root: Path | None = None, stop: Iterable[str] = PLUMBING) -> list[str]:
    """The project modules ``entries`` (files: library modules or workflow scripts) import, directly
    or through each other, as paths relative to the package (``generation/job.py``), sorted; the
    library modules among ``entries`` themselves included. The modules in ``stop`` are left out and
    not followed."""
    root = Path(root or package_root()).resolve()
    stop = set(stop)
    seen: set[Path] = set()
    todo = [Path(e).resolve() for e in entries]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        todo.extend(f for f in imported_files(path, root) if f not in seen and _relative(f, root) not in stop)
    return sorted(r for p in seen if (r := _relative(p, root)) and r not in stop)


def _relative(path: Path, root: Path) -> str | None:
    """``path`` relative to the package (posix), or None when it lies outside (a script)."""
    try:
        return path.resolve().relative_to(root).as_posix()
    except ValueError:
        return None


def backend_stops(backends: Iterable[str] | None) -> tuple[str, ...]:
    """What an import closure for code that runs ``backends`` does not follow: the plumbing and the
    entries of the other backends (None: any backend, so only the plumbing)."""
    if backends is None:
        return PLUMBING
    unknown = [b for b in backends if b not in BACKEND_ENTRIES]
    if unknown:
        raise ValueError(f"unknown backend {unknown[0]!r}: expected one of {', '.join(BACKEND_ENTRIES)}")
    return (*PLUMBING, *(m for name, entries in BACKEND_ENTRIES.items() if name not in backends for m in entries))


def output_shaping(root: Path | None = None, backend: str | None = None) -> list[str]:
    """The modules whose code shapes a row that ``backend`` generates (one of
    :data:`BACKEND_ENTRIES`; None: any backend's): the generation job's import closure, less the
    plumbing, the modules keyed otherwise and the other backends' own code."""
    root = Path(root or package_root())
    closure = import_closure(
        [root / GENERATION_ENTRY], root, stop=backend_stops(None if backend is None else [backend])
    )
    return [m for m in closure if m not in KEYED_OTHERWISE]


class _Normalized(ast.NodeTransformer):
    """One module's tree as the digest reads it (see the module docstring)."""

    def __init__(self, root: Path):
        self.root = root
        self.modules: set[str] = set()  # names bound to project modules (``runner``)
        self.renamed: dict[str, str] = {}  # ``from cotrepro.x import a as b``: b -> a
        self.third_party: set[str] = set()  # one entry a name imported, wherever the import stands

    def visit_Import(self, node):
        project = _imported(self.root, node)
        self.modules.update(name for name, _ in project)
        if not project:
            self.third_party.update(f"import {a.name} as {a.asname or a.name}" for a in node.names)

    def visit_ImportFrom(self, node):
        if node.module and node.module.split(".")[0] == PACKAGE:
            for alias in node.names:
                if _module_file(self.root, f"{node.module}.{alias.name}"):
                    self.modules.add(alias.asname or alias.name)
                elif alias.asname:
                    self.renamed[alias.asname] = alias.name
        elif node.module not in _UNTYPED_IMPORTS:
            self.third_party.update(
                f"from {'.' * node.level}{node.module} import {a.name} as {a.asname or a.name}" for a in node.names
            )

    def visit_If(self, node):
        return None if _is_type_checking(node) else self.generic_visit(node)

    def visit_Expr(self, node):
        value = node.value
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            return None  # a docstring, of a module, class, function or attribute
        if (
            isinstance(value, ast.Call)
            and isinstance(value.func, ast.Attribute)
            and value.func.attr in _LOG_CALLS
            and isinstance(value.func.value, ast.Name)
            and value.func.value.id in _LOGGERS
        ):
            return None
        return self.generic_visit(node)

    def visit_Attribute(self, node):
        if isinstance(node.value, ast.Name) and node.value.id in self.modules:
            return ast.Name(id=node.attr, ctx=node.ctx)
        return self.generic_visit(node)

    def visit_Name(self, node):
        return ast.Name(id=self.renamed.get(node.id, node.id), ctx=node.ctx)

    def visit_arg(self, node):
        node.annotation = None
        return node

    def visit_AnnAssign(self, node):
        # The annotated name stays (a dataclass field), its type does not.
        node.annotation = ast.Constant(value=None)
        return self.generic_visit(node)

    def _function(self, node):
        node.returns = None
        return self.generic_visit(node)

    visit_FunctionDef = visit_AsyncFunctionDef = _function


def _is_logger(statement: ast.stmt) -> bool:
    """``log = logging.getLogger(...)``: which logger a module writes to shapes no row."""
    value = getattr(statement, "value", None)
    return (
        isinstance(statement, ast.Assign)
        and isinstance(value, ast.Call)
        and isinstance(value.func, ast.Attribute)
        and value.func.attr == "getLogger"
    )


def _canonical(node) -> str:
    """A node as text, independent of positions and of the fields a Python version leaves empty."""
    if isinstance(node, ast.AST):
        fields = [
            f"{name}={_canonical(value)}"
            for name, value in ast.iter_fields(node)
            if name not in ("ctx", "kind", "type_comment") and value is not None and value != []
        ]
        return f"{type(node).__name__}({', '.join(fields)})"
    if isinstance(node, list):
        return "[" + ", ".join(_canonical(x) for x in node) + "]"
    return repr(node)


def module_statements(path: Path, root: Path) -> tuple[set[str], set[str]]:
    """One module's normalized top-level statements and its third-party imports, as canonical text."""
    tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    normalizer = _Normalized(root)
    tree = normalizer.visit(tree)
    statements = {_canonical(s) for s in tree.body if not _is_logger(s)}
    return statements, normalizer.third_party


def code_digest(root: Path | None = None, modules: Iterable[str] | None = None, backend: str | None = None) -> str:
    """sha256 of what ``modules`` (default :func:`output_shaping` for ``backend``) do, as described in
    the module docstring; ``root`` is a ``cotrepro`` package directory (default this installation's)."""
    root = Path(root or package_root()).resolve()
    statements: set[str] = set()
    third_party: set[str] = set()
    for name in output_shaping(root, backend) if modules is None else modules:
        own, imports = module_statements(root / name, root)
        statements |= own
        third_party |= imports
    h = hashlib.sha256()
    for text in [*sorted(third_party), "", *sorted(statements)]:
        h.update(text.encode("utf-8") + b"\n")
    return h.hexdigest()


@cache
def installed_code_digest(backend: str) -> str:
    """:func:`code_digest` of this installation for rows ``backend`` generates, computed once a process."""
    return code_digest(backend=backend)
