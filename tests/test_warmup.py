"""``nbengine.warmup()`` compiles what the engine's scalar path calls, so no first call compiles."""

import json
import subprocess
import sys

import pytest

from nbengine._jit import JIT_DISABLED

# Run in a new process: in this one, earlier tests may have compiled the kernels already.
PROBE = r"""
import importlib, json, pkgutil, tempfile
from numba.core.registry import CPUDispatcher
import nbengine
from nbengine import kernels

def compiled():
    found = {}
    for info in pkgutil.iter_modules(kernels.__path__):
        module = importlib.import_module(f"nbengine.kernels.{info.name}")
        for name, value in vars(module).items():
            if isinstance(value, CPUDispatcher) and value.__module__ == module.__name__:
                found[f"{info.name}.{name}"] = len(value.signatures)
    return found

nbengine.warmup()
before = compiled()
with tempfile.TemporaryDirectory() as directory:
    for mode in ("async", "group"):
        with nbengine.Engine(wal_dir=f"{directory}/{mode}", durability=mode) as engine:
            engine.submit_one(1, 1, nbengine.BUY, nbengine.LIMIT, 100, 5)
            engine.submit_one(2, 2, nbengine.SELL, nbengine.LIMIT, 100, 3, symbol=1, account=4)
            list(engine.submit_rows([(3, 3, nbengine.SELL, nbengine.LIMIT, 100, 2)]))
engine = nbengine.Engine()
engine.submit_one(1, 1, nbengine.BUY, nbengine.LIMIT, 100, 5)
engine.submit_one(2, 2, nbengine.SELL, nbengine.MARKET, 0, 3)
after = compiled()
print(json.dumps({name: [before.get(name, 0), n] for name, n in after.items() if n != before.get(name, 0)}))
"""


@pytest.mark.skipif(JIT_DISABLED, reason="kernels are plain Python under NUMBA_DISABLE_JIT")
def test_the_scalar_path_compiles_nothing_after_warmup():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True).stdout
    compiled_late = json.loads(out.strip().splitlines()[-1])
    assert compiled_late == {}, f"compiled after warmup() ([before, after] signatures): {compiled_late}"
