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


def test_a_dotted_user_id_cannot_reach_another_users_model(user: UserClient) -> None:
    """``<victim>.x`` asking for ``churn`` spells the same registered name as the victim's
    ``x.churn`` (``millrace.<victim>.x.churn``): access goes by owner tag, never by name."""
    uri = user.api.backend.settings().resolved_mlflow_uri
    _versions(uri, user.user_id, "x.churn", 2)
    attacker_id = f"{user.user_id}.x"
    with user.api.client(user.api.admin_token) as admin:
        r = admin.post("/api/v1/users", json={"user_id": attacker_id})
        assert r.status_code == 201, r.text
        token = r.json()["token"]
    with user.api.client(token) as attacker:
        assert attacker.get("/api/v1/registry/models").json() == []
        for method, path, body in [
            ("GET", "/api/v1/registry/models/churn", None),
            ("POST", "/api/v1/registry/models/churn/promote", {"version": 1}),
            ("POST", "/api/v1/registry/models/churn/rollback", None),
        ]:
            r = attacker.request(method, path, json=body)
            assert r.status_code == 404, (path, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
    r = user.http.get("/api/v1/registry/models/x.churn")
    assert r.status_code == 200, r.text
    live = r.json()["champion"]
    assert live["champion_version"] == "2"
    assert [h["actor"] for h in live["history"]] == ["", ""]  # the attacker is nowhere

    # The attacker's own model of that name gets a registered name of its own.
    _versions(uri, attacker_id, "churn", 1)
    with user.api.client(token) as attacker:
        (mine,) = attacker.get("/api/v1/registry/models").json()
        assert (mine["model_id"], mine["owner"], mine["champion_version"]) == (
            "churn",
            attacker_id,
            "1",
        )
        assert mine["registered_name"] != live["registered_name"]
    assert user.http.get("/api/v1/registry/models/x.churn").json()["champion"] == live
