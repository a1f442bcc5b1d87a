"""Imports run one way, golden <- hw <- host <- perf <- sim, and no module takes part in an import cycle.

Every import statement of the five packages counts, also the ones inside functions; the modules are read
with ``ast``, not imported.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("golden", "hw", "host", "perf", "sim")          # each may import only the ones before it, and itself


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for layer in LAYERS for p in sorted((ROOT / layer).rglob("*.py"))}


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """{module: the project modules it imports}; ``from a import b`` counts as importing ``a.b`` when that is
    a module, else ``a``."""
    graph = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                           for alias in node.names]
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    edges.add(target)
        graph[name] = edges
    return graph


def backwards_imports(graph: dict[str, set[str]]) -> list[str]:
    rank = {layer: i for i, layer in enumerate(LAYERS)}
    return sorted(f"{a} imports {b}" for a, targets in graph.items() for b in targets
                  if rank[b.split(".")[0]] > rank[a.split(".")[0]])


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected set of more than one module (Tarjan)."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_imports_run_from_sim_to_perf_to_host_to_hw_to_golden():
    graph = import_graph(_modules())
    assert len(graph) > 80 and graph["sim.runs.system"] >= {"hw.system", "host.commands", "golden.hwmodel"}
    assert backwards_imports(graph) == []


def test_no_module_takes_part_in_an_import_cycle():
    assert cycles(import_graph(_modules())) == []


def test_the_checks_catch_a_backwards_import_and_a_cycle(tmp_path):
    """The same walk on a small tree with both faults planted."""
    files = {"golden/__init__.py": "", "golden/a.py": "from hw import b\n",
             "hw/__init__.py": "", "hw/b.py": "def f():\n    from . import c\n", "hw/c.py": "import hw.b\n"}
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    modules = {".".join(Path(rel).with_suffix("").parts).removesuffix(".__init__"): tmp_path / rel for rel in files}
    graph = import_graph(modules)
    assert graph["golden.a"] == {"hw.b"} and graph["hw.b"] == {"hw.c"} and graph["hw.c"] == {"hw.b"}
    assert backwards_imports(graph) == ["golden.a imports hw.b"]
    assert cycles(graph) == [["hw.b", "hw.c"]]
