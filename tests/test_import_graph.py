"""No two modules of server/ import each other, directly or in a loop (issue 17), and its packages
stack (issue 26): no two of server/'s top-level packages import each other, and the library
(synthesis) imports none of the layers above it.

Every import counts, including those inside functions: a lazy import hides a cycle, it does not
remove it. `from pkg import name` imports pkg.name where that is a module, else pkg.
"""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "server"


def module_names() -> dict[str, Path]:
    """Dotted name -> file, for every module and package under server/."""
    names = {}
    for path in sorted((ROOT / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def _absolute(module: str, is_package: bool, level: int, target: str | None) -> str:
    """The absolute name of a relative import's `from` part."""
    base = module.split(".")
    base = base[: len(base) - level + (1 if is_package else 0)]
    return ".".join(base + ([target] if target else []))


def imports_of(module: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The project modules that `module` imports anywhere in its file."""
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(module, is_package, node.level, node.module) if node.level else node.module
            submodules = {f"{source}.{alias.name}" for alias in node.names} & known.keys()
            found.update(submodules)
            if len(submodules) < len(node.names):  # some names are the package's own attributes
                found.add(source)
    # `import a.b.c` names a.b.c: the nearest project module at or above it
    resolved = set()
    for name in found:
        while name and name not in known:
            name = name.rpartition(".")[0]
        if name and name != module:
            resolved.add(name)
    return resolved


def import_graph() -> dict[str, set[str]]:
    known = module_names()
    return {module: imports_of(module, path, known) for module, path in known.items()}


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle in each group of modules that import one another (a -> b -> ... -> a)."""
    return [_a_cycle(graph, set(c)) for c in tangles(graph)]


def tangles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan): the modules in cycles."""
    index, low, stack, on_stack, components = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
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
                components.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return components


def _a_cycle(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """One closed path through the component's first module: a -> b -> ... -> a."""
    start = min(component)
    paths, seen = [[start]], {start}
    while paths:
        path = paths.pop(0)
        for w in sorted(graph[path[-1]] & component):
            if w == start:
                return path + [start]
            if w not in seen:
                seen.add(w)
                paths.append(path + [w])
    return sorted(component)


def package_of(module: str) -> str:
    """The top-level package (or module) of server/ that a module belongs to: server.jobs.ray.store -> server.jobs."""
    return ".".join(module.split(".")[:2])


def package_imports(graph: dict[str, set[str]]) -> dict[tuple[str, str], list[str]]:
    """(package, package it imports) -> the module imports that make that arrow."""
    arrows = {}
    for module, imported in graph.items():
        for other in imported:
            a, b = package_of(module), package_of(other)
            if a != b:
                arrows.setdefault((a, b), []).append(f"{module} -> {other}")
    return arrows


def mutual_packages(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    """The pairs of top-level packages that import each other."""
    arrows = package_imports(graph)
    return sorted((a, b) for a, b in arrows if a < b and (b, a) in arrows)


def test_the_checker_sees_lazy_and_relative_imports(tmp_path):
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycles(graph) == [["a", "b", "c", "a"]]
    assert _absolute("server.api.routes.jobs", False, 2, "deps") == "server.api.deps"
    assert _absolute("server.jobs", True, 1, "record") == "server.jobs.record"
    graph = import_graph()
    assert "server.jobs.ray.manager" in graph["server.jobs.factory"]          # imported inside a function
    assert "server.api.routes.jobs" in graph["server.api.app"]                # from .routes import jobs
    assert "server.api.deps" in graph["server.api.routes.jobs"]               # from ..deps import StateDep
    two_way = {"server.a.x": {"server.b.y"}, "server.b.z": {"server.a.w"}, "server.c": {"server.a.x"}}
    assert mutual_packages(two_way) == [("server.a", "server.b")]             # through different modules


def test_no_module_imports_itself_through_others():
    graph = import_graph()
    tangled = tangles(graph)
    assert not tangled, _report(graph, tangled)


def test_the_api_and_the_jobs_are_in_no_cycle():
    """The job layer's own guarantee (issue 17), whatever the state of the rest of server/."""
    areas = ("server.api", "server.jobs")
    graph = import_graph()
    ours = [c for c in tangles(graph) if any(m.startswith(areas) for m in c)]
    assert not ours, _report(graph, ours)


def test_no_two_packages_import_each_other():
    """Counting imports inside functions: settings, logs and start-up sit below the layers that use them."""
    graph = import_graph()
    arrows = package_imports(graph)
    pairs = mutual_packages(graph)
    assert not pairs, "packages that import each other:\n" + "\n".join(
        f"{a} <-> {b}: {arrows[a, b] + arrows[b, a]}" for a, b in pairs)


ABOVE_THE_LIBRARY = ("server.jobs", "server.store", "server.api", "server.cli", "server.serving")


def test_the_library_imports_no_layer_above_it():
    arrows = package_imports(import_graph())
    upward = {arrow: modules for arrow, modules in arrows.items()
              if arrow[0] == "server.synthesis" and arrow[1] in ABOVE_THE_LIBRARY}
    assert not upward, upward


def _report(graph: dict[str, set[str]], components: list[list[str]]) -> str:
    return "import cycles:\n" + "\n".join(f"{' -> '.join(_a_cycle(graph, set(c)))}   (in the cycles: {', '.join(c)})"
                                           for c in components)


def test_ray_is_imported_only_by_the_ray_job_manager():
    graph_files = module_names()
    importers = {module for module, path in graph_files.items()
                 if any(isinstance(node, (ast.Import, ast.ImportFrom)) and not getattr(node, "level", 0)
                        and any(name.split(".")[0] == "ray" for name in _imported_names(node))
                        for node in ast.walk(ast.parse(path.read_text())))}
    assert importers and all(m.startswith("server.jobs.ray.") for m in importers), importers


def _imported_names(node) -> list[str]:
    return [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module or ""]
