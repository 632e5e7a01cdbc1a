"""The notebooks: each executes at small sizes (CHANNELSIM_NB_SMALL=1) and its cells produce the expected objects;
every notebook in notebooks/ is stored without outputs.

Execution uses nbclient with the ``python3`` kernel of this interpreter (ipykernel). After a notebook's own
cells, the test runs one more cell in the same kernel that evaluates checks on the notebook's variables and
prints them as JSON.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
MARKER = "@@checks@@"

#: Per notebook: expressions evaluated in its kernel after it ran; each must be true.
CHECKS: dict[str, list[str]] = {
    "01_quickstart.ipynb": [
        "isinstance(baseline_runs, Replications) and baseline_runs.n == REPLICATIONS == 2",
        # replication r is sim.run(scenario, sim.seed_sequence(SEED, r)), as channelsim run does
        "baseline_kpis[baseline_kpis['replication'] == 1].drop(columns='replication').reset_index(drop=True)"
        ".equals(sim.run(baseline, sim.seed_sequence(SEED, 1)).kpis)",
        "whatif.incentives.rebate.scale == 2 * baseline.incentives.rebate.scale",
        "baseline.market.n_accounts == 3000 and baseline.time.months == 12",
        "set(baseline_kpis['replication']) == {0, 1} and baseline_kpis['month'].max() == 12",
        "isinstance(comparison, Comparison) and comparison.paired",
        "comparison.table.loc['gross_profit', 'ci_low'] <= comparison.table.loc['gross_profit', 'diff'] "
        "<= comparison.table.loc['gross_profit', 'ci_high']",
        "comparison.table.loc['incentive_spend', 'diff'] > 0",  # doubling rebates costs money
        "isinstance(fig_compare, Figure) and isinstance(fig_gp, Figure)",
        "len(fig_gp.axes[0].get_lines()) == 2",
    ],
    "02_conflict.ipynb": [
        "len(results) == 6 and all(r.n == REPLICATIONS for r in results.values())",
        "set(outcomes.index) == set(POLICIES)",
        "'mediation' in set(conflicts['mediation only']['resolution'].astype(str))",
        "set(conflicts['price contest only']['resolution'].astype(str)) == {'price_contest'}",
        "'deal_registration' in set(conflicts['deal registration']['resolution'].astype(str))",
        "'territory_exclusivity' in set(conflicts['territory exclusivity']['resolution'].astype(str))",
        "all(t.shape[0] == 3 for t in resolution_tables.values())",
        "isinstance(fig_margin, Figure) and isinstance(fig_satisfaction, Figure)",
        "margin_by_resolution.shape[0] == 6",
    ],
    "03_budget.ipynb": [
        "len(response.curves) == 3 and set(response.points['cell']) == {'silver/rebate', 'gold/rebate', 'all/mdf'}",
        "allocation.status.lower() == 'optimal'",
        "allocation.total_spend <= budget * (1 + 1e-6)",
        "len(allocation_frame) == 3 and {'tier', 'lever', 'spend', 'marginal_roi'} <= set(allocation_frame.columns)",
        "set(validation['policy']) == {'current', 'optimised'}",
        "validation.set_index('policy').loc['current', 'diff_vs_current'] == 0",
        "isinstance(fig_curves, Figure) and isinstance(fig_allocation, Figure) and isinstance(fig_validation, Figure)",
    ],
    "04_sensitivity.ipynb": [
        "experiment.design.kind == 'saltelli' and N_BASE == 4",
        "summary.failed == 0 and summary.executed == experiment.n_points == 4 * (5 + 2)",
        "len(results) == summary.executed",
        "set(indices['factor']) == set(experiment.factor_names) and len(indices) == 5 * 3",
        "{'S1', 'ST', 'S1_conf', 'ST_conf'} <= set(indices.columns)",
        "isinstance(fig_sobol, Figure) and len(fig_sobol.axes) == 3",
        "isinstance(fig_effects, Figure) and len(fig_effects.axes) == 5",
    ],
    "05_your_own_policy.ipynb": [
        "issubclass(RevenueRankTiering, sim.policies.TieringPolicy) and issubclass(GrowthBonus, sim.policies.Lever)",
        "set(results) == {'default programme', 'revenue-rank tiering', 'growth bonus'}",
        # The rank policy puts about the top 5 % of active partners in the top tier after each review.
        "(kpis['revenue-rank tiering']['partners_tier_platinum'] <= "
        "0.05 * kpis['revenue-rank tiering']['active_partners'] + 1).all()",
        "not kpis['revenue-rank tiering']['partners_tier_platinum'].equals(kpis['default programme']"
        "['partners_tier_platinum'])",
        "policy_comparison.query('policy == \"growth bonus\" and kpi == \"incentive_spend\"')"
        "['diff_vs_default'].iloc[0] > 0",
        "policy_comparison.query('policy == \"default programme\"')['diff_vs_default'].abs().max() == 0",
        "isinstance(fig_gp, Figure)",
    ],
    "06_early_intervention.ipynb": [
        "len(watch_list) == min(10, len(watch)) and watch_list['risk'].is_monotonic_decreasing",
        "effect.replications == REPLICATIONS and set(effect.totals['arm']) == {'none', 'risk', 'random'}",
        "set(comparison['contrast']) == {'risk - none', 'random - none', 'risk - random'} and len(comparison) == 12",
        "(comparison['ci_low'] <= comparison['diff']).all() and (comparison['diff'] <= comparison['ci_high']).all()",
        # equal cost: the same number of partners a month at the same price in both treated arms
        "means.loc['none', 'intervention_spend'] == 0 and "
        "means.loc['risk', 'intervention_spend'] == means.loc['random', 'intervention_spend'] > 0",
        # the two measurements share their control runs (same seeds, same warm-up)
        "by_satisfaction.arm('none')['partners_exited'].equals(effect.arm('none')['partners_exited'])",
        "isinstance(fig_pairs, Figure) and isinstance(fig_diff, Figure)",
    ],
    "07_ecosystem.ipynb": [
        "set(roc) == {'classifier', 'cox', 'satisfaction_rule'} and 0 <= evaluation['auc']['cox']['auc'] <= 1",
        "evaluation['replications']['train'] and evaluation['replications']['test'] and "
        "not set(evaluation['replications']['train']) & set(evaluation['replications']['test'])",
        "callable(early_warning.as_risk())",
        "set(comparisons) == {'speciality tiering', 'collaboration'} and "
        "all(isinstance(c, Comparison) and c.paired for c in comparisons.values())",
        "ecosystem.loc['specialisations', 'baseline'] == 0 "
        "and ecosystem.loc['specialisations', 'speciality tiering'] > 0",
        "ecosystem.loc['collaborative_deals', 'baseline'] == 0 "
        "and ecosystem.loc['collaborative_deals', 'collaboration'] > 0",
        "isinstance(fig_roc, Figure) and isinstance(fig_contests, Figure)",
    ],
    "08_from_your_export.ipynb": [
        "summary['months']['count'] == 24 and set(deals.index) == {'partner', 'direct', 'digital'}",
        "set(parameters.index) == {p.name for p in PARAMETERS} and "
        "set(parameters['status']) <= {'fitted', 'not identifiable'}",
        # a fitted parameter's estimate lies in its interval; the others keep their defaults in the fitted scenario
        "all(r.lower <= r.estimate <= r.upper for r in parameters[parameters['status'] == 'fitted'].itertuples())",
        "all(field(fitted, p.path) == field(base, p.path) for p in PARAMETERS "
        "if parameters.loc[p.name, 'status'] != 'fitted')",
        "0 <= coverage <= 1 and len(forecast) > 0 and forecast['covered'].isin([True, False]).all()",
        # the what-if starts from the export's state: its partners at the end of the history, no warm-up
        "state is not None and fitted.data.as_of == 'end' and fitted.time.warmup_months == 0 "
        "and fitted.partners.n_initial == summary['partners']['at_end']",
        "isinstance(comparison, Comparison) and comparison.paired and table.loc['incentive_spend', 'diff'] > 0",
        "isinstance(fig_forecast, Figure) and isinstance(fig_whatif, Figure)",
    ],
}

CHECK_CELL = """
import json as _json
from matplotlib.figure import Figure
import sim.policies
from experiments import Comparison, Replications
_results = {}
for _expr in %r:
    try:
        _results[_expr] = bool(eval(_expr))
    except Exception as _err:
        _results[_expr] = f"{type(_err).__name__}: {_err}"
print(%r + _json.dumps(_results))
"""


def _notebooks() -> list[Path]:
    return sorted(NOTEBOOKS.glob("*.ipynb"))


def test_every_notebook_exists_and_has_checks():
    names = [p.name for p in _notebooks()]
    assert names == sorted(CHECKS), names


@pytest.mark.parametrize("path", _notebooks(), ids=lambda p: p.name)
def test_notebook_is_stored_without_outputs(path: Path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.get("outputs") == [], f"{path.name} cell {i} has outputs"
            assert cell.get("execution_count") is None, f"{path.name} cell {i} has an execution count"
    # The sizes come from experiments.sizes (CHANNELSIM_NB_SMALL=1 selects TINY), replications from
    # experiments.replicate: no notebook keeps its own copy of either.
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    assert any("notebook_size()" in c for c in code)
    assert not any("market.n_accounts" in c or "CHANNELSIM_NB_SMALL\")" in c for c in code)
    assert not any(re.search(r"def (run|stack)\(|\b(mean_ci|diff_ci|replication_headlines)\b(?!_)", c) for c in code)


@pytest.mark.timeout(600)
@pytest.mark.parametrize("path", _notebooks(), ids=lambda p: p.name)
def test_notebook_runs_and_produces_its_objects(path: Path, monkeypatch):
    monkeypatch.setenv("CHANNELSIM_NB_SMALL", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(path, as_version=4)
    n_own = len(nb.cells)
    nb.cells.append(nbformat.v4.new_code_cell(CHECK_CELL % (CHECKS[path.name], MARKER)))
    client = NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute()
    # Every own code cell ran without an error output; figures were displayed.
    errors = [o for c in nb.cells[:n_own] if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    images = sum(1 for c in nb.cells[:n_own] if c.cell_type == "code" for o in c.outputs
                 if "image/png" in o.get("data", {}))
    assert images >= 2, f"{path.name}: {images} figures displayed"
    text = "".join(o.get("text", "") for o in nb.cells[-1].outputs if o.output_type == "stream")
    assert MARKER in text, text
    checks = json.loads(text.split(MARKER, 1)[1].strip().splitlines()[0])
    failed = {k: v for k, v in checks.items() if v is not True}
    assert not failed, failed
