"""PRM exports: the deal log, export_run, write_export and read_export, and the ``data`` commands."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import assert_same_run, small

import sim
from experiments import prm

SHORT = {"time.months": 12}


@pytest.fixture(scope="module")
def recorded() -> sim.RunResult:
    return sim.run(small(SHORT), 4, record_deals=True)


@pytest.fixture(scope="module")
def export(recorded) -> prm.PRMExport:
    return prm.export_run(recorded, start="2023-07")


def test_recording_deals_changes_no_draw(recorded):
    plain = sim.run(small(SHORT), 4)
    assert_same_run(plain, recorded)
    assert plain.deals is None and plain.payouts is None and plain.accounts is None and plain.coverage is None


def test_recording_from_a_warm_start_gives_the_same_log(recorded):
    ws = sim.warm_up(small(SHORT), seed=4)
    again = sim.run(small(SHORT), 4, warmup=ws, record_deals=True)
    assert_same_run(again, recorded)
    pd.testing.assert_frame_equal(again.deals, recorded.deals, check_exact=True)
    pd.testing.assert_frame_equal(again.payouts, recorded.payouts, check_exact=True)


def test_deal_log_adds_up_to_the_kpis_exactly(recorded):
    """Each month's won deals are its new customers, and their values by channel are the booked new revenue.

    ``ChannelModel.book`` sums the same products (value x price index) in the same order with
    ``np.bincount``, so the totals agree to the last bit, not just within rounding.
    """
    d, k = recorded.deals, recorded.kpis
    won = d[d["won"]]
    assert won.groupby("month").size().reindex(k["month"], fill_value=0).tolist() == k["customers_new"].tolist()
    for m, kpi_row in k.set_index("month").iterrows():
        month = won[won["month"] == m]
        by_channel = np.bincount(month["channel"].cat.codes.to_numpy(), weights=month["value"].to_numpy(),
                                 minlength=3)
        assert by_channel[0] == kpi_row["revenue_new_partner"]
    # Lost deals were pursued: pursued = won + lost, every month.
    assert (d["partner_id"][d["channel"] == "partner"] >= 0).all()
    assert (d["partner_id"][d["channel"] != "partner"] == -1).all()


def test_payouts_add_up_to_the_incentive_spend(recorded):
    """Every lever here pays named partners, so the payouts are the month's spend (to float rounding)."""
    paid = recorded.payouts.groupby("month")["amount"].sum().reindex(recorded.kpis["month"], fill_value=0.0)
    np.testing.assert_allclose(paid.to_numpy(), recorded.kpis["incentive_spend"].to_numpy(), rtol=1e-9)


def test_export_tables(export, recorded):
    assert export.first_month == "2023-07" and export.last_month == "2024-06" and export.n_months == 12
    assert export.partners["partner_id"].is_unique and export.deals["deal_id"].is_unique
    # One tier row per partner at the start of the history plus one per reported migration.
    reported = recorded.migrations[recorded.migrations["month"] >= 1]
    assert len(export.tiers) == len(export.partners) + len(reported)
    assert set(export.payouts["partner_id"]) <= set(export.partners["partner_id"])
    partner_deals = export.deals["channel"] == "partner"
    assert set(export.deals["partner_id"][partner_deals]) <= set(export.partners["partner_id"])
    assert (export.deals["partner_id"][~partner_deals] == "").all()
    assert ((export.partners["exited"] == "") == (export.partners["exit_reason"] == "")).all()


def test_write_export_is_atomic_and_refuses_to_overwrite(export, tmp_path):
    out = prm.write_export(export, tmp_path / "x")
    assert sorted(p.name for p in out.iterdir()) == sorted([f"{t}.csv" for t in prm.TABLES] + ["export.yaml"])
    with pytest.raises(FileExistsError):
        prm.write_export(export, tmp_path / "x")
    assert [p.name for p in tmp_path.iterdir()] == ["x"]
