"""Calibration: pair scores, thresholds at target false-match rates, EER, rank-1, the file."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from kiosk.recognition.calibration import (
    BLOCK_ROWS,
    Calibration,
    CalibrationError,
    Scores,
    all_pair_scores,
    calibration_path,
    equal_error_rate,
    fnmr_at_threshold,
    load_calibration,
    load_calibrations,
    rank1_identification_rate,
    save_calibration,
    threshold_at_fmr,
)
from kiosk.recognition.matcher import TemplateError

EVEN = np.arange(1000) / 1000  # impostor scores 0.000 … 0.999


def passing(scores: np.ndarray, threshold: float) -> int:
    """How many scores reach ``threshold``: the matches it lets through."""
    return int((scores >= threshold).sum())


def people(count: int, images: int, spread: float, seed: int) -> tuple[np.ndarray, list[str]]:
    """Unit templates of ``count`` people, ``images`` each, scattered around a centre per
    person, in an interleaved order (not grouped by person)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((count, 64))
    rows = centres[np.arange(count * images) % count]
    rows = rows + spread * rng.standard_normal(rows.shape)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    return rows.astype(np.float32), [f"p{i % count}" for i in range(count * images)]


def calibration_of(scores: Scores) -> Calibration:
    return Calibration.from_scores(
        scores,
        modality="face",
        identities=34,
        samples=396,
        data="../shared/data/faces-dev",
        model_sha256="ab" * 32,
        measured_at=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
    )


# --- all_pair_scores -------------------------------------------------------------------------


def test_all_pair_scores_gives_every_unordered_pair_once_split_by_label() -> None:
    templates, labels = people(count=40, images=3, spread=0.5, seed=1)
    scores = all_pair_scores(templates, labels)
    full = templates @ templates.T
    genuine = [full[i, j] for i in range(120) for j in range(i + 1, 120) if labels[i] == labels[j]]
    impostor = [full[i, j] for i in range(120) for j in range(i + 1, 120) if labels[i] != labels[j]]
    assert (len(scores.genuine), len(scores.impostor)) == (40 * 3, 120 * 119 // 2 - 120)
    assert scores.genuine.dtype == scores.impostor.dtype == np.float64
    np.testing.assert_allclose(np.sort(scores.genuine), np.sort(genuine), atol=1e-6)
    np.testing.assert_allclose(np.sort(scores.impostor), np.sort(impostor), atol=1e-6)


def test_all_pair_scores_across_several_blocks_matches_the_whole_matrix() -> None:
    templates, labels = people(count=300, images=3, spread=0.6, seed=2)
    assert len(labels) > BLOCK_ROWS
    scores = all_pair_scores(templates, labels)
    full = templates @ templates.T
    upper = np.triu(np.ones(full.shape, dtype=bool), k=1)
    same = np.asarray(labels)[:, None] == np.asarray(labels)[None, :]
    np.testing.assert_allclose(np.sort(scores.genuine), np.sort(full[upper & same]), atol=1e-6)
    np.testing.assert_allclose(np.sort(scores.impostor), np.sort(full[upper & ~same]), atol=1e-6)


def test_all_pair_scores_refuses_labels_that_do_not_fit_the_templates() -> None:
    templates, labels = people(count=3, images=2, spread=0.5, seed=3)
    with pytest.raises(CalibrationError, match="6 templates but 5 labels"):
        all_pair_scores(templates, labels[:5])


def test_all_pair_scores_refuses_templates_that_are_not_normalised() -> None:
    templates, labels = people(count=3, images=2, spread=0.5, seed=3)
    with pytest.raises(TemplateError, match="not L2-normalised: row 0 has length 2"):
        all_pair_scores(templates * 2, labels)


# --- threshold_at_fmr and fnmr_at_threshold --------------------------------------------------


@pytest.mark.parametrize(("fmr", "allowed"), [(1e-2, 10), (1e-3, 1), (5e-3, 5)])
def test_threshold_at_fmr_lets_through_exactly_the_allowed_share_of_evenly_spread_scores(
    fmr: float, allowed: int
) -> None:
    threshold = threshold_at_fmr(EVEN, fmr)
    assert passing(EVEN, threshold) == allowed
    # the lowest such threshold: the float32 just below it lets one impostor more through
    lower = float(np.nextafter(np.float32(threshold), np.float32(-np.inf)))
    assert passing(EVEN, lower) == allowed + 1


def test_threshold_at_fmr_is_exact_for_float32_scores_compared_in_float32() -> None:
    scores = EVEN.astype(np.float32)
    threshold = threshold_at_fmr(scores.astype(np.float64), 1e-2)
    assert int((scores >= np.float32(threshold)).sum()) == 10
    assert passing(scores.astype(np.float64), threshold) == 10


def test_threshold_at_fmr_steps_over_tied_scores() -> None:
    impostor = np.array([0.1] * 90 + [0.6] * 8 + [0.8] * 2)
    threshold = threshold_at_fmr(impostor, 0.05)  # 5 of 100 may pass; 0.6 would pass 10
    assert 0.6 < threshold <= 0.8
    assert passing(impostor, threshold) == 2


def test_threshold_at_fmr_lies_above_every_impostor_when_the_sample_is_too_small() -> None:
    threshold = threshold_at_fmr(EVEN, 1e-4)  # 1,000 pairs cannot show 1 in 10,000
    assert 0.999 < threshold < 0.9991
    assert passing(EVEN, threshold) == 0


def test_threshold_at_fmr_refuses_a_rate_outside_0_to_1_and_no_scores() -> None:
    with pytest.raises(CalibrationError, match="between 0 and 1, not 0"):
        threshold_at_fmr(EVEN, 0)
    with pytest.raises(CalibrationError, match="there are no impostor scores to measure"):
        threshold_at_fmr(np.array([]), 1e-3)


def test_fnmr_at_threshold_counts_genuine_scores_below_and_accepts_equal() -> None:
    genuine = np.array([0.1, 0.2, 0.3, 0.4])
    assert fnmr_at_threshold(genuine, 0.3) == 0.5
    assert fnmr_at_threshold(genuine, 0.05) == 0.0
    assert fnmr_at_threshold(genuine, 0.41) == 1.0


# --- equal_error_rate ------------------------------------------------------------------------


def test_equal_error_rate_is_zero_for_separable_scores() -> None:
    assert equal_error_rate(Scores(np.array([0.8, 0.9]), np.array([0.1, 0.2]))) == 0.0


def test_equal_error_rate_of_overlapping_even_scores_is_the_overlap_share() -> None:
    genuine = (np.arange(1000) + 500) / 1000  # 0.500 … 1.499: a quarter below 0.75
    assert equal_error_rate(Scores(genuine, EVEN)) == pytest.approx(0.25)


def test_equal_error_rate_interpolates_between_the_thresholds_around_the_crossing() -> None:
    # at 0.5: FMR 2/3, FNMR 1/2; at 0.6: FMR 1/3, FNMR 1/2 — the curves cross halfway
    scores = Scores(genuine=np.array([0.4, 0.7]), impostor=np.array([0.1, 0.5, 0.6]))
    assert equal_error_rate(scores) == pytest.approx(0.5)


def test_equal_error_rate_is_one_when_every_impostor_outscores_every_genuine_pair() -> None:
    assert equal_error_rate(Scores(np.array([0.1, 0.2]), np.array([0.8, 0.9]))) == 1.0


# --- rank1_identification_rate ---------------------------------------------------------------


def test_rank1_identification_rate_is_one_for_well_separated_people() -> None:
    templates, labels = people(count=20, images=3, spread=0.2, seed=4)
    assert rank1_identification_rate(templates, labels) == 1.0


def test_rank1_identification_rate_counts_a_probe_whose_nearest_is_someone_else() -> None:
    a, b, c = np.eye(3, dtype=np.float32)
    near_b = np.array([0.6, 0.8, 0], dtype=np.float32)  # labelled A, but closest to B's template
    templates = np.stack([a, near_b, b, b, c, c])
    labels = ["A", "A", "B", "B", "C", "C"]
    # A's first template finds its mate (0.6 beats 0), the second finds B (0.8): 5 of 6
    assert rank1_identification_rate(templates, labels) == pytest.approx(5 / 6)


def test_rank1_identification_rate_keeps_people_with_one_image_as_distractors_only() -> None:
    a, b = np.eye(2, dtype=np.float32)
    lookalike = np.array([0.8, 0.6], dtype=np.float32)  # one image, nearest to A
    templates = np.stack([a, np.array([0.6, 0.8], dtype=np.float32), lookalike, b])
    labels = ["A", "A", "X", "B"]
    # probes are A's two images only; A's first finds X (0.8 > 0.6), its second finds B
    assert rank1_identification_rate(templates, labels) == 0.0
    assert rank1_identification_rate(templates[[0, 1]], ["A", "A"]) == 1.0


def test_rank1_identification_rate_refuses_a_set_where_nobody_has_two_images() -> None:
    with pytest.raises(CalibrationError, match="no person has two templates"):
        rank1_identification_rate(np.eye(3, dtype=np.float32), ["A", "B", "C"])


# --- the calibration and its file ------------------------------------------------------------


def test_calibration_from_scores_holds_a_threshold_per_target_and_the_eer() -> None:
    genuine = (np.arange(1000) + 500) / 1000
    calibration = calibration_of(Scores(genuine, EVEN))
    assert set(calibration.thresholds) == {"1e-2", "1e-3", "1e-4"}
    assert calibration.thresholds["1e-2"] == threshold_at_fmr(EVEN, 1e-2)
    assert calibration.threshold_for(1e-3) == threshold_at_fmr(EVEN, 1e-3)
    assert (calibration.genuine_pairs, calibration.impostor_pairs) == (1000, 1000)
    assert calibration.eer == pytest.approx(0.25)


def test_calibration_names_the_targets_its_sample_is_too_small_for() -> None:
    calibration = calibration_of(Scores(np.array([0.9]), EVEN))
    assert calibration.limited_by_sample() == ["1e-4"]


def test_calibration_refuses_thresholds_for_other_targets() -> None:
    calibration = calibration_of(Scores(np.array([0.9]), EVEN))
    fields = calibration.model_dump() | {"thresholds": {"1e-3": 0.4}}
    with pytest.raises(ValueError, match="expected thresholds for 1e-2, 1e-3, 1e-4, got 1e-3"):
        Calibration.model_validate(fields)


def test_save_then_load_calibration_round_trips(tmp_path: Path) -> None:
    calibration = calibration_of(Scores((np.arange(1000) + 500) / 1000, EVEN))
    path = calibration_path(tmp_path, "face")
    save_calibration(path, calibration)
    assert path.name == "calibration-face.json"
    assert load_calibration(path) == calibration
    assert load_calibrations(tmp_path) == {"face": calibration}
    assert os.listdir(tmp_path) == ["calibration-face.json"]  # no temporary file left


def test_save_calibration_replaces_the_previous_file(tmp_path: Path) -> None:
    path = calibration_path(tmp_path, "face")
    save_calibration(path, calibration_of(Scores(np.array([0.9]), EVEN)))
    newer = calibration_of(Scores(np.array([0.95, 0.97]), EVEN))
    save_calibration(path, newer)
    assert load_calibration(path) == newer


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b'{"modality": "face", "thresh', "Invalid JSON"),
        (b"\xff\xfe\x00garbage", "cannot be read"),
        (b'{"modality": "iris"}', "field 'modality'"),
    ],
    ids=["truncated", "not-text", "wrong-field"],
)
def test_load_calibration_of_a_damaged_file_says_so_and_how_to_fix_it(
    tmp_path: Path, content: bytes, problem: str
) -> None:
    path = calibration_path(tmp_path, "face")
    path.write_bytes(content)
    with pytest.raises(CalibrationError) as caught:
        load_calibration(path)
    message = str(caught.value)
    assert message.startswith(f"the calibration {path} ")
    assert problem in message
    assert message.endswith("run `masar kiosk calibrate --data DIR` again")


def test_load_calibration_of_a_missing_file_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(CalibrationError, match=r"there is no calibration at .*calibrate --data"):
        load_calibration(tmp_path / "calibration-face.json")
    assert load_calibrations(tmp_path) == {}


def test_load_calibrations_refuses_a_file_holding_the_other_modality(tmp_path: Path) -> None:
    save_calibration(
        calibration_path(tmp_path, "fingerprint"),
        calibration_of(Scores(np.array([0.9]), EVEN)),
    )
    with pytest.raises(CalibrationError, match="holds a face calibration, not fingerprint"):
        load_calibrations(tmp_path)
