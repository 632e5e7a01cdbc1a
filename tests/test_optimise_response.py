"""Response fitting: concave least squares, the concave envelope, the S-shape diagnosis, cell mapping."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sim
from optimise.lp import Curve
from optimise.response import cell_spec, concave_fit, parse_cells, shape_of, upper_concave_envelope

points = st.integers(2, 8).flatmap(lambda n: st.tuples(
    st.lists(st.floats(0.1, 10.0), min_size=n, max_size=n),
    st.lists(st.floats(-100.0, 100.0), min_size=n, max_size=n),
    st.lists(st.floats(0.1, 20.0), min_size=n, max_size=n),
))


@settings(max_examples=80, deadline=None)
@given(points, st.booleans())
def test_concave_fit_is_concave_monotone_and_checks_in_the_lp(data, anchored):
    widths, values, se = data
    s = np.cumsum(widths)
    anchor = len(s) // 2 if anchored else None
    f = concave_fit(s, values, se, anchor=anchor)
    sl = np.diff(f) / np.diff(s)
    scale = max(1.0, np.abs(sl).max())
    assert np.all(np.diff(sl) <= 1e-7 * scale)
    assert np.all(sl >= -1e-7 * scale)
    if anchored:
        assert f[anchor] == pytest.approx(0.0, abs=1e-9)
    Curve("t", "l", tuple(s), tuple(f)).check()  # the LP accepts it


@settings(max_examples=80, deadline=None)
@given(points)
def test_envelope_majorises_and_is_concave(data):
    widths, values, _ = data
    s = np.cumsum(widths)
    env = upper_concave_envelope(s, values, monotone=False)
    assert np.all(env >= np.asarray(values) - 1e-9)
    sl = np.diff(env) / np.diff(s)
    assert np.all(np.diff(sl) <= 1e-7 * max(1.0, np.abs(sl).max()))


def test_concave_data_are_reproduced():
    s = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    v = np.sqrt(s)
    assert concave_fit(s, v, np.ones(5)) == pytest.approx(v, abs=1e-9)
    assert upper_concave_envelope(s, v) == pytest.approx(v)
    assert shape_of(s, v, np.ones(5))["concave"]


def test_s_shape_is_flagged_with_the_overstatement():
    s = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    v = np.array([0.0, 0.1, 1.0, 1.8, 2.0])  # convex then concave
    sh = shape_of(s, v, np.full(5, 0.05))
    assert not sh["concave"] and sh["shape"] == "S-shaped"
    # the envelope runs from (0, 0) to (3, 1.8): at s = 1 it says 0.6 where the estimate is 0.1
    assert sh["overstatement"] == pytest.approx(0.5)
    assert sh["at_spend"] == 1.0 and sh["significant"]


def test_cells_and_their_scenario_paths():
    sc = sim.Scenario()
    cells = parse_cells("gold:rebate,*:mdf,all:spiff", sc)
    assert cells[0] == ("gold", "rebate") and ("registered", "mdf") in cells and cells[-1] == ("all", "spiff")
    gold = cell_spec(sc, "gold", "rebate")
    assert gold.path == "tiering.tiers.gold.rebate_rate" and gold.current_multiplier == 1.0
    today = next(t for t in sc.tiering.tiers if t.name == "gold").rebate_rate
    assert gold.overrides(1.5) == {"tiering.tiers.gold.rebate_rate": pytest.approx(1.5 * today)}
    reg = cell_spec(sc, "registered", "rebate")  # no rebate today: levels are multiples of the smallest rate
    smallest = min(t.rebate_rate for t in sc.tiering.tiers if t.rebate_rate > 0)
    assert reg.current_value == 0 and reg.reference == pytest.approx(smallest) and reg.current_multiplier == 0
    assert cell_spec(sc, "all", "spiff").path == "incentives.spiff.amount"
    with pytest.raises(ValueError, match="all:spiff"):
        cell_spec(sc, "gold", "spiff")
    with pytest.raises(ValueError, match="unknown tier"):
        parse_cells("diamond:rebate", sc)
    sc.with_overrides(gold.overrides(2.0))  # the path exists and the value validates
