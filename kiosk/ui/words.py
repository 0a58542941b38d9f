"""The flows' plain words (kiosk.identify, kiosk.movement_check, kiosk.enrolment_station) in
the screen's language.

The flows speak English so that logs and events read the same everywhere; the screens
translate their guidance codes and their known sentences here. A sentence not listed is
shown as it is (in English) rather than hidden.
"""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext

from kiosk import identify

GUIDANCE = {
    "no_face": lazy_gettext("Look at the camera"),
    "too_small": lazy_gettext("Come closer"),
    "too_dark": lazy_gettext("It is too dark: face the light"),
    "too_bright": lazy_gettext("Too much light: step out of the glare"),
    "several_faces": lazy_gettext("One person at a time, please"),
    "turned": lazy_gettext("Look straight at the camera"),
    "look_straight": lazy_gettext("Look straight at the camera"),
    "blurred": lazy_gettext("Hold still"),
    "keep_upright": lazy_gettext("Keep your head upright"),
    "turn_left": lazy_gettext("Turn your head to your left"),
    "turn_right": lazy_gettext("Turn your head to your right"),
    "finger_unusable": lazy_gettext("Press your finger flat on the sensor"),
}

# Which spoken prompt (kiosk.ui.prompts) goes with a guidance code or a step.
PROMPT_FOR = {
    "no_face": "no_face",
    "too_small": "too_small",
    "too_dark": "too_dark",
    "too_bright": "too_bright",
    "several_faces": "several_faces",
    "turned": "turned",
    "look_straight": "turned",
    "blurred": "blurred",
    "turn_left": "turn_left",
    "turn_right": "turn_right",
    "badge": "badge",
}

# On the attract screen, when a sensor is down: what still works, without alarm.
SENSOR_DOWN = {
    "camera": lazy_gettext("The camera is not working: use your badge, or call staff."),
    "badge_reader": lazy_gettext("The badge reader is not working: please call staff."),
    "fingerprint": lazy_gettext("The fingerprint reader is not working."),
}

FACTS = {
    "education_level": lazy_gettext("Education"),
    "qualification": lazy_gettext("Diploma or certificate"),
    "occupation": lazy_gettext("Work"),
    "skill": lazy_gettext("Skill"),
    "entrepreneurial_aptitude": lazy_gettext("Business aptitude"),
    "wish": lazy_gettext("Wish"),
}

PROVENANCE = {
    "self_declared": lazy_gettext("you said"),
    "staff_verified": lazy_gettext("checked by staff"),
    "document": lazy_gettext("from a document"),
}

CAPTURES = {
    "face": lazy_gettext("face"),
    "fingerprint": lazy_gettext("fingerprint"),
    "badge": lazy_gettext("badge"),
}

STEPS = {
    "staff_badge": lazy_gettext("Staff: tap your badge on the reader"),
    "pin": lazy_gettext("Type your PIN"),
    "badge": lazy_gettext("Tap your badge on the reader"),
    "face": lazy_gettext("Look at the camera"),
    "fingerprint": lazy_gettext("Put your finger on the sensor"),
}


def sentence(text: str | None) -> str:
    """A flow's message or error in the screen's language."""
    if not text:
        return ""
    known = _known()
    return str(known.get(text, text))


def _known() -> dict[str, str]:
    return {
        identify.NOT_RECOGNISED: _("Not recognised. Please try again or call staff."),
        identify.UNKNOWN_BADGE: _("This badge is not known on this kiosk. Please call staff."),
        identify.NOT_STAFF_BADGE: _(
            "This is not a staff badge. Staff: lay your own badge on the reader."
        ),
        identify.STAFF_BADGE_HERE: _(
            "This is a staff badge. Lay the detainee's badge on the reader."
        ),
        identify.CAMERA_DOWN: _("The camera is not working. Please call staff."),
        identify.CAMERA_DOWN_FINGER: _(
            "The camera is not working: use your fingerprint, or call staff."
        ),
        identify.CAMERA_DOWN_BADGE: _(
            "The camera is not working: use your badge and your fingerprint, or call staff."
        ),
        identify.FINGER_DOWN: _("The fingerprint sensor is not working. Please call staff."),
        identify.BADGE_READER_DOWN: _("The badge reader is not working. Please call staff."),
        identify.NOT_ENROLLED: _(
            "Your face or fingerprint is not enrolled on this kiosk yet. Please call staff."
        ),
        identify.NOBODY_ENROLLED: _("No faces are enrolled on this kiosk yet. Please call staff."),
        identify.TIMED_OUT: _("Time is up. Please try again."),
        identify.NOT_LIVE: _("We could not check that you are here in person. Please call staff."),
        identify.UNSEEN: _("We could not see your face clearly. Please try again."),
        identify.BROKEN: _("Something went wrong on this kiosk. Please call staff."),
    }
