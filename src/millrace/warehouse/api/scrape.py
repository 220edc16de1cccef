"""Who may read ``/metrics``: Prometheus with the scrape token, or an admin.

The series name every model and its owner, so they are not public. Prometheus sends a
static bearer token (``MILLRACE_METRICS_TOKEN``; its ``authorization`` scrape setting), which
is checked here without a database query; anything else must be an admin's API token. The
API and the inference server both ask this first and fall back to their own user lookup.
"""

from __future__ import annotations

import hmac

from pydantic import SecretStr

__all__ = ["SCRAPE_REFUSED", "is_scrape_token"]

SCRAPE_REFUSED = "/metrics needs the scrape token (MILLRACE_METRICS_TOKEN) or an admin token"


def is_scrape_token(authorization: str | None, expected: SecretStr | None) -> bool:
    """Whether ``authorization`` is ``Bearer <the configured scrape token>``."""
    if expected is None or not authorization:
        return False
    scheme, _, token = authorization.partition(" ")
    secret = expected.get_secret_value()
    return (
        scheme.lower() == "bearer"
        and bool(secret)
        and hmac.compare_digest(token.strip().encode(), secret.encode())
    )
