"""The built-in wording of surveys in English, Danish and Dutch: the NPS and CSAT questions,
the words at the two ends of their scales, the comment field's label and the thanks. A survey
definition may give its own in any language (:mod:`retentio.feedback.surveys`)."""

from __future__ import annotations

__all__ = ["BUILT_IN", "BUILT_IN_LOCALES"]

#: The languages the built-in texts are written in.
BUILT_IN_LOCALES = ("da", "en", "nl")

#: text name -> kind (or "any") -> locale -> wording.
BUILT_IN: dict[str, dict[str, dict[str, str]]] = {
    "question": {
        "nps": {
            "en": "How likely is it that you would recommend us to a friend or colleague?",
            "da": "Hvor sandsynligt er det, at du vil anbefale os til en ven eller kollega?",
            "nl": "Hoe waarschijnlijk is het dat je ons aanbeveelt aan een vriend of collega?",
        },
        "csat": {
            "en": "How satisfied are you with us?",
            "da": "Hvor tilfreds er du med os?",
            "nl": "Hoe tevreden ben je over ons?",
        },
    },
    "low": {
        "nps": {
            "en": "Not at all likely",
            "da": "Slet ikke sandsynligt",
            "nl": "Zeer onwaarschijnlijk",
        },
        "csat": {"en": "Very dissatisfied", "da": "Meget utilfreds", "nl": "Zeer ontevreden"},
    },
    "high": {
        "nps": {"en": "Extremely likely", "da": "Meget sandsynligt", "nl": "Zeer waarschijnlijk"},
        "csat": {"en": "Very satisfied", "da": "Meget tilfreds", "nl": "Zeer tevreden"},
    },
    "comment": {
        "any": {
            "en": "Would you like to tell us more? (optional)",
            "da": "Vil du fortælle os mere? (valgfrit)",
            "nl": "Wil je ons meer vertellen? (optioneel)",
        },
    },
    "thanks": {
        "any": {
            "en": "Thank you for your answer!",
            "da": "Tak for dit svar!",
            "nl": "Bedankt voor je antwoord!",
        },
    },
}
