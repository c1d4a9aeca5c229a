"""The lab's layers, as its folders say: data in -> engine -> report -> the front ends.

Each package of `bondlab` has a rank; a module may import its own package and packages of a lower rank only,
wherever the import statement sits (a function-local import is still an import: it may delay a heavy module,
never dodge the order), and no two modules import each other, directly or around a loop. Our own test rather
than import-linter: the contract is this table and ~60 lines, and a dependency would need the hashed lock.
"""

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "lab"

# rank: package (or top-level module) names of bondlab; equal ranks must not import each other.
LAYERS = {
    0: ["util"],
    1: ["capabilities"],  # what this machine's kernel can do
    2: ["vm"],  # the lab VM runner: needs nothing of the lab's world
    3: ["model"],  # data in: topology, k8s objects, scenarios
    4: ["world"],  # the world builder: netns, PFs, VFs, switches, pods
    5: ["cni"],  # the Multus-style runtime over the world
    6: ["deploy"],  # a lab from files: world + runtime
    7: ["traffic", "concheck"],  # probes, taps, their figures and verdict rules; pings and bulk transfers
    8: ["run"],  # the scenario runner: steps over traffic in a deployed lab
    9: ["report"],  # what a run wrote, for people
    10: ["doctor", "lint", "conformance"],  # tools over the engine
    11: ["bench"],
    12: ["cli"],  # front ends
    13: ["pytest"],
    14: ["__main__"],
}
RANK = {name: rank for rank, names in LAYERS.items() for name in names}


def _modules() -> dict:
    out = {}
    for path in (ROOT / "bondlab").rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


MODULES = _modules()


def _imports(path: Path) -> list:
    """(line, imported bondlab module) for every import in the file, at any depth."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "bondlab":
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                out.append((node.lineno, sub if sub in MODULES else node.module))
        elif isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "bondlab"]
    return out


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_every_package_has_a_layer():
    unranked = sorted({_package(m) for m in MODULES} - set(RANK) - {""})
    assert not unranked, f"bondlab packages with no layer in this test: {unranked}"


def test_imports_go_down_the_layers():
    upward = []
    for module, path in sorted(MODULES.items()):
        src = _package(module)
        for line, target in _imports(path):
            dst = _package(target)
            if dst and src and dst != src and RANK.get(dst, 99) >= RANK.get(src, 99):
                upward.append(
                    f"{path.relative_to(ROOT.parent)}:{line}: {src} (layer {RANK[src]}) imports {target}"
                    f" (layer {RANK.get(dst)})"
                )
    assert not upward, "imports against the layers:\n" + "\n".join(upward)


def test_no_import_cycles():
    graph = defaultdict(set)
    for module, path in MODULES.items():
        graph[module] |= {t for _, t in _imports(path) if t in MODULES and t != module}
    cycles, index, low, stack, on_stack = [], {}, {}, [], set()

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
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

    for module in sorted(MODULES):
        if module not in index:
            visit(module)
    assert not cycles, "modules that import each other: " + "; ".join(" <-> ".join(c) for c in cycles)
