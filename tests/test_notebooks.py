"""The notebooks: each runs from top to bottom without error, is committed without
outputs, and imports only the public API.

They are executed with nbclient rather than the nbmake pytest plugin: nbclient is what the
``notebook`` extra installs anyway, and here each run gets the kernel environment it needs
(``PYTHONPATH`` pointing at the very ``nbengine`` these tests import, ``TMPDIR`` inside
pytest's temporary directory, the committed bench report), a per-cell timeout, a working directory of
``notebooks/`` as in Jupyter, and a skip under ``NUMBA_DISABLE_JIT=1``, which nbmake
would not give without extra flags in every invocation.
"""

import ast
import os
from pathlib import Path

import nbformat
import pytest

import nbengine

from .conftest import JIT_DISABLED

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
BENCH_REPORT = NOTEBOOK_DIR.parent / "docs" / "report.json"
"""The committed ``nbengine bench`` report: 03-performance plots it beside its live numbers."""
CELL_TIMEOUT = 180
"""Seconds one cell may take (a cold numba cache compiles every kernel in the first cell)."""

PUBLIC_MODULES = {
    "nbengine", "nbengine.codes", "nbengine.generate", "nbengine.backtest", "nbengine.backtest.examples",
    "nbengine.loaders.lobster",
}
"""What a notebook may import from nbengine (``from nbengine import X`` needs X in ``__all__``
or one of these modules)."""


def _ids(paths):
    return [path.name for path in paths]


def _code_cells(path):
    return [cell for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "code"]


def test_every_notebook_of_the_issue_is_here():
    assert {"01-quickstart.ipynb", "02-backtest.ipynb", "03-performance.ipynb"} <= set(_ids(NOTEBOOKS))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_committed_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    dirty = [
        number
        for number, cell in enumerate(notebook.cells, 1)
        if cell.get("outputs") or cell.get("execution_count") is not None or "execution" in cell.metadata
    ]
    assert not dirty, (
        f"{path.name}: cells {dirty} hold outputs, execution counts or timings; "
        f"strip them with `python notebooks/strip_outputs.py {path.name}`"
    )


def _nbengine_imports(source):
    """``(module, name)`` of every import from nbengine in ``source`` (name None for ``import``)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(alias.name, None) for alias in node.names if alias.name.split(".")[0] == "nbengine"]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "nbengine":
            found += [(node.module, alias.name) for alias in node.names]
    return found


def _is_public(module, name):
    """Whether ``import module`` (name None) or ``from module import name`` stays in the public API."""
    if name is not None and f"{module}.{name}" in PUBLIC_MODULES:
        return True
    if module == "nbengine" and name is not None:
        return name in nbengine.__all__
    return module in PUBLIC_MODULES


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_imports_only_the_public_api(path):
    private = [
        f"{module}.{name}" if name else module
        for cell in _code_cells(path)
        for module, name in _nbengine_imports(cell.source)
        if not _is_public(module, name)
    ]
    assert not private, f"{path.name} imports beyond the public API: {private}"


def test_import_check_tells_public_from_private():
    source = (
        "import nbengine.state\nfrom nbengine import Engine, schema, generate\n"
        "from nbengine.kernels import match\nfrom nbengine.loaders import lobster\nimport numpy"
    )
    imports = _nbengine_imports(source)
    assert [_is_public(*i) for i in imports] == [False, True, False, True, False, True]
    assert [i[1] for i in imports] == [None, "Engine", "schema", "generate", "match", "lobster"]


def _snapshot(directory):
    return {path.name for path in directory.iterdir()}


@pytest.mark.skipif(
    JIT_DISABLED,
    reason="notebooks replay hundreds of thousands of orders: far too slow with NUMBA_DISABLE_JIT=1; "
    "they run in the JIT job",
)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_runs(path, tmp_path, monkeypatch):
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    package_root = str(Path(nbengine.__file__).resolve().parent.parent)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setenv("NBENGINE_BENCH_REPORT", str(BENCH_REPORT))
    before = _snapshot(NOTEBOOK_DIR)
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook, timeout=CELL_TIMEOUT, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK_DIR)}}
    )
    try:
        client.execute()
    except CellExecutionError as error:
        pytest.fail(f"{path.name} failed:\n{error}", pytrace=False)
    assert _snapshot(NOTEBOOK_DIR) == before, f"{path.name} wrote into notebooks/"
