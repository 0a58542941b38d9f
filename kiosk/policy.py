"""Identification policy: what must match, per kiosk mode, before someone counts as identified.

Pure rules, no I/O and no clock, so the kiosk flow, the hub and the tests all reason the same
way. The policy states target false-match rates, never scores: ``thresholds_in_force`` looks
each target up in the kiosk's calibrations (measured on real faces by ``masar kiosk
calibrate``) and refuses when the kiosk has none for a modality the mode needs. ``plan_for``
says which factors to collect and in what order; ``decide`` judges the ``ModalityCheck``
results collected so far against that plan; ``Decision.identification`` builds the body of
the ``identification`` event, which records every check with its score and the threshold in
force.

A scored check must agree with its own threshold: ``matched`` is true exactly when
``score >= threshold``, and the threshold must be the policy's. ``decide`` refuses anything
else with a ValueError rather than guessing which of the two fields lies.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from kiosk.recognition.calibration import (
    CALIBRATE_HINT,
    FMR_TARGETS,
    CalibratedModality,
    Calibration,
    CalibrationError,
    fmr_key,
)
from protocol.events import Identification, KioskMode, Modality, ModalityCheck

Comparison = Literal["1:1", "1:N", "exact"]
Person = Literal["staff", "detainee"]
Outcome = Literal["matched", "not_matched", "incomplete"]

Rate = Annotated[float, Field(gt=0, lt=1)]


class PolicyConfig(BaseModel):
    """The policy a kiosk applies; synced from the hub as JSON and kept in the kiosk's cache.

    It names target false-match rates; the thresholds come from the kiosk's calibration
    (``thresholds_in_force``), so no threshold here is a guessed score.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    face_1to1_false_match_rate: TargetRate = Field(
        default=1e-3,
        description="face 1:1 (against the badge's owner): accepted chance that someone "
        "else's face matches; the kiosk's face calibration gives the threshold for it",
    )
    face_1n_false_match_rate: TargetRate = Field(
        default=1e-4,
        description="face 1:N (against the whole wing): accepted chance that one comparison "
        "with someone else's face matches; the kiosk's face calibration gives the threshold, "
        "and the wing-size rule multiplies this rate by the wing",
    )
    fingerprint_1to1_false_match_rate: TargetRate = Field(
        default=1e-3,
        description="fingerprint 1:1 (against the badge's owner): accepted chance that someone "
        "else's finger matches; the kiosk's fingerprint calibration gives the threshold",
    )
    max_false_identification_rate: Rate = Field(
        default=1e-3,
        description="highest accepted chance that face alone matches the wrong person in one "
        "attempt; above it the kiosk asks for a badge too",
    )
    self_service_rule: Literal["face_1n_if_safe", "badge_face", "badge_face_or_finger"] = Field(
        default="face_1n_if_safe",
        description="face_1n_if_safe: face alone when the wing is small enough, else badge + "
        "face 1:1; badge_face: always badge + face 1:1; badge_face_or_finger: badge, then face "
        "1:1 or, when the face cannot be used (quality), fingerprint 1:1",
    )
    movement_check_rule: Literal["badge_face_or_finger", "badge_face", "badge_finger"] = Field(
        default="badge_face_or_finger",
        description="after staff badge + PIN, the detainee's badge then face 1:1 and/or "
        "fingerprint 1:1, as the kiosk's sensors and calibrations allow",
    )
    enrolment_rule: Literal["badge"] = Field(
        default="badge",
        description="staff badge + PIN to open the station, then the detainee's badge",
    )
    head_turn_modes: tuple[KioskMode, ...] = Field(
        default=("self_service",),
        description="modes where a face counts only after the head-turn challenge "
        "(kiosk/recognition/liveness.py), which a photo held up to the camera cannot pass; "
        "at movement checks and enrolment staff see the person",
    )
    passive_liveness_min: Annotated[float, Field(gt=0, lt=1)] | None = Field(
        default=None,
        description="lowest live probability of the passive model (fr_liveness.onnx) for a "
        "face to count; none: the probability is recorded, never used to refuse (it is not "
        "yet measured on real captures and attacks)",
    )


def policy_key(site: str, wing: str | None = None) -> str:
    """The key a site's (or one wing's) PolicyConfig is published under as a "policy"
    document; a kiosk applies its wing's if it has one, else its site's (``policy_in_force``)."""
    return f"identification@{site}" + (f"/{wing}" if wing else "")


def policy_in_force(documents: Mapping[str, Mapping[str, object]]) -> PolicyConfig:
    """The policy among the kiosk's cached "policy" documents (key → data): the wing's over
    the site's; the defaults when the hub sent none."""
    wing = [key for key in documents if key.startswith("identification@") and "/" in key]
    site = [key for key in documents if key.startswith("identification@") and "/" not in key]
    chosen = sorted(wing) or sorted(site)
    return PolicyConfig.model_validate(documents[chosen[0]]) if chosen else PolicyConfig()


def _calibrated_target(rate: float) -> float:
    if rate not in FMR_TARGETS.values():
        raise ValueError(
            "must be a calibrated false-match rate: " + ", ".join(map(str, FMR_TARGETS.values()))
        )
    return rate


TargetRate = Annotated[float, AfterValidator(_calibrated_target)]


@dataclass(frozen=True)
class Thresholds:
    """The thresholds in force on one kiosk: the policy's target rates looked up in its
    calibrations. None for a modality the kiosk has no calibration for."""

    face_1to1: float | None = None
    face_1n: float | None = None
    fingerprint_1to1: float | None = None


_MOVEMENT_BIOMETRICS: dict[str, tuple[CalibratedModality, ...]] = {
    "badge_face_or_finger": ("face", "fingerprint"),
    "badge_face": ("face",),
    "badge_finger": ("fingerprint",),
}


def _modalities_for(mode: KioskMode, config: PolicyConfig) -> tuple[CalibratedModality, ...]:
    """The scored modalities a mode can use; it needs at least one of them (if any)."""
    if mode == "self_service":
        finger = config.self_service_rule == "badge_face_or_finger"
        return ("face", "fingerprint") if finger else ("face",)
    if mode == "movement_check":
        return _MOVEMENT_BIOMETRICS[config.movement_check_rule]
    return ()


def _no_calibration(modalities: Sequence[CalibratedModality]) -> CalibrationError:
    hint = _calibrate_hint(modalities[0]) if len(modalities) == 1 else CALIBRATE_HINT
    return CalibrationError(f"this kiosk has no {' or '.join(modalities)} calibration; {hint}")


def _calibrate_hint(modality: CalibratedModality) -> str:
    if modality == "fingerprint":
        return CALIBRATE_HINT.replace("calibrate", "calibrate --modality fingerprint")
    return CALIBRATE_HINT


def _calibrated(calibration: Calibration | None, rate: float) -> float | None:
    """The calibrated threshold for ``rate``, refusing a set too small to show that rate."""
    if calibration is None:
        return None
    if fmr_key(rate) in calibration.limited_by_sample():
        raise CalibrationError(
            f"the {calibration.modality} calibration scored only "
            f"{calibration.impostor_pairs:,} pairs of different people, too few to show a "
            f"false-match rate of {fmr_key(rate)} ({math.ceil(1 / rate):,} needed); calibrate "
            "on more people or choose a higher rate"
        )
    return calibration.threshold_for(rate)


def thresholds_in_force(
    config: PolicyConfig,
    calibrations: Mapping[CalibratedModality, Calibration],
    mode: KioskMode,
    engines: Mapping[CalibratedModality, str],
) -> Thresholds:
    """The thresholds ``config`` sets on a kiosk holding ``calibrations``, working in ``mode``
    with the recognition ``engines`` it runs now (kiosk.recognition.face.engine_id, the
    fingerprint engine's ENGINE_SHA256).

    Refuses with a CalibrationError when the mode needs a modality the kiosk has no
    calibration for (for "badge_face_or_finger", when it has neither), when a calibration
    was measured with other models than those in use, or when it measured too few impostor
    pairs for the rate the policy asks.
    """
    for modality, calibration in calibrations.items():
        if calibration.model_sha256 != engines.get(modality):
            raise CalibrationError(
                f"the {modality} calibration was measured with other models than this kiosk "
                f"uses now; {_calibrate_hint(modality)} again"
            )
    wanted = _modalities_for(mode, config)
    usable = [m for m in wanted if m in calibrations]
    if wanted and not usable:
        raise _no_calibration(wanted)
    face = calibrations.get("face") if "face" in usable else None
    finger = calibrations.get("fingerprint") if "fingerprint" in usable else None
    return Thresholds(
        face_1to1=_calibrated(face, config.face_1to1_false_match_rate),
        face_1n=_calibrated(face, config.face_1n_false_match_rate),
        fingerprint_1to1=_calibrated(finger, config.fingerprint_1to1_false_match_rate),
    )


@dataclass(frozen=True)
class Factor:
    """One thing to compare: a modality, how it is compared, and the threshold if scored."""

    modality: Modality
    comparison: Comparison
    threshold: float | None = None

    def check_with_score(self, score: float) -> ModalityCheck:
        """The check for a matcher score, so ``matched`` and the threshold cannot disagree."""
        if self.threshold is None:
            raise ValueError(f"a {self.modality} check is exact and has no score")
        return ModalityCheck(
            modality=self.modality,
            comparison=self.comparison,
            matched=score >= self.threshold,
            score=score,
            threshold=self.threshold,
        )

    def describe(self) -> str:
        return f"{self.modality} {self.comparison}"


@dataclass(frozen=True)
class Step:
    """One thing to collect from one person; any one of ``options`` will do."""

    about: Person
    options: tuple[Factor, ...]

    def option_for(self, modality: Modality) -> Factor | None:
        return next((f for f in self.options if f.modality == modality), None)

    def describe(self) -> str:
        return f"{self.about} " + " or ".join(f.describe() for f in self.options)


@dataclass(frozen=True)
class Plan:
    """The named rule for a mode and the steps to collect, in order.

    ``explanation`` says, for staff, why face alone was not enough when the wing size forced
    the kiosk to ask for a badge; it is None otherwise. ``head_turn`` says a face counts only
    once the person has passed the head-turn challenge.
    """

    mode: KioskMode
    rule: str
    steps: tuple[Step, ...]
    explanation: str | None = None
    head_turn: bool = False


def expected_false_identification_rate(false_match_rate: float, wing_size: int) -> float:
    """Chance that at least one of ``wing_size`` other people's faces matches in one attempt:
    1 − (1 − FMR)^N, about N·FMR while that is small. Computed with log1p/expm1 so tiny
    rates are not lost to rounding."""
    if wing_size < 0:
        raise ValueError(f"the wing size must be 0 or more, not {wing_size}")
    return -math.expm1(wing_size * math.log1p(-false_match_rate))


def face_1n_allowed(config: PolicyConfig, wing_size: int) -> bool:
    """Face alone is allowed when its expected false-identification rate is within the bound.

    The per-comparison rate is the policy's 1:N target: the calibrated threshold for it
    measured at most that rate on at least 1/rate pairs of different people
    (``thresholds_in_force`` refuses a calibration too small to show it)."""
    rate = expected_false_identification_rate(config.face_1n_false_match_rate, wing_size)
    return rate <= config.max_false_identification_rate


def face_only_refusal(config: PolicyConfig, wing_size: int) -> str | None:
    """Why face alone is not allowed for this wing, in plain words for staff; None if it is."""
    if face_1n_allowed(config, wing_size):
        return None
    rate = expected_false_identification_rate(config.face_1n_false_match_rate, wing_size)
    people = "1 person" if wing_size == 1 else f"{wing_size:,} people"
    return (
        f"The wing has {people}: face alone could match the wrong person about "
        f"{_as_frequency(rate)} attempts, and the limit is "
        f"{_as_frequency(config.max_false_identification_rate)}. A badge is needed too."
    )


def _as_frequency(rate: float) -> str:
    """0.0198 → "1 time in 50": two significant figures, as the measured rate does not
    support more."""
    if rate > 0.5:
        return f"{round(rate * 100)} times in 100"
    one_in = 1 / rate
    one_in = round(one_in, 1 - math.floor(math.log10(one_in)))
    return f"1 time in {int(one_in):,}"


def _exact(modality: Modality) -> Factor:
    return Factor(modality, "exact")


def plan_for(mode: KioskMode, config: PolicyConfig, thresholds: Thresholds, wing_size: int) -> Plan:
    """The rule that applies to ``mode`` on a kiosk whose wing holds ``wing_size`` detainees.

    A biometric the kiosk has no threshold for is not offered; when the mode is left with
    none, the CalibrationError says which calibration is missing.
    """
    plan = _steps_for(mode, config, thresholds, wing_size)
    face = any(step.option_for("face") for step in plan.steps)
    return replace(plan, head_turn=face and mode in config.head_turn_modes)


def _steps_for(
    mode: KioskMode, config: PolicyConfig, thresholds: Thresholds, wing_size: int
) -> Plan:
    staff_badge_pin = (Step("staff", (_exact("badge"),)), Step("staff", (_exact("pin"),)))
    detainee_badge = Step("detainee", (_exact("badge"),))

    if mode == "self_service":
        if thresholds.face_1to1 is None or thresholds.face_1n is None:
            raise _no_calibration(("face",))
        face_1to1 = Factor("face", "1:1", thresholds.face_1to1)
        if config.self_service_rule == "badge_face_or_finger":
            finger = Factor("fingerprint", "1:1", thresholds.fingerprint_1to1)
            options = (face_1to1, finger) if finger.threshold is not None else (face_1to1,)
            return Plan(
                mode,
                "self_service.badge_face_or_finger",
                (detainee_badge, Step("detainee", options)),
            )
        refusal = face_only_refusal(config, wing_size)
        if config.self_service_rule == "face_1n_if_safe" and refusal is None:
            face_1n = Factor("face", "1:N", thresholds.face_1n)
            return Plan(mode, "self_service.face_1n", (Step("detainee", (face_1n,)),))
        return Plan(
            mode,
            "self_service.badge_face",
            (detainee_badge, Step("detainee", (face_1to1,))),
            explanation=refusal if config.self_service_rule == "face_1n_if_safe" else None,
        )

    if mode == "movement_check":
        rule = config.movement_check_rule
        offered = {
            "face": Factor("face", "1:1", thresholds.face_1to1),
            "fingerprint": Factor("fingerprint", "1:1", thresholds.fingerprint_1to1),
        }
        wanted = _MOVEMENT_BIOMETRICS[rule]
        biometrics = tuple(offered[m] for m in wanted if offered[m].threshold is not None)
        if not biometrics:
            raise _no_calibration(wanted)
        return Plan(
            mode,
            f"movement_check.{rule}",
            (*staff_badge_pin, detainee_badge, Step("detainee", biometrics)),
        )

    return Plan(mode, f"enrolment.{config.enrolment_rule}", (*staff_badge_pin, detainee_badge))


_REFUSALS: dict[tuple[Person, Modality, Comparison], str] = {
    ("staff", "badge", "exact"): "the staff badge is not known on this kiosk",
    ("staff", "pin", "exact"): "the PIN does not match the staff badge",
    ("detainee", "badge", "exact"): "the badge is not known on this kiosk",
    ("detainee", "face", "1:1"): "the face did not match the badge's owner",
    ("detainee", "fingerprint", "1:1"): "the fingerprint did not match the badge's owner",
    ("detainee", "face", "1:N"): "the face did not match anyone in this wing",
}


@dataclass(frozen=True)
class Decision:
    """Where an identification stands: finished (matched or not) or waiting for ``next_step``."""

    plan: Plan
    outcome: Outcome
    checks: tuple[ModalityCheck, ...]
    next_step: Step | None = None
    reasons: tuple[str, ...] = ()

    def identification(self) -> Identification:
        """The ``identification`` event body; only a finished decision has one."""
        if self.outcome == "incomplete":
            raise ValueError(
                f"the identification is not finished: {self.plan.rule} still needs "
                f"{self.next_step.describe() if self.next_step else 'more checks'}"
            )
        return Identification(
            mode=self.plan.mode,
            rule=self.plan.rule,
            checks=list(self.checks),
            outcome=self.outcome,
        )


def decide(plan: Plan, checks: Sequence[ModalityCheck]) -> Decision:
    """Judge the checks collected so far, one per step in order. The first check that did not
    match ends the identification; inconsistent or out-of-plan checks raise ValueError."""
    if len(checks) > len(plan.steps):
        raise ValueError(
            f"{plan.rule} has {len(plan.steps)} steps but {len(checks)} checks were given"
        )
    for number, (step, check) in enumerate(zip(plan.steps, checks, strict=False), start=1):
        factor = _factor_checked(plan, number, step, check)
        if not check.matched:
            if number < len(checks):
                raise ValueError(
                    f"step {number} of {plan.rule} did not match, so no check may follow it"
                )
            reason = _REFUSALS[(step.about, factor.modality, factor.comparison)]
            return Decision(plan, "not_matched", tuple(checks), reasons=(reason,))
    if len(checks) < len(plan.steps):
        return Decision(plan, "incomplete", tuple(checks), next_step=plan.steps[len(checks)])
    return Decision(plan, "matched", tuple(checks))


def _factor_checked(plan: Plan, number: int, step: Step, check: ModalityCheck) -> Factor:
    """The factor of ``step`` that ``check`` answers, once the check is shown to be honest."""
    where = f"step {number} of {plan.rule}"
    factor = step.option_for(check.modality)
    if factor is None or factor.comparison != check.comparison:
        raise ValueError(
            f"{where} asks for {step.describe()}, not {check.modality} {check.comparison}"
        )
    if factor.threshold is None:
        if check.score is not None or check.threshold is not None:
            raise ValueError(f"{where}: a {check.modality} check is exact and carries no score")
        return factor
    if check.score is None or check.threshold is None:
        raise ValueError(f"{where}: a {factor.describe()} check needs its score and threshold")
    if not math.isfinite(check.score):
        raise ValueError(f"{where}: the score {check.score} is not a number")
    if check.threshold != factor.threshold:
        raise ValueError(
            f"{where}: the check used threshold {check.threshold}, "
            f"the policy's is {factor.threshold}"
        )
    if check.matched != (check.score >= check.threshold):
        raise ValueError(
            f"{where}: matched={check.matched} contradicts score {check.score} "
            f"against threshold {check.threshold}"
        )
    return factor
