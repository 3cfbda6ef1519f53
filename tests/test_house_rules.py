"""Guards for the house rules of STYLE.md: boundaries between modules that review alone would let slip."""

import ast
import importlib
import pathlib

import pytest

import nbengine

PACKAGE = pathlib.Path(nbengine.__file__).parent

PRIVATE_OWNERS = {
    "Engine": ({"engine", "eng"}, {"engine.py", "durability.py"}),
    "Book": ({"book", "_book"}, {"book.py"}),
}
"""Class: (names its instances go by, the modules that may touch its ``_*`` names). durability.py
is the engine's link to wal/; nobody but book.py touches a ``Book``'s privates (the engine
uses its public API)."""


def _modules():
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _relative(path):
    return path.relative_to(PACKAGE).as_posix()


def _tree(path):
    return ast.parse(path.read_text(), filename=str(path))


def _imported(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is None:
            yield from ("." * node.level + alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            yield "." * node.level + node.module


@pytest.mark.parametrize("path", sorted((PACKAGE / "kernels").glob("*.py")), ids=_relative)
def test_kernels_import_only_numpy_numba_codes_state_and_each_other(path):
    allowed = {"numpy", "..codes", "..state", ".._jit"}
    for name in _imported(_tree(path)):
        ok = name in allowed or name.split(".")[0] == "numba" or (name.startswith(".") and not name.startswith(".."))
        assert ok, f"{_relative(path)} imports {name}"


def test_numba_njit_only_through_jit_module():
    for path in _modules():
        if _relative(path) == "_jit.py":
            continue
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.Attribute) and node.attr in ("njit", "jit", "jitclass"):
                raise AssertionError(f"{_relative(path)} uses numba.{node.attr}; use nbengine._jit")
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("numba"):
                names = {alias.name for alias in node.names}
                assert not names & {"njit", "jit", "jitclass"}, f"{_relative(path)} imports {names} from numba"


@pytest.mark.parametrize("owner", sorted(PRIVATE_OWNERS))
def test_only_a_class_own_modules_touch_its_private_names(owner):
    receivers, allowed = PRIVATE_OWNERS[owner]
    for path in _modules():
        rel = _relative(path)
        if rel in allowed:
            continue
        for node in ast.walk(_tree(path)):
            if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                    and isinstance(node.value, (ast.Name, ast.Attribute))
                    and (getattr(node.value, "id", None) or getattr(node.value, "attr", None)) in receivers):
                raise AssertionError(f"{rel}:{node.lineno} touches {owner}.{node.attr}")


def _package(rel):
    return rel.rpartition("/")[0]


def test_no_module_imports_private_names_from_another_room():
    """``from .x import _name`` only between modules of one subpackage (kernels/, wal/, …), which
    is one room in several files; a top-level module's privates are its own."""
    for path in _modules():
        rel = _relative(path)
        for node in ast.walk(_tree(path)):
            if not isinstance(node, ast.ImportFrom):
                continue
            if node.level == 0 and not (node.module or "").startswith("nbengine"):
                continue
            private = [a.name for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
            same_room = node.level == 1 and _package(rel) != ""
            assert not private or same_room, f"{rel}:{node.lineno} imports {private} from {node.module}"


def _module_level_imports(path):
    """The nbengine modules ``path`` imports at module level (not inside functions)."""
    package = ["nbengine", *_relative(path).split("/")[:-1]]
    known = {_name(p) for p in _modules()}
    for node in _tree(path).body:
        for item in ast.walk(node) if isinstance(node, (ast.If, ast.Try)) else [node]:
            if isinstance(item, ast.ImportFrom):
                base = package[: len(package) - item.level + 1] if item.level else []
                target = ".".join(base + ([item.module] if item.module else []))
                submodules = {f"{target}.{alias.name}" for alias in item.names} & known
                yield from submodules or {target} & known
            elif isinstance(item, ast.Import):
                yield from {alias.name for alias in item.names} & known


def _name(path):
    parts = ["nbengine", *_relative(path)[:-3].split("/")]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_no_import_cycles():
    graph = {_name(p): set(_module_level_imports(p)) - {_name(p)} for p in _modules()}
    done, path = set(), []

    def visit(module):
        if module in path:
            raise AssertionError("import cycle: " + " -> ".join(path[path.index(module):] + [module]))
        if module in done:
            return
        path.append(module)
        for imported in sorted(graph[module]):
            visit(imported)
        path.pop()
        done.add(module)

    for module in sorted(graph):
        visit(module)


@pytest.mark.parametrize("path", [p for p in _modules() if not p.name.startswith("_") and "bench" not in p.parts],
                         ids=_relative)
def test_public_modules_declare_all(path):
    rel = _relative(path)
    names = {t.id for node in _tree(path).body if isinstance(node, ast.Assign) for t in node.targets
             if isinstance(t, ast.Name)}
    assert "__all__" in names, f"{rel} has no __all__"
    module = importlib.import_module("nbengine." + rel[:-3].replace("/", ".").removesuffix(".__init__").rstrip("."))
    missing = [name for name in module.__all__ if not hasattr(module, name)]
    assert not missing, f"{rel}: __all__ names {missing} that do not exist"


def test_wal_errors_are_exported():
    from nbengine.wal import errors

    for name in ("WalError", "WalCorruptionError", "WalConfigError", "WalPoisonedError"):
        assert getattr(nbengine, name) is getattr(errors, name) and name in nbengine.__all__
