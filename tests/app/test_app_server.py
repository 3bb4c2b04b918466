"""The API served as the image serves it: its CMD, uvicorn with two worker processes."""

from __future__ import annotations

import re
import subprocess
from concurrent.futures import ThreadPoolExecutor

import yaml
from taskapp_testing import (
    APP_DIR,
    SEED,
    ApiServer,
    HttpResponse,
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


def api_healthcheck_for(port: int) -> list[str]:
    """The api healthcheck of compose.yaml, aimed at `port` instead of the container's 8000."""
    command = compose_healthcheck("api")
    script = command[-1]
    assert "/dev/tcp/127.0.0.1/8000 " in script
    return [
        *command[:-1],
        script.replace("/dev/tcp/127.0.0.1/8000 ", f"/dev/tcp/127.0.0.1/{port} "),
    ]


def run_healthcheck(command: list[str]) -> int:
    return subprocess.run(command, capture_output=True, timeout=30, check=False).returncode


def port_of(server: ApiServer) -> int:
    return int(server.url.rsplit(":", 1)[1])


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
    healthcheck = api_healthcheck_for(port_of(api_server))

    assert run_healthcheck(healthcheck) == 0

    postgres.stop()
    try:
        assert run_healthcheck(healthcheck) != 0
    finally:
        postgres.start()
    wait_until(lambda: run_healthcheck(healthcheck) == 0, 30, "the healthcheck to pass again")


def test_compose_api_healthcheck_fails_when_nothing_listens() -> None:
    assert run_healthcheck(api_healthcheck_for(free_port())) != 0


def test_compose_api_healthcheck_is_a_cheap_http_probe() -> None:
    # Docker runs it every 10 s inside the container, next to the requests: a new Python
    # interpreter per probe cost ~120 ms of CPU there, bash's /dev/tcp ~20 ms.
    command = compose_healthcheck("api")

    assert command[0] == "bash"
    assert "python" not in " ".join(command)
    assert "GET /api/health HTTP/1.0" in command[-1]


def test_no_line_is_logged_per_request(api_server: ApiServer) -> None:
    # An earlier test of this module may have restarted the database: the 503's warning would
    # name the URL too. Each worker reconnects on its own, so one answer is not enough: several
    # in a row, which the kernel spreads over both workers.
    wait_until(
        lambda: all(http_request(api_server.url + "/api/tasks").status == 200 for _ in range(8)),
        30,
        "both workers of the API to serve",
    )
    marker = "/api/tasks?access-log-probe"
    for _ in range(4):
        assert http_request(api_server.url + marker).status == 200
    assert http_request(api_server.url + "/api/tasks/0", "DELETE").status == 404

    log = read_if_exists(api_server.log_file)
    assert "access-log-probe" not in log
    assert "/api/tasks/0" not in log
    # uvicorn's own messages (start-up, errors) still reach the log.
    assert "Started server process" in log


def test_etag_is_the_same_in_both_workers_and_a_write_changes_it(api_server: ApiServer) -> None:
    tasks_url = api_server.url + "/api/tasks"
    created = http_request(tasks_url, "POST", {"title": "etag across workers"}).json()

    with ThreadPoolExecutor(max_workers=8) as pool:
        etags = {response.headers["etag"] for response in pool.map(http_request, [tasks_url] * 32)}
    assert len(etags) == 1
    (etag,) = etags

    assert http_request(f"{tasks_url}/{created['id']}", "PATCH", {"done": True}).status == 200
    # Whichever worker answers, none holds the old list: each request reads the database.
    with ThreadPoolExecutor(max_workers=8) as pool:
        after = list(pool.map(lambda _: revalidate(tasks_url, etag), range(32)))
    assert {response.status for response in after} == {200}
    assert all({**created, "done": True} in response.json() for response in after)


def revalidate(url: str, etag: str) -> HttpResponse:
    return http_request(url, headers={"If-None-Match": etag})


def test_revalidation_answers_304_over_http(api_server: ApiServer) -> None:
    tasks_url = api_server.url + "/api/tasks"
    etag = http_request(tasks_url).headers["etag"]

    response = revalidate(tasks_url, etag)

    assert (response.status, response.body) == (304, b"")
