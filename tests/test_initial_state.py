"""Month 0 from a PRM export: partners, tiers, territories and accounts are the export's, not drawn."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import sim
from experiments import prm
from experiments.backends import Dask, LocalProcesses
from experiments.initial import DataError, initial_state, territory_ids, with_data
from experiments.prm import PRMExport, export_run, normalise
from experiments.replication import replicate
from sim.customers import COMPETITOR, CUSTOMER, DIRECT_CH, PARTNER_CH, UNAWARE
from sim.errors import ScenarioError
from sim.initial import UNKNOWN
from sim.partners import ACTIVE, ONBOARDING
from sim.run import collect

TIERS = tuple(sim.Scenario().tier_names)  # registered, silver, gold, platinum
SMALL = sim.Scenario().with_overrides({"time.months": 6, "data.path": "export"})


def _export(tier_of_p3: str = "gold", type_of_p2: str = "si") -> PRMExport:
    """A hand-made export, 2026-01..2026-06: four partners (one exited), 120 accounts in T1, T2, T10."""
    partners = pd.DataFrame({
        "partner_id": ["P1", "P2", "P3", "P4"],
        "type": ["var", type_of_p2, "msp", "var"],
        "territories": ["T1;T2", "T10", "T2", "T1"],
        "segments": ["small;mid", "enterprise", "mid", "small"],
        "joined": ["2020-03", "2025-11", "2026-04", "2019-01"],
        "exited": ["", "", "", "2026-06"],
        "exit_reason": ["", "", "", "partner_choice"],
        "certifications": [3, 1, 0, 2],
    })
    tiers = pd.DataFrame({"partner_id": ["P1", "P1", "P2", "P3", "P4"],
                          "month": ["2026-01", "2026-05", "2026-01", "2026-04", "2026-01"],
                          "tier": ["silver", "platinum", "registered", tier_of_p3, "silver"]})
    deals = pd.DataFrame({
        "deal_id": ["D1", "D2", "D3", "D4"], "month": ["2026-02", "2026-03", "2026-05", "2026-06"],
        "account_id": ["A0", "A1", "A2", "A3"], "territory": ["T1", "T10", "T2", "T1"],
        "segment": ["small", "enterprise", "mid", "small"], "channel": ["partner", "partner", "direct", "partner"],
        "partner_id": ["P1", "P2", "", "P4"], "value": [10_000.0, 90_000.0, 30_000.0, 8_000.0],
        "registered": [True, False, False, True], "outcome": ["won", "won", "won", "lost"],
    })
    n = 120
    terr = np.array(["T1", "T2", "T10"])[np.arange(n) % 3]
    seg = np.array(["small", "mid", "enterprise"])[(np.arange(n) // 3) % 3]
    status = np.array(["prospect"] * n, dtype=object)
    partner = np.array([""] * n, dtype=object)
    status[:4] = ["customer", "customer", "customer", "competitor"]
    partner[:2] = ["P1", "P2"]
    status[10:14] = ["customer", "competitor", "churned", "customer"]
    partner[13] = "P1"
    accounts = pd.DataFrame({"account_id": [f"A{i}" for i in range(n)], "territory": terr, "segment": seg,
                             "value": 1_000.0 + np.arange(n), "status": status, "partner_id": partner})
    accounts.loc[0:3, "territory"] = ["T1", "T10", "T2", "T1"]
    accounts.loc[0:3, "segment"] = ["small", "enterprise", "mid", "small"]
    payouts = pd.DataFrame({"month": ["2026-02", "2026-05"], "partner_id": ["P1", "P2"], "lever": ["rebate", "mdf"],
                            "amount": [100.0, 250.0]})
    frames = {"partners": partners, "tiers": tiers, "deals": deals, "payouts": payouts, "accounts": accounts}
    return PRMExport(**{k: normalise(k, v, TIERS) for k, v in frames.items()}, first_month="2026-01",
                     last_month="2026-06", tier_names=TIERS)


def test_territories_are_numbered_in_natural_order():
    assert territory_ids(_export()) == ("T1", "T2", "T10")


def test_month_zero_holds_the_exports_partners_tiers_territories_and_accounts():
    sc, st = with_data(SMALL, export=_export())
    assert (sc.partners.n_initial, sc.market.n_accounts, sc.market.n_territories) == (3, 120, 3)
    assert sc.time.warmup_months == 0  # data.warmup_months: the run starts at the export's state
    assert st.partner_ids == ("P1", "P2", "P3")  # P4 exited in 2026-06, the last month
    model = sim.ChannelModel(sc, rng=4, initial=st)
    t = model.partners
    assert [sim.scenario.PARTNER_TYPES[i] for i in t.ptype] == ["var", "si", "msp"]
    assert [TIERS[i] for i in t.tier] == ["platinum", "registered", "gold"]  # the last change before month 0
    assert t.certifications(0).tolist() == [3, 1, 0]
    # Joined relative to month 0 = 2026-07; P2 (8 months) is past onboarding, P3 (3 months) is not.
    assert t.joined.tolist() == [-76, -8, -3]
    assert t.lifecycle.tolist() == [ACTIVE, ACTIVE, ONBOARDING]
    cells = {(int(p), int(c)) for p, c in zip(model.edge_partner, model.edge_cell, strict=True)}
    # T1 -> 0, T2 -> 1, T10 -> 2; cell = territory * 3 + segment (small 0, mid 1, enterprise 2).
    assert cells == {(0, 0), (0, 1), (0, 3), (0, 4), (1, 8), (2, 4)}
    assert t.last_deal[0] == -5 and t.last_deal[1] == -4  # won deals in 2026-02 and 2026-03
    cu = model.customers
    assert cu.n == 120 and cu.territory[:4].tolist() == [0, 2, 1, 0] and cu.segment[:4].tolist() == [0, 2, 1, 0]
    np.testing.assert_array_equal(cu.value, 1_000.0 + np.arange(120))
    assert cu.state[:4].tolist() == [CUSTOMER, CUSTOMER, CUSTOMER, COMPETITOR]
    assert cu.channel[:3].tolist() == [PARTNER_CH, PARTNER_CH, DIRECT_CH] and cu.partner[:3].tolist() == [0, 1, -1]
    assert cu.since[:4].tolist() == [-5, -4, -2, -1]  # the month of each account's last deal
    assert cu.partner[13] == 0 and cu.state[20] == UNAWARE  # prospects have not bought the category
    assert model.state_counts.tolist() == [112, 0, 5, 2, 1]  # A0-A2, A10, A13 customers; A3, A11; A12
    assert model.customers.adopted.sum() == 8


def test_revenue_history_and_mdf_fund_are_rebuilt_from_the_deals_and_the_customers_served():
    sc, st = with_data(SMALL, export=_export())
    model = sim.ChannelModel(sc, rng=4, initial=st)
    t, cu = model.partners, model.customers
    # Month -j is column j - 1: D1 (P1, 2026-02) is 5 months before 2026-07, D2 (P2, 2026-03) 4.
    assert st.revenue[0, 4] == 10_000.0 and st.revenue[1, 3] == 90_000.0 and st.revenue.sum() == 100_000.0
    renewals = t.rev_hist - st.revenue
    # A13 (P1, contract month drawn) renewed on every anniversary in the 24 months: twice.
    share = sc.market.renewal_value_share
    assert renewals[0].sum() == pytest.approx(2 * cu.value[13] * share)
    assert renewals[1].sum() == 0.0  # A1 was won 4 months ago: no anniversary yet
    e = sc.incentives.mdf.expiry_months
    rate = np.array([x.mdf_accrual_rate for x in sc.tiering.tiers])[t.tier]
    accrued = (t.rev_hist[:, :e] * rate[:, None]).sum(axis=1)
    np.testing.assert_allclose(t.mdf_fund.sum(axis=1), np.maximum(accrued - [0.0, 250.0, 0.0], 0.0))


def test_starting_from_the_first_month_keeps_partners_who_had_joined_and_makes_dealt_accounts_prospects():
    sc, st = with_data(SMALL.with_overrides({"data.as_of": "start"}), export=_export())
    assert st.partner_ids == ("P1", "P2", "P4")  # P3 joined later; P4 was still in the programme
    assert [TIERS[i] for i in st.tier] == ["silver", "registered", "silver"]  # the rows of 2026-01
    assert st.joined.tolist() == [-70, -2, -84]
    assert st.lifecycle.tolist() == [ACTIVE, ONBOARDING, ACTIVE]
    assert (st.certifications == UNKNOWN).all()  # the export gives them at the end only: drawn
    assert st.revenue is None and st.mdf_paid is None  # nor the histories before its first month
    assert (st.state[:4] == UNAWARE).all()  # their deals come later
    assert st.state[10:14].tolist() == [CUSTOMER, COMPETITOR, 4, CUSTOMER]  # no deal: their end status
    assert st.partner[13] == 0
    sim.ChannelModel(sc, rng=1, initial=st)


def test_without_accounts_the_accounts_are_those_in_deals():
    ex = _export()
    ex = PRMExport(partners=ex.partners, tiers=ex.tiers, deals=ex.deals, payouts=ex.payouts,
                   first_month=ex.first_month, last_month=ex.last_month, tier_names=TIERS)
    st = initial_state(ex, SMALL)
    assert st.account_ids == ("A0", "A1", "A2", "A3")
    assert st.state.tolist() == [CUSTOMER, CUSTOMER, CUSTOMER, COMPETITOR]
    assert st.value.tolist() == [10_000.0, 90_000.0, 30_000.0, 8_000.0]
    assert st.partner.tolist() == [0, 1, -1, -1]


def test_same_state_scenario_and_seed_give_identical_runs_and_the_data_is_kept_whatever_the_seed():
    sc, st = with_data(SMALL, export=_export())
    a, b = sim.run(sc, 7, initial=st), sim.run(sc, 7, initial=st)
    pd.testing.assert_frame_equal(a.kpis, b.kpis)
    pd.testing.assert_frame_equal(a.partners, b.partners)
    m1, m2 = sim.ChannelModel(sc, rng=1, initial=st), sim.ChannelModel(sc, rng=2, initial=st)
    assert not np.array_equal(m1.partners.cap, m2.partners.cap)  # capabilities are drawn
    np.testing.assert_array_equal(m1.partners.tier, m2.partners.tier)
    np.testing.assert_array_equal(m1.customers.state, m2.customers.state)


def test_restarting_from_a_simulated_runs_last_month_reproduces_its_partners_tiers_and_customers():
    sc = sim.Scenario().scaled(0.1).with_overrides({"time.months": 12, "time.warmup_months": 12})
    model = sim.ChannelModel(sc, rng=11, record_deals=True)
    model.collect_warmup = False
    model.run()
    export = export_run(collect(model))
    restart, st = with_data(sc.with_overrides({"data.path": "export"}), export=export)
    again = sim.ChannelModel(restart, rng=3, initial=st)
    t, u = model.partners, again.partners
    assert u.n == int(t.selling.sum()) == restart.partners.n_initial
    np.testing.assert_array_equal(np.bincount(u.tier, minlength=4), np.bincount(t.tier[t.selling], minlength=4))
    np.testing.assert_array_equal(u.ptype, t.ptype[t.selling])
    sel = t.selling[model.edge_partner]
    np.testing.assert_array_equal(np.sort(again.edge_cell), np.sort(model.edge_cell[sel]))
    assert again.customers.counts()[CUSTOMER] == model.customers.counts()[CUSTOMER]
    np.testing.assert_array_equal(again.customers.territory, model.customers.territory)


def test_a_warm_start_from_the_state_gives_the_run_that_warms_up_from_it():
    sc, st = with_data(SMALL.with_overrides({"data.warmup_months": 2, "time.months": 2}), export=_export())
    assert sc.time.warmup_months == 2
    what_if = sc.with_overrides({"incentives.rebate.scale": 2.0})
    ws = sim.warm_up(sc, 9, initial=st)
    pd.testing.assert_frame_equal(sim.run(what_if, 9, warmup=ws).kpis,
                                  sim.run(what_if, 9, warmup=sc, initial=st).kpis)
    with pytest.raises(ValueError, match="initial state it was warmed up from"):
        sim.run(what_if, 9, warmup=ws, initial=with_data(sc, export=_export())[1])


def test_an_unknown_tier_names_the_file_the_row_and_the_value():
    with pytest.raises(DataError) as err:
        initial_state(_export(tier_of_p3="diamond"), SMALL, source="/data/prm")
    text = str(err.value)
    assert "/data/prm/tiers" in text and "row 5, column tier" in text and "diamond" in text and "platinum" in text


def test_a_partner_type_the_scenario_lacks_names_the_row():
    types = {k: v.model_dump() for k, v in SMALL.partners.types.items() if k != "si"}
    types["var"]["share"] += SMALL.partners.types["si"].share
    sc = SMALL.with_overrides({"partners.types": types})
    with pytest.raises(DataError, match=r"row 3, column type.*'si'"):
        initial_state(_export(), sc)


def test_sizes_that_disagree_with_the_state_and_a_data_folder_without_a_state_are_refused():
    _, st = with_data(SMALL, export=_export())
    with pytest.raises(ScenarioError, match="market.n_accounts.*must equal the initial state's 120"):
        sim.ChannelModel(SMALL.with_overrides({"data.path": None}), rng=1, initial=st)
    with pytest.raises(ScenarioError, match="data.path"):
        sim.run(SMALL, 1)  # the model never reads the folder: it needs the state


def test_a_missing_data_folder_names_the_scenario_file_the_field_and_the_value(tmp_path):
    from experiments.io import load_scenario

    path = tmp_path / "mine.yaml"
    path.write_text("data: exports/nowhere\n")
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    text = str(err.value)
    assert str(path) in text and "data.path" in text and "exports/nowhere" in text
    (tmp_path / "exports" / "nowhere").mkdir(parents=True)
    assert load_scenario(path).data.path == str(tmp_path / "exports" / "nowhere")  # relative to the file


def test_drawn_runs_ignore_the_data_section():
    # A scenario with the default data section draws its state exactly as before the section existed.
    sc = sim.Scenario().scaled(0.1).with_overrides({"time.months": 3, "time.warmup_months": 2})
    a = sim.run(sc, 5)
    b = sim.run(sc.with_overrides({"data.as_of": "start", "data.warmup_months": 9}), 5)
    pd.testing.assert_frame_equal(a.kpis, b.kpis)


@pytest.mark.parametrize("backend", ["local", "dask"])
def test_replications_start_from_the_state_on_every_backend(backend):
    sc, st = with_data(SMALL.with_overrides({"time.months": 3}), export=_export())
    serial = replicate(sc, 2, seed=5, initial=st, frames=("kpis", "partners"))
    be = LocalProcesses(2) if backend == "local" else Dask("local:2", overlap_startup=False)
    parallel = replicate(sc, 2, seed=5, initial=st, backend=be, frames=("kpis", "partners"))
    pd.testing.assert_frame_equal(serial.kpis, parallel.kpis)
    pd.testing.assert_frame_equal(serial.partners, parallel.partners)
    p = parallel.partners
    data = p[(p["month"] == 1) & (p["partner_id"] < 3)].sort_values(["replication", "partner_id"])
    assert data["type"].astype(str).tolist() == ["var", "si", "msp"] * 2  # the export's partners, in both
    assert data["tier"].astype(str).tolist() == ["platinum", "registered", "gold"] * 2


@pytest.mark.skipif(not hasattr(prm, "read_export"), reason="experiments.prm.read_export has not landed yet")
def test_channelsim_run_reads_the_data_folder(tmp_path):
    from typer.testing import CliRunner

    from channelsim.cli import app

    prm.write_export(_export(), tmp_path / "export")
    (tmp_path / "mine.yaml").write_text("data: export\ntime: {months: 2}\n")
    res = CliRunner().invoke(app, ["run", str(tmp_path / "mine.yaml"), "--out", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    kpis = pd.read_parquet(tmp_path / "out" / "kpis.parquet")
    assert len(kpis) == 2


@pytest.mark.parametrize("backend", ["local", "dask"])
def test_a_sweep_reads_the_data_folder_once_and_every_backend_gives_the_in_process_results(
        tmp_path, monkeypatch, backend):
    import yaml

    import experiments.initial
    from experiments.backends import InProcess
    from experiments.design import load_experiment
    from experiments.runner import run_experiment
    from experiments.store import load_results

    reads = []
    monkeypatch.setattr(experiments.initial, "read_data", lambda path, tiers: reads.append(path) or _export())
    (tmp_path / "export").mkdir()
    (tmp_path / "mine.yaml").write_text("data: export\n")
    exp_file = tmp_path / "e.yaml"
    exp_file.write_text(yaml.safe_dump({
        "name": "from-data", "base": str(tmp_path / "mine.yaml"), "overrides": {"time.months": 3}, "seed": 3,
        "replications": 2, "factors": {"incentives.spiff.amount": [0.0, 1500.0]}, "design": {"kind": "full_factorial"},
        "outputs": {"summary": ["revenue_total", "active_partners_end"], "monthly": ["active_partners"]}}))
    exp = load_experiment(exp_file)
    run_experiment(exp, tmp_path / "ref", InProcess())
    be = LocalProcesses(2, overlap_startup=False) if backend == "local" else Dask("local:2", overlap_startup=False)
    run_experiment(exp, tmp_path / "out", be)
    assert reads == [str(tmp_path / "export")] * 2  # once per sweep, in the parent
    cols = ["point", "replication", "status", "revenue_total", "active_partners_end"]
    ref = load_results(tmp_path / "ref").sort_values(["point", "replication"])[cols].reset_index(drop=True)
    got = load_results(tmp_path / "out").sort_values(["point", "replication"])[cols].reset_index(drop=True)
    assert (ref["status"] == "ok").all()
    pd.testing.assert_frame_equal(ref, got, check_exact=True)


def test_channelsim_run_refuses_a_bad_export_naming_the_scenario_file_the_field_and_the_rows(tmp_path):
    from typer.testing import CliRunner

    from channelsim.cli import app

    prm.write_export(_export(tier_of_p3="diamond"), tmp_path / "export")
    (tmp_path / "mine.yaml").write_text("data: export\n")
    res = CliRunner().invoke(app, ["run", str(tmp_path / "mine.yaml"), "--out", str(tmp_path / "out")])
    assert res.exit_code == 2
    text = res.output
    assert str(tmp_path / "mine.yaml") in text and "data.path" in text and str(tmp_path / "export") in text
    assert "tiers.csv, row 5" in text and "diamond" in text
    assert not (tmp_path / "out").exists()  # nothing half-written


def test_the_json_schema_takes_the_data_shorthand_and_flags_a_bad_as_of():
    import jsonschema

    from channelsim.schema import json_schema

    v = jsonschema.Draft202012Validator(json_schema())
    assert list(v.iter_errors({"data": "exports/2026-11"})) == []
    assert list(v.iter_errors({"data": {"path": "exports/2026-11", "as_of": "start", "warmup_months": 6}})) == []
    assert list(v.iter_errors({"data": {"path": "x", "as_of": "middle"}}))
    assert sim.Scenario.model_validate({"data": "exports/x"}, strict=True).data.path == "exports/x"
