"""The benchmark script still runs (on a tiny size); it is not timed here.

Speed targets live in ``benchmarks/`` and ``docs/PERFORMANCE.md``, not in tests: these only
check that ``benchmarks/run_benchmarks.py`` and the agent-per-account reference do not rot.
"""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
TINY = {
    "market.n_accounts": 2_000,
    "market.n_territories": 4,
    "partners.n_initial": 20,
    "partners.recruitment.sources.events.rate": 0.125, "partners.recruitment.sources.directories.rate": 0.125,
    "time.warmup_months": 1,
    "time.months": 2,
}


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def rb():
    return _load("run_benchmarks")


@pytest.fixture(scope="module")
def ref():
    return _load("reference_agents")


def test_large_scenario_matches_large_yaml(rb):
    scenario, source = rb.build_scenario("large")
    assert scenario.market.n_accounts == 1_000_000
    assert scenario.partners.n_initial == 5_000
    assert scenario.market.n_territories == 200
    base, _ = rb.build_scenario("baseline")
    assert scenario.time.warmup_months + scenario.time.months == base.time.warmup_months + base.time.months
    assert source


def test_run_all_tiny_writes_a_complete_table(rb, tmp_path):
    # Four child processes (timing + memory for baseline and the reference), each a few tenths of a
    # second of work plus the imports; the large scenario's set-up is covered by the test above.
    results = rb.run_all(baseline_reps=2, reference_reps=1, reference_accounts=300, overrides=TINY, large=False, cpu=0)
    w = results["workloads"]
    assert set(w) == {"baseline", "reference_agents"}
    for row in w.values():
        assert row["steps"] == 3  # TINY: 1 warm-up + 2 reported months; the reference follows the scenario
        assert len(row["seconds"]) == row["reps"] and len(row["cpu_seconds"]) == row["reps"]
        assert row["seconds_min"] > 0 and row["account_months_per_s_median"] > 0
        assert row["peak_mib"] >= row["rss_before_run_mib"] > 0
        if row["affinity"] is not None:  # pinned to one core where the platform allows it
            assert len(row["affinity"]) == 1
    assert w["baseline"]["n_accounts"] == 2_000
    assert results["throughput_ratio_vs_reference_median"]["baseline"] > 0
    m = results["machine"]
    assert m["python"] and m["numpy"] and m["mesa"] and m["cpu_model"] and m["date_utc"]
    assert m["load_average_start"] and m["load_average_end"]
    table = rb.format_table(results)
    assert "baseline" in table and "reference_agents" in table and "load average" in table
    (tmp_path / "results.json").write_text(json.dumps(results))  # JSON-serialisable


def test_extrapolated_row_is_labelled(rb):
    results = {
        "workloads": {"reference (extr.)": {"extrapolated": True, "n_accounts": 10, "seconds_median": 1.0}},
        "throughput_ratio_vs_reference_median": {},
        "machine": {
            "cpu_model": "x",
            "python": "3",
            "numpy": "2",
            "mesa": "3",
            "load_average_start": [1],
            "load_average_end": [1],
            "date_utc": "now",
        },
    }
    assert "not measured" in rb.format_table(results)


def test_reference_model_follows_bass(ref):
    model = ref.run(5_000, months=48, seed=3)
    assert model.steps == 48 and len(model.agents) == 5_000
    p, q, t = model.bass_p, model.bass_q, 4.0  # years
    e = math.exp(-(p + q) * t)
    closed_form = (1 - e) / (1 + (q / p) * e)  # 0.233
    assert abs(model.adopted / 5_000 - closed_form) < 0.03  # ~5 binomial SDs, plus monthly discretisation
    assert sum(a.adopted for a in model.agents) == model.adopted


def test_sweep_sessions_pool_every_repeat(tmp_path):
    """``sweep_benchmark.py --pool``: the repeats of all files in one sample, a seeded interval around the median."""
    sb = _load("sweep_benchmark")
    files = []
    for i, ratios in enumerate([[0.10, 0.30], [-0.05, 0.20, 0.02]]):
        files.append(tmp_path / f"s{i}.json")
        files[-1].write_text(json.dumps({"dask_vs_local_per_repeat": ratios}))
    p = sb.pool_sessions(files, resamples=2000)
    assert p["sessions"] == 2 and p["repeats"] == 5
    assert p["median"] == pytest.approx(0.10) and p["mean"] == pytest.approx(0.114)
    low, high = p["ci95_median"]
    assert -0.05 <= low <= p["median"] <= high <= 0.30
    assert sb.pool_sessions(files, resamples=2000)["ci95_median"] == (low, high)  # seeded
    committed = sorted((BENCH / "sweep_sessions").glob("*.json"))
    assert sb.pool_sessions(committed, resamples=200)["repeats"] == 56  # the sessions docs/PERFORMANCE.md pools
    # with batches, each session also has one-run-per-task Dask sweeps; sessions without a backend are skipped
    batches = sorted((BENCH / "sweep_sessions" / "batches").glob("*.json"))
    assert sb.pool_sessions(batches, resamples=200, backend="dask-single")["repeats"] == 40  # as docs/PERFORMANCE.md
    assert sb.pool_sessions([*files, *batches], resamples=200, backend="dask-single")["sessions"] == len(batches)


def test_whatif_effect_prints_the_paired_table(capsys):
    wf = _load("whatif_effect")
    sets = [f"--set={k}={v}" for k, v in TINY.items()]
    assert wf.main(["speciality_tiering", "--replications", "2", "--workers", "1", *sets]) == 0
    out = capsys.readouterr().out
    assert "2 paired replications" in out
    assert "| `operating_profit` |" in out and "| `win_rate` |" in out and " pts [" in out
