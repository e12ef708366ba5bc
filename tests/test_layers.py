"""The package's layers import only downwards, with no cycles and no imports hidden inside functions to dodge one.

Layers, bottom to top (the package docstring and the "Layout" of book/appendix_package.md list the same): basics →
networks and maths → models → storage → library → views → command lines → the package's ``__init__``. A module may
import its own layer or any below; every module must be placed here, so a new one has to choose its layer. Imports under
``if TYPE_CHECKING:`` are type hints only (they never run) and are not counted.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "fmd_utils"

LAYERS: list[tuple[str, set[str]]] = [
    ("basics", {"version", "checks", "classes", "device", "progress", "batching", "writable", "claims",
                "uncertainty", "download", "data", "shipped", "distributed",
                "precision"}),
    ("networks and maths", {"blocks", "autoencoder", "classifier", "metrics", "schedule", "embeddings", "normalizer",
                            "sde", "gaussian", "denoisers", "samplers"}),
    ("models", {"settings", "diffusion", "flow"}),
    ("storage", {"config", "checkpoint"}),
    ("library", {"pipeline", "trajectory", "training", "evaluation", "solver_error", "exercises"}),
    ("views", {"views"}),
    ("command lines", {"cli", "train", "evaluate", "grids", "web", "fetch", "chapters", "gpu_check"}),
    ("package", {""}),
]


def module_name(path: Path) -> str:
    """'samplers.base' for fmd_utils/samplers/base.py, 'samplers' for its __init__, '' for the package's."""
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer_of(module: str) -> int:
    top = module.split(".")[0]
    for i, (_, members) in enumerate(LAYERS):
        if top in members:
            return i
    raise AssertionError(f"fmd_utils.{module} is in no layer: add it to LAYERS in tests/test_layers.py (and to the "
                         "package docstring and the Layout of book/appendix_package.md)")


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def package_imports(module: str) -> list[tuple[str, int, bool]]:
    """(imported fmd_utils module, line, at module level?) for every import of the package's own modules."""
    path = MODULES[module]
    tree = ast.parse(path.read_text())
    is_package = path.name == "__init__.py"
    here = module.split(".") if module else []
    package = here if is_package else here[:-1]
    found = []

    def visit(node, top_level: bool) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            return
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
                prefix = ".".join(base + ([node.module] if node.module else []))
            elif node.module and (node.module == "fmd_utils" or node.module.startswith("fmd_utils.")):
                prefix = node.module.removeprefix("fmd_utils").lstrip(".")
            else:
                prefix = None
            if prefix is not None:
                for alias in node.names:  # `from . import x` may name a submodule
                    sub = f"{prefix}.{alias.name}".lstrip(".")
                    found.append((sub if sub in MODULES else prefix, node.lineno, top_level))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "fmd_utils" or alias.name.startswith("fmd_utils."):
                    found.append((alias.name.removeprefix("fmd_utils").lstrip("."), node.lineno, top_level))
        inside = top_level and not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda)
        for child in ast.iter_child_nodes(node):
            visit(child, inside if not isinstance(node, ast.Module) else True)

    visit(tree, True)
    return found


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_go_only_downwards(module):
    mine = layer_of(module)
    for target, line, _ in package_imports(module):
        assert target in MODULES, f"fmd_utils.{module}:{line} imports fmd_utils.{target}, which does not exist"
        theirs = layer_of(target)
        assert theirs <= mine, (f"fmd_utils.{module}:{line} ({LAYERS[mine][0]}) imports fmd_utils.{target} "
                                f"({LAYERS[theirs][0]}), a layer above it")


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_package_import_hides_inside_a_function(module):
    hidden = [(target, line) for target, line, top in package_imports(module) if not top]
    assert not hidden, f"fmd_utils.{module} imports its own package inside functions: {hidden}"


def test_no_import_cycles():
    graph = {m: {t for t, _, _ in package_imports(m) if t != m} for m in MODULES}
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if nxt.startswith(node + ".") or not nxt:
                continue  # a package's __init__ importing its own modules is how a package is built
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " → ".join(f"fmd_utils.{m}" for m in [*path, node, nxt]))
            if state.get(nxt) is None:
                visit(nxt, [*path, node])
        state[node] = 2

    for module in sorted(MODULES):
        if state.get(module) is None:
            visit(module, [])


def test_the_checker_sees_a_violation(tmp_path, monkeypatch):
    """The test itself can fail: a basics module that imported the pipeline would be caught."""
    fake = tmp_path / "fmd_utils"
    fake.mkdir()
    (fake / "classes.py").write_text("from .pipeline import load_pretrained\n\ndef f():\n    from . import data\n")
    monkeypatch.setitem(MODULES, "classes", fake / "classes.py")
    imports = package_imports("classes")
    assert ("pipeline", 1, True) in imports and ("data", 4, False) in imports
    with pytest.raises(AssertionError, match="a layer above it"):
        test_imports_go_only_downwards("classes")


def test_the_inventory_names_every_module():
    """The package docstring and the layout table of the book's package appendix list every module (item 8 of
    issue 20): a new module that is not introduced where a reader looks for it fails here."""
    import fmd_utils

    appendix = (PACKAGE.parent / "book" / "appendix_package.md").read_text()
    layout = appendix[appendix.index("## Layout"):appendix.index("## Extending")]
    for module in MODULES:
        if not module:
            continue
        leaf, top = module.split(".")[-1], module.split(".")[0]
        assert f"``{top}" in fmd_utils.__doc__, f"fmd_utils.{top} is not in the package docstring"
        is_package = MODULES[module].name == "__init__.py"
        where = f"fmd_utils/{module.replace('.', '/')}" + ("/" if is_package else ".py")
        assert (f"`{where}`" in layout if is_package else f"{leaf}.py`" in layout), f"{where}: not in its Layout"
