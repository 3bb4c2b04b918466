"""The schema is created by a migration step at start-up, never by a request."""

from __future__ import annotations

import threading

from fastapi.testclient import TestClient
from taskapp.config import DatabaseSettings
from taskapp.db import SEED_TASK_TITLE, migrate
from taskapp.main import create_app
from taskapp_testing import SEED, app_connection


def table_titles(settings: DatabaseSettings) -> list[str] | None:
    """The titles in the tasks table, read past the API; None while there is no such table."""
    with app_connection(settings) as conn:
        if conn.execute("SELECT to_regclass('tasks')").fetchone() == (None,):
            return None
        return [row[0] for row in conn.execute("SELECT title FROM tasks ORDER BY id")]


def test_the_tables_exist_before_the_first_request(database: DatabaseSettings) -> None:
    assert table_titles(database) is None  # a new database: nothing yet
    app = create_app(database)

    with TestClient(app):  # start-up (the lifespan) ran; no request has been made
        assert table_titles(database) == [SEED_TASK_TITLE]


def test_a_restart_keeps_the_data(database: DatabaseSettings) -> None:
    with TestClient(create_app(database)) as first_run:
        kept = first_run.post("/api/tasks", json={"title": "kept"}).json()
        first_run.patch("/api/tasks/1", json={"done": True})

    # The first process has shut down; the second one runs the migration step again.
    with TestClient(create_app(database)) as second_run:
        assert second_run.get("/api/tasks").json() == [{**SEED, "done": True}, kept]


def test_the_migration_step_is_idempotent(database: DatabaseSettings) -> None:
    with app_connection(database) as conn:
        migrate(conn)
        conn.execute("INSERT INTO tasks (title) VALUES ('added between two runs')")
        migrate(conn)
        migrate(conn)

    assert table_titles(database) == [SEED_TASK_TITLE, "added between two runs"]


def test_processes_starting_together_migrate_a_new_database_once(
    database: DatabaseSettings,
) -> None:
    # Like uvicorn's two workers, or replicas, started at the same moment on a new volume:
    # every start-up runs the migration step at once, and each must end up serving.
    starts = 6
    barrier = threading.Barrier(starts)
    clients: list[TestClient] = []
    errors: list[BaseException] = []

    def start() -> None:
        client = TestClient(create_app(database))
        barrier.wait(timeout=10)
        try:
            client.__enter__()
            clients.append(client)
        except BaseException as error:  # reported below, with the other threads' outcome
            errors.append(error)

    threads = [threading.Thread(target=start) for _ in range(starts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    try:
        assert errors == []
        assert len(clients) == starts
        assert [c.get("/api/tasks").json() for c in clients] == [[SEED]] * starts
    finally:
        for client in clients:
            client.__exit__(None, None, None)
