"""The built-in journeys parse, and are listed by the CLI's names."""

from __future__ import annotations

import pytest
import yaml

from retentio.campaigns import parse_journey
from retentio.campaigns.journey_templates import TEMPLATES, journey_template


@pytest.mark.parametrize("name", TEMPLATES)
def test_each_template_is_a_valid_journey_of_its_name(name: str) -> None:
    journey = parse_journey(yaml.safe_load(journey_template(name)))
    assert journey.name == name and journey.steps
