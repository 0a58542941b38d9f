"""Calibration: decision thresholds measured on real faces instead of guessed.

``masar kiosk calibrate --data DIR`` embeds a folder laid out as DIR/<person>/<image>, scores
every unordered pair of templates (same person: genuine; different people: impostor) and keeps
the threshold for each target false-match rate in ``<data_dir>/calibration-<modality>.json``.
The policy names a target rate; the kiosk looks its threshold up here.

Scores are cosine similarities of L2-normalised float32 templates (their dot product), computed
in float32 like the matcher's, so a threshold measured here means the same at the kiosk.
"""

from __future__ import annotations

import bisect
import math
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator

from kiosk.recognition.matcher import check_templates
from protocol.codec import explain

CALIBRATION_FILE = "calibration-{modality}.json"
FMR_TARGETS: dict[str, float] = {"1e-2": 1e-2, "1e-3": 1e-3, "1e-4": 1e-4}
BLOCK_ROWS = 512  # rows scored at once: 512 × 100,000 float32 scores is 200 MB at worst

CalibratedModality = Literal["face", "fingerprint"]
CALIBRATE_HINT = "run `masar kiosk calibrate --data DIR`"


class CalibrationError(ValueError):
    """The kiosk's calibration is missing, damaged or cannot be computed; the message says
    which and what to do."""


@dataclass(frozen=True)
class Scores:
    """Every unordered pair's score once, split by whether the two templates share a label."""

    genuine: np.ndarray  # float64 scores of same-person pairs
    impostor: np.ndarray  # float64 scores of different-person pairs


def fmr_key(rate: float) -> str:
    """The calibration key of a target false-match rate: 1e-3 → "1e-3"."""
    for key, value in FMR_TARGETS.items():
        if math.isclose(rate, value, rel_tol=1e-9):
            return key
    raise CalibrationError(
        f"a false-match rate of {rate:g} is not calibrated; choose one of " + ", ".join(FMR_TARGETS)
    )


def _label_codes(labels: Sequence[str], rows: int) -> np.ndarray:
    if len(labels) != rows:
        raise CalibrationError(f"{rows} templates but {len(labels)} labels")
    _, codes = np.unique(np.asarray(labels, dtype=str), return_inverse=True)
    return np.asarray(codes).reshape(-1)


def all_pair_scores(templates: np.ndarray, labels: Sequence[str]) -> Scores:
    """Cosine scores of every unordered pair of templates, each pair once, genuine or impostor
    by label.

    The templates are put in label order, so that each template's genuine partners further on
    are one contiguous run of columns and its impostors everything after that run; scoring in
    blocks of rows means 3,000+ templates never need the whole N×N matrix at once. Only the
    results (N·(N−1)/2 float64 scores) are held in full.
    """
    matrix = check_templates(templates, "templates")
    codes = _label_codes(labels, matrix.shape[0])
    order = np.argsort(codes, kind="stable")
    matrix, codes = matrix[order], codes[order]
    n = len(codes)
    group_end = np.searchsorted(codes, codes, side="right")  # first row of the next person
    genuine = np.empty(int((group_end - np.arange(n) - 1).sum()), dtype=np.float64)
    impostor = np.empty(n * (n - 1) // 2 - len(genuine), dtype=np.float64)
    g = i = 0
    for start in range(0, n, BLOCK_ROWS):
        block = matrix[start : start + BLOCK_ROWS] @ matrix[start:].T  # columns from ``start``
        for offset, scores in enumerate(block):
            row = start + offset
            same_until = group_end[row] - start
            taken = scores[offset + 1 : same_until]
            genuine[g : g + len(taken)] = taken
            g += len(taken)
            taken = scores[same_until:]
            impostor[i : i + len(taken)] = taken
            i += len(taken)
    return Scores(genuine=genuine, impostor=impostor)


def _checked_scores(scores: np.ndarray, what: str) -> np.ndarray:
    values = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(values) == 0:
        raise CalibrationError(f"there are no {what} scores to measure")
    if not np.isfinite(values).all():
        raise CalibrationError(f"the {what} scores hold values that are not numbers")
    return values


def threshold_at_fmr(impostor: np.ndarray, fmr: float) -> float:
    """The lowest threshold whose measured false-match rate is at most ``fmr``.

    With n impostor scores, at most k = floor(fmr·n) of them may reach the threshold, so it
    lies just above the (k+1)-th highest impostor score: the result is the smallest float32
    value above that score (scores are float32 dot products, so nothing lies in between and
    the threshold is exact whether compared in float32 or float64). Impostor scores 0, 0.001,
    …, 0.999 and fmr 1e-2 give the float32 just above 0.989: 0.990 … 0.999, 10 in 1,000, match.

    With fewer than 1/fmr impostor pairs, k is 0: the threshold lies above every impostor
    score seen and its measured false-match rate is 0, which says only that the true rate is
    below about 3/n (the rule of three), not below ``fmr``. The sample bounds the estimate;
    ``Calibration.limited_by_sample`` names such targets and the policy refuses them.
    """
    if not 0 < fmr < 1:
        raise CalibrationError(f"the false-match rate must be between 0 and 1, not {fmr}")
    values = _checked_scores(impostor, "impostor")
    # at most n − 1; the factor keeps a product like 0.29 × 100 = 28.999…96 from losing one
    allowed = min(math.floor(fmr * len(values) * (1 + 1e-12)), len(values) - 1)
    place = len(values) - allowed - 1
    highest_refused = float(np.partition(values, place)[place])
    nearest = np.float32(highest_refused)
    if float(nearest) > highest_refused:
        return float(nearest)
    return float(np.nextafter(nearest, np.float32(np.inf)))


def fnmr_at_threshold(genuine: np.ndarray, threshold: float) -> float:
    """The fraction of genuine scores below ``threshold``: same-person pairs refused."""
    values = _checked_scores(genuine, "genuine")
    return int((values < threshold).sum()) / len(values)


def equal_error_rate(scores: Scores) -> float:
    """The rate where the false-match and false-non-match curves cross.

    Both curves are measured at every distinct score (and above the highest, where FMR is 0
    and FNMR is 1); between the last threshold where FNMR < FMR and the first where
    FNMR >= FMR they are interpolated linearly, so the figure does not depend on which side
    of the crossing the scores happen to fall. FNMR − FMR only rises with the threshold, so
    the crossing is found by bisection rather than by measuring millions of thresholds.
    """
    genuine = np.sort(_checked_scores(scores.genuine, "genuine"))
    impostor = np.sort(_checked_scores(scores.impostor, "impostor"))
    thresholds = np.append(np.unique(np.concatenate([genuine, impostor])), np.inf)

    def rates(place: int) -> tuple[float, float]:
        """(FMR, FNMR) at ``thresholds[place]``."""
        threshold = thresholds[place]
        refused_impostors = int(np.searchsorted(impostor, threshold, side="left"))
        refused_genuine = int(np.searchsorted(genuine, threshold, side="left"))
        return 1 - refused_impostors / len(impostor), refused_genuine / len(genuine)

    # at the lowest score FNMR is 0 and FMR is above 0, so ``after`` is at least 1
    after = bisect.bisect_left(
        range(len(thresholds)), True, key=lambda place: rates(place)[1] >= rates(place)[0]
    )
    fmr_before, fnmr_before = rates(after - 1)
    fmr_after, fnmr_after = rates(after)
    gap_before, gap_after = fnmr_before - fmr_before, fnmr_after - fmr_after
    share = -gap_before / (gap_after - gap_before)
    return fmr_before + share * (fmr_after - fmr_before)


def rank1_identification_rate(templates: np.ndarray, labels: Sequence[str]) -> float:
    """Leave-one-out rank-1 identification: each template is searched among all the others and
    counts as identified when the best of them belongs to the same person.

    People with a single template stay in the gallery (as others' wrong answers) but are not
    probes: with no other template of theirs, nobody could identify them.
    """
    matrix = check_templates(templates, "templates")
    codes = _label_codes(labels, matrix.shape[0])
    probes = np.flatnonzero(np.bincount(codes)[codes] >= 2) if len(codes) else codes
    if len(probes) == 0:
        raise CalibrationError("no person has two templates, so nobody can be searched for")
    correct = 0
    for start in range(0, len(probes), BLOCK_ROWS):
        rows = probes[start : start + BLOCK_ROWS]
        block = matrix[rows] @ matrix.T
        block[np.arange(len(rows)), rows] = -np.inf  # leave the probe itself out
        correct += int((codes[block.argmax(axis=1)] == codes[rows]).sum())
    return correct / len(probes)


Rate = Annotated[float, Field(ge=0, le=1)]


class Calibration(BaseModel):
    """What ``masar kiosk calibrate`` measured, kept in the kiosk's data directory."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    modality: CalibratedModality
    thresholds: dict[str, float] = Field(
        description='lowest score that matches, per target false-match rate ("1e-2", '
        '"1e-3", "1e-4")'
    )
    genuine_pairs: int = Field(ge=1, description="same-person pairs scored")
    impostor_pairs: int = Field(ge=1, description="different-person pairs scored")
    identities: int = Field(ge=2, description="people in the calibration set")
    samples: int = Field(ge=2, description="templates in the calibration set")
    eer: Rate = Field(description="equal error rate of the calibration set")
    data: str = Field(description="the folder the calibration set was read from")
    model_sha256: str = Field(
        description="names the models (face detector and embedder) or the fingerprint engine "
        "that made the templates: the thresholds hold only for them"
    )
    measured_at: AwareDatetime

    @field_validator("thresholds")
    @classmethod
    def _every_target(cls, thresholds: dict[str, float]) -> dict[str, float]:
        if set(thresholds) != set(FMR_TARGETS):
            raise ValueError(
                f"expected thresholds for {', '.join(FMR_TARGETS)}, "
                f"got {', '.join(thresholds) or 'none'}"
            )
        return thresholds

    @classmethod
    def from_scores(
        cls,
        scores: Scores,
        *,
        modality: CalibratedModality,
        identities: int,
        samples: int,
        data: str,
        model_sha256: str,
        measured_at: datetime,
    ) -> Calibration:
        """The calibration of a set's scores: a threshold for every target rate, and the EER."""
        return cls(
            modality=modality,
            thresholds={k: threshold_at_fmr(scores.impostor, r) for k, r in FMR_TARGETS.items()},
            genuine_pairs=len(scores.genuine),
            impostor_pairs=len(scores.impostor),
            identities=identities,
            samples=samples,
            eer=equal_error_rate(scores),
            data=data,
            model_sha256=model_sha256,
            measured_at=measured_at,
        )

    def threshold_for(self, fmr: float) -> float:
        return self.thresholds[fmr_key(fmr)]

    def limited_by_sample(self) -> list[str]:
        """Targets this set is too small to measure: fewer impostor pairs than 1/rate, so the
        threshold sits above every impostor score seen and the true rate is not shown."""
        return [k for k, rate in FMR_TARGETS.items() if self.impostor_pairs * rate < 1]


def calibration_path(data_dir: Path, modality: CalibratedModality) -> Path:
    return data_dir / CALIBRATION_FILE.format(modality=modality)


def save_calibration(path: Path, calibration: Calibration) -> None:
    """Write atomically (temporary file, then rename) so a crash never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(calibration.model_dump_json(indent=2))
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def load_calibration(path: Path) -> Calibration:
    """The calibration in ``path``, or a CalibrationError saying what is wrong and what to do."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CalibrationError(f"there is no calibration at {path}; {CALIBRATE_HINT}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CalibrationError(
            f"the calibration {path} cannot be read ({exc}); {CALIBRATE_HINT} again"
        ) from None
    try:
        return Calibration.model_validate_json(text)
    except ValidationError as exc:
        problems = explain(exc)
        raise CalibrationError(
            f"the calibration {path} is damaged ({problems[0]}); {CALIBRATE_HINT} again"
        ) from None


def load_calibrations(data_dir: Path) -> dict[CalibratedModality, Calibration]:
    """Every calibration the kiosk holds, by modality; a damaged one is an error, not absent."""
    found: dict[CalibratedModality, Calibration] = {}
    for modality in ("face", "fingerprint"):
        path = calibration_path(data_dir, modality)
        if path.exists():
            calibration = load_calibration(path)
            if calibration.modality != modality:
                raise CalibrationError(
                    f"{path} holds a {calibration.modality} calibration, not {modality}; "
                    f"{CALIBRATE_HINT} again"
                )
            found[modality] = calibration
    return found
