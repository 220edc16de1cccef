"""The registry routes: a user sees, promotes and rolls back only their own models."""

from __future__ import annotations

from tests.conftest import UserClient
from tests.ml.test_registry import _versions


def test_promote_and_rollback_own_model_only(user: UserClient) -> None:
    uri = user.api.backend.settings().resolved_mlflow_uri
    _versions(uri, user.user_id, "churn", 2)

    r = user.http.get("/api/v1/registry/models")
    assert r.status_code == 200, r.text
    (model,) = r.json()
    assert (model["model_id"], model["champion_version"]) == ("churn", "2")

    r = user.http.get("/api/v1/registry/models/churn")
    assert [(v["version"], v["champion"]) for v in r.json()["versions"]] == [
        ("2", True),
        ("1", False),
    ]
    r = user.http.post("/api/v1/registry/models/churn/rollback")
    assert r.status_code == 200, r.text
    assert r.json()["champion_version"] == "1"
    r = user.http.post("/api/v1/registry/models/churn/promote", json={"version": 2})
    assert r.json()["champion_version"] == "2"
    r = user.http.post("/api/v1/registry/models/churn/promote", json={"version": 7})
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")

    _, other_token = user.api.new_user("other")
    with user.api.client(other_token) as other:
        assert other.get("/api/v1/registry/models").json() == []
        assert other.post("/api/v1/registry/models/churn/rollback").status_code == 404
        r = other.post("/api/v1/registry/models/churn/rollback", params={"user_id": user.user_id})
        assert r.status_code == 403
    with user.api.client(None) as anonymous:
        assert anonymous.get("/api/v1/registry/models").status_code == 401
    assert (
        user.http.post("/api/v1/registry/models/churn/rollback").json()["champion_version"] == "1"
    )
