"""Comparing face templates: 1:1 verification and 1:N identification over the wing's gallery.

Templates are L2-normalised float32 vectors, so the cosine score of two templates is their dot
product; one matrix product scores a probe against the whole gallery. A score is accepted when
it is at or above the threshold the policy has in force (from the kiosk's calibration). Scores
are handed on as Python floats so that the comparison with a calibrated threshold is exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kiosk.caches import Gallery

NORM_TOLERANCE = 1e-3  # float32 normalisation leaves |norm - 1| around 1e-7


class TemplateError(ValueError):
    """A template or gallery cannot be compared; the message says what is wrong with it."""


@dataclass(frozen=True, slots=True)
class Match:
    """One candidate: whose template, how well it scored, and against which threshold."""

    subject_id: str
    score: float
    threshold: float

    @property
    def accepted(self) -> bool:
        return self.score >= self.threshold


@dataclass(frozen=True, slots=True)
class Identification:
    """The best ``k`` people for a probe, best first, and how far the first is ahead.

    ``margin`` is the first score minus the second (the first score alone when the gallery
    holds one person; 0.0 when it holds nobody): a small margin means two people look alike.
    """

    candidates: list[Match]
    margin: float

    @property
    def best(self) -> Match | None:
        return self.candidates[0] if self.candidates else None


def check_templates(matrix: np.ndarray, what: str) -> np.ndarray:
    """``matrix`` as a 2-D float32 array of unit rows, or a TemplateError saying what is off.

    A non-normalised template would make its scores incomparable with the calibrated
    thresholds, so it is refused rather than silently normalised.
    """
    rows = np.asarray(matrix)
    if rows.ndim != 2:
        raise TemplateError(f"the {what} must be a matrix of templates, not shape {rows.shape}")
    if not np.issubdtype(rows.dtype, np.floating):
        raise TemplateError(f"the {what} must hold floating-point numbers, not {rows.dtype}")
    rows = rows.astype(np.float32, copy=False)
    if not np.isfinite(rows).all():
        raise TemplateError(f"the {what} holds values that are not numbers (NaN or infinite)")
    if rows.shape[0]:
        norms = np.linalg.norm(rows, axis=1)
        worst = int(np.argmax(np.abs(norms - 1)))
        if abs(float(norms[worst]) - 1) > NORM_TOLERANCE:
            raise TemplateError(
                f"the {what} is not L2-normalised: row {worst} has length "
                f"{float(norms[worst]):.4g}, expected 1"
            )
    return rows


def _one_template(vector: np.ndarray, what: str) -> np.ndarray:
    """``vector`` checked as one unit template."""
    vector = np.asarray(vector)
    if vector.ndim != 1:
        raise TemplateError(f"the {what} must be one template (a vector), not shape {vector.shape}")
    checked: np.ndarray = check_templates(vector[np.newaxis, :], what)[0]
    return checked


def _probe_for(probe: np.ndarray, dimension: int, against: str) -> np.ndarray:
    """``probe`` checked as one unit template with as many values as the ones it meets."""
    vector = _one_template(probe, "probe")
    if vector.shape[0] != dimension:
        raise TemplateError(
            f"the probe has {vector.shape[0]} values but the {against} has {dimension}; "
            "they come from different face models"
        )
    return vector


def verify(probe: np.ndarray, template: np.ndarray, subject_id: str, threshold: float) -> Match:
    """1:1: does ``probe`` match ``subject_id``'s enrolled ``template``?"""
    enrolled = _one_template(template, "enrolled template")
    checked = _probe_for(probe, enrolled.shape[0], "enrolled template")
    return Match(subject_id, float(np.dot(checked, enrolled)), threshold)


def identify(probe: np.ndarray, gallery: Gallery, threshold: float, k: int = 3) -> Identification:
    """1:N: the ``k`` best-scoring people of ``gallery``, each scored by their best template.

    A person may hold several rows (templates enrolled at different times); ranking people by
    their best row keeps one person from filling every candidate place.

    Reading the whole matrix once more to check every row's length would cost as much as the
    search itself (about 25 ms at 100,000 rows), so ``identify`` checks what decides the
    answer: every score must be a number in [-1, 1], and the rows that reach the candidates
    must be unit length. Check the whole gallery once with ``check_templates`` when loading it.
    """
    if k < 1:
        raise ValueError(f"k must be 1 or more, not {k}")
    matrix = np.asarray(gallery.templates)
    if not gallery.detainee_ids:
        return Identification([], 0.0)
    if matrix.ndim != 2 or len(gallery.detainee_ids) != matrix.shape[0]:
        raise TemplateError(
            f"the gallery names {len(gallery.detainee_ids)} templates but holds a matrix of "
            f"shape {matrix.shape}"
        )
    if matrix.dtype != np.float32:
        raise TemplateError(f"the gallery must hold float32 templates, not {matrix.dtype}")
    scores = matrix @ _probe_for(probe, matrix.shape[1], "gallery")
    if not np.isfinite(scores).all() or np.abs(scores).max() > 1 + NORM_TOLERANCE:
        raise TemplateError(
            "the gallery holds templates that are not L2-normalised or not numbers; "
            "sync the kiosk again"
        )
    best = _best_people(scores, gallery.detainee_ids, k + 1)  # one more for the margin
    for person, _, row in best:
        length = float(np.linalg.norm(matrix[row]))
        if abs(length - 1) > NORM_TOLERANCE:
            raise TemplateError(
                f"the gallery is not L2-normalised: row {row} ({person}) has length "
                f"{length:.4g}, expected 1; sync the kiosk again"
            )
    candidates = [Match(person, score, threshold) for person, score, _ in best[:k]]
    margin = best[0][1] - best[1][1] if len(best) > 1 else best[0][1]
    return Identification(candidates, margin)


def _best_people(
    scores: np.ndarray, people: list[str], wanted: int
) -> list[tuple[str, float, int]]:
    """The ``wanted`` best people by their best row, best first: (person, score, row).

    Only the top rows are sorted: argpartition picks a few times ``wanted`` rows, and the pick
    is widened only when some people's many templates fill it.
    """
    rows = len(people)
    picked = min(rows, 4 * wanted)
    while True:
        top = np.argpartition(scores, rows - picked)[rows - picked :]
        top = top[np.argsort(-scores[top], kind="stable")]
        found: dict[str, tuple[str, float, int]] = {}
        for row in top.tolist():
            if people[row] not in found:
                found[people[row]] = (people[row], float(scores[row]), row)
                if len(found) == wanted:
                    return list(found.values())
        if picked == rows:
            return list(found.values())
        picked = min(rows, 2 * picked)
