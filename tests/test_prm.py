"""PRM exports: the deal log, export_run, write_export and read_export, and the ``data`` commands."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import SMALL_OVERRIDES, assert_same_run, small
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sim
from experiments import prm
from sim.errors import InputError

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


@pytest.mark.parametrize("name", ["collaboration_programme", "mediation", "speciality_tiering", "improvement_plans",
                                  "early_intervention"])
def test_recording_deals_changes_no_draw_in_other_programmes(name, tmp_path):
    """The mechanisms the baseline leaves off (teams, mediation, specialisations, improvement plans) too."""
    from experiments.io import load_scenario

    sc = small(SHORT, base=load_scenario(name))
    on = sim.run(sc, 2, record_deals=True)
    assert_same_run(sim.run(sc, 2), on)
    won = on.deals[on.deals["won"] & (on.deals["channel"] == "partner")]
    # A team's deal is booked in two parts (lead and helper), so the sums agree to rounding, not to the bit.
    np.testing.assert_allclose(won.groupby("month")["value"].sum().reindex(on.kpis["month"], fill_value=0.0),
                               on.kpis["revenue_new_partner"], rtol=1e-12)
    export = prm.export_run(on)
    assert prm.read_export(prm.write_export(export, tmp_path / "x")) == export  # passes every rule


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


def test_every_spend_line_is_a_lever_a_payout_may_name():
    from sim.ledger import SPEND_LINES

    assert set(SPEND_LINES) <= set(prm.LEVERS)


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


# --------------------------------------------------------------------------- reading back and checking
@pytest.fixture(scope="module")
def good_dir(export, tmp_path_factory) -> Path:
    return prm.write_export(export, tmp_path_factory.mktemp("prm") / "good")


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_round_trip(export, tmp_path, fmt):
    back = prm.read_export(prm.write_export(export, tmp_path / "x", format=fmt))
    assert back == export
    assert back.n_months == 12 and back.tier_names == export.tier_names
    for name in prm.TABLES:  # the same frames, dtypes included
        pd.testing.assert_frame_equal(back.table(name), export.table(name), check_exact=True)


def _frames(folder: Path) -> dict[str, pd.DataFrame]:
    return {t: pd.read_csv(folder / f"{t}.csv", dtype=str, keep_default_na=False) for t in prm.TABLES}


def _set(table: str, col: str, value: str, where=None):
    """A mutation: ``table``'s ``col`` set to ``value`` in its 4th data row (or the first row ``where`` holds)."""
    def mutate(fr):
        df = fr[table]
        i = 3 if where is None else int(np.flatnonzero(where(df))[0])
        df.loc[i, col] = value
        return f"{table}.csv", i, col, value
    return mutate


def _dup(table: str, col: str):
    def mutate(fr):
        df = fr[table]
        df.loc[5, col] = df.loc[2, col]
        return f"{table}.csv", 5, col, df.loc[2, col]
    return mutate


def _other_segment(fr):
    df = fr["deals"]
    i = int(np.flatnonzero(df["channel"] == "partner")[0])
    value = next(s for s in ("small", "mid", "enterprise") if s != df.loc[i, "segment"])
    df.loc[i, "segment"] = value
    return "deals.csv", i, "segment", value


def is_partner(df):
    return df["channel"] == "partner"


BAD = [
    ("partner id duplicated", _dup("partners", "partner_id"), "unique: already in row 4"),
    ("partner type unknown", _set("partners", "type", "reseller"), "one of: distributor, var, si, msp, referral"),
    ("segment unknown", _set("partners", "segments", "small;huge"), "small, mid, enterprise separated by ';'"),
    ("territory list with an empty item", _set("partners", "territories", "T1;;T2"), "separated by ';'"),
    ("joined not a month", _set("partners", "joined", "2024-13"), "a month YYYY-MM"),
    ("joined after the history", _set("partners", "joined", "2031-01"), "at or before the history's last month"),
    ("exit reason without an exit", _set("partners", "exit_reason", "other", lambda d: d["exited"] == ""),
     "empty while the partner has not exited"),
    ("exit reason unknown", _set("partners", "exit_reason", "bored", lambda d: d["exited"] != ""),
     "partner_choice, failed_improvement_plan, other"),
    ("exit without a reason", _set("partners", "exit_reason", "", lambda d: d["exited"] != ""),
     "a reason when exited is given"),
    ("certifications negative", _set("partners", "certifications", "-1"), "a whole number from 0"),
    ("certifications huge", _set("partners", "certifications", "99999999999999999999"), "a whole number from 0"),
    ("certifications missing", _set("partners", "certifications", ""), "a value is required"),
    ("tier unknown", _set("tiers", "tier", "diamond"), "one of: registered, silver, gold, platinum"),
    ("tier of an unknown partner", _set("tiers", "partner_id", "P999999"), "a partner_id of partners.csv"),
    ("tier month outside the history", _set("tiers", "month", "2030-01"), "from 2023-07 to 2024-06"),
    ("deal value NaN", _set("deals", "value", "nan"), "an amount in USD"),
    ("deal value infinite", _set("deals", "value", "inf"), "an amount in USD"),
    ("deal value negative", _set("deals", "value", "-5"), "greater than 0"),
    ("deal value zero", _set("deals", "value", "0"), "greater than 0"),
    ("deal value huge", _set("deals", "value", "1e400"), "up to 1e+12"),
    ("deal value with a currency sign", _set("deals", "value", "$100"), "no currency sign"),
    ("deal registered not a flag", _set("deals", "registered", "maybe"), "true or false"),
    ("deal outcome unknown", _set("deals", "outcome", "pending"), "one of: won, lost"),
    ("deal channel unknown", _set("deals", "channel", "reseller"), "one of: partner, direct, digital"),
    ("deal id duplicated", _dup("deals", "deal_id"), "unique: already in row 4"),
    ("deal id with a semicolon", _set("deals", "deal_id", "D1;2"), "no commas, semicolons"),
    ("deal month outside the history", _set("deals", "month", "2030-01"), "from 2023-07 to 2024-06"),
    ("partner deal without a partner", _set("deals", "partner_id", "", is_partner), "(channel is partner)"),
    ("direct deal naming a partner", _set("deals", "partner_id", "P1", lambda d: d["channel"] == "direct"),
     "empty (channel is direct"),
    ("deal of an unknown partner", _set("deals", "partner_id", "P999999", is_partner), "a partner_id of partners"),
    ("deal of an unknown account", _set("deals", "account_id", "A999999"), "an account_id of accounts.csv"),
    ("deal segment differs from its account's", _other_segment, "the account's segment in accounts.csv"),
    ("payout lever unknown", _set("payouts", "lever", "bonus"), "one of: discount, spiff, rebate"),
    ("payout amount negative", _set("payouts", "amount", "-1"), "from 0 up to"),
    ("payout to an unknown partner", _set("payouts", "partner_id", "P999999"), "a partner_id of partners.csv"),
    ("payout month not a month", _set("payouts", "month", "2024/01"), "a month YYYY-MM"),
    ("account id duplicated", _dup("accounts", "account_id"), "unique: already in row 4"),
    ("account status unknown", _set("accounts", "status", "lead"), "prospect, customer, competitor, churned"),
    ("conflict winner unknown", _set("conflicts", "winner", "P999999"), "or direct, digital, or empty"),
    ("conflict type unknown", _set("conflicts", "type", "diagonal"), "horizontal, vertical, multichannel"),
]


@pytest.mark.parametrize(("mutate", "allowed"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_each_rule_rejects_a_bad_export(good_dir, tmp_path, mutate, allowed):
    bad = tmp_path / "bad"
    shutil.copytree(good_dir, bad)
    frames = _frames(bad)
    file, i, col, value = mutate(frames)
    for name, df in frames.items():
        df.to_csv(bad / f"{name}.csv", index=False)
    before = sorted(p.name for p in bad.iterdir())
    with pytest.raises(prm.PRMError) as info:
        prm.read_export(bad)
    msg = str(info.value)
    line = next((x for x in msg.splitlines() if f"{file}, row {i + 2}, column '{col}'" in x), None)
    assert line is not None, msg
    assert repr(value) in line and allowed in line, msg
    assert str(bad) in msg.splitlines()[0]
    assert sorted(p.name for p in bad.iterdir()) == before  # reading writes nothing


def _write(path: Path, data: bytes) -> None:
    path.write_bytes(data)


def _rewrite(name: str, **to_csv):
    def mutate(folder: Path) -> None:
        df = pd.read_csv(folder / f"{name}.csv", dtype=str, keep_default_na=False)
        df.to_csv(folder / f"{name}.csv", index=False, **to_csv)
    return mutate


def _drop_column(folder: Path) -> None:
    df = pd.read_csv(folder / "deals.csv", dtype=str, keep_default_na=False)
    df.drop(columns="registered").to_csv(folder / "deals.csv", index=False)


def _duplicate_column(folder: Path) -> None:
    text = (folder / "payouts.csv").read_text().splitlines()
    (folder / "payouts.csv").write_text("\n".join(line + "," + line.split(",")[-1] for line in text) + "\n")


def _both_formats(folder: Path) -> None:
    pd.read_csv(folder / "deals.csv").to_parquet(folder / "deals.parquet")


def _garbage_parquet(folder: Path) -> None:
    (folder / "deals.csv").unlink()
    _write(folder / "deals.parquet", b"PAR1" + bytes(range(256)) * 8)


def _nan_in_parquet(folder: Path) -> None:
    df = pd.read_csv(folder / "deals.csv", keep_default_na=False, dtype={"value": float})
    df.loc[3, "value"] = np.nan
    (folder / "deals.csv").unlink()
    df.to_parquet(folder / "deals.parquet")


def _table_is_a_folder(folder: Path) -> None:
    (folder / "payouts.csv").unlink()
    (folder / "payouts.csv").mkdir()


def _many(folder: Path) -> None:
    df = pd.read_csv(folder / "deals.csv", dtype=str, keep_default_na=False)
    df.loc[:29, "value"] = "x"
    df.to_csv(folder / "deals.csv", index=False)


def _latin1(folder: Path) -> None:
    raw = (folder / "partners.csv").read_bytes().splitlines(keepends=True)
    raw[2] = b"P\xe9" + raw[2][1:]  # a Latin-1 accent in the second data row's partner_id
    _write(folder / "partners.csv", b"".join(raw))


def _manifest(text: str):
    return lambda folder: (folder / "export.yaml").write_text(text)


HOSTILE = [
    ("empty file", lambda f: _write(f / "deals.csv", b""), "deals.csv: the file is empty"),
    ("binary garbage", lambda f: _write(f / "payouts.csv", bytes(range(256)) * 10),
     "payouts.csv: the file holds binary"),
    ("not UTF-8", _latin1, "partners.csv, line 3: value b'\\xe9' -> UTF-8 text"),
    ("semicolon delimiter", _rewrite("tiers", sep=";"), "the header looks separated by ';'"),
    ("tab delimiter", _rewrite("tiers", sep="\t"), "the header looks separated by '\\t'"),
    ("missing column", _drop_column, "deals.csv, row 1, column 'registered': missing"),
    ("duplicated column", _duplicate_column, "payouts.csv, row 1: value 'amount' -> each column once"),
    ("ragged row", lambda f: (f / "payouts.csv").write_text((f / "payouts.csv").read_text() + "2024-01,P1,mdf,1,2,3\n"),
     "payouts.csv: not readable as CSV"),
    ("missing table", lambda f: (f / "tiers.csv").unlink(), "tiers.csv: missing: a required table"),
    ("a table twice", _both_formats, "deals.csv and deals.parquet: one file per table"),
    ("garbage parquet", _garbage_parquet, "deals.parquet: not a readable Parquet file"),
    ("NaN in parquet", _nan_in_parquet, "deals.parquet, row 5, column 'value': value '' -> a value is required"),
    ("table is a folder", _table_is_a_folder, "payouts.csv: not a regular file"),
    ("manifest currency", _manifest("currency: EUR\n"), "export.yaml, key 'currency': value 'EUR' -> USD"),
    ("manifest not YAML", _manifest("a: [\n"), "export.yaml: not readable as UTF-8 YAML"),
    ("manifest a list", _manifest("- 1\n"), "export.yaml: a mapping"),
    ("manifest misspelt key", _manifest("vendro: X\n"), "did you mean 'vendor'?"),
    ("manifest months reversed", _manifest("first_month: '2024-06'\nlast_month: '2023-07'\n"),
     "a month at or after first_month"),
    ("manifest month unquoted date", _manifest("first_month: 2024-01-01\n"), "a month YYYY-MM in quotes"),
    ("thirty problems", _many, "... and 20 more problem(s)"),
]


@pytest.mark.parametrize(("mutate", "expected"), [h[1:] for h in HOSTILE], ids=[h[0] for h in HOSTILE])
def test_hostile_input_gives_the_paragraph(good_dir, tmp_path, mutate, expected):
    bad = tmp_path / "bad"
    shutil.copytree(good_dir, bad)
    mutate(bad)
    with pytest.raises(prm.PRMError) as info:
        prm.read_export(bad)
    msg = str(info.value)
    assert expected in msg, msg
    assert "Traceback" not in msg and len(msg.splitlines()) <= prm.MAX_PROBLEMS + 3


def test_a_missing_folder_or_a_file_is_not_an_export(tmp_path):
    with pytest.raises(prm.PRMError, match="folder: does not exist"):
        prm.read_export(tmp_path / "nowhere")
    (tmp_path / "f.csv").write_text("a,b\n")
    with pytest.raises(prm.PRMError, match="is a file, not a folder"):
        prm.read_export(tmp_path / "f.csv")


def test_without_manifest_the_history_is_the_deals_months(good_dir, tmp_path, export):
    bare = tmp_path / "bare"
    shutil.copytree(good_dir, bare)
    (bare / "export.yaml").unlink()
    for name in prm.OPTIONAL_TABLES:
        (bare / f"{name}.csv").unlink()
    back = prm.read_export(bare)
    assert (back.first_month, back.last_month) == (export.deals["month"].min(), export.deals["month"].max())
    assert back.accounts is None and back.conflicts is None and back.vendor == ""
    assert back.deals.equals(export.deals)


def test_write_export_writes_nothing_on_failure(export, tmp_path, monkeypatch):
    def broken(export, folder, format="csv", manifest=True):
        (Path(folder) / "partners.csv").write_text("half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(prm, "write_tables", broken)
    with pytest.raises(OSError):
        prm.write_export(export, tmp_path / "new")
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    old = prm.write_export(export, tmp_path / "old")
    before = {p.name: p.read_bytes() for p in old.iterdir()}
    monkeypatch.setattr(prm, "write_tables", broken)
    with pytest.raises(OSError):
        prm.write_export(export, old, overwrite=True)
    assert {p.name: p.read_bytes() for p in old.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["old"]


# --------------------------------------------------------------------------- the data commands
REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "scenarios" / "data" / "example_programme"
SMALL_SETS = [a for k, v in SMALL_OVERRIDES.items() if k != "time.months" for a in ("--set", f"{k}={v}")]


def invoke(*args):
    from typer.testing import CliRunner

    from channelsim import cli

    res = CliRunner().invoke(cli.app, [str(a) for a in args])
    try:
        err = res.stderr
    except ValueError:  # older click: stderr mixed into output
        err = ""
    return res, res.output + (err or "")


def test_the_example_export_is_what_the_package_makes(tmp_path):
    """The committed example is regenerated byte for byte (the command in scenarios/example_programme.yaml)."""
    out = tmp_path / "example"
    res, text = invoke("data", "export", "example_programme", "--seed", "1", "--no-manifest", "--out", out)
    assert res.exit_code == 0, text
    made = {p.name: p.read_bytes() for p in sorted(out.iterdir())}
    committed = {p.name: p.read_bytes() for p in sorted(EXAMPLE.iterdir())}
    assert sorted(made) == sorted(committed) == sorted(f"{t}.csv" for t in prm.TABLES)
    for name in made:
        assert made[name] == committed[name], f"{name} differs: regenerate the example (see its scenario file)"
    assert sum(len(b) for b in made.values()) < 3 * 2**20


def test_the_example_differs_from_the_defaults_where_its_description_says():
    from experiments.io import load_scenario

    sc, base = load_scenario("example_programme"), sim.Scenario()
    for path in ("market.bass_p", "market.bass_q", "partners.lifecycle.exit_hazard", "incentives.mdf.claim_rate"):
        a, b = sc, base
        for part in path.split("."):
            a, b = getattr(a, part), getattr(b, part)
        assert a != b and path in sc.description, path


def test_data_check_prints_what_is_usable():
    res, text = invoke("data", "check", EXAMPLE)
    assert res.exit_code == 0, text
    for expected in ("2024-01 to 2025-12 (24 months)", "Deals by channel", "Payouts by lever",
                     "Calibration moments this data supports", "accounts table", "revenue concentration"):
        assert expected in text, expected
    res, text = invoke("data", "check", EXAMPLE, "--json")
    summary = json.loads(res.stdout)
    export = prm.read_export(EXAMPLE)
    assert summary["months"]["count"] == 24 and summary["partners"]["total"] == len(export.partners)
    won = export.deals[export.deals["outcome"] == "won"]
    assert sum(d["won"] for d in summary["deals"].values()) == len(won)
    assert summary["optional"] == {"accounts": len(export.accounts), "conflicts": len(export.conflicts)}


def test_data_check_exits_2_with_the_paragraph(tmp_path, good_dir):
    bad = tmp_path / "bad"
    shutil.copytree(good_dir, bad)
    (bad / "deals.csv").write_text((bad / "deals.csv").read_text().replace(",won", ",maybe", 1))
    res, text = invoke("data", "check", bad)
    assert res.exit_code == 2 and "deals.csv, row 2, column 'outcome': value 'maybe'" in text, text
    assert "Traceback" not in text
    res, text = invoke("data", "check", tmp_path / "nowhere")
    assert res.exit_code == 2 and "does not exist" in text


def test_data_export_is_all_or_nothing(tmp_path):
    out = tmp_path / "x"
    args = ["data", "export", "baseline", *SMALL_SETS, "--months", "3", "--seed", "2", "--out", out]
    res, text = invoke(*args)
    assert res.exit_code == 0, text
    assert prm.read_export(out).n_months == 3 and (out / "export.yaml").is_file()
    first = {p.name: p.read_bytes() for p in out.iterdir()}
    res, text = invoke(*args[:-2], "--seed", "3", "--out", out)  # exists: refused without --force
    assert res.exit_code == 2 and "--force" in text
    assert {p.name: p.read_bytes() for p in out.iterdir()} == first
    res, text = invoke(*args, "--set", "market.n_accounts=-1", "--force")  # bad input: nothing changes
    assert res.exit_code == 2 and "market.n_accounts" in text
    res, text = invoke(*args, "--start", "2024-13", "--force")
    assert res.exit_code == 2 and "--start" in text
    res, text = invoke(*args, "--format", "xlsx", "--force")
    assert res.exit_code == 2 and "'csv', 'parquet'" in text
    assert {p.name: p.read_bytes() for p in out.iterdir()} == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x"]  # no staging folder left behind
    res, text = invoke(*args, "--format", "parquet", "--force")
    assert res.exit_code == 0, text
    assert {p.suffix for p in out.iterdir()} == {".parquet", ".yaml"}
    assert prm.read_export(out) == prm.read_export(out)  # reads back, and equality is by value


def test_data_md_lists_every_column_and_quotes_todays_check():
    doc = (REPO / "docs" / "DATA.md").read_text(encoding="utf-8")
    for name, cols in prm.SCHEMA.items():
        section = doc[doc.index(f"### {name} ("):]
        section = section[: section.index("\n### ", 1)] if "\n### " in section[1:] else section
        for col in cols:
            assert f"| `{col.name}` |" in section, (name, col.name)
    summary = prm.summarise(prm.read_export(EXAMPLE))
    for name, moment in summary["moments"].items():
        assert f"| {name} | {moment['supported']} | {moment['basis']} |" in doc, name
    m, p = summary["months"], summary["partners"]
    assert f"| months | {m['first']} to {m['last']} ({m['count']} months) |" in doc
    assert f"| partners | {p['total']} ({p['at_end']} in the programme at the end, {p['exited']} exited" in doc


def test_parquet_with_numeric_ids_and_missing_values_reads_as_text(good_dir, tmp_path):
    """A PRM that stores ids as numbers (floats, when a column has gaps) still links its tables."""
    folder = tmp_path / "numeric"
    shutil.copytree(good_dir, folder)
    frames = _frames(folder)
    for name in ("partners", "tiers", "deals", "payouts", "accounts"):
        df = frames[name]
        df["partner_id"] = pd.to_numeric(df["partner_id"].str.lstrip("P").replace("", np.nan))  # float with NaN
        df.to_parquet(folder / f"{name}.parquet")
        (folder / f"{name}.csv").unlink()
    frames["conflicts"]["winner"] = frames["conflicts"]["winner"].str.lstrip("P")
    frames["conflicts"].to_csv(folder / "conflicts.csv", index=False)
    back = prm.read_export(folder)
    assert back.deals["partner_id"].str.fullmatch(r"[0-9]*").all()
    assert set(back.payouts["partner_id"]) <= set(back.partners["partner_id"])
    assert (back.deals["partner_id"] == "").sum() == (frames["deals"]["channel"] != "partner").sum()


def test_data_md_error_example_is_what_check_prints(tmp_path):
    """The example message in docs/DATA.md: the example export with three cells changed."""
    bad = tmp_path / "my_export"
    shutil.copytree(EXAMPLE, bad)
    frames = _frames(bad)
    frames["deals"].loc[4, "value"] = "-12"
    frames["deals"].loc[7, "registered"] = "maybe"
    frames["payouts"].loc[38, "lever"] = "bonus"
    for name in ("deals", "payouts"):
        frames[name].to_csv(bad / f"{name}.csv", index=False)
    with pytest.raises(prm.PRMError) as info:
        prm.read_export(bad)
    doc = (REPO / "docs" / "DATA.md").read_text(encoding="utf-8")
    for line in str(info.value).splitlines()[1:]:
        assert line in doc, line


# Any text in any cell: the export is read or refused with the paragraph, never a traceback.
_CELL = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["nan", "NaN", "inf", "-inf", "1e400", "-0", "0x10", "1_000", "9" * 40, "true", "2024-00",
                     "9999-12", "P1", "", " ", ";", ";;", "a,b", "\u00e9", "\x00", "\ufeff", "\u202e", "None"]),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(table=st.sampled_from(prm.TABLES), row=st.integers(0, 40), col=st.integers(0, 9), cell=_CELL)
def test_any_cell_is_read_or_refused_with_the_paragraph(good_dir, tmp_path_factory, table, row, col, cell):
    bad = tmp_path_factory.mktemp("fuzz") / "x"
    shutil.copytree(good_dir, bad)
    df = pd.read_csv(bad / f"{table}.csv", dtype=str, keep_default_na=False)
    df.iloc[row % len(df), col % df.shape[1]] = cell
    df.to_csv(bad / f"{table}.csv", index=False)
    try:
        back = prm.read_export(bad)
    except prm.PRMError as err:
        assert isinstance(err, InputError) and str(bad) in str(err) and len(str(err).splitlines()) <= 13
    else:
        assert isinstance(back, prm.PRMExport)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(table=st.sampled_from(prm.TABLES), data=st.binary(max_size=300), ext=st.sampled_from(["csv", "parquet"]))
def test_any_file_is_read_or_refused_with_the_paragraph(good_dir, tmp_path_factory, table, data, ext):
    bad = tmp_path_factory.mktemp("fuzz") / "x"
    shutil.copytree(good_dir, bad)
    (bad / f"{table}.csv").unlink()
    (bad / f"{table}.{ext}").write_bytes(data)
    with pytest.raises(prm.PRMError) as info:  # 300 random bytes are never a usable table of this export
        prm.read_export(bad)
    assert f"{table}.{ext}" in str(info.value)


def test_summary_says_what_is_missing(good_dir, tmp_path):
    bare = tmp_path / "bare"
    shutil.copytree(good_dir, bare)
    for name in prm.OPTIONAL_TABLES:
        (bare / f"{name}.csv").unlink()
    payouts = pd.read_csv(bare / "payouts.csv", dtype=str, keep_default_na=False)
    payouts[payouts["lever"] != "mdf"].to_csv(bare / "payouts.csv", index=False)
    summary = prm.summarise(prm.read_export(bare))
    assert summary["optional"] == {"accounts": None, "conflicts": None}
    assert summary["moments"]["channel conflicts"] == {"supported": "no", "basis": "no conflicts table"}
    assert summary["moments"]["MDF utilisation"]["supported"] == "no" and "mdf" not in summary["payouts"]
    assert summary["moments"]["win rates by channel"]["supported"] == "yes"
