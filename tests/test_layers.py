"""The package layout is the architecture: each layer imports only from the layers it builds on.

Every ``import`` of a ``datahygiene`` module is checked, including imports inside functions, so a cycle cannot
hide in a lazy import. The rule is written in the README's layout section.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "datahygiene"

#: layer -> the layers it may import from (besides itself). Top-level modules (``__init__``, ``__main__``) may
#: import the CLI only.
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "io": {"core"},
    "stages": {"core", "io"},
    "calibration": {"core", "io", "stages"},
    "reports": {"core", "io"},
    "engine": {"core", "io", "reports"},
    "cli": {"core", "io", "stages", "calibration", "reports", "engine"},
    "data": set(),
}
TOP_LEVEL = {"__init__", "__main__"}


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _imports(path: Path, module: str) -> list[tuple[int, str]]:
    """(line, imported datahygiene module) for every import statement in the file, at any depth."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names if alias.name.startswith("datahygiene")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import: resolve against this module's package
                base = module.split(".")[: -node.level]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if target.startswith("datahygiene"):
                # `from datahygiene.core import columns` imports the submodule datahygiene.core.columns
                found += [(node.lineno, f"{target}.{alias.name}") for alias in node.names]
    return found


def _modules() -> list[tuple[Path, str]]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = list(relative.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out.append((path, ".".join(parts)))
    return out


def _resolve(name: str) -> str:
    """The module an imported name refers to (``datahygiene.core.columns.C`` -> ``datahygiene.core.columns``)."""
    parts = name.split(".")
    while parts:
        candidate = PACKAGE.parent.joinpath(*parts)
        if candidate.with_suffix(".py").exists() or (candidate / "__init__.py").exists():
            return ".".join(parts)
        parts = parts[:-1]
    return name


def test_every_module_belongs_to_a_layer() -> None:
    loose = [
        module
        for path, module in _modules()
        if _layer(module) not in ALLOWED and path.stem not in TOP_LEVEL and module != "datahygiene"
    ]
    assert loose == [], f"modules outside the layers {sorted(ALLOWED)}: {loose}"


@pytest.mark.parametrize(("path", "module"), _modules(), ids=lambda value: str(value))
def test_imports_follow_the_layers(path: Path, module: str) -> None:
    layer = _layer(module)
    if path.stem in TOP_LEVEL and module.count(".") <= 1:
        allowed = {"cli", ""}
    else:
        allowed = ALLOWED.get(layer, set()) | {layer, ""}
    wrong = [
        f"line {line}: {target}" for line, target in _imports(path, module) if _layer(_resolve(target)) not in allowed
    ]
    assert wrong == [], f"{module} ({layer}) may import only {sorted(allowed - {''})}: {wrong}"


def test_no_import_cycles() -> None:
    graph: dict[str, set[str]] = {}
    for path, module in _modules():
        graph[module] = {_resolve(target) for _, target in _imports(path, module)} - {module}
    # a package's __init__ importing its own submodules is not a cycle worth reporting
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt.startswith(node + ".") or node.startswith(nxt + "."):
                continue
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert cycles == [], "import cycles: " + "; ".join(" -> ".join(cycle) for cycle in cycles)
