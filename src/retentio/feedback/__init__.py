"""First- and zero-party data: the preferences customers state (and the preference centre's
services), and the surveys they answer."""

from retentio.feedback.preference_data import erase_with_preferences, export_with_preferences
from retentio.feedback.preference_rules import (
    CHANNELS,
    DEFAULT_TOPICS,
    FREQUENCIES,
    MAX_SNOOZE_DAYS,
    NAMES,
    SIZE_KINDS,
    SNOOZE_DAYS,
    SOURCES,
    PreferenceError,
    Topic,
    check_preference,
    parse_topics,
    snooze_end,
)
from retentio.feedback.preferences import (
    DEFAULT_ZONE,
    PreferenceChange,
    PreferenceUpdate,
    StatedPreferences,
    end_snooze,
    local_today,
    preference_history,
    preferences_of,
    set_preferences,
    snooze,
)

__all__ = [
    "CHANNELS",
    "DEFAULT_TOPICS",
    "DEFAULT_ZONE",
    "FREQUENCIES",
    "MAX_SNOOZE_DAYS",
    "NAMES",
    "SIZE_KINDS",
    "SNOOZE_DAYS",
    "SOURCES",
    "PreferenceChange",
    "PreferenceError",
    "PreferenceUpdate",
    "StatedPreferences",
    "Topic",
    "check_preference",
    "end_snooze",
    "erase_with_preferences",
    "export_with_preferences",
    "local_today",
    "parse_topics",
    "preference_history",
    "preferences_of",
    "set_preferences",
    "snooze",
    "snooze_end",
]
