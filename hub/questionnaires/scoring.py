"""Scoring of the shipped instruments: PHQ-9, GAD-7 and Masar's entrepreneurial aptitude scale.

The hub scores answers here, never from the form's own calculate fields: those only mirror
these rules (`build_forms` writes them from the same constants) for display on a health
worker's screen. Answers arrive as XForm values, so strings like ``"2"`` are accepted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

PHQ9_ITEMS = tuple(f"phq9_{i}" for i in range(1, 10))
GAD7_ITEMS = tuple(f"gad7_{i}" for i in range(1, 8))
FREQUENCY_MAX = 3  # 0 not at all, 1 several days, 2 more than half the days, 3 nearly every day

# (lowest total of the band, band): Kroenke 2001 for PHQ-9, Spitzer 2006 for GAD-7.
PHQ9_BANDS = (
    (0, "minimal"),
    (5, "mild"),
    (10, "moderate"),
    (15, "moderately severe"),
    (20, "severe"),
)
GAD7_BANDS = ((0, "minimal"), (5, "mild"), (10, "moderate"), (15, "severe"))
PHQ9_URGENT_TOTAL = 20
PHQ9_SELF_HARM_ITEM = "phq9_9"

ENTREPRENEURIAL_ITEMS = tuple(f"ent_{i}" for i in range(1, 11))
# Items worded against aptitude: scored 6 - answer so that a higher score always means more.
ENTREPRENEURIAL_REVERSED = frozenset({"ent_4", "ent_7", "ent_9"})
LIKERT_MIN, LIKERT_MAX = 1, 5

Answers = Mapping[str, int | str]


@dataclass(frozen=True)
class Score:
    """A scored screening: the band is for the health worker; `urgent` asks for follow-up now."""

    instrument: str
    total: int
    band: str
    urgent: bool = False
    reasons: tuple[str, ...] = ()


def _answer(answers: Answers, item: str, low: int, high: int) -> int:
    """One item's answer as an int, refusing a missing or out-of-scale one by name."""
    if item not in answers:
        raise ValueError(f"{item}: no answer")
    try:
        value = int(answers[item])
    except ValueError:
        raise ValueError(f"{item}: {answers[item]!r} is not a number") from None
    if not low <= value <= high:
        raise ValueError(f"{item}: {value} is outside {low}–{high}")
    return value


def band(total: int, bands: Sequence[tuple[int, str]]) -> str:
    """The band whose lowest total is the highest one not above `total`."""
    return [name for lowest, name in bands if lowest <= total][-1]


def phq9(answers: Answers) -> Score:
    """PHQ-9: total 0–27; urgent when item 9 (self-harm thoughts) > 0 or the total is ≥ 20."""
    values = {item: _answer(answers, item, 0, FREQUENCY_MAX) for item in PHQ9_ITEMS}
    total = sum(values.values())
    reasons = []
    if values[PHQ9_SELF_HARM_ITEM] > 0:
        reasons.append("item 9 (thoughts of death or self-harm) answered above 0")
    if total >= PHQ9_URGENT_TOTAL:
        reasons.append(f"total {total} ≥ {PHQ9_URGENT_TOTAL}")
    return Score("PHQ-9", total, band(total, PHQ9_BANDS), bool(reasons), tuple(reasons))


def gad7(answers: Answers) -> Score:
    """GAD-7: total 0–21 in four bands; no urgent rule of its own."""
    total = sum(_answer(answers, item, 0, FREQUENCY_MAX) for item in GAD7_ITEMS)
    return Score("GAD-7", total, band(total, GAD7_BANDS))


def entrepreneurial_aptitude(answers: Answers) -> int:
    """Sum of the 10 Likert items (1–5), reversed items counted as 6 - answer: 10–50."""
    total = 0
    for item in ENTREPRENEURIAL_ITEMS:
        value = _answer(answers, item, LIKERT_MIN, LIKERT_MAX)
        total += LIKERT_MIN + LIKERT_MAX - value if item in ENTREPRENEURIAL_REVERSED else value
    return total


# XLSForm calculations mirroring the rules above, for the forms `build_forms` writes.


def sum_calculation(items: Sequence[str]) -> str:
    """`${a} + ${b} + …`: the total of 0–3 items."""
    return " + ".join(f"${{{item}}}" for item in items)


def band_calculation(total_field: str, bands: Sequence[tuple[int, str]]) -> str:
    """Nested if() giving the band name of `${total_field}`."""
    expression = f"'{bands[0][1]}'"
    for lowest, name in bands[1:]:
        expression = f"if(${{{total_field}}} >= {lowest}, '{name}', {expression})"
    return expression


def phq9_urgent_calculation(total_field: str) -> str:
    """'yes' when PHQ-9 asks for follow-up now, as `phq9` decides."""
    item9, total = f"${{{PHQ9_SELF_HARM_ITEM}}}", f"${{{total_field}}}"
    return f"if({item9} > 0 or {total} >= {PHQ9_URGENT_TOTAL}, 'yes', 'no')"


def entrepreneurial_calculation() -> str:
    """The aptitude score as an XLSForm calculation."""
    reverse = LIKERT_MIN + LIKERT_MAX
    return " + ".join(
        f"({reverse} - ${{{item}}})" if item in ENTREPRENEURIAL_REVERSED else f"${{{item}}}"
        for item in ENTREPRENEURIAL_ITEMS
    )
