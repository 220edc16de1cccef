"""The scrape token check: exact, bearer only, and off when no token is configured."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from millrace.warehouse.api.scrape import is_scrape_token

TOKEN = SecretStr("s3cret-scrape")


@pytest.mark.parametrize(
    ("header", "expected", "allowed"),
    [
        ("Bearer s3cret-scrape", TOKEN, True),
        ("bearer  s3cret-scrape ", TOKEN, True),
        ("Bearer s3cret-scrap", TOKEN, False),
        ("Bearer s3cret-scrape-and-more", TOKEN, False),
        ("Basic s3cret-scrape", TOKEN, False),
        ("s3cret-scrape", TOKEN, False),
        (None, TOKEN, False),
        ("Bearer ", SecretStr(""), False),  # an empty setting opens nothing
        ("Bearer anything", None, False),  # unset: only admins' API tokens read /metrics
    ],
)
def test_only_the_configured_bearer_token_is_the_scrape_token(
    header: str | None, expected: SecretStr | None, allowed: bool
) -> None:
    assert is_scrape_token(header, expected) is allowed
