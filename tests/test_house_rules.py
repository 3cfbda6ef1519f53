"""Guards for the house rules of STYLE.md: boundaries between modules that review alone would let slip."""

import ast
import importlib
import pathlib

import pytest

import nbengine

PACKAGE = pathlib.Path(nbengine.__file__).parent

ENGINE_MODULES = {"engine.py", "durability.py"}
"""The engine's own modules: only they touch ``Engine._*`` (durability.py is the engine's link to wal/)."""


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


def test_only_the_engine_touches_engine_private_names():
    for path in _modules():
        rel = _relative(path)
        if rel in ENGINE_MODULES:
            continue
        for node in ast.walk(_tree(path)):
            if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                    and isinstance(node.value, (ast.Name, ast.Attribute))
                    and (getattr(node.value, "id", None) or getattr(node.value, "attr", None)) in ("engine", "eng")):
                raise AssertionError(f"{rel}:{node.lineno} touches Engine.{node.attr}")


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
