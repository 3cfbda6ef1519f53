"""``nbengine bench`` on a tiny flow: every section present and consistent with independent runs."""

import json

import numpy as np
import pytest

import nbengine
from nbengine.bench import readme
from nbengine.bench.charts import CHART_FILES, matplotlib_available
from nbengine.cli import main
from nbengine.codes import REASON_NAMES, REJECTED
from nbengine.durability import DURABILITY_MODES
from nbengine.generate import standard_mix

ORDERS = 2_000
SEED = 7
BATCH_SIZES = [1, 100, 1_000]
SECTIONS = ("## Test overview", "## Results", "## Latency", "## One order at a time", "## Batch-size curve",
            "## Durability",
            "## Against the plain-Python reference book")


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory):
    """Run the quick bench once through the command line; return its report, Markdown and paths."""
    out = tmp_path_factory.mktemp("bench")
    readme_path = out / "README.md"
    readme_path.write_text(f"# title\n\n## Performance\n\n{readme.START}\nold numbers\n{readme.END}\n\n## After\n")
    argv = ["bench", "--quick", "--orders", str(ORDERS), "--seed", str(SEED), "--batch-sizes",
            ",".join(map(str, BATCH_SIZES)), "--out", str(out / "docs"), "--readme", str(readme_path), "--quiet"]
    assert main(argv) == 0
    report = json.loads((out / "docs" / "report.json").read_text())
    return report, (out / "docs" / "report.md").read_text(), out, readme_path


def _independent_run():
    engine = nbengine.Engine()
    return engine.submit(standard_mix(ORDERS, seed=SEED))


def test_report_has_every_section_and_the_command_to_reproduce_it(bench_run):
    report, markdown, out, _ = bench_run
    assert report["command"].startswith(f"nbengine bench --quick --orders {ORDERS} --seed {SEED}")
    assert report["command"] in markdown.splitlines()[:10]
    positions = [markdown.index(section) for section in SECTIONS]
    assert positions == sorted(positions)
    for key in ("nbengine", "commit", "python", "numba", "numpy", "pyarrow", "cpu", "cores", "date"):
        assert report["overview"][key]
    assert report["settings"]["seed"] == SEED and report["settings"]["orders"] == ORDERS


def test_results_equal_an_independent_run_on_the_same_flow(bench_run):
    report, _, _, _ = bench_run
    result = _independent_run()
    events = result.events.to_pydict()
    rejected = [reason for event, reason in zip(events["event"], events["reason"]) if event == REJECTED]
    expected_rejects = {REASON_NAMES[code]: rejected.count(code) for code in sorted(set(rejected))}
    main_run = report["results"]
    assert main_run["orders"] == ORDERS
    assert main_run["trades"] == result.trades.num_rows
    assert main_run["events"] == result.events.num_rows
    assert main_run["rejects"] == expected_rejects
    assert main_run["errors"] == 0 and main_run["first_error"] is None


def test_reference_comparison_was_checked_and_found_no_difference(bench_run):
    reference = bench_run[0]["reference"]
    assert reference["orders"] == ORDERS
    assert reference["trades"] > 0 and reference["events"] > 0
    assert reference["trade_mismatches"] == 0 and reference["event_mismatches"] == 0
    assert reference["state_hash_equal"] is True


def _assert_ordered(stats):
    assert stats["n"] > 0
    values = [stats[name] for name in ("min", "p50", "p90", "p99", "p99.9", "max")]
    assert values == sorted(values)
    assert stats["min"] <= stats["avg"] <= stats["max"]


def test_latency_sections_cover_every_batch_size(bench_run):
    report = bench_run[0]
    scalar = report["latency"]["scalar"]
    assert scalar["latency"]["n"] == scalar["orders"] == ORDERS
    _assert_ordered(scalar["latency"])
    points = report["latency"]["batches"]
    assert [point["batch"] for point in points] == BATCH_SIZES
    for point in points:
        assert point["calls"] == point["latency"]["n"] >= report["settings"]["min_samples"]
        assert point["orders"] == point["passes"] * min(ORDERS, point["batch"] * report["settings"]["max_calls"])
        _assert_ordered(point["latency"])


def test_durability_table_has_every_mode_and_what_it_survives(bench_run):
    report, markdown, _, _ = bench_run
    modes = report["durability"]
    assert [mode["mode"] for mode in modes] == list(DURABILITY_MODES)
    for mode in modes:
        assert [point["batch"] for point in mode["batches"]] == [1_024, ORDERS]
        for point in mode["batches"]:
            assert point["ack"]["n"] == int(np.ceil(mode["orders"] / point["batch"]))
            _assert_ordered(point["ack"])
        assert mode["pipelined"]["batch"] == ORDERS and mode["pipelined"]["orders_per_s"] > 0
        assert mode["scalar_ack"]["n"] == mode["scalar_orders"]
        _assert_ordered(mode["scalar_ack"])
        assert markdown.count(f"| `{mode['mode']}` |") == 3  # promises, durability runs, one at a time
    assert "survives kill -9" in markdown and "every acknowledged batch" in markdown


def test_one_at_a_time_table_has_every_mode_beside_its_claim_and_the_disk(bench_run):
    report, markdown, _, readme_path = bench_run
    test = report["one_at_a_time"]
    assert test["orders"] == ORDERS
    assert [mode["mode"] for mode in test["modes"]] == list(DURABILITY_MODES)
    for mode in test["modes"]:
        assert mode["latency"]["n"] == ORDERS and mode["orders_per_s"] > 0
        _assert_ordered(mode["latency"])
    assert test["disk"]["latency"]["n"] == test["disk"]["syncs"] and test["disk"]["syncs_per_s"] > 0
    for text in (markdown, readme_path.read_text()):
        assert "418.8 K orders/s, 1.75 µs" in text and "9.78 K orders/s, 99.68 µs" in text
        assert "`submit_rows`, one thread" in text


def test_charts_drawn_or_said_to_be_skipped(bench_run):
    report, markdown, out, _ = bench_run
    if matplotlib_available():
        for name, file in CHART_FILES.items():
            assert report["charts"][name] == f"report/{file}"
            assert (out / "docs" / "report" / file).stat().st_size > 0
            assert f"]({report['charts'][name]})" in markdown
    else:
        assert report["charts"] is None and "Charts skipped" in markdown


def test_readme_section_replaced_between_markers_only(bench_run):
    report, _, _, readme_path = bench_run
    text = readme_path.read_text()
    assert text.startswith("# title\n\n## Performance\n\n" + readme.START + "\n")
    assert text.endswith(readme.END + "\n\n## After\n")
    assert "old numbers" not in text
    assert "[docs/report.md](docs/report.md)" in text
    assert report["command"] in text


def test_readme_without_markers_is_refused(tmp_path):
    path = tmp_path / "README.md"
    path.write_text("no markers here\n")
    with pytest.raises(ValueError, match="bench:start"):
        readme.update_readme(path, {}, tmp_path / "report.md")
