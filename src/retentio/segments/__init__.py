"""Segments: who is in them (a declarative definition compiled to one SQL query), how many,
a preview and an export, and memberships kept with entered / exited times.

Stored scores (RFM, P(alive), CLV: ``refresh_scores``) make predictions testable in SQL.
"""

from retentio.segments.definition import (
    AllOf,
    AnyOf,
    Compare,
    Condition,
    ConsentCondition,
    EventCondition,
    Not,
    SegmentDefinition,
    SegmentError,
    parse_definition,
)
from retentio.segments.fields import FIELDS, Field
from retentio.segments.scores import ScoresRefresh, refresh_scores
from retentio.segments.service import (
    PREVIEW_LIMIT,
    Member,
    RefreshResult,
    SavedSegment,
    SegmentNotFound,
    count_members,
    delete_segment,
    export_members,
    find_segment,
    list_members,
    list_segments,
    preview_members,
    refresh_segment,
    save_segment,
    scores_as_of,
)
from retentio.segments.sql import member_ids

__all__ = [
    "FIELDS",
    "PREVIEW_LIMIT",
    "AllOf",
    "AnyOf",
    "Compare",
    "Condition",
    "ConsentCondition",
    "EventCondition",
    "Field",
    "Member",
    "Not",
    "RefreshResult",
    "SavedSegment",
    "ScoresRefresh",
    "SegmentDefinition",
    "SegmentError",
    "SegmentNotFound",
    "count_members",
    "delete_segment",
    "export_members",
    "find_segment",
    "list_members",
    "list_segments",
    "member_ids",
    "parse_definition",
    "preview_members",
    "refresh_scores",
    "refresh_segment",
    "save_segment",
    "scores_as_of",
]
