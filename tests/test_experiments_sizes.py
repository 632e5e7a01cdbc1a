"""experiments.sizes: the quick-look sizes the notebooks share, from Python and as --set options."""

from __future__ import annotations

import pytest

import sim
from experiments import sizes
from experiments.io import load_scenario


def test_sizes_apply_their_overrides_and_keep_the_programme():
    whatif = load_scenario("rebate_boost")
    small = sizes.SMALL.apply(whatif)
    assert small.market.n_accounts == 20_000 and small.time.months == 24 and small.time.warmup_months == 12
    assert small.incentives.rebate.scale == whatif.incentives.rebate.scale  # the programme is the scenario's
    tiny = sizes.small("rebate_boost", "tiny")
    assert (tiny.market.n_accounts, tiny.partners.n_initial, tiny.time.months) == (3_000, 40, 12)
    assert tiny.incentives.rebate.scale == whatif.incentives.rebate.scale
    assert sizes.small(size=sizes.TINY) == sizes.TINY.apply(sim.Scenario())
    assert (sizes.SMALL.replications, sizes.TINY.replications) == (4, 2)
    with pytest.raises(ValueError, match="allowed: small, tiny"):
        sizes.small(size="huge")
    with pytest.raises(TypeError):
        sizes.SMALL.overrides["time.months"] = 1  # read-only: a notebook cannot change it for the others


def test_notebook_size_follows_the_environment_variable():
    assert sizes.notebook_size({}) is sizes.SMALL
    assert sizes.notebook_size({sizes.ENV: "1"}) is sizes.TINY
    assert sizes.notebook_size({sizes.ENV: "0"}) is sizes.SMALL


def test_set_options_give_the_same_scenario_on_the_command_line(capsys):
    from channelsim.cli import parse_sets
    from sim.overrides import apply_overrides

    assert sizes.main(["tiny"]) == 0
    argv = capsys.readouterr().out.split()
    assert argv[::2] == ["--set"] * len(sizes.TINY.overrides)
    # as `channelsim run --set ...` applies them (YAML values, strict types)
    assert apply_overrides(sim.Scenario(), parse_sets(argv[1::2]), strict=True) == sizes.TINY.apply()
    assert sizes.main(["huge"]) == 2
