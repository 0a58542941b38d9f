"""Identification policy: plans per mode, the face 1:N bound, and decisions on checks."""

from __future__ import annotations

import json
import re
from typing import Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from kiosk.policy import (
    Decision,
    Factor,
    Plan,
    PolicyConfig,
    Step,
    Thresholds,
    decide,
    expected_false_identification_rate,
    face_1n_allowed,
    face_only_refusal,
    plan_for,
    thresholds_in_force,
)
from kiosk.recognition.calibration import CalibratedModality, Calibration, CalibrationError
from protocol.events import Identification, ModalityCheck


def calibration(
    modality: str, thresholds: list[float], impostor_pairs: int = 75_000
) -> Calibration:
    """A calibration as ``masar kiosk calibrate`` writes it, with thresholds for 1e-2, 1e-3
    and 1e-4 (the face figures are of the order measured on faces-dev)."""
    return Calibration.model_validate(
        {
            "modality": modality,
            "thresholds": dict(zip(["1e-2", "1e-3", "1e-4"], thresholds, strict=True)),
            "genuine_pairs": 3_000,
            "impostor_pairs": impostor_pairs,
            "identities": 34,
            "samples": 396,
            "eer": 0.002,
            "data": "../shared/data/faces-dev",
            "model_sha256": "0" * 64,
            "measured_at": "2025-01-01T00:00:00Z",
        }
    )


FACE = calibration("face", [0.33, 0.42, 0.5])
FINGER = calibration("fingerprint", [30.0, 40.0, 52.0])
CALIBRATIONS: dict[CalibratedModality, Calibration] = {"face": FACE, "fingerprint": FINGER}
ENGINES: dict[CalibratedModality, str] = {"face": "0" * 64, "fingerprint": "0" * 64}
CONFIG = PolicyConfig()  # 1:1 at FMR 1e-3, 1:N at 1e-4, bound 1e-3: face alone for up to 10
THRESHOLDS = thresholds_in_force(CONFIG, CALIBRATIONS, "movement_check", ENGINES)
SMALL_WING = 10
LARGE_WING = 200

BADGE_OK = ModalityCheck(modality="badge", comparison="exact", matched=True)
BADGE_UNKNOWN = ModalityCheck(modality="badge", comparison="exact", matched=False)
PIN_OK = ModalityCheck(modality="pin", comparison="exact", matched=True)
PIN_WRONG = ModalityCheck(modality="pin", comparison="exact", matched=False)


def face_1to1(score: float) -> ModalityCheck:
    return Factor("face", "1:1", THRESHOLDS.face_1to1).check_with_score(score)


def face_1n(score: float) -> ModalityCheck:
    return Factor("face", "1:N", THRESHOLDS.face_1n).check_with_score(score)


def finger_1to1(score: float) -> ModalityCheck:
    return Factor("fingerprint", "1:1", THRESHOLDS.fingerprint_1to1).check_with_score(score)


def shape(plan: Plan) -> list[tuple[str, list[str]]]:
    return [(s.about, [f"{f.modality} {f.comparison}" for f in s.options]) for s in plan.steps]


# --- face 1:N and the wing size --------------------------------------------------------------


def test_expected_false_identification_rate_is_about_n_times_fmr_when_small() -> None:
    assert expected_false_identification_rate(1e-5, 100) == pytest.approx(9.995e-4, rel=1e-4)
    assert expected_false_identification_rate(1e-5, 0) == 0.0


def test_expected_false_identification_rate_saturates_below_one_when_large() -> None:
    rate = expected_false_identification_rate(1e-5, 1_000_000)
    assert 0.9999 < rate <= 1.0


def test_expected_false_identification_rate_refuses_a_negative_wing() -> None:
    with pytest.raises(ValueError, match="the wing size must be 0 or more, not -1"):
        expected_false_identification_rate(1e-5, -1)


def test_face_1n_allowed_at_the_boundary_and_refused_one_person_later() -> None:
    # 1 − (1 − 1e-4)^10 = 0.00099955 ≤ 0.001 < 0.0010995 = 1 − (1 − 1e-4)^11
    assert face_1n_allowed(CONFIG, 10)
    assert not face_1n_allowed(CONFIG, 11)


def test_face_1n_boundary_follows_the_configured_rates() -> None:
    coarse = PolicyConfig(face_1n_false_match_rate=1e-3, max_false_identification_rate=1e-2)
    assert face_1n_allowed(coarse, 10)
    assert not face_1n_allowed(coarse, 11)
    loose = PolicyConfig(max_false_identification_rate=1e-2)
    assert face_1n_allowed(loose, 100)
    assert not face_1n_allowed(loose, 101)


@given(
    fmr=st.sampled_from([1e-2, 1e-3, 1e-4]),
    bound=st.floats(min_value=1e-6, max_value=0.5),
    wing=st.integers(min_value=1, max_value=100_000),
)
def test_face_1n_allowed_for_a_wing_implies_allowed_for_a_smaller_wing(
    fmr: float, bound: float, wing: int
) -> None:
    config = PolicyConfig(face_1n_false_match_rate=fmr, max_false_identification_rate=bound)
    if face_1n_allowed(config, wing):
        assert face_1n_allowed(config, wing - 1)
    assert (face_only_refusal(config, wing) is None) == face_1n_allowed(config, wing)


def test_face_only_refusal_explains_the_numbers_for_a_large_wing() -> None:
    assert face_only_refusal(CONFIG, LARGE_WING) == (
        "The wing has 200 people: face alone could match the wrong person about "
        "1 time in 50 attempts, and the limit is 1 time in 1,000. A badge is needed too."
    )


def test_face_only_refusal_speaks_in_hundreds_when_wrong_more_often_than_not() -> None:
    assert face_only_refusal(CONFIG, 20_000) == (
        "The wing has 20,000 people: face alone could match the wrong person about "
        "86 times in 100 attempts, and the limit is 1 time in 1,000. A badge is needed too."
    )


def test_face_only_refusal_is_none_for_a_small_wing() -> None:
    assert face_only_refusal(CONFIG, SMALL_WING) is None


# --- plans per mode --------------------------------------------------------------------------


def test_plan_self_service_is_face_1n_for_a_small_wing() -> None:
    plan = plan_for("self_service", CONFIG, THRESHOLDS, SMALL_WING)
    assert plan.rule == "self_service.face_1n"
    assert shape(plan) == [("detainee", ["face 1:N"])]
    assert plan.steps[0].options[0].threshold == FACE.thresholds["1e-4"]
    assert plan.explanation is None


def test_plan_self_service_asks_for_a_badge_for_a_large_wing() -> None:
    plan = plan_for("self_service", CONFIG, THRESHOLDS, LARGE_WING)
    assert plan.rule == "self_service.badge_face"
    assert shape(plan) == [("detainee", ["badge exact"]), ("detainee", ["face 1:1"])]
    assert plan.steps[1].options[0].threshold == FACE.thresholds["1e-3"]
    assert plan.explanation == face_only_refusal(CONFIG, LARGE_WING)


def test_plan_self_service_always_asks_for_a_badge_when_configured() -> None:
    config = PolicyConfig(self_service_rule="badge_face")
    plan = plan_for("self_service", config, THRESHOLDS, SMALL_WING)
    assert plan.rule == "self_service.badge_face"
    assert plan.explanation is None


def test_plan_self_service_can_take_a_finger_when_the_face_cannot_be_used() -> None:
    config = PolicyConfig(self_service_rule="badge_face_or_finger")
    plan = plan_for("self_service", config, THRESHOLDS, SMALL_WING)
    assert plan.rule == "self_service.badge_face_or_finger"
    assert shape(plan) == [
        ("detainee", ["badge exact"]),
        ("detainee", ["face 1:1", "fingerprint 1:1"]),
    ]
    no_finger = Thresholds(face_1to1=0.3, face_1n=0.4)
    assert shape(plan_for("self_service", config, no_finger, SMALL_WING))[-1] == (
        "detainee",
        ["face 1:1"],
    )


def test_plan_movement_check_offers_face_or_finger_after_staff_and_badge() -> None:
    plan = plan_for("movement_check", CONFIG, THRESHOLDS, LARGE_WING)
    assert plan.rule == "movement_check.badge_face_or_finger"
    assert shape(plan) == [
        ("staff", ["badge exact"]),
        ("staff", ["pin exact"]),
        ("detainee", ["badge exact"]),
        ("detainee", ["face 1:1", "fingerprint 1:1"]),
    ]


@pytest.mark.parametrize(
    ("rule", "last_step"),
    [("badge_face", ["face 1:1"]), ("badge_finger", ["fingerprint 1:1"])],
)
def test_plan_movement_check_offers_one_biometric_when_configured(
    rule: str, last_step: list[str]
) -> None:
    config = PolicyConfig.model_validate({"movement_check_rule": rule})
    plan = plan_for("movement_check", config, THRESHOLDS, SMALL_WING)
    assert plan.rule == f"movement_check.{rule}"
    assert shape(plan)[-1] == ("detainee", last_step)


def test_plan_enrolment_is_staff_badge_and_pin_then_detainee_badge() -> None:
    plan = plan_for("enrolment", CONFIG, THRESHOLDS, LARGE_WING)
    assert plan.rule == "enrolment.badge"
    assert shape(plan) == [
        ("staff", ["badge exact"]),
        ("staff", ["pin exact"]),
        ("detainee", ["badge exact"]),
    ]


def test_plan_asks_for_the_head_turn_only_where_the_policy_says_and_a_face_is_used() -> None:
    assert plan_for("self_service", CONFIG, THRESHOLDS, SMALL_WING).head_turn
    assert plan_for("self_service", CONFIG, THRESHOLDS, LARGE_WING).head_turn
    assert not plan_for("movement_check", CONFIG, THRESHOLDS, LARGE_WING).head_turn
    everywhere = PolicyConfig(head_turn_modes=("self_service", "movement_check", "enrolment"))
    assert plan_for("movement_check", everywhere, THRESHOLDS, LARGE_WING).head_turn
    assert not plan_for("enrolment", everywhere, THRESHOLDS, LARGE_WING).head_turn  # no face
    assert not plan_for(
        "self_service", PolicyConfig(head_turn_modes=()), THRESHOLDS, SMALL_WING
    ).head_turn


def test_passive_liveness_is_recorded_only_unless_a_minimum_is_set() -> None:
    assert CONFIG.passive_liveness_min is None
    assert PolicyConfig(passive_liveness_min=0.6).passive_liveness_min == 0.6
    with pytest.raises(ValidationError):
        PolicyConfig(passive_liveness_min=1.5)


def test_a_calibration_measured_with_other_models_is_refused() -> None:
    with pytest.raises(CalibrationError, match="the face calibration was measured with other"):
        thresholds_in_force(CONFIG, CALIBRATIONS, "self_service", {**ENGINES, "face": "1" * 64})


# --- decisions -------------------------------------------------------------------------------

BADGE_FACE = plan_for("self_service", CONFIG, THRESHOLDS, LARGE_WING)
FACE_1N = plan_for("self_service", CONFIG, THRESHOLDS, SMALL_WING)
MOVEMENT = plan_for("movement_check", CONFIG, THRESHOLDS, LARGE_WING)
ENROLMENT = plan_for("enrolment", CONFIG, THRESHOLDS, LARGE_WING)


def test_decide_matched_when_every_step_matched() -> None:
    decision = decide(BADGE_FACE, [BADGE_OK, face_1to1(0.71)])
    assert decision == Decision(BADGE_FACE, "matched", (BADGE_OK, face_1to1(0.71)))


def test_decide_matched_at_exactly_the_threshold() -> None:
    assert decide(FACE_1N, [face_1n(FACE.thresholds["1e-4"])]).outcome == "matched"


@pytest.mark.parametrize("last", [face_1to1(0.6), finger_1to1(55.0)], ids=["face", "fingerprint"])
def test_decide_movement_check_matched_with_face_or_finger(last: ModalityCheck) -> None:
    assert decide(MOVEMENT, [BADGE_OK, PIN_OK, BADGE_OK, last]).outcome == "matched"


def test_decide_enrolment_matched_after_the_detainee_badge() -> None:
    assert decide(ENROLMENT, [BADGE_OK, PIN_OK, BADGE_OK]).outcome == "matched"


@pytest.mark.parametrize(
    ("plan", "checks", "reason"),
    [
        (BADGE_FACE, [BADGE_UNKNOWN], "the badge is not known on this kiosk"),
        (BADGE_FACE, [BADGE_OK, face_1to1(0.3)], "the face did not match the badge's owner"),
        (FACE_1N, [face_1n(0.49)], "the face did not match anyone in this wing"),
        (MOVEMENT, [BADGE_UNKNOWN], "the staff badge is not known on this kiosk"),
        (MOVEMENT, [BADGE_OK, PIN_WRONG], "the PIN does not match the staff badge"),
        (MOVEMENT, [BADGE_OK, PIN_OK, BADGE_UNKNOWN], "the badge is not known on this kiosk"),
        (
            MOVEMENT,
            [BADGE_OK, PIN_OK, BADGE_OK, finger_1to1(12.0)],
            "the fingerprint did not match the badge's owner",
        ),
    ],
    ids=["badge", "face-1:1", "face-1:N", "staff-badge", "pin", "detainee-badge", "finger"],
)
def test_decide_not_matched_says_why(plan: Plan, checks: list[ModalityCheck], reason: str) -> None:
    decision = decide(plan, checks)
    assert decision.outcome == "not_matched"
    assert decision.reasons == (reason,)
    assert decision.next_step is None
    assert decision.checks == tuple(checks)


def test_decide_incomplete_names_the_next_step() -> None:
    decision = decide(MOVEMENT, [BADGE_OK, PIN_OK, BADGE_OK])
    assert decision.outcome == "incomplete"
    assert decision.next_step == MOVEMENT.steps[3]
    assert decision.next_step.describe() == "detainee face 1:1 or fingerprint 1:1"
    assert decision.reasons == ()


def test_decide_incomplete_with_no_checks_yet_starts_at_the_first_step() -> None:
    decision = decide(BADGE_FACE, [])
    assert (decision.outcome, decision.next_step) == ("incomplete", BADGE_FACE.steps[0])


# --- refused input ---------------------------------------------------------------------------


def test_decide_refuses_a_matched_check_below_its_threshold() -> None:
    lying = ModalityCheck(
        modality="face", comparison="1:1", matched=True, score=0.3, threshold=0.42
    )
    with pytest.raises(
        ValueError,
        match=r"^step 2 of self_service.badge_face: matched=True contradicts score 0.3 "
        r"against threshold 0.42$",
    ):
        decide(BADGE_FACE, [BADGE_OK, lying])


def test_decide_refuses_an_unmatched_check_at_or_above_its_threshold() -> None:
    lying = ModalityCheck(
        modality="face", comparison="1:1", matched=False, score=0.42, threshold=0.42
    )
    with pytest.raises(ValueError, match=re.escape("matched=False contradicts score 0.42")):
        decide(BADGE_FACE, [BADGE_OK, lying])


def test_decide_refuses_a_threshold_other_than_the_policys() -> None:
    loose = Factor("face", "1:1", 0.1).check_with_score(0.2)
    with pytest.raises(
        ValueError, match=re.escape("the check used threshold 0.1, the policy's is 0.42")
    ):
        decide(BADGE_FACE, [BADGE_OK, loose])


def test_decide_refuses_a_1n_check_where_the_step_asks_for_1to1() -> None:
    with pytest.raises(
        ValueError,
        match=r"^step 2 of self_service.badge_face asks for detainee face 1:1, not face 1:N$",
    ):
        decide(BADGE_FACE, [BADGE_OK, face_1n(0.9)])


def test_decide_refuses_a_modality_the_step_does_not_offer() -> None:
    with pytest.raises(ValueError, match="asks for staff pin exact, not badge exact"):
        decide(MOVEMENT, [BADGE_OK, BADGE_OK])


def test_decide_refuses_a_scored_check_without_score() -> None:
    bare = ModalityCheck(modality="face", comparison="1:1", matched=True)
    with pytest.raises(ValueError, match="a face 1:1 check needs its score and threshold"):
        decide(BADGE_FACE, [BADGE_OK, bare])


def test_decide_refuses_a_score_on_an_exact_check() -> None:
    scored = ModalityCheck(modality="badge", comparison="exact", matched=True, score=1.0)
    with pytest.raises(ValueError, match="a badge check is exact and carries no score"):
        decide(BADGE_FACE, [scored])


def test_decide_refuses_a_nan_score() -> None:
    nan = ModalityCheck(
        modality="face", comparison="1:1", matched=False, score=float("nan"), threshold=0.42
    )
    with pytest.raises(ValueError, match="the score nan is not a number"):
        decide(BADGE_FACE, [BADGE_OK, nan])


def test_decide_refuses_checks_after_a_failed_one() -> None:
    with pytest.raises(
        ValueError, match=re.escape("step 1 of self_service.badge_face did not match")
    ):
        decide(BADGE_FACE, [BADGE_UNKNOWN, face_1to1(0.9)])


def test_decide_refuses_more_checks_than_steps() -> None:
    with pytest.raises(
        ValueError, match=re.escape("self_service.face_1n has 1 steps but 2 checks")
    ):
        decide(FACE_1N, [face_1n(0.9), face_1n(0.9)])


@given(score=st.floats(min_value=-1, max_value=1))
def test_decide_face_1to1_matches_exactly_when_the_score_reaches_the_threshold(
    score: float,
) -> None:
    decision = decide(BADGE_FACE, [BADGE_OK, face_1to1(score)])
    expected = "matched" if score >= FACE.thresholds["1e-3"] else "not_matched"
    assert decision.outcome == expected


# --- the identification event body -----------------------------------------------------------


def test_identification_carries_every_check_with_scores_and_thresholds() -> None:
    checks = [BADGE_OK, PIN_OK, BADGE_OK, finger_1to1(55.0)]
    body = decide(MOVEMENT, checks).identification()
    assert body == Identification(
        mode="movement_check",
        rule="movement_check.badge_face_or_finger",
        checks=checks,
        outcome="matched",
    )
    assert body.model_dump(mode="json")["checks"][3] == {
        "modality": "fingerprint",
        "comparison": "1:1",
        "matched": True,
        "score": 55.0,
        "threshold": 40.0,
    }


def test_identification_for_a_refusal_is_not_matched() -> None:
    body = decide(BADGE_FACE, [BADGE_OK, face_1to1(0.3)]).identification()
    assert (body.outcome, body.rule, body.checks[1].score, body.checks[1].threshold) == (
        "not_matched",
        "self_service.badge_face",
        0.3,
        0.42,
    )


def test_identification_is_refused_while_incomplete() -> None:
    with pytest.raises(
        ValueError,
        match=r"^the identification is not finished: self_service.badge_face still needs "
        r"detainee face 1:1$",
    ):
        decide(BADGE_FACE, [BADGE_OK]).identification()


def test_check_with_score_is_refused_for_an_exact_factor() -> None:
    with pytest.raises(ValueError, match="a pin check is exact and has no score"):
        Factor("pin", "exact").check_with_score(1.0)


# --- PolicyConfig ----------------------------------------------------------------------------


def test_policy_config_round_trips_through_json() -> None:
    config = PolicyConfig(
        face_1to1_false_match_rate=1e-2,
        face_1n_false_match_rate=1e-3,
        fingerprint_1to1_false_match_rate=1e-4,
        max_false_identification_rate=5e-4,
        self_service_rule="badge_face",
        movement_check_rule="badge_finger",
    )
    text = json.dumps(config.model_dump(mode="json"))
    assert PolicyConfig.model_validate(json.loads(text)) == config


def test_policy_config_documents_every_field() -> None:
    missing = [n for n, f in PolicyConfig.model_fields.items() if not f.description]
    assert missing == []


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("face_1n_false_match_rate", 1e-5, "calibrated false-match rate: 0.01, 0.001, 0.0001"),
        ("face_1to1_false_match_rate", 0.0, "calibrated false-match rate"),
        ("fingerprint_1to1_false_match_rate", "often", "valid number"),
        ("max_false_identification_rate", 1.0, "less than 1"),
        ("max_false_identification_rate", float("nan"), "finite number"),
        ("face_1to1_threshold", 0.42, "Extra inputs are not permitted"),
        (
            "self_service_rule",
            "face_only",
            "'face_1n_if_safe', 'badge_face' or 'badge_face_or_finger'",
        ),
        ("wing_size", 10, "Extra inputs are not permitted"),
    ],
)
def test_policy_config_refuses_a_bad_value(field: str, value: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message) as caught:
        PolicyConfig.model_validate({field: value})
    assert caught.value.errors()[0]["loc"] == (field,)


def test_policy_config_is_frozen() -> None:
    with pytest.raises(ValidationError, match="frozen"):
        CONFIG.face_1n_false_match_rate = 1e-2  # type: ignore[misc]


def test_step_option_for_finds_the_alternative() -> None:
    step = MOVEMENT.steps[3]
    assert step == Step(
        "detainee",
        (
            Factor("face", "1:1", FACE.thresholds["1e-3"]),
            Factor("fingerprint", "1:1", FINGER.thresholds["1e-3"]),
        ),
    )
    assert step.option_for("fingerprint") == step.options[1]
    assert step.option_for("pin") is None


# --- thresholds from the kiosk's calibration -------------------------------------------------


def test_thresholds_in_force_are_the_calibrated_ones_for_the_target_rates() -> None:
    resolved = (THRESHOLDS.face_1to1, THRESHOLDS.face_1n, THRESHOLDS.fingerprint_1to1)
    assert resolved == (0.42, 0.5, 40.0)
    config = PolicyConfig(
        face_1to1_false_match_rate=1e-4,
        face_1n_false_match_rate=1e-2,
        fingerprint_1to1_false_match_rate=1e-2,
    )
    assert thresholds_in_force(config, CALIBRATIONS, "movement_check", ENGINES) == Thresholds(
        face_1to1=0.5, face_1n=0.33, fingerprint_1to1=30.0
    )


@pytest.mark.parametrize(
    ("mode", "rule", "calibrations", "message"),
    [
        ("self_service", "badge_face_or_finger", {"fingerprint": FINGER}, "no face calibration"),
        ("movement_check", "badge_face", {"fingerprint": FINGER}, "no face calibration"),
        ("movement_check", "badge_finger", {"face": FACE}, "no fingerprint calibration"),
        ("movement_check", "badge_face_or_finger", {}, "no face or fingerprint calibration"),
    ],
    ids=["self-service", "movement-face", "movement-finger", "movement-either"],
)
def test_thresholds_in_force_refuses_a_kiosk_without_the_calibration_its_mode_needs(
    mode: Literal["self_service", "movement_check"],
    rule: Literal["badge_face_or_finger", "badge_face", "badge_finger"],
    calibrations: dict[CalibratedModality, Calibration],
    message: str,
) -> None:
    config = PolicyConfig(movement_check_rule=rule)
    with pytest.raises(CalibrationError, match=re.escape(message)):
        thresholds_in_force(config, calibrations, mode, ENGINES)


def test_thresholds_in_force_names_the_command_that_calibrates() -> None:
    with pytest.raises(CalibrationError) as caught:
        thresholds_in_force(CONFIG, {}, "self_service", ENGINES)
    assert str(caught.value) == (
        "this kiosk has no face calibration; run `masar kiosk calibrate --data DIR`"
    )


def test_thresholds_in_force_needs_no_calibration_for_enrolment() -> None:
    assert thresholds_in_force(CONFIG, {}, "enrolment", ENGINES) == Thresholds()
    plan = plan_for("enrolment", CONFIG, Thresholds(), LARGE_WING)
    assert plan.rule == "enrolment.badge"


def test_plan_movement_check_offers_only_the_calibrated_biometric() -> None:
    thresholds = thresholds_in_force(CONFIG, {"face": FACE}, "movement_check", ENGINES)
    plan = plan_for("movement_check", CONFIG, thresholds, LARGE_WING)
    assert shape(plan)[-1] == ("detainee", ["face 1:1"])


def test_plan_refuses_a_mode_whose_thresholds_are_missing() -> None:
    with pytest.raises(CalibrationError, match="no face calibration"):
        plan_for("self_service", CONFIG, Thresholds(fingerprint_1to1=40.0), SMALL_WING)


def test_thresholds_in_force_refuses_a_calibration_too_small_for_the_target_rate() -> None:
    small = calibration("face", [0.33, 0.42, 0.5], impostor_pairs=5_000)
    assert thresholds_in_force(
        PolicyConfig(face_1n_false_match_rate=1e-3), {"face": small}, "self_service", ENGINES
    ) == Thresholds(face_1to1=0.42, face_1n=0.42)
    with pytest.raises(CalibrationError) as caught:
        thresholds_in_force(CONFIG, {"face": small}, "self_service", ENGINES)
    assert str(caught.value) == (
        "the face calibration scored only 5,000 pairs of different people, too few to show a "
        "false-match rate of 1e-4 (10,000 needed); calibrate on more people or choose a "
        "higher rate"
    )


def test_the_wing_policy_beats_the_site_policy_and_none_means_the_defaults() -> None:
    from kiosk.policy import policy_in_force, policy_key

    site = {"self_service_rule": "badge_face"}
    wing = {"self_service_rule": "badge_face_or_finger"}
    assert policy_key("rabat-1") == "identification@rabat-1"
    assert policy_in_force({}) == PolicyConfig()
    assert policy_in_force({policy_key("rabat-1"): site}).self_service_rule == "badge_face"
    both = {policy_key("rabat-1"): site, policy_key("rabat-1", "a"): wing}
    assert policy_in_force(both).self_service_rule == "badge_face_or_finger"


def test_self_service_offers_the_finger_when_its_rule_says_so_and_it_is_calibrated() -> None:
    config = PolicyConfig(self_service_rule="badge_face_or_finger")
    engines = {"face": FACE.model_sha256, "fingerprint": FINGER.model_sha256}
    thresholds = thresholds_in_force(
        config, {"face": FACE, "fingerprint": FINGER}, "self_service", engines
    )
    assert thresholds.fingerprint_1to1 == FINGER.threshold_for(1e-3)
    plan = plan_for("self_service", config, thresholds, wing_size=500)
    assert [f.modality for f in plan.steps[1].options] == ["face", "fingerprint"]
