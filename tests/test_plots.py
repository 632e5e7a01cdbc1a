"""Plots: each renders from a real small run's frames, and what it draws equals its input."""

from __future__ import annotations

from pathlib import Path

import matplotlib.colors as mcolors
import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import small
from matplotlib.container import BarContainer
from matplotlib.figure import Figure

import sim
from channelsim import plots
from channelsim.stats import monthly_band
from experiments.analysis import morris_indices, sobol_indices
from experiments.backends import InProcess
from experiments.design import load_experiment
from experiments.runner import run_experiment

REPS = 3
TINY = {"market.n_accounts": 3000, "partners.n_initial": 40, "time.months": 12, "time.warmup_months": 6}


def _stack(frames: list[pd.DataFrame]) -> pd.DataFrame:
    return pd.concat([f.assign(replication=r) for r, f in enumerate(frames)], ignore_index=True)


@pytest.fixture(scope="module")
def run_frames() -> dict[str, object]:
    """Three replications of the small scenario (as ``channelsim run`` writes them) and one of a what-if."""
    sc = small({"time.months": 12})
    results = [sim.run(sc, sim.seed_sequence(7, r)) for r in range(REPS)]
    whatif = small({"time.months": 12, "conflict.fallback": "mediation", "incentives.rebate.scale": 2.0})
    wres = [sim.run(whatif, sim.seed_sequence(7, r)) for r in range(REPS)]
    return {
        "scenario": sc,
        "kpis": _stack([r.kpis for r in results]),
        "conflicts": _stack([r.conflicts for r in results]),
        "migrations": _stack([r.migrations for r in results]),
        "partners": _stack([r.partners for r in results]),
        "whatif_kpis": _stack([r.kpis for r in wres]),
        "single": results[0],
    }


def _bars(ax) -> list[BarContainer]:
    return [c for c in ax.containers if isinstance(c, BarContainer)]


def _heights(container) -> np.ndarray:
    return np.array([p.get_height() for p in container.patches])


def _widths(container) -> np.ndarray:
    return np.array([p.get_width() for p in container.patches])


def _texts_ok(ax) -> None:
    assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()


def test_kpi_series_is_the_mean_with_a_band(run_frames):
    kpis, other = run_frames["kpis"], run_frames["whatif_kpis"]
    fig = plots.kpi_series({"baseline": kpis, "what-if": other}, "gross_profit")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    _texts_ok(ax)
    assert "USD" in ax.get_ylabel() and "per month" in ax.get_ylabel()
    scale = 1e6 if "million" in ax.get_ylabel() else 1e3 if "thousand" in ax.get_ylabel() else 1.0
    for line, frame in zip(ax.get_lines(), (kpis, other), strict=True):
        band = monthly_band(frame, "gross_profit")
        np.testing.assert_allclose(line.get_xdata(), band["month"])
        np.testing.assert_allclose(line.get_ydata(), band["mean"] / scale)
    assert len(ax.collections) == 2  # one CI band per run
    # The band spans the t-interval: its vertices' y range is [min low, max high].
    band = monthly_band(kpis, "gross_profit")
    ys = ax.collections[0].get_paths()[0].vertices[:, 1]
    assert ys.min() == pytest.approx(band["low"].min() / scale)
    assert ys.max() == pytest.approx(band["high"].max() / scale)
    # Any KPI column works; a unitless one keeps its values.
    fig = plots.kpi_series(kpis, "partner_satisfaction")
    ax = fig.axes[0]
    assert "score 0-1" in ax.get_ylabel()
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), monthly_band(kpis, "partner_satisfaction")["mean"])


def test_kpi_series_of_one_replication_has_no_band(run_frames):
    single = run_frames["single"].kpis
    ax = plots.kpi_series(single, "partner_nps").axes[0]
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), single["partner_nps"])
    assert not ax.collections and "one replication" in ax.get_title()


def test_channel_mix_shares(run_frames):
    kpis = run_frames["kpis"]
    fig = plots.channel_mix(kpis)
    ax = fig.axes[0]
    _texts_ok(ax)
    means = kpis.groupby("month")[["revenue_partner", "revenue_direct", "revenue_digital"]].mean()
    total = means.sum(axis=1)
    assert len(ax.containers) == 3
    for container, col in zip(ax.containers, means.columns, strict=True):
        np.testing.assert_allclose(_heights(container), means[col] / total)
    tops = sum(_heights(c) for c in ax.containers)
    np.testing.assert_allclose(tops, 1.0)


def test_tier_distribution_and_migration_matrix(run_frames):
    kpis, mig, sc = run_frames["kpis"], run_frames["migrations"], run_frames["scenario"]
    ax = plots.tier_distribution(kpis).axes[0]
    _texts_ok(ax)
    cols = [f"partners_tier_{t}" for t in sc.tier_names]
    means = kpis.groupby("month")[cols].mean()
    assert [t.get_text() for t in ax.figure.legends[0].get_texts()] == sc.tier_names
    for container, col in zip(ax.containers, cols, strict=True):
        np.testing.assert_allclose(_heights(container), means[col] / means.sum(axis=1))

    assert len(mig) > 0
    fig = plots.tier_migration(mig, sc.tier_names)
    ax = fig.axes[0]
    _texts_ok(ax)
    grid = np.asarray(ax.images[0].get_array())
    want = np.zeros((4, 4))
    idx = {t: i for i, t in enumerate(sc.tier_names)}
    for a, b in zip(mig["from_tier"], mig["to_tier"], strict=True):
        want[idx[a], idx[b]] += 1
    np.testing.assert_allclose(grid, want / REPS)
    assert [t.get_text() for t in ax.get_yticklabels()] == sc.tier_names
    assert grid.sum() == pytest.approx(len(mig) / REPS)


def test_conflicts_by_type_and_resolution(run_frames):
    conflicts = run_frames["conflicts"]
    ax = plots.conflicts_by_resolution(conflicts).axes[0]
    _texts_ok(ax)
    types = [t.get_text() for t in ax.get_xticklabels()]
    assert types == ["horizontal", "vertical", "multichannel"]
    resolutions = [t.get_text() for t in ax.figure.legends[0].get_texts()]
    assert set(resolutions) == set(conflicts["resolution"].astype(str))
    for container, res in zip(ax.containers, resolutions, strict=True):
        want = [((conflicts["type"] == t) & (conflicts["resolution"] == res)).sum() / REPS for t in types]
        np.testing.assert_allclose(_heights(container), want)
    # Every conflict is counted once.
    assert sum(_heights(c).sum() for c in ax.containers) == pytest.approx(len(conflicts) / REPS)
    # The margin-lost table sums the log.
    t = plots.conflict_table(conflicts, value="margin_lost")
    assert t.to_numpy().sum() == pytest.approx(conflicts["margin_lost"].sum() / REPS)


def test_ci_bars(run_frames):
    from channelsim.stats import mean_ci, replication_headlines

    rows = {}
    for name, k in (("baseline", run_frames["kpis"]), ("what-if", run_frames["whatif_kpis"])):
        iv = mean_ci(replication_headlines(k)["margin_lost_to_conflict"])
        rows[name] = {"mean": iv.mean, "ci_low": iv.low, "ci_high": iv.high}
    table = pd.DataFrame.from_dict(rows, orient="index")
    ax = plots.ci_bars(table, ylabel="margin lost (USD)").axes[0]
    np.testing.assert_allclose(_widths(_bars(ax)[0]), table["mean"])  # horizontal bars, top first
    assert [t.get_text() for t in ax.get_yticklabels()] == ["baseline", "what-if"]
    assert ax.get_yticks()[0] > ax.get_yticks()[1]  # the first row at the top
    # sorted: a ranking, the largest at the top; the height grows with the number of bars
    ranked = plots.ci_bars(table, ylabel="margin lost (USD)", sort=True)
    bars = _bars(ranked.axes[0])[0]
    top_first = sorted(zip([p.get_y() for p in bars.patches], _widths(bars), strict=True), reverse=True)
    assert [w for _, w in top_first] == sorted(table["mean"], reverse=True)
    many = pd.DataFrame({"mean": np.arange(20.0), "ci_low": np.arange(20.0) - 1, "ci_high": np.arange(20.0) + 1},
                        index=[f"discount_scale=0.{i}, spiff_scale=1.{i}, a_long_factor_name={i}" for i in range(20)])
    fig = plots.ci_bars(many, ylabel="x", sort=True)
    assert fig.get_size_inches()[1] > 2 * ranked.get_size_inches()[1]


def _inside(fig, artist_bbox, ax) -> bool:
    """Whether a bounding box (display units) lies inside the figure."""
    fb = fig.bbox
    return (artist_bbox.x0 >= fb.x0 - 1 and artist_bbox.x1 <= fb.x1 + 1 and artist_bbox.y0 >= fb.y0 - 1
            and artist_bbox.y1 <= fb.y1 + 1)


def test_legends_of_bar_charts_sit_beside_the_bars_and_titles_name_only_drawn_bands(run_frames):
    kpis, conflicts = run_frames["kpis"], run_frames["conflicts"]
    for fig in (plots.channel_mix(kpis), plots.tier_distribution(kpis), plots.conflicts_by_type(kpis),
                plots.conflicts_by_resolution(conflicts)):
        fig.draw_without_rendering()  # runs the constrained layout
        ax = fig.axes[0]
        legend = fig.legends[0].get_window_extent()
        assert legend.x0 >= ax.get_window_extent().x1  # right of the plotted area, never on the bars
        assert _inside(fig, legend, ax)  # and not cut off by the figure's edge
        assert "t-band" not in ax.get_title() and "mean of 3 replications" in ax.get_title()
    # charts that draw a band say so
    for fig in (plots.revenue_by_channel(kpis), plots.kpi_series(kpis, "gross_profit")):
        ax = fig.axes[0]
        assert "t-band" in ax.get_title() and ax.collections


def test_difference_series_draws_the_paired_difference_with_its_band(run_frames):
    from channelsim.stats import monthly_diff_band

    a, b = run_frames["kpis"], run_frames["whatif_kpis"]
    band = monthly_diff_band(a, b, "gross_profit", paired=True)
    # the paired difference of the means is the mean of the per-replication differences
    want = (b.set_index(["replication", "month"])["gross_profit"]
            - a.set_index(["replication", "month"])["gross_profit"]).groupby("month").mean()
    np.testing.assert_allclose(band["mean"], want.to_numpy())
    assert (band["low"] <= band["mean"]).all() and (band["mean"] <= band["high"]).all()
    fig = plots.difference_series(band, "gross_profit", a="baseline", b="rebate x2")
    ax = fig.axes[0]
    scale = 1e6 if "million" in ax.get_ylabel() else 1e3 if "thousand" in ax.get_ylabel() else 1.0
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), band["mean"] / scale)
    assert ax.collections  # the band
    assert "rebate x2 - baseline" in ax.get_title() and "paired" in ax.get_title()
    assert [t.get_text() for t in ax.get_legend().get_texts()][0] == "rebate x2 - baseline"
    welch = monthly_diff_band(a, b, "gross_profit", paired=False)
    np.testing.assert_allclose(welch["mean"], want.to_numpy())  # same point estimate, another interval
    assert not np.allclose(welch["high"] - welch["low"], band["high"] - band["low"])


def test_compare_forest_names_the_runs_and_marks_significant_kpis():
    t = pd.DataFrame({"a": [100.0, 50.0, 10.0], "diff": [10.0, -1.0, 0.5], "ci_low": [5.0, -3.0, 0.1],
                      "ci_high": [15.0, 1.0, 0.9], "significant": [True, False, True]},
                     index=["gross_profit", "partner_nps", "win_rate"])
    fig = plots.compare_forest(t, "baseline", "rebate_boost")
    ax = fig.axes[0]
    labels = [x.get_text() for x in ax.get_yticklabels()]
    assert labels == ["gross_profit  (significant)", "partner_nps", "win_rate  (significant)"]
    assert "rebate_boost - baseline, % of baseline" in ax.get_xlabel()
    sig_x = ax.lines[0].get_xdata()  # the first error bar: the significant KPIs, in % of A
    np.testing.assert_allclose(sorted(sig_x), sorted([10.0, 5.0]))


def test_lorenz_from_the_partner_panel(run_frames):
    partners = run_frames["partners"]
    ax = plots.lorenz(partners).axes[0]
    totals = plots.partner_revenue_totals(partners)
    first = totals[totals["replication"] == 0]["revenue"]
    x, y = plots.lorenz_points(first)
    np.testing.assert_allclose(ax.get_lines()[0].get_xdata(), x)
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), y)


@pytest.fixture(scope="module")
def response():
    from optimise.lp import AllocationProblem
    from optimise.response import estimate
    from optimise.solve import solve

    sc = sim.Scenario().with_overrides(TINY)
    rd = estimate(sc, [("all", "rebate"), ("gold", "mdf")], multipliers=(0.0, 1.0, 2.0), replications=2, seed=3,
                  workers=0)
    current = sum(c.current for c in rd.curves)
    alloc = solve(AllocationProblem(curves=rd.curves, budget=max(current, 1.0), tier_names=tuple(sc.tier_names)))
    return rd, alloc


def test_response_curves_and_allocation(response):
    rd, alloc = response
    assert rd.points["value"].abs().sum() > 0  # the levers move profit
    frame = alloc.to_frame()
    fig = plots.response_curves(rd.points, frame)
    cells = list(dict.fromkeys(rd.points["cell"]))
    axes = [a for a in fig.axes if a.get_visible() and a.get_title()]
    assert [a.get_title() for a in axes] == cells
    for ax, cell in zip(axes, cells, strict=True):
        p = rd.points[rd.points["cell"] == cell].sort_values("spend")
        est = ax.get_lines()[0]
        np.testing.assert_allclose(est.get_xdata(), p["spend"] / 1e3)
        np.testing.assert_allclose(est.get_ydata(), p["value"] / 1e3)
        assert "USD thousand per year" in ax.get_xlabel() and "USD thousand per year" in ax.get_ylabel()
        row = frame[(frame["tier"] + "/" + frame["lever"]) == cell].iloc[0]
        vlines = [ln.get_xdata()[0] for ln in ax.get_lines() if len(set(ln.get_xdata())) == 1]
        assert any(v == pytest.approx(row["spend"] / 1e3) for v in vlines)  # the optimised spend is marked
        assert any(v == pytest.approx(row["current"] / 1e3) for v in vlines)  # and the current one

    ax = plots.allocation_spend(frame).axes[0]
    assert ax.get_title() and "USD thousand per year" in ax.get_xlabel()
    np.testing.assert_allclose(_widths(ax.containers[0]), frame["spend"] / 1e3)
    np.testing.assert_allclose(_widths(ax.containers[1]), frame["current"] / 1e3)
    assert [t.get_text() for t in ax.get_yticklabels()] == list(frame["tier"] + "/" + frame["lever"])
    assert ax.containers[0].patches[0].get_y() > ax.containers[0].patches[-1].get_y()  # first cell on top


def _sweep(tmp_path: Path, design: dict) -> Path:
    data = {"name": "p", "base": "baseline", "overrides": TINY, "seed": 1, "replications": 1,
            "factors": {"incentives.spiff.amount": {"low": 0.0, "high": 2000.0},
                        "incentives.rebate.scale": {"low": 0.0, "high": 2.0}},
            "design": design, "outputs": {"summary": ["gross_profit", "incentive_spend"]}}
    p = tmp_path / "e.yaml"
    p.write_text(yaml.safe_dump(data))
    run_experiment(load_experiment(p), tmp_path / "out", InProcess())
    return tmp_path / "out"


def test_sobol_chart(tmp_path):
    ix = sobol_indices(_sweep(tmp_path, {"kind": "saltelli", "n": 4}))
    assert np.isfinite(ix[["S1", "ST"]].to_numpy()).all() and ix["ST"].abs().sum() > 0  # the factors matter
    fig = plots.sobol_chart(ix)
    outputs = list(dict.fromkeys(ix["output"]))
    assert [a.get_title() for a in fig.axes] == outputs
    for ax, out in zip(fig.axes, outputs, strict=True):
        g = ix[ix["output"] == out]
        np.testing.assert_allclose(_widths(_bars(ax)[0]), g["S1"])
        np.testing.assert_allclose(_widths(_bars(ax)[1]), g["ST"])
        assert ax.get_xlabel()
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == list(dict.fromkeys(ix["factor"]))


def test_main_effects_chart(tmp_path):
    from experiments.analysis import main_effects
    from experiments.store import load_results

    out = _sweep(tmp_path, {"kind": "full_factorial", "n_levels": 2})
    effects = main_effects(load_results(out), ["incentives.spiff.amount", "incentives.rebate.scale"],
                           ["incentive_spend"])
    fig = plots.main_effects_chart(effects, "incentive_spend")
    assert len(fig.axes) == 2
    scale = 1e6 if "million" in fig.axes[0].get_ylabel() else 1e3 if "thousand" in fig.axes[0].get_ylabel() else 1
    assert "USD" in fig.axes[0].get_ylabel()
    for ax, f in zip(fig.axes, ["incentives.spiff.amount", "incentives.rebate.scale"], strict=True):
        g = effects[effects["factor"] == f]
        line = ax.get_lines()[0]
        np.testing.assert_allclose(line.get_xdata(), g["level"])
        np.testing.assert_allclose(line.get_ydata(), g["mean"] / scale)
        assert f in ax.get_xlabel()


def test_morris_chart(tmp_path):
    ix = morris_indices(_sweep(tmp_path, {"kind": "morris", "n": 2, "levels": 4}))
    fig = plots.morris_chart(ix)
    for ax, out in zip(fig.axes, list(dict.fromkeys(ix["output"])), strict=True):
        g = ix[ix["output"] == out]
        pts = ax.get_lines()[0]
        np.testing.assert_allclose(pts.get_xdata(), g["mu_star"])
        np.testing.assert_allclose(pts.get_ydata(), g["sigma"])
        assert "mu*" in ax.get_xlabel() and "sigma" in ax.get_ylabel() and ax.get_title() == out


def test_plots_leave_no_pyplot_state(run_frames):
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    plots.channel_mix(run_frames["kpis"])
    plots.tier_migration(run_frames["migrations"])
    assert plt.get_fignums() == before
    png = plots.to_png_base64(plots.conflicts_by_resolution(run_frames["conflicts"]))
    assert len(png) > 1000
    assert mcolors.is_color_like(plots._COLOURS[0])
