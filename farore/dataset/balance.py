"""Category and source balance: counts, shares, and the categories below a minimum share.

By default each category of the benchmark must hold at least ``DEFAULT_MIN_SHARE`` of the
dialogues, so that no benchmark category is learned from a handful of examples. Dialogues
without a category are counted under ``UNLABELLED``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from farore.dataset.schema import Dialogue

DEFAULT_MIN_SHARE = 0.15
UNLABELLED = "(none)"


@dataclass(frozen=True)
class BalanceResult:
    total: int
    categories: dict[str, int]
    sources: dict[str, int]
    required: tuple[str, ...]
    min_share: float

    def share(self, category: str) -> float:
        return self.categories.get(category, 0) / self.total if self.total else 0.0

    @property
    def below(self) -> tuple[str, ...]:
        return tuple(c for c in self.required if self.share(c) < self.min_share)

    @property
    def passed(self) -> bool:
        return self.total > 0 and not self.below

    def problems(self) -> list[str]:
        if not self.total:
            return ["the dataset holds no dialogue"]
        return [
            f"{category} holds {self.share(category):.1%} ({self.categories.get(category, 0)} of {self.total}), "
            f"below the minimum {self.min_share:.0%}"
            for category in self.below
        ]


def _counts(values: Sequence[str | None]) -> dict[str, int]:
    return dict(Counter(value or UNLABELLED for value in values).most_common())


def measure_balance(
    dialogues: Sequence[Dialogue], required: Sequence[str], min_share: float = DEFAULT_MIN_SHARE
) -> BalanceResult:
    return BalanceResult(
        len(dialogues),
        _counts([d.category for d in dialogues]),
        _counts([d.source for d in dialogues]),
        tuple(required),
        min_share,
    )
