from tests.conftest import UserClient


def test_health_is_up_on_every_backend(user: UserClient) -> None:
    r = user.http.get("/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "up"
    assert {c for c in body["checks"]} == {"database", "storage", "event_bus"}
