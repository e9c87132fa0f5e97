"""The package's shape: every module sits in a layer and imports only its own layer or
lower ones, there is no import cycle, and no module reaches into another's private names.
Imports inside functions count too: a lazy import is still a dependency."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "watcher"

LAYERS: list[set[str]] = [
    {"watcher", "errors", "models", "secrets", "env"},
    {"page", "config"},
    {"fetch.policy", "verify", "extract", "normalize", "diff"},
    {"fetch.http", "fetch.browser", "fetch", "classify", "evidence", "evidence.git", "stable"},
    {"evidence.store", "evidence.captures", "evidence.lock", "render", "story", "process"},
    {"evidence.commits", "evidence.feed", "workers"},
    {"evidence.outbox", "evidence.history", "alerts"},
    {"notify", "report", "evidence.importer", "evidence.record"},
    {"run", "site", "site.answers", "site.reader", "site.build"},
    {"demo", "cli", "__main__"},
]
LAYER = {name: i for i, names in enumerate(LAYERS) for name in names}


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts) or "watcher"


def imports_of(path: Path) -> list[tuple[str, list[str]]]:
    """(module imported, names taken from it) for every watcher-internal import."""
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".") if package and package != "watcher" else []
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                target = ".".join([*base, *(node.module.split(".") if node.module else [])])
            elif node.module and node.module.startswith("watcher"):
                target = node.module.removeprefix("watcher").lstrip(".")
            else:
                continue
            names = [a.name for a in node.names]
            # `from . import env` imports the module env
            subs = [f"{target}.{n}".strip(".") for n in names]
            modules = [s for s in subs if s in LAYER]
            if modules and len(modules) == len(names):
                out += [(m, []) for m in modules]
            else:
                out.append((target or "watcher", names))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("watcher."):
                    out.append((alias.name.removeprefix("watcher."), []))
    return out


def graph() -> dict[str, list[tuple[str, list[str]]]]:
    return {module_name(p): imports_of(p) for p in PACKAGE.rglob("*.py")}


def test_every_module_has_a_layer():
    assert sorted(set(graph()) - set(LAYER)) == []


def test_imports_only_go_down_or_sideways():
    upward = [
        f"{me} (layer {LAYER[me]}) imports {dep} (layer {LAYER[dep]})"
        for me, deps in graph().items()
        for dep, _ in deps
        if dep in LAYER and LAYER[dep] > LAYER[me]
    ]
    assert upward == []


def test_no_import_cycles():
    edges = {me: {dep for dep, _ in deps if dep != me} for me, deps in graph().items()}
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for dep in sorted(edges.get(node, ())):
            if state.get(dep) == 1:
                cycles.append([*path[path.index(dep) :], dep] if dep in path else [node, dep])
            elif dep not in state:
                visit(dep, [*path, dep])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def test_no_module_takes_another_modules_private_names():
    private = [
        f"{me} imports {name} from {dep}"
        for me, deps in graph().items()
        for dep, names in deps
        for name in names
        if name.startswith("_") and name != "__version__" and dep != me
    ]
    assert private == []
