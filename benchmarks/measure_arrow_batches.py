"""Interleaved A/B of ``Engine.submit`` on Arrow RecordBatches: two checkouts, alternating processes.

    python benchmarks/measure_arrow_batches.py BASELINE_DIR CANDIDATE_DIR [--rounds 5]

Each round runs one fresh process per checkout (A then B, then B then A next round), each
measuring: 1-row RecordBatch ``submit`` p50 (tables read, and not read), 100-row batches
orders/s and 64K-row batches orders/s (tables read). Prints the medians over rounds.
"""

import json
import statistics
import subprocess
import sys

CHILD = r"""
import json, time, numpy as np, nbengine
from nbengine import generate
nbengine.warmup()
flow = generate.standard_mix(262_144, seed=0)
table = generate.to_table(flow)
clock = time.perf_counter_ns
out = {"path": nbengine.__file__}
def p50(read):
    engine = nbengine.Engine()
    batches = table.slice(0, 5000).to_batches(max_chunksize=1)
    lat = np.empty(len(batches), dtype=np.int64)
    for i, b in enumerate(batches):
        t = clock(); r = engine.submit(b)
        if read:
            r.trades.num_rows + r.events.num_rows
        lat[i] = clock() - t
    return float(np.percentile(lat, 50)) / 1000
def rate(rows, total):
    engine = nbengine.Engine()
    batches = table.slice(0, total).to_batches(max_chunksize=rows)
    t = time.perf_counter()
    for b in batches:
        r = engine.submit(b); r.trades.num_rows + r.events.num_rows
    return total / (time.perf_counter() - t) / 1e6
out["1row_p50_us_read"] = p50(True)
out["1row_p50_us_submit_only"] = p50(False)
out["100row_Mps"] = rate(100, 100_000)
out["64k_Mps"] = rate(65_536, 262_144)
print(json.dumps(out))
"""


def run(checkout):
    env = {"PYTHONPATH": checkout, "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", CHILD], env=env, cwd=checkout, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    a, b = sys.argv[1], sys.argv[2]
    rounds = int(sys.argv[sys.argv.index("--rounds") + 1]) if "--rounds" in sys.argv else 5
    samples = {"A": [], "B": []}
    for r in range(rounds):
        order = [("A", a), ("B", b)] if r % 2 == 0 else [("B", b), ("A", a)]
        for label, checkout in order:
            samples[label].append(run(checkout))
            print(label, samples[label][-1], flush=True)
    for label in "AB":
        keys = [k for k in samples[label][0] if k != "path"]
        print(label, samples[label][0]["path"], {k: round(statistics.median(s[k] for s in samples[label]), 3) for k in keys})


if __name__ == "__main__":
    main()
