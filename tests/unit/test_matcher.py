"""Matching: 1:1 verify and 1:N identify over a gallery matrix, and refused input."""

from __future__ import annotations

import numpy as np
import pytest

from kiosk.caches import Gallery
from kiosk.recognition.matcher import (
    Identification,
    Match,
    TemplateError,
    check_templates,
    identify,
    verify,
)

DIMENSION = 512
THRESHOLD = 0.42


def unit(vector: np.ndarray) -> np.ndarray:
    scaled: np.ndarray = (vector / np.linalg.norm(vector)).astype(np.float32)
    return scaled


def toward(probe: np.ndarray, score: float, seed: int) -> np.ndarray:
    """A unit template whose score against the unit ``probe`` is ``score``."""
    other = np.random.default_rng(seed).standard_normal(DIMENSION)
    other -= other.dot(probe) * probe
    other /= np.linalg.norm(other)
    return unit(score * probe + np.sqrt(1 - score**2) * other)


PROBE = unit(np.random.default_rng(0).standard_normal(DIMENSION))


def gallery_of(scored: list[tuple[str, float]]) -> Gallery:
    """A gallery whose rows score as given against PROBE, in the given order."""
    rows = [toward(PROBE, score, seed) for seed, (_, score) in enumerate(scored, start=1)]
    return Gallery([person for person, _ in scored], np.stack(rows))


def ranking(found: Identification) -> list[tuple[str, float]]:
    return [(m.subject_id, round(m.score, 4)) for m in found.candidates]


# --- identify --------------------------------------------------------------------------------


def test_identify_ranks_the_top_k_people_best_first_with_the_margin() -> None:
    gallery = gallery_of([("d1", 0.1), ("d2", 0.7), ("d3", 0.3), ("d4", 0.55), ("d5", -0.2)])
    found = identify(PROBE, gallery, THRESHOLD, k=3)
    assert ranking(found) == [("d2", 0.7), ("d4", 0.55), ("d3", 0.3)]
    assert found.margin == pytest.approx(0.15, abs=1e-5)
    assert [m.accepted for m in found.candidates] == [True, True, False]
    assert found.best == found.candidates[0]


def test_identify_with_k_1_still_measures_the_margin_to_the_runner_up() -> None:
    gallery = gallery_of([("d1", 0.2), ("d2", 0.9), ("d3", 0.6)])
    found = identify(PROBE, gallery, THRESHOLD, k=1)
    assert ranking(found) == [("d2", 0.9)]
    assert found.margin == pytest.approx(0.3, abs=1e-5)


def test_identify_gives_every_person_when_k_exceeds_the_gallery() -> None:
    found = identify(PROBE, gallery_of([("d1", 0.2), ("d2", 0.5)]), THRESHOLD, k=5)
    assert ranking(found) == [("d2", 0.5), ("d1", 0.2)]


def test_identify_in_a_one_person_gallery_takes_the_score_as_margin() -> None:
    found = identify(PROBE, gallery_of([("d1", 0.8)]), THRESHOLD)
    assert ranking(found) == [("d1", 0.8)]
    assert found.margin == pytest.approx(0.8, abs=1e-5)


def test_identify_ranks_a_person_with_several_templates_once_by_their_best() -> None:
    gallery = gallery_of([("d1", 0.5), ("d2", 0.6), ("d1", 0.8), ("d3", 0.4), ("d2", 0.1)])
    found = identify(PROBE, gallery, THRESHOLD, k=3)
    assert ranking(found) == [("d1", 0.8), ("d2", 0.6), ("d3", 0.4)]
    assert found.margin == pytest.approx(0.2, abs=1e-5)


def test_identify_looks_past_a_person_whose_templates_fill_the_first_pick() -> None:
    many = [("d1", 0.9 - i / 100) for i in range(40)]  # 40 rows of d1 above everyone else
    gallery = gallery_of([*many, ("d2", 0.3), ("d3", 0.2), ("d4", 0.1)])
    found = identify(PROBE, gallery, THRESHOLD, k=3)
    assert ranking(found) == [("d1", 0.9), ("d2", 0.3), ("d3", 0.2)]


def test_identify_in_an_empty_gallery_finds_nobody() -> None:
    empty = Gallery([], np.zeros((0, 0), dtype=np.float32))
    assert identify(PROBE, empty, THRESHOLD) == Identification([], 0.0)
    assert identify(PROBE, empty, THRESHOLD).best is None


def test_identify_agrees_with_sorting_every_score_on_a_large_gallery() -> None:
    rng = np.random.default_rng(7)
    rows = rng.standard_normal((5000, DIMENSION)).astype(np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    ids = [f"d{i % 1700}" for i in range(5000)]  # most people hold two or three rows
    found = identify(rows[123], Gallery(ids, rows), THRESHOLD, k=5)
    best: dict[str, float] = {}
    for person, score in zip(ids, (rows @ rows[123]).tolist(), strict=True):
        best[person] = max(score, best.get(person, -2.0))
    expected = sorted(best.items(), key=lambda item: -item[1])[:5]
    assert [(m.subject_id, m.score) for m in found.candidates] == expected
    assert found.candidates[0].subject_id == "d123"


# --- verify ----------------------------------------------------------------------------------


def test_verify_accepts_at_exactly_the_threshold_and_refuses_below() -> None:
    template = toward(PROBE, 0.6, seed=3)
    match = verify(PROBE, template, "d1", THRESHOLD)
    assert (match.subject_id, round(match.score, 4), match.accepted) == ("d1", 0.6, True)
    assert Match("d1", THRESHOLD, THRESHOLD).accepted
    assert not verify(PROBE, template, "d1", 0.61).accepted


# --- refused input ---------------------------------------------------------------------------


def test_identify_refuses_a_probe_of_another_dimension() -> None:
    gallery = gallery_of([("d1", 0.5)])
    with pytest.raises(
        TemplateError,
        match="the probe has 128 values but the gallery has 512; they come from different",
    ):
        identify(unit(np.ones(128)), gallery, THRESHOLD)


def test_verify_refuses_a_probe_of_another_dimension() -> None:
    with pytest.raises(TemplateError, match="the probe has 128 values but the enrolled"):
        verify(unit(np.ones(128)), PROBE, "d1", THRESHOLD)


def test_identify_refuses_a_probe_that_is_not_normalised() -> None:
    with pytest.raises(TemplateError, match="the probe is not L2-normalised: row 0 has length 3"):
        identify(PROBE * 3, gallery_of([("d1", 0.5)]), THRESHOLD)


def test_identify_refuses_a_gallery_that_is_not_normalised() -> None:
    gallery = gallery_of([("d1", 0.5), ("d2", 0.4)])
    stretched = Gallery(gallery.detainee_ids, gallery.templates * 4)
    with pytest.raises(TemplateError, match="not L2-normalised or not numbers; sync the kiosk"):
        identify(PROBE, stretched, THRESHOLD)


def test_identify_refuses_a_candidate_row_that_is_too_short() -> None:
    gallery = gallery_of([("d1", 0.5), ("d2", 0.4)])
    shrunk = Gallery(gallery.detainee_ids, gallery.templates * np.float32(0.5))
    with pytest.raises(TemplateError, match=r"not L2-normalised: row 0 \(d1\) has length 0.5"):
        identify(PROBE, shrunk, THRESHOLD)


def test_identify_refuses_a_gallery_whose_names_do_not_fit_its_rows() -> None:
    gallery = gallery_of([("d1", 0.5), ("d2", 0.4)])
    with pytest.raises(TemplateError, match="names 1 templates but holds a matrix of shape"):
        identify(PROBE, Gallery(["d1"], gallery.templates), THRESHOLD)


def test_identify_refuses_a_nan_probe_and_k_below_one() -> None:
    probe = PROBE.copy()
    probe[0] = np.nan
    with pytest.raises(TemplateError, match="not numbers"):
        identify(probe, gallery_of([("d1", 0.5)]), THRESHOLD)
    with pytest.raises(ValueError, match="k must be 1 or more, not 0"):
        identify(PROBE, gallery_of([("d1", 0.5)]), THRESHOLD, k=0)


def test_verify_refuses_an_enrolled_template_that_is_a_matrix() -> None:
    with pytest.raises(TemplateError, match=r"enrolled template must be one template \(a vector\)"):
        verify(PROBE, np.stack([PROBE, PROBE]), "d1", THRESHOLD)


def test_check_templates_refuses_integers_and_a_vector() -> None:
    with pytest.raises(TemplateError, match="must hold floating-point numbers, not int64"):
        check_templates(np.ones((2, 3), dtype=np.int64), "templates")
    with pytest.raises(TemplateError, match=r"must be a matrix of templates, not shape \(3,\)"):
        check_templates(np.ones(3, dtype=np.float32), "templates")
