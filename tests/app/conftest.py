"""Fixtures for the Task List app tests: a real PostgreSQL, the API, and nginx in front."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

# Neither the API package nor the helpers beside this file are installed: put both on the
# path, whatever pytest's import mode. The image, too, runs the API from its source folder.
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "app" / "api"))

from fastapi.testclient import TestClient
from taskapp.config import DatabaseSettings
from taskapp.main import create_app
from taskapp_testing import (
    ApiServer,
    PostgresServer,
    WebServer,
    find_postgres_bin_dir,
    require_tool,
    running_api_server,
    running_web_server,
)

# --- PostgreSQL ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    bin_dir = find_postgres_bin_dir()
    if os.geteuid() == 0:
        require_tool("runuser", "apt-get install util-linux")
    base_dir = Path(tempfile.mkdtemp(prefix="taskapp-pg-"))
    server = PostgresServer(bin_dir, base_dir)
    try:
        server.initdb()
        server.start()
        server.create_app_role()
        yield server
    finally:
        if server.is_running():
            server.stop(mode="immediate")
        shutil.rmtree(base_dir, ignore_errors=True)


@pytest.fixture
def database(postgres: PostgresServer) -> Iterator[DatabaseSettings]:
    """Settings for a brand-new database: each test starts from what a new volume holds.

    Not dropped afterwards: the whole cluster is thrown away at the end of the session, and a
    DROP DATABASE costs a checkpoint.
    """
    yield postgres.create_database()
    if not postgres.is_running():  # a test that stopped the server failed before restarting it
        postgres.start()


# --- the API in process --------------------------------------------------------------------


@pytest.fixture
def start_client() -> Iterator[Callable[[DatabaseSettings], TestClient]]:
    """Start API instances (lifespan included); each is shut down at the end of the test."""
    with ExitStack() as stack:

        def start(settings: DatabaseSettings) -> TestClient:
            return stack.enter_context(TestClient(create_app(settings)))

        yield start


@pytest.fixture
def client(start_client: Callable[[DatabaseSettings], TestClient], database: DatabaseSettings):
    return start_client(database)


# --- the API as the image runs it, and nginx in front of it -------------------------------
# One stack per test module: starting uvicorn's workers and nginx costs seconds, so the tests
# of a module share them and are written not to depend on each other's tasks.


@pytest.fixture(scope="module")
def api_server(
    postgres: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiServer]:
    """The image's command (uvicorn, two workers) on a free port, with its own database."""
    settings = postgres.create_database()
    with running_api_server(settings, tmp_path_factory.mktemp("api")) as server:
        yield server


@pytest.fixture(scope="module")
def web_server(
    api_server: ApiServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WebServer]:
    """nginx with the real page and site configuration, proxying /api/ to api_server."""
    with running_web_server(api_server.url, tmp_path_factory.mktemp("nginx")) as server:
        yield server
