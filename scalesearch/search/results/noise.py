"""The family's seed noise: one accuracy's spread over seeds under the family's training.

Pooled over every architecture trained that way with two or more seeds: the family's
members, the defaults' check beside them and the ablation's cells (one training rule, so one
noise). Each member's error bar, the scaling verdict and the budget cells read it.
"""

from __future__ import annotations

from scalesearch.search.results.ablation_table import AblationCell
from scalesearch.search.results.arch_groups import arch_groups, pooled_sd
from scalesearch.search.store.schema import Phase
from scalesearch.search.store.studies import RunStudies


def family_seed_noise(run: RunStudies, ablation: list[AblationCell]) -> float:
    """The pooled sd of one accuracy over seeds under the family's training (NaN without a
    replicated member, check or ablation cell)."""
    groups = arch_groups(run.trials(Phase.FAMILY), run.name_for(Phase.FAMILY))
    groups += arch_groups(run.trials(Phase.CHECK), run.name_for(Phase.CHECK))
    return pooled_sd(
        [g.accuracies for g in groups] + [tuple(c.accuracies.values()) for c in ablation]
    )
