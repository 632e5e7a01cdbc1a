"""How a run started from a PRM export compares with the run the export was made from.

A simulated programme (the baseline at ``--scale``, seed 1) runs its warm-up and 12 reported months;
``experiments.prm.export_run`` turns those months into a PRM export; the run restarts from the
export's last month (``data.as_of: end``) with ``data.warmup_months`` of 0 and of ``--warmup``, three
seeds each, and reports the next 12 months beside the original run continued for 12 more months.
Month 0's partners, tiers and customers equal the export's exactly (tests/test_initial_state.py);
what differs after it is the state an export does not hold (capabilities, mindshare, satisfaction,
revenue histories, beliefs), which is drawn.

    python benchmarks/restart_from_export.py --scale 0.2
"""

from __future__ import annotations

import argparse

import pandas as pd

import sim
from experiments.initial import with_data
from experiments.prm import export_run
from sim.run import collect

COLUMNS = ("active_partners", "revenue_total", "customers_new", "win_rate", "market_share")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=0.2)
    ap.add_argument("--warmup", type=int, default=12)
    args = ap.parse_args()
    sc = sim.Scenario().scaled(args.scale).with_overrides({"time.months": 12})
    model = sim.ChannelModel(sc, rng=1, record_deals=True)
    model.collect_warmup = False
    model.run()
    export = export_run(collect(model))
    rows = {}
    cont = sim.run(sc.with_overrides({"time.months": 24}), 1).kpis.iloc[12:24]
    rows["continued run, months 13-24"] = (cont[list(COLUMNS)].iloc[0], cont[list(COLUMNS)].mean())
    for warm in (0, args.warmup):
        fitted, state = with_data(sc.with_overrides({"data.path": "export", "data.warmup_months": warm}),
                                  export=export)
        runs = [sim.run(fitted, s, initial=state).kpis[list(COLUMNS)] for s in range(3)]
        first = pd.concat([r.iloc[0] for r in runs], axis=1).mean(axis=1)
        mean = pd.concat([r.mean() for r in runs], axis=1).mean(axis=1)
        rows[f"from the export, warm-up {warm} (3 seeds)"] = (first, mean)
    table = pd.DataFrame({(name, part): vals[i] for name, vals in rows.items()
                          for i, part in enumerate(("month 1", "12-month mean"))}).T
    print(table.to_string(float_format="{:,.3f}".format))


if __name__ == "__main__":
    main()
