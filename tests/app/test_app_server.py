"""The API served as the image serves it: its CMD, uvicorn with two worker processes."""

from __future__ import annotations

import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import yaml
from taskapp_testing import (
    APP_DIR,
    SEED,
    ApiServer,
    PostgresServer,
    free_port,
    http_request,
    read_if_exists,
    wait_until,
)


def started_workers(server: ApiServer) -> set[str]:
    """Process ids that uvicorn logged as started serving."""
    log = read_if_exists(server.log_file)
    return set(re.findall(r"Started server process \[(\d+)\]", log))


def compose_healthcheck(service: str) -> list[str]:
    compose = yaml.safe_load((APP_DIR / "compose.yaml").read_text())
    test = compose["services"][service]["healthcheck"]["test"]
    assert test[0] == "CMD", f"{service}'s healthcheck should be an exec-form CMD"
    return test[1:]


def api_healthcheck_for(url: str) -> list[str]:
    """The api healthcheck of compose.yaml, aimed at `url` instead of the container's port."""
    command = compose_healthcheck("api")
    script = command[-1]
    assert "http://127.0.0.1:8000/api/health" in script
    return [*command[:-1], script.replace("http://127.0.0.1:8000", url)]


def run_healthcheck(command: list[str]) -> int:
    # The image's python is plain "python"; here the venv's interpreter stands in for it.
    assert command[0] == "python"
    return subprocess.run(
        [sys.executable, *command[1:]], capture_output=True, timeout=30, check=False
    ).returncode


def test_image_command_serves_the_api_with_two_workers(api_server: ApiServer) -> None:
    wait_until(lambda: len(started_workers(api_server)) >= 2, 15, "two workers to start")
    assert len(started_workers(api_server)) == 2

    with ThreadPoolExecutor(max_workers=8) as pool:
        urls = [api_server.url + "/api/tasks"] * 32
        responses = list(pool.map(http_request, urls))
    assert {response.status for response in responses} == {200}
    assert SEED in responses[0].json()
    assert all(response.json() == responses[0].json() for response in responses)


def test_crud_over_http(api_server: ApiServer) -> None:
    tasks_url = api_server.url + "/api/tasks"

    created = http_request(tasks_url, "POST", {"title": "over real HTTP"})
    assert created.status == 201
    task_url = f"{tasks_url}/{created.json()['id']}"
    updated = http_request(task_url, "PATCH", {"done": True})
    assert updated.json() == {**created.json(), "done": True}
    assert updated.json() in http_request(tasks_url).json()
    assert http_request(task_url, "DELETE").status == 204
    assert http_request(task_url, "DELETE").status == 404


def test_compose_api_healthcheck_follows_database_health(
    postgres: PostgresServer, api_server: ApiServer
) -> None:
    healthcheck = api_healthcheck_for(api_server.url)

    assert run_healthcheck(healthcheck) == 0

    postgres.stop()
    try:
        assert run_healthcheck(healthcheck) != 0
    finally:
        postgres.start()
    wait_until(lambda: run_healthcheck(healthcheck) == 0, 30, "the healthcheck to pass again")


def test_compose_api_healthcheck_fails_when_nothing_listens() -> None:
    assert run_healthcheck(api_healthcheck_for(f"http://127.0.0.1:{free_port()}")) != 0
