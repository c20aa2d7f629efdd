"""Imports flow one way: server -> schema/resolvers/rest/subscriptions -> domain -> models, and
no module imports itself back through others. Read from the source (`ast`), every import
counts wherever it is written (a function-level import is how a cycle hides), but those under
`if TYPE_CHECKING:`, which never run."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Higher layers may import lower ones and their own; never the other way.
LAYERS = {
    "server": 3, "cli": 3, "serving": 3,  # the process: the app, the commands, the network's edge
    "schema": 2, "resolvers": 2, "rest": 2, "subscriptions": 2,
    "domain": 1, "config": 1,
    "models": 0, "telemetry": 0,
}  # fmt: skip
# The one known exception: a transaction appends its events to the log and publishes them after
# commit (domain/tx.py). Reported, not fixed here.
KNOWN_UPWARD = {("domain.tx", "subscriptions.log"), ("domain.tx", "subscriptions.publish")}


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for name in LAYERS:
        single = ROOT / f"{name}.py"
        paths = [single] if single.exists() else sorted((ROOT / name).rglob("*.py"))
        for path in paths:
            parts = path.relative_to(ROOT).with_suffix("").parts
            if "migrations" in parts:
                continue  # frozen history, checked by test_migrations.py
            module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[module] = path
    return found


def _imports(tree: ast.AST, modules: dict[str, Path]) -> set[str]:
    out: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:  # `from pkg import module` imports pkg.module
                full = f"{node.module}.{alias.name}"
                out.add(full if full in modules else node.module)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return out


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {
        name: {m for m in _imports(ast.parse(path.read_text()), modules) if m in modules and m != name}
        for name, path in modules.items()
    }


def _layer(module: str) -> int:
    return LAYERS[module.split(".")[0]]


def test_imports_flow_down_the_layers() -> None:
    graph = _graph()
    assert len(graph) > 50, sorted(graph)  # the walk found the project
    upward = {(a, b) for a, targets in graph.items() for b in targets if _layer(b) > _layer(a)}
    assert upward <= KNOWN_UPWARD, sorted(upward - KNOWN_UPWARD)


def test_no_module_imports_itself_back() -> None:
    graph = _graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def connect(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    assert cycles == [], cycles


def test_a_cycle_would_be_found() -> None:
    """The walk sees function-level imports (schema/types.py once imported resolvers/query.py
    inside a field, which imports schema/types.py)."""
    modules = {"a": ROOT, "b": ROOT}
    tree = ast.parse("def f():\n    from b import x\nif TYPE_CHECKING:\n    import a\n")
    assert _imports(tree, modules) == {"b"}
