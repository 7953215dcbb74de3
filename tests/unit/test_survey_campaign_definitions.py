"""A campaign's ``survey``: the links a message may show only with one, and a name checked."""

from __future__ import annotations

import pytest

from retentio.campaigns import CampaignError, parse_campaign

MESSAGE = {
    "en": {"subject": "How did we do?", "text": "{{ survey_score_urls[9] }} {{ survey_url }}"}
}


def test_a_survey_brings_its_links_into_the_templates() -> None:
    definition = parse_campaign(
        {"name": "ask", "segment": "s", "survey": "nps", "message": MESSAGE}
    )
    assert definition.survey == "nps"
    assert (
        parse_campaign({"name": "plain", "segment": "s", "message": {"en": {"text": "hi"}}}).survey
        is None
    )


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({}, "message.en.text"),  # survey links without a survey
        ({"survey": "no spaces"}, "survey"),
        ({"survey": 7}, "survey"),
    ],
)
def test_survey_errors_name_the_path(change: dict[str, object], path: str) -> None:
    with pytest.raises(CampaignError) as caught:
        parse_campaign({"name": "ask", "segment": "s", "message": MESSAGE} | change)
    assert caught.value.path == path
