"""Fingerprints of every result frame of a few scenario-seed pairs: run at two commits and diff the output.

A change that is meant to leave the model's behaviour alone (a faster kernel, a recorder switched off)
must print the same lines before and after::

    .venv/bin/python benchmarks/frame_hashes.py > after.txt
    git worktree add /tmp/before REV
    (cd /tmp/before && PYTHONPATH=. "$OLDPWD/.venv/bin/python" "$OLDPWD/benchmarks/frame_hashes.py") > before.txt
    diff before.txt after.txt

Each line is ``scenario:seed`` and the first 16 hex digits of a SHA-256 over the kpis, partners,
conflicts and migrations frames of ``sim.run(scenario, seed)`` (values, index and column names).
"""

from __future__ import annotations

import hashlib

import pandas as pd

import sim
from experiments.io import load_scenario

#: The baseline and the what-ifs that take the other paths of the monthly step (conflict rules, collaboration,
#: speciality tiers, early intervention, direct and digital channels).
PAIRS = (("baseline", (3, 4)), ("collaboration_programme", (1,)), ("speciality_tiering", (1,)),
         ("early_intervention", (1,)), ("mediation", (1,)), ("direct_expansion", (1,)),
         ("deal_registration_off", (2,)), ("digital_shift", (2,)))


def fingerprint(result: sim.RunResult) -> str:
    h = hashlib.sha256()
    for name in ("kpis", "partners", "conflicts", "migrations"):
        df = getattr(result, name)
        h.update(pd.util.hash_pandas_object(df, index=True).values.tobytes())
        h.update(str(list(df.columns)).encode())
    return h.hexdigest()[:16]


def main() -> None:
    for name, seeds in PAIRS:
        scenario = load_scenario(name)
        for seed in seeds:
            print(f"{name}:{seed} {fingerprint(sim.run(scenario, seed=seed))}")


if __name__ == "__main__":
    main()
