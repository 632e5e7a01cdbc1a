"""Analysis and the HTML report on tiny stored experiments."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from experiments.analysis import main_effects, mean_ci, morris_indices, point_means, sobol_indices
from experiments.backends import InProcess
from experiments.design import load_experiment
from experiments.report import write_report
from experiments.runner import run_experiment
from experiments.store import load_results

TINY = {"market.n_accounts": 3000, "partners.n_initial": 40, "time.months": 4, "time.warmup_months": 2}
LEVERS = {"incentives.spiff.amount": {"low": 0.0, "high": 2000.0}, "incentives.rebate.scale": {"low": 0.0, "high": 2.0}}


def sweep(tmp_path: Path, **changes) -> Path:
    data = {"name": "a", "base": "baseline", "overrides": TINY, "seed": 1, "replications": 1, "factors": LEVERS,
            "outputs": {"summary": ["gross_profit", "incentive_spend"]}}
    data.update(changes)
    p = tmp_path / "e.yaml"
    p.write_text(yaml.safe_dump(data))
    run_experiment(load_experiment(p), tmp_path / "out", InProcess())
    return tmp_path / "out"


def test_mean_ci_matches_student_t():
    n, mean, sd, lo, hi = mean_ci(np.array([1.0, 2.0, 3.0, 4.0]))
    assert (n, mean) == (4, 2.5)
    assert hi - mean == pytest.approx(3.182446 * sd / 2, rel=1e-5)
    assert np.isnan(mean_ci(np.array([1.0]))[3])


def test_point_means_and_main_effects(tmp_path):
    out = sweep(tmp_path, replications=3, design={"kind": "full_factorial", "n_levels": 2})
    df = load_results(out)
    pm = point_means(df, list(LEVERS), ["gross_profit"])
    assert len(pm) == 4 and (pm["n"] == 3).all()
    assert ((pm["ci_low"] <= pm["mean"]) & (pm["mean"] <= pm["ci_high"])).all()
    me = main_effects(df, list(LEVERS), ["incentive_spend"])
    assert set(me["factor"]) == set(LEVERS) and (me["n"] == 6).all()
    spiff = me[me["factor"] == "incentives.spiff.amount"].sort_values("level")
    assert spiff["mean"].iloc[1] >= spiff["mean"].iloc[0]  # more SPIFF, no less spend


def test_sobol_indices_and_report(tmp_path):
    out = sweep(tmp_path, design={"kind": "saltelli", "n": 8})
    ix = sobol_indices(out)
    assert len(ix) == 2 * 2 and {"S1", "ST", "S1_conf", "ST_conf"} <= set(ix.columns)
    path = write_report(out)
    text = path.read_text()
    assert "Sobol indices" in text and "data:image/png;base64," in text and "Main effects" in text
    assert "<script" not in text  # self-contained, static


def test_morris_indices(tmp_path):
    out = sweep(tmp_path, design={"kind": "morris", "n": 4, "levels": 4})
    ix = morris_indices(out, ["incentive_spend"])
    assert sorted(ix["factor"]) == sorted(LEVERS)
    assert (ix["mu_star"] >= 0).all()


def test_report_lists_failed_runs(tmp_path):
    out = sweep(tmp_path, factors={"market.n_accounts": [3000, 50]})
    text = write_report(out, tmp_path / "r.html").read_text()
    assert "Failed runs" in text and "retry-failed" in text
    assert isinstance(load_results(out), pd.DataFrame)
