"""Early warning (experiments.warning): out-of-sample skill, no look-ahead, the live risk function."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from conftest import small
from sklearn.metrics import roc_auc_score

from experiments import warning as W
from experiments.replication import replicate
from sim.model import ChannelModel
from sim.run import partner_frame

# 12 replications of the small scenario over 36 months: about 230 partners leave (160 in the 8 training
# replications, 70 in the 4 test ones), enough that the AUC intervals are about +-0.06 wide.  Measured
# over base seeds 1..7 at this size: gradient boosting's AUC 0.82-0.87 (CI lower bound 0.76-0.82), the
# Cox model's 0.84-0.88, satisfaction alone 0.68-0.73, and the paired difference's CI lower bound
# 0.05-0.14; so the lower bounds clear 0.5 and the satisfaction rule with a margin, not by tuning.
REPS, MONTHS, SEED, HORIZON = 12, 36, 1, 6


@pytest.fixture(scope="module")
def scenario():
    return small({"time.months": MONTHS})


@pytest.fixture(scope="module")
def frames(scenario):
    return replicate(scenario, REPS, seed=SEED).frames()


@pytest.fixture(scope="module")
def result(frames):
    return W.evaluate(frames["partners"], frames["conflicts"], HORIZON, territories=5, seed=0)


def test_exit_models_beat_no_skill_and_satisfaction_out_of_sample(result):
    pe = result.evaluation["partner_exit"]
    assert not set(pe["replications"]["train"]) & set(pe["replications"]["test"])
    auc = pe["auc"]
    sat = auc["satisfaction_rule"]
    assert sat["ci_low"] > 0.5  # satisfaction carries signal: the rule is a real competitor
    for k in ("classifier", "cox"):
        a = auc[k]
        assert a["ci_low"] > 0.5 and a["ci_low"] > sat["auc"], (k, a, sat)
        assert a["diff_ci_low_vs_satisfaction_rule"] > 0, (k, a)  # paired: better on the same resamples
        assert a["ci_low"] <= a["auc"] <= a["ci_high"]


def test_calibration_and_lead_time(result):
    pe = result.evaluation["partner_exit"]
    for k in ("classifier", "cox"):
        cal = pe["calibration"][k]
        assert cal["brier"] < cal["brier_base_rate"]  # better than predicting the base rate for everyone
        assert sum(r["rows"] for r in cal["reliability"]) == pe["rows"]["test"]
        top = cal["reliability"][-1]
        assert top["observed"] > 3 * pe["base_rate"]["test"]  # the riskiest tenth really is riskier
    lt = pe["lead_time"]
    assert lt["classifier"]["detection_rate"] > lt["satisfaction_rule"]["detection_rate"]
    assert 1 <= lt["classifier"]["median_lead_months"] <= lt["window_months"]
    names = [r["feature"] for r in pe["importance"]["classifier_permutation"]]
    assert sorted(names) == sorted(W.FEATURES)
    assert {r["feature"] for r in pe["importance"]["cox"]} == set(W.COX_FEATURES)


def test_hot_spots_beat_persistence_out_of_sample(result):
    hs = result.evaluation["hot_spots"]
    assert hs["evaluated"]
    a = hs["auc"]["classifier"]
    assert a["ci_low"] > 0.5 and a["diff_ci_low_vs_persistence"] > 0, a
    assert len(hs["watch_cells"]) == 10


def test_watchlist_ranks_the_partners_of_the_last_month(result, frames):
    wl = result.watchlist
    p = frames["partners"]
    last = p[(p["month"] == MONTHS) & (p["lifecycle"].astype(str) != "exited")]
    assert len(wl) == len(last)
    assert wl["rank"].tolist() == list(range(1, len(wl) + 1))
    assert (np.diff(wl["risk"].to_numpy()) <= 0).all() and wl["risk"].between(0, 1).all()
    assert wl["reasons"].str.len().gt(0).all()


@pytest.fixture(scope="module")
def landmarks(frames):
    """The Cox model's landmark rows of the whole run: standardized covariates, follow-up, exit."""
    p = frames["partners"]
    feats, lab = W.partner_features(p), W.exit_labels(p, HORIZON)
    X = feats[list(W.COX_FEATURES)]
    z = (X - X.mean()) / X.std()
    keep = (lab["duration"] > 0).to_numpy()
    return (z[keep].reset_index(drop=True), lab["duration"].to_numpy()[keep], lab["event"].to_numpy()[keep],
            feats[keep].reset_index(drop=True))


def test_cox_model_is_the_ridge_maximum_with_statsmodels_baseline(landmarks):
    from statsmodels.duration.hazard_regression import PHReg

    z, d, e, _ = landmarks
    cox = W.fit_cox(z, d, e, HORIZON)
    assert not cox.dropped
    b = cox.params[list(W.COX_FEATURES)].to_numpy()
    plain = PHReg(d, z.to_numpy(), status=e, ties="efron")
    # The penalized maximum: the plain partial likelihood's gradient equals the ridge term's.
    np.testing.assert_allclose(plain.score(b), W.COX_PENALTY * len(d) * b, atol=1e-6 * len(d))
    # The baseline: statsmodels' values are the left limits (exits at t not counted), so ours at each exit
    # time is statsmodels' at the next one.
    t, left, _ = plain.baseline_cumulative_hazard(b)[0]
    np.testing.assert_array_equal(cox.times, t[t <= HORIZON])
    np.testing.assert_allclose(cox.cumulative_hazard[:-1], left[1:len(cox.times)], rtol=1e-10)
    assert cox.baseline_cumulative_hazard(0.5) == 0.0
    assert cox.baseline_cumulative_hazard(HORIZON + 0.5) == cox.cumulative_hazard[-1]
    # Exits within the horizon: the mean predicted risk matches the share observed within k months on the
    # rows whose outcome is known (followed k months, or left earlier): measured 0.066 against 0.070.  Each
    # exit is counted in up to k overlapping rows, so the share's SE is about 6 % of it (not the 2.6 % of
    # independent rows); 15 % is 2.5 SE.
    r = cox.risk(z)
    assert ((r > 0) & (r < 1)).all()
    full = d == HORIZON
    got = r[full | (e == 1)]
    assert got.mean() == pytest.approx(e[full | (e == 1)].mean(), rel=0.15)
    for row in cox.table():
        lo, hi = row["hazard_ratio_ci_low"], row["hazard_ratio_ci_high"]
        assert lo < row["hazard_ratio_per_sd"] < hi and row["se"] > 0 and 0 <= row["p"] <= 1
    strongest = {row["feature"] for row in cox.table()[:3]}
    assert {"improvement_plan", "months_since_deal"} <= strongest
    again = W.fit_cox(z, d, e, HORIZON)
    pd.testing.assert_series_equal(again.params, cox.params, check_exact=True)


def test_cox_model_leaves_out_covariates_without_a_coefficient(landmarks):
    z, d, e, feats = landmarks
    z = z.assign(type_referral=0.0)  # constant
    cox = W.fit_cox(z, d, e, HORIZON)
    assert list(cox.dropped) == ["type_referral"] and cox.params["type_referral"] == 0.0
    table = cox.table()
    assert table[-1]["feature"] == "type_referral" and table[-1]["p"] is None and "constant" in table[-1]["dropped"]
    assert np.isfinite(cox.risk(z)).all()
    # Unpenalized, a flag with no exit among its rows has no finite coefficient: left out too.
    onboarding = feats["onboarding"].to_numpy() > 0.5
    assert onboarding.any() and not e[onboarding].any()  # in this run onboarding partners never leave within k
    plain = W.fit_cox(z, d, e, HORIZON, penalty=0.0)
    assert set(plain.dropped) == {"type_referral", "onboarding"} and "no exit" in plain.dropped["onboarding"]
    assert np.isfinite(plain.params).all() and np.isfinite(plain.bse.drop(list(plain.dropped))).all()


def test_features_at_month_t_do_not_change_when_later_rows_are_removed(frames):
    p = frames["partners"]
    full = W.partner_features(p).set_index(list(W.KEYS))
    for cut in (1, 2, 5, 17, MONTHS - 1):
        part = W.partner_features(p[p["month"] <= cut]).set_index(list(W.KEYS))
        pd.testing.assert_frame_equal(part, full.loc[part.index], check_exact=True)
        assert len(part) == (full.index.get_level_values("month") <= cut).sum()


def test_features_ignore_history_beyond_the_lookback(frames):
    # Changing a partner's rows more than LOOKBACK months before t leaves its features at t as they were.
    p = frames["partners"][frames["partners"]["replication"] == 0].copy()
    base = W.partner_features(p).set_index(list(W.KEYS))
    early = p["month"] <= 10
    for col in ("satisfaction", "mindshare", "profit_ratio", "line_profit", "conflicts_lost_partner", "mdf_claimed"):
        p.loc[early, col] = p.loc[early, col] * 3 + 1
    changed = W.partner_features(p).set_index(list(W.KEYS))
    later = base.index.get_level_values("month") > 10 + W.LOOKBACK
    pd.testing.assert_frame_equal(changed[later], base[later], check_exact=True)
    assert not changed[~later].equals(base[~later])


def test_labels_are_exits_within_the_horizon(frames):
    p = frames["partners"]
    lab = W.exit_labels(p, HORIZON)
    exits = p[p["lifecycle"].astype(str) == "exited"].set_index(["replication", "partner_id"])["month"]
    for (rep, pid), month in list(exits.items())[:20]:
        rows = lab[(lab["replication"] == rep) & (lab["partner_id"] == pid)]
        assert rows["month"].max() < month  # the exit row itself is never a feature row
        assert (rows["label"] == ((month - rows["month"]) <= HORIZON)).all()
    assert lab.loc[~lab["complete"], "month"].min() > MONTHS - HORIZON


def test_cell_features_do_not_look_ahead(frames):
    c = frames["conflicts"]
    full = W.cell_features(c, months=MONTHS, territories=5, replications=range(REPS)).set_index(list(W.CELL_KEYS))
    cut_q = 6
    part = W.cell_features(c[c["month"] <= 3 * cut_q], months=3 * cut_q, territories=5,
                           replications=range(REPS)).set_index(list(W.CELL_KEYS))
    cols = list(W.CELL_FEATURES)
    pd.testing.assert_frame_equal(part[cols], full.loc[part.index, cols], check_exact=True)


def test_weighted_auc_matches_scikit_learn():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 500)
    s = np.round(rng.normal(size=500) + y, 1)  # rounded: many ties
    w = rng.integers(1, 4, 500)
    assert W.weighted_auc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert W.weighted_auc(y, s, w.astype(float)) == pytest.approx(roc_auc_score(y, s, sample_weight=w), abs=1e-12)
    assert W.weighted_auc(y, s, w.astype(float)) == pytest.approx(roc_auc_score(np.repeat(y, w), np.repeat(s, w)))


def test_too_few_replications_or_a_bad_horizon_is_refused(frames):
    p = frames["partners"]
    with pytest.raises(W.WarningError, match="at least 4"):
        W.evaluate_exits(p[p["replication"] < 3], HORIZON)
    with pytest.raises(W.WarningError, match="exiting partner"):
        W.evaluate_exits(p[p["month"] <= 8], 4)
    for bad in (0, -1, MONTHS, 2.5, True):
        with pytest.raises(W.WarningError, match="--horizon"):
            W.check_horizon(bad, MONTHS)


def test_live_risk_scores_every_partner_slot_as_the_panel_does(result, scenario):
    risk = result.model.as_risk()
    model = ChannelModel(scenario, rng=123)
    before = risk(model)  # before the first step: the base rate for every partner
    assert before.shape == (model.partners.n,) and np.allclose(before, result.model.base_rate)
    for _ in range(3):  # warm-up months: scored from live state, in [0, 1]
        model.step()
        r = risk(model)
        assert r.shape == (model.partners.n,) and ((r >= 0) & (r <= 1)).all()
    while model.month < scenario.time.warmup_months + 12:
        model.step()
    got = risk(model)
    feats = W.partner_features(partner_frame(model))
    last = feats[feats["month"] == feats["month"].max()]
    expected = np.zeros(model.partners.n)
    expected[last["partner_id"].to_numpy()] = result.model.risk(last)
    np.testing.assert_array_equal(got, expected)  # identical to scoring the recorded panel
    gone = model.partners.lifecycle == 4
    assert gone.any() and (got[gone] == 0).all()
    clone = pickle.loads(pickle.dumps(risk))  # a policy holding it can go to worker processes
    np.testing.assert_array_equal(clone(model), got)


def test_the_fitted_model_drives_the_intervention_policy(result, scenario):
    # The early-warning model plugs into the intervention policy as its risk function: the policy then
    # targets exactly the partners the fitted model ranks first (checked month by month by the policy's
    # own tests for any callable); here, end to end, that the treated arm spends and treats partners.
    from experiments.intervention import measure

    eff = measure(scenario.with_overrides({"time.months": 12}), replications=2, risk=result.model.as_risk(),
                  arms=("none", "risk"), workers=1)
    assert len(eff.totals) == 4  # 2 replications x 2 arms
    risk_rows = eff.totals[eff.totals["arm"] == "risk"]
    none_rows = eff.totals[eff.totals["arm"] == "none"]
    assert (risk_rows["interventions"] > 0).all() and (risk_rows["intervention_spend"] > 0).all()
    assert (none_rows["interventions"] == 0).all()
