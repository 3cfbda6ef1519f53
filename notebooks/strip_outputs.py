"""Strip outputs, execution counts and timing metadata from notebooks.

The repository keeps notebooks without outputs so that diffs show only what changed in
the code and text (``tests/test_notebooks.py`` checks this). Run after editing a notebook::

    python notebooks/strip_outputs.py                 # every notebook in this directory
    python notebooks/strip_outputs.py 02-backtest.ipynb
"""

import sys
from pathlib import Path

import nbformat


def strip(path):
    """Rewrite the notebook at ``path`` without outputs, execution counts or timings.

    The kernel's language details (Python version and the like) go too, so that running
    a notebook on another machine changes nothing in it.
    """
    notebook = nbformat.read(path, as_version=4)
    notebook.metadata["language_info"] = {"name": "python"}
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        cell.metadata.pop("execution", None)
    nbformat.write(notebook, path)


def main(paths):
    """Strip ``paths``, or every ``*.ipynb`` next to this script when none are given."""
    for path in paths or sorted(Path(__file__).resolve().parent.glob("*.ipynb")):
        strip(path)
        print(f"stripped {path}")


if __name__ == "__main__":
    main(sys.argv[1:])
