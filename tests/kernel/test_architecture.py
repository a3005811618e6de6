"""The dependency rules, checked on the source: plugins import only the kernel's public names
and other plugins' declared contracts, and no package has an import circle."""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
KERNEL = ROOT / "gantry"
PLUGINS = sorted(p for p in (ROOT / "plugins").glob("*/src/*") if (p / "__init__.py").exists())

#: What a plugin may import of the kernel.
PUBLIC_KERNEL = {"gantry", "gantry.api"}
#: The kernel's testing kit (factories, the store contract) is public too.
TESTING_KERNEL_PREFIX = "gantry.testing"


def _imports(path: Path, package: str | None = None) -> Iterator[tuple[str, int]]:
    """Absolute module names a file imports, with line numbers (relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            yield from _imports_of(node, package)


def _imports_of(node: ast.ImportFrom, package: str | None) -> Iterator[tuple[str, int]]:
    """The module a ``from ... import`` reads (first, relative level resolved), then each
    ``module.name`` it names (``from pkg import module`` imports pkg.module)."""
    if node.level and package:
        base = package.split(".")
        base = base[: len(base) - node.level + 1]
        module = ".".join([*base, node.module] if node.module else base)
    else:
        module = node.module or ""
    yield module, node.lineno
    for alias in node.names:
        yield f"{module}.{alias.name}", node.lineno


def _module_name(path: Path, src_root: Path) -> str:
    parts = list(path.relative_to(src_root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _package_of(path: Path, src_root: Path) -> str:
    name = _module_name(path, src_root)
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def _is_contract(module: str, plugin_packages: set[str]) -> bool:
    """``<other plugin>.api`` (or a name inside it) is a plugin's declared public contract;
    ``<other plugin>.testing`` is its public testing kit (fixtures and data factories)."""
    head, _, rest = module.partition(".")
    return head in plugin_packages and rest.partition(".")[0] in ("api", "testing")


def test_plugins_import_only_public_kernel_names() -> None:
    plugin_packages = {p.name for p in PLUGINS}
    problems = []
    for package_dir in PLUGINS:
        own = package_dir.name
        for path in sorted(package_dir.rglob("*.py")):
            for module, line in _imports(path, _package_of(path, package_dir.parent)):
                head = module.partition(".")[0]
                where = f"{path.relative_to(ROOT)}:{line}"
                if head == "gantry":
                    if module in PUBLIC_KERNEL or module.startswith("gantry.api.") \
                            or module.startswith(TESTING_KERNEL_PREFIX):
                        continue
                    # ``from gantry import hookimpl`` yields gantry.hookimpl: a name, not a module
                    if module.count(".") == 1 and not (KERNEL / module.split(".")[1]).exists() \
                            and not (KERNEL / f"{module.split('.')[1]}.py").exists():
                        continue
                    problems.append(f"{where}: imports {module} (use gantry.api)")
                elif head in plugin_packages and head != own \
                        and not _is_contract(module, plugin_packages):
                    problems.append(f"{where}: imports {module} (use {head}.api)")
    assert not problems, "\n".join(problems)


def test_the_kernel_never_names_a_plugin_package() -> None:
    plugin_packages = {p.name for p in PLUGINS}
    problems = [f"{path.relative_to(ROOT)}:{line}: imports {module}"
                for path in sorted(KERNEL.rglob("*.py"))
                for module, line in _imports(path, _package_of(path, ROOT))
                if module.partition(".")[0] in plugin_packages]
    assert not problems, "\n".join(problems)


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _private_uses(path: Path, package: str, modules: set[str]) -> Iterator[tuple[str, int]]:
    """Private names (``_x``) a file takes from another module of ``modules``: imported
    (``from gantry.m import _x``) or read off an imported module (``m._x``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    bound: dict[str, str] = {}  # local name -> module it stands for
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in modules:
                    bound[alias.asname or alias.name] = alias.name
        elif isinstance(node, ast.ImportFrom):
            source = next(m for m, _ in _imports_of(node, package))
            for alias in node.names:
                if f"{source}.{alias.name}" in modules:
                    bound[alias.asname or alias.name] = f"{source}.{alias.name}"
                elif source in modules and _private(alias.name):
                    yield f"{source}.{alias.name}", node.lineno
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                and node.value.id in bound and _private(node.attr):
            yield f"{bound[node.value.id]}.{node.attr}", node.lineno


def test_kernel_modules_take_no_private_names_of_each_other() -> None:
    """A name another module needs is public in its home module (or the code moves)."""
    modules = {_module_name(p, ROOT) for p in KERNEL.rglob("*.py")}
    problems = [f"{path.relative_to(ROOT)}:{line}: uses {name}"
                for path in sorted(KERNEL.rglob("*.py"))
                for name, line in _private_uses(path, _package_of(path, ROOT), modules)]
    assert not problems, "\n".join(problems)


def test_private_name_finder_sees_both_forms(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    user = tmp_path / "pkg" / "user.py"
    user.write_text("from pkg.home import _hidden, shown\nfrom . import home\n"
                    "import pkg.home as h\nh._other()\nhome._third\nhome.fine\n")
    found = sorted(_private_uses(user, "pkg", {"pkg", "pkg.home", "pkg.user"}))
    assert found == [("pkg.home._hidden", 1), ("pkg.home._other", 4), ("pkg.home._third", 5)]


def _plugin_names() -> set[str]:
    """Every name a plugin goes by: its distribution and its entry-point names."""
    names: set[str] = set()
    for project in sorted((ROOT / "plugins").glob("*/pyproject.toml")):
        data = tomllib.loads(project.read_text(encoding="utf-8"))["project"]
        names.add(data["name"])
        names.update(data.get("entry-points", {}).get("gantry", {}))
    return names


def _string_literals(path: Path) -> Iterator[tuple[str, int]]:
    """The string constants of a file's code (docstrings left out: they may give examples)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef,
                                       ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr)
                  and isinstance(node.body[0].value, ast.Constant)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and id(node) not in docstrings:
            yield node.value, node.lineno


def test_the_kernel_code_never_names_a_plugin() -> None:
    """No ``get_plugin("parquet")``, no ``scheme == "sqlite"``: what the kernel needs of a
    plugin is a hook or a declared capability. (Help and error texts may mention a plugin
    inside a sentence; the testing kit's data is not kernel code.)"""
    names = _plugin_names()
    assert {"parquet", "gantry-sqlite"} <= names
    problems = [f"{path.relative_to(ROOT)}:{line}: {text!r}"
                for path in sorted(KERNEL.rglob("*.py"))
                if "testing" not in path.relative_to(KERNEL).parts
                for text, line in _string_literals(path) if text in names]
    assert not problems, "\n".join(problems)


def _graph(src_root: Path, package: str) -> dict[str, set[str]]:
    """Module-level import graph of one package (imports under ``if TYPE_CHECKING`` and inside
    functions included: a circle is a circle wherever it is written)."""
    modules = {_module_name(p, src_root): p for p in (src_root / package).rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for module, _ in _imports(path, _package_of(path, src_root)):
            target = module
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name and not name.startswith(target + ".") \
                    and target != package:
                graph[name].add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def test_cycle_finder_finds_a_circle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


@pytest.mark.parametrize("src_root,package", [
    pytest.param(root, name, id=name)
    for root, name in [(ROOT, "gantry"), *[(p.parent, p.name) for p in PLUGINS]]])
def test_no_import_circles(src_root: Path, package: str) -> None:
    cycles = _cycles(_graph(src_root, package))
    assert not cycles, "import circles:\n" + "\n".join(" <-> ".join(c) for c in cycles)
