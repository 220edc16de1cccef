"""Tokens, ownership and admins acting for others."""

from __future__ import annotations

from tests.conftest import UserClient
from tests.helpers import upload_csv


def test_health_and_docs_need_no_token(user: UserClient) -> None:
    with user.api.client(None) as anon:
        assert anon.get("/health").status_code == 200
        assert anon.get("/docs").status_code == 200
        spec = anon.get("/openapi.json").json()
        assert "/api/v1/datasets/upload/{user_id}" in spec["paths"]
        for path in (
            "/api/v1/datasets",
            "/api/v1/ai-models",
            "/api/v1/bias-reports",
            "/api/v1/xai-reports",
            "/api/v1/users/me",
            "/datasets/someone",  # seed 004's root routes want the token too
        ):
            r = anon.get(path)
            assert r.status_code == 401, path
            assert r.headers["www-authenticate"] == "Bearer"


def test_others_resources_are_invisible(user: UserClient) -> None:
    upload_csv(user.http, user.user_id, "private")
    other_id, other_token = user.api.new_user("other")
    with user.api.client(other_token) as other:
        assert other.get("/api/v1/datasets/private").status_code == 404
        assert other.get("/api/v1/datasets").json()["items"] == []
        assert other.delete("/api/v1/datasets/private").status_code == 404
        r = other.get("/api/v1/datasets/private", params={"user_id": user.user_id})
        assert r.status_code == 403
        r = upload_csv(other, user.user_id, "intrude")
        assert r.status_code == 403 and other_id in r.json()["detail"]
    assert user.http.get("/api/v1/datasets/private").status_code == 200


def test_admin_acts_for_anyone(user: UserClient) -> None:
    with user.api.client(user.api.admin_token) as admin:
        r = upload_csv(admin, user.user_id, "by-admin")
        assert r.status_code == 201 and r.json()["user_id"] == user.user_id
        assert (
            admin.get("/api/v1/datasets/by-admin", params={"user_id": user.user_id}).status_code
            == 200
        )
        assert upload_csv(admin, "no-such-user", "x").status_code == 404
    assert user.http.get("/api/v1/datasets/by-admin").json()["version"]["created_by"] == "admin"


def test_only_admins_create_users(user: UserClient) -> None:
    assert user.http.post("/api/v1/users", json={"user_id": "mallory"}).status_code == 403
    with user.api.client(user.api.admin_token) as admin:
        assert admin.post("/api/v1/users", json={"user_id": user.user_id}).status_code == 409
    me = user.http.get("/api/v1/users/me").json()
    assert me == {"user_id": user.user_id, "is_admin": False, "token": None}
