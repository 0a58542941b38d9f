"""The profile facts a questionnaire answer may feed, in one place.

A survey row tagged ``masar::fact = <name>`` (see `hub.questionnaires.xlsform`) hands its
answer to the hub's master records as this fact, with the form id, version and question as
provenance. Which form asked tells a past occupation (intake) from a wished one (wishes).
"""

FACTS: dict[str, str] = {
    "education_level": "highest education level completed: an ISCED 2011 level code, 0–8",
    "qualification": "a diploma, certificate or vocational qualification held (text)",
    "occupation": "an occupation as an ISCO-08 code (major group, 0–9, on the kiosk): "
    "past jobs in the intake form, wished jobs in the wishes form",
    "skill": "a skill the person says they have (codes of the form's skills list)",
    "entrepreneurial_aptitude": "entrepreneurial aptitude score: sum of 10 Likert items, 10–50",
    "wish": "a wish or aspiration for training, work or life after release",
}
