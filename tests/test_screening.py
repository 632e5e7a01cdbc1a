"""The assumption screening (issue 11, point 6): its experiment file is the one the schema generates, and it loads."""

from __future__ import annotations

from experiments import screening
from experiments.design import load_experiment
from sim.fields import scenario_fields


def test_the_shipped_screening_file_is_generated_from_the_schema():
    assert screening.FILE.read_text() == screening.experiment_text(trajectories=4), (
        "regenerate: python -m experiments.screening --write"
    )


def test_every_assumption_is_a_factor_or_excluded_for_a_stated_reason():
    exp = load_experiment(screening.FILE)
    factors = set(screening.factors())
    for row in scenario_fields():
        if row.basis != "assumption" or isinstance(row.default, bool) or not isinstance(row.default, int | float):
            continue
        excluded = (row.default == 0 or row.path.startswith(screening.EXCLUDED_PREFIXES)
                    or row.path.endswith(screening.EXCLUDED_SUFFIXES))
        assert excluded or row.path in factors, row.path
    assert set(exp.arms) == set(screening.ARMS)
