"""The touchscreen: one module per group of screens (home, questionnaire_screens,
identify_screens, staff_screens), what they share (context, guards, i18n, words, stations) and
the spoken prompts (prompts)."""
