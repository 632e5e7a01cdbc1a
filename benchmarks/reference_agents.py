"""The agent-per-account reference for the speed benchmark.

A plain Mesa model in which every account is a :class:`mesa.Agent` whose step
is a Bass adoption coin flip: an account that has not adopted adopts this month
with probability ``(p + q * F) / 12``, where ``F`` is the share of accounts that
had adopted at the start of the month.  The model's ``self.rng`` is the only
source of randomness and a month is one ``self.agents.shuffle_do("step")``.

This is the cheapest thing an agent-per-account design can do in a month: no
partners, no opportunities, no conflicts, no KPIs.  The ratio of channelsim's
throughput to this model's is therefore a *lower bound* on what the vectorised
customer population buys over one Python object per account.
"""

from __future__ import annotations

import mesa


class Account(mesa.Agent):
    """One account: adopted or not."""

    def __init__(self, model: ReferenceModel):
        super().__init__(model)
        self.adopted = False

    def step(self) -> None:
        model = self.model
        if not self.adopted and model.rng.random() < model.hazard:
            self.adopted = True
            model.newly_adopted += 1


class ReferenceModel(mesa.Model):
    """``n_accounts`` Mesa agents with a Bass adoption step, one step a month.

    Args:
        n_accounts: number of accounts (one agent each).
        bass_p: coefficient of innovation, per year.
        bass_q: coefficient of imitation, per year.
        rng: seed or ``numpy.random.Generator`` for the model's ``self.rng``.
    """

    def __init__(self, n_accounts: int = 50_000, *, bass_p: float = 0.03, bass_q: float = 0.38, rng=None):
        super().__init__(rng=rng)
        self.n_accounts = n_accounts
        self.bass_p = bass_p
        self.bass_q = bass_q
        self.adopted = 0
        self.newly_adopted = 0
        self.hazard = 0.0
        Account.create_agents(self, n_accounts)

    def step(self) -> None:
        self.hazard = (self.bass_p + self.bass_q * self.adopted / self.n_accounts) / 12.0
        self.newly_adopted = 0
        self.agents.shuffle_do("step")
        self.adopted += self.newly_adopted


def run(n_accounts: int, months: int, seed: int = 0) -> ReferenceModel:
    """Build the reference model and step it ``months`` times."""
    model = ReferenceModel(n_accounts, rng=seed)
    for _ in range(months):
        model.step()
    return model
