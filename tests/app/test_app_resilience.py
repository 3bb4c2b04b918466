"""The API outlives its database: it starts without it, answers 503, and recovers alone."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from taskapp.config import DatabaseSettings
from taskapp_testing import SEED, PostgresServer, wait_until

# Generous next to the pool's 10 s reconnection window, so a slow machine does not flake.
RECOVERY_TIMEOUT = 30


def health_status(client: TestClient) -> int:
    return client.get("/api/health").status_code


def assert_health_reports_database_down(client: TestClient) -> None:
    health = client.get("/api/health")
    assert health.status_code == 503
    assert health.json() == {"status": "unavailable", "database": "down"}


def test_api_starts_without_database_and_creates_schema_once_it_appears(
    postgres: PostgresServer,
    database: DatabaseSettings,
    start_client: Callable[[DatabaseSettings], TestClient],
) -> None:
    postgres.stop()
    try:
        client = start_client(database)
        assert_health_reports_database_down(client)
        listing = client.get("/api/tasks")
        assert listing.status_code == 503
        assert "database unavailable" in listing.json()["detail"]
        # Still serving what needs no database.
        assert client.get("/api/openapi.json").status_code == 200
    finally:
        postgres.start()

    wait_until(lambda: health_status(client) == 200, RECOVERY_TIMEOUT, "health to recover")
    assert client.get("/api/tasks").json() == [SEED]


def test_api_recovers_from_database_outage_without_restarting(
    postgres: PostgresServer,
    database: DatabaseSettings,
    start_client: Callable[[DatabaseSettings], TestClient],
) -> None:
    client = start_client(database)
    before = client.post("/api/tasks", json={"title": "written before the outage"}).json()

    postgres.stop()
    try:
        assert_health_reports_database_down(client)
        refused = client.post("/api/tasks", json={"title": "lost"})
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "5"
    finally:
        postgres.start()

    wait_until(lambda: health_status(client) == 200, RECOVERY_TIMEOUT, "health to recover")
    assert client.get("/api/tasks").json() == [SEED, before]
    after = client.post("/api/tasks", json={"title": "written after"})
    assert after.status_code == 201
    assert client.patch(f"/api/tasks/{before['id']}", json={"done": True}).status_code == 200
    assert client.delete("/api/tasks/1").status_code == 204
    assert client.get("/api/tasks").json() == [{**before, "done": True}, after.json()]


def test_connections_killed_by_a_database_restart_are_replaced_transparently(
    postgres: PostgresServer,
    database: DatabaseSettings,
    start_client: Callable[[DatabaseSettings], TestClient],
) -> None:
    client = start_client(database)
    assert client.get("/api/tasks").status_code == 200  # the pool now holds a connection

    postgres.stop()
    postgres.start()

    # The pooled connection died with the old server; the pool must notice before use.
    response = client.get("/api/tasks")
    assert response.status_code == 200
    assert response.json() == [SEED]


def first_requests_at_once(clients: list[TestClient]) -> list[tuple[int, object]]:
    """GET /api/tasks from every client at the same moment; the answers, in any order."""
    barrier = threading.Barrier(len(clients))
    results: list[tuple[int, object]] = []

    def first_request(client: TestClient) -> None:
        barrier.wait(timeout=10)
        response = client.get("/api/tasks")
        results.append((response.status_code, response.json()))

    threads = [threading.Thread(target=first_request, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


@pytest.mark.parametrize("attempt", range(3))
def test_instances_racing_on_a_new_database_create_it_and_seed_it_once(
    database: DatabaseSettings,
    start_client: Callable[[DatabaseSettings], TestClient],
    attempt: int,
) -> None:
    # Like the two workers (or two replicas) of a fresh deployment hitting a new volume.
    clients = [start_client(database) for _ in range(4)]

    assert first_requests_at_once(clients) == [(200, [SEED])] * len(clients)


def test_health_is_503_when_the_database_answers_but_the_schema_cannot_be_created(
    postgres: PostgresServer, start_client: Callable[[DatabaseSettings], TestClient]
) -> None:
    # Owned by the superuser: the application role may connect but not create tables.
    settings = postgres.create_database(owner="postgres")
    client = start_client(settings)

    assert_health_reports_database_down(client)
