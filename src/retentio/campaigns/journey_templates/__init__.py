"""Built-in journeys a marketer can start from: win-back, re-engagement, post-purchase
(thank-you and review request) and replenishment reminder, in English, Danish and Dutch.
Each names the segment it needs in a comment at the top (``retentio journey template NAME``)."""

from __future__ import annotations

from importlib import resources

from retentio.campaigns.journey_definition import JourneyError

__all__ = ["TEMPLATES", "journey_template"]

#: The templates' names, in the order they are listed.
TEMPLATES = ("winback", "re-engagement", "post-purchase", "replenishment")


def journey_template(name: str) -> str:
    """The YAML of the built-in journey ``name`` (a JourneyError for an unknown name)."""
    if name not in TEMPLATES:
        raise JourneyError("template", f"no template {name!r}; there are {', '.join(TEMPLATES)}")
    return resources.files(__package__).joinpath(f"{name}.yaml").read_text(encoding="utf-8")
