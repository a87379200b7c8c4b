"""Surface cues: features of the user's code that tell the categories apart without being the bug.

A small model learns the cheapest feature that predicts the label. In the curated set the
register-clobbering routines were written in lower-case mnemonics (88% of them) and the mode
routines in upper case (97%); the benchmark writes every routine in upper case, and the model
trained on that set called nearly every clobbering case a mode bug. The gate measures, in each
category, the share of dialogues whose code is written in upper case, and fails when two
categories differ by more than ``max_spread``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from farore.dataset.balance import UNLABELLED
from farore.dataset.schema import Dialogue
from farore.dataset.similarity import code_blocks
from farore.dataset.trace import written_mnemonics

DEFAULT_MAX_SPREAD = 0.3
#: Categories with fewer dialogues with code are left out: a share of a handful means nothing.
MIN_DIALOGUES = 10


@dataclass(frozen=True)
class CaseShare:
    category: str
    dialogues: int  # those whose user turn holds code
    upper: int  # of them, those whose mnemonics are mostly upper case

    @property
    def share(self) -> float:
        return self.upper / self.dialogues if self.dialogues else 0.0


@dataclass(frozen=True)
class CueResult:
    categories: tuple[CaseShare, ...]
    max_spread: float

    @property
    def compared(self) -> tuple[CaseShare, ...]:
        return tuple(c for c in self.categories if c.dialogues >= MIN_DIALOGUES)

    @property
    def extremes(self) -> tuple[CaseShare, CaseShare] | None:
        """The categories with the lowest and the highest upper-case share, None with fewer than two."""
        if len(self.compared) < 2:
            return None
        ordered = sorted(self.compared, key=lambda c: c.share)
        return ordered[0], ordered[-1]

    @property
    def spread(self) -> float:
        return self.extremes[1].share - self.extremes[0].share if self.extremes else 0.0

    @property
    def passed(self) -> bool:
        return self.spread <= self.max_spread

    def problems(self) -> list[str]:
        if self.passed:
            return []
        low, high = self.extremes
        return [
            f"the mnemonics' case tells the categories apart: {high.category} {high.share:.0%} of dialogues in "
            f"upper case, {low.category} {low.share:.0%} (spread {self.spread:.0%} > {self.max_spread:.0%}); "
            "write every category's code in the same mix of cases"
        ]


def upper_case_code(dialogue: Dialogue) -> bool | None:
    """Whether most mnemonics of the user's code are upper case; None when the user shows no code."""
    mnemonics = [m for text in dialogue.texts("user") for block in code_blocks(text) for m in written_mnemonics(block)]
    if not mnemonics:
        return None
    return sum(m.isupper() for m in mnemonics) * 2 > len(mnemonics)


def measure_cues(dialogues: Sequence[Dialogue], max_spread: float = DEFAULT_MAX_SPREAD) -> CueResult:
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for dialogue in dialogues:
        upper = upper_case_code(dialogue)
        if upper is not None:
            count = counts[dialogue.category or UNLABELLED]
            count[0] += 1
            count[1] += upper
    shares = tuple(CaseShare(category, total, upper) for category, (total, upper) in sorted(counts.items()))
    return CueResult(shares, max_spread)
