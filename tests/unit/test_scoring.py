"""PHQ-9, GAD-7 and entrepreneurial aptitude scoring at every band boundary."""

from __future__ import annotations

import re

import pytest

from hub.questionnaires import scoring


def answers_totalling(
    items: tuple[str, ...], total: int, last: int | None = None
) -> dict[str, int]:
    """0–3 answers summing to `total`, filled from the first item; `last` fixes the last item."""
    values = dict.fromkeys(items, 0)
    if last is not None:
        values[items[-1]] = last
        total -= last
    for item in items[: len(items) - (last is not None)]:
        values[item] = min(3, total)
        total -= values[item]
    assert total == 0
    return values


@pytest.mark.parametrize(
    ("total", "band"),
    [
        (0, "minimal"), (4, "minimal"),
        (5, "mild"), (9, "mild"),
        (10, "moderate"), (14, "moderate"),
        (15, "moderately severe"), (19, "moderately severe"),
        (20, "severe"), (27, "severe"),
    ],
)  # fmt: skip
def test_phq9_bands(total: int, band: str) -> None:
    item9 = max(0, total - 24)  # items 1–8 give at most 24
    score = scoring.phq9(answers_totalling(scoring.PHQ9_ITEMS, total, last=item9))
    assert (score.instrument, score.total, score.band) == ("PHQ-9", total, band)
    assert score.urgent == (total >= 20)


@pytest.mark.parametrize(
    ("total", "band"),
    [
        (0, "minimal"), (4, "minimal"),
        (5, "mild"), (9, "mild"),
        (10, "moderate"), (14, "moderate"),
        (15, "severe"), (21, "severe"),
    ],
)  # fmt: skip
def test_gad7_bands(total: int, band: str) -> None:
    score = scoring.gad7(answers_totalling(scoring.GAD7_ITEMS, total))
    assert (score.instrument, score.total, score.band, score.urgent) == (
        "GAD-7",
        total,
        band,
        False,
    )


@pytest.mark.parametrize("item9", [1, 2, 3])
def test_phq9_item_9_above_zero_is_urgent_whatever_the_total(item9: int) -> None:
    score = scoring.phq9(answers_totalling(scoring.PHQ9_ITEMS, item9, last=item9))
    assert score.band == "minimal"
    assert score.urgent
    assert score.reasons == ("item 9 (thoughts of death or self-harm) answered above 0",)


def test_phq9_total_19_without_item_9_is_not_urgent_and_20_is() -> None:
    assert not scoring.phq9(answers_totalling(scoring.PHQ9_ITEMS, 19, last=0)).urgent
    score = scoring.phq9(answers_totalling(scoring.PHQ9_ITEMS, 20, last=0))
    assert score.reasons == ("total 20 ≥ 20",)
    both = scoring.phq9(answers_totalling(scoring.PHQ9_ITEMS, 24, last=3))
    assert len(both.reasons) == 2


def test_answers_come_as_xform_strings() -> None:
    answers = {item: "2" for item in scoring.GAD7_ITEMS}
    assert scoring.gad7(answers).total == 14


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"phq9_3": None}, "phq9_3: no answer"),
        ({"phq9_3": 4}, "phq9_3: 4 is outside 0–3"),
        ({"phq9_3": "often"}, "phq9_3: 'often' is not a number"),
    ],
)
def test_a_missing_or_off_scale_answer_is_refused_by_item(
    change: dict[str, int | str | None], message: str
) -> None:
    answers: dict[str, int | str] = dict.fromkeys(scoring.PHQ9_ITEMS, 0)
    for item, value in change.items():
        if value is None:
            del answers[item]
        else:
            answers[item] = value
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        scoring.phq9(answers)


def test_entrepreneurial_score_counts_reversed_items_backwards() -> None:
    agree_to_all = dict.fromkeys(scoring.ENTREPRENEURIAL_ITEMS, "5")
    # 7 items at 5, the 3 reversed ones (4, 7, 9) at 6 - 5 = 1.
    assert scoring.entrepreneurial_aptitude(agree_to_all) == 7 * 5 + 3 * 1
    profile = {
        "ent_1": 4, "ent_2": 5, "ent_3": 3, "ent_4": 2, "ent_5": 4,
        "ent_6": 3, "ent_7": 1, "ent_8": 5, "ent_9": 2, "ent_10": 4,
    }  # fmt: skip
    assert scoring.entrepreneurial_aptitude(profile) == 4 + 5 + 3 + 4 + 4 + 3 + 5 + 5 + 4 + 4
    lowest = {item: 5 if item in scoring.ENTREPRENEURIAL_REVERSED else 1 for item in profile}
    assert scoring.entrepreneurial_aptitude(lowest) == 10


def test_entrepreneurial_score_refuses_an_answer_off_the_likert_scale() -> None:
    with pytest.raises(ValueError, match=r"^ent_1: 0 is outside 1–5$"):
        scoring.entrepreneurial_aptitude(dict.fromkeys(scoring.ENTREPRENEURIAL_ITEMS, 0))


def test_form_calculations_mirror_the_rules() -> None:
    assert scoring.entrepreneurial_calculation().startswith(
        "${ent_1} + ${ent_2} + ${ent_3} + (6 - ${ent_4})"
    )
    assert scoring.band_calculation("t", scoring.GAD7_BANDS) == (
        "if(${t} >= 15, 'severe', if(${t} >= 10, 'moderate', if(${t} >= 5, 'mild', 'minimal')))"
    )
