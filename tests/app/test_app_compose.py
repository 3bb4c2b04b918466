"""app/compose.yaml: validated by `docker compose config`, which needs no Docker engine."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from taskapp_testing import APP_DIR, REPO_DIR, PostgresServer, free_port

COMPOSE_FILE = APP_DIR / "compose.yaml"
MIB = 1024 * 1024
# t3.micro: 1 GiB in all, and Docker, containerd and the OS need what the services leave.
MEMORY_BUDGET = 512 * MIB
INSTALL_HINT = (
    "Docker Compose v2 is required to validate app/compose.yaml (`docker compose config` "
    "needs no engine). Install it: Debian 13 `apt-get install docker-compose`, Ubuntu "
    "`apt-get install docker-compose-v2`, Docker's repository `docker-compose-plugin`."
)


def compose_major_version(command: list[str]) -> int | None:
    try:
        result = subprocess.run(
            [*command, "version", "--short"], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.match(r"v?(\d+)\.", result.stdout.strip())
    return int(match.group(1)) if result.returncode == 0 and match else None


@pytest.fixture(scope="module")
def compose() -> list[str]:
    """The Compose v2 command line: the docker CLI plugin, or a standalone v2 binary."""
    for command in (["docker", "compose"], ["docker-compose"]):
        if shutil.which(command[0]) and (compose_major_version(command) or 0) >= 2:
            return command
    pytest.fail(INSTALL_HINT, pytrace=False)


def clean_env() -> dict[str, str]:
    # The caller's own TASKAPP_* or POSTGRES_* must not leak into what is validated.
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TASKAPP_", "POSTGRES_", "COMPOSE_"))
    }


def compose_config(
    compose: list[str], env_file: Path, *extra_args: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*compose, "--file", str(COMPOSE_FILE), "--env-file", str(env_file), "config", *extra_args],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(),
        check=False,
    )


def resolved_services(compose: list[str], env_file: Path) -> dict:
    result = compose_config(compose, env_file, "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["services"]


@pytest.fixture
def example_env(tmp_path: Path) -> Path:
    """app/.env.example copied as a user is told to, outside the checkout."""
    env_file = tmp_path / "app.env"
    shutil.copy(APP_DIR / ".env.example", env_file)
    return env_file


def test_compose_file_is_valid_with_the_example_env_file(
    compose: list[str], example_env: Path
) -> None:
    services = resolved_services(compose, example_env)

    assert set(services) == {"db", "api", "web"}


def test_every_service_restarts_rotates_logs_and_has_a_healthcheck(
    compose: list[str], example_env: Path
) -> None:
    for name, service in resolved_services(compose, example_env).items():
        assert service["restart"] == "unless-stopped", name
        assert service["logging"]["driver"] == "json-file", name
        assert {"max-size", "max-file"} <= set(service["logging"]["options"]), name
        assert service["healthcheck"]["test"], name


def test_every_healthcheck_probes_each_second_while_the_service_starts(
    compose: list[str], example_env: Path
) -> None:
    """`up --wait` (the deploy) returns when the last service turns healthy: with the normal
    interval alone, the first probe of each service came 5 to 10 s after it was ready."""
    for name, service in resolved_services(compose, example_env).items():
        check = service["healthcheck"]
        assert check.get("start_interval") == "1s", (name, check)
        assert check.get("start_period"), (name, check)


def test_memory_limits_fit_a_t3_micro(compose: list[str], example_env: Path) -> None:
    limits = {
        name: int(service["mem_limit"])
        for name, service in resolved_services(compose, example_env).items()
    }

    assert limits == {"db": 256 * MIB, "api": 192 * MIB, "web": 64 * MIB}
    assert sum(limits.values()) <= MEMORY_BUDGET


def test_database_is_private_and_keeps_its_data_in_a_named_volume(
    compose: list[str], example_env: Path
) -> None:
    db = resolved_services(compose, example_env)["db"]

    assert "ports" not in db
    volume = db["volumes"][0]
    assert (volume["type"], volume["source"]) == ("volume", "db-data")
    assert volume["target"] == "/var/lib/postgresql/data"
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])


def test_api_waits_for_a_healthy_database_and_publishes_8000(
    compose: list[str], example_env: Path
) -> None:
    api = resolved_services(compose, example_env)["api"]

    assert api["depends_on"]["db"]["condition"] == "service_healthy"
    assert [(p["target"], p["published"]) for p in api["ports"]] == [(8000, "8000")]
    assert api["environment"]["POSTGRES_HOST"] == "db"


def test_web_publishes_80(compose: list[str], example_env: Path) -> None:
    web = resolved_services(compose, example_env)["web"]

    assert [(p["target"], p["published"]) for p in web["ports"]] == [(80, "80")]


def test_credentials_come_from_the_env_file(compose: list[str], tmp_path: Path) -> None:
    env_file = tmp_path / "app.env"
    env_file.write_text("POSTGRES_DB=d1\nPOSTGRES_USER=u1\nPOSTGRES_PASSWORD=p-from-file\n")

    services = resolved_services(compose, env_file)

    expected = {"POSTGRES_DB": "d1", "POSTGRES_USER": "u1", "POSTGRES_PASSWORD": "p-from-file"}
    for name in ("db", "api"):
        assert expected.items() <= services[name]["environment"].items(), name
    assert "environment" not in services["web"]


def test_missing_password_stops_compose_with_a_message(compose: list[str], tmp_path: Path) -> None:
    env_file = tmp_path / "app.env"
    env_file.write_text("POSTGRES_DB=tasks\nPOSTGRES_USER=taskapp\n")

    result = compose_config(compose, env_file)

    assert result.returncode != 0
    assert "POSTGRES_PASSWORD" in result.stderr
    assert "set it in app/.env" in result.stderr


def test_official_images_by_default(compose: list[str], example_env: Path) -> None:
    services = resolved_services(compose, example_env)

    assert services["db"]["image"] == "postgres:17"
    assert services["api"]["build"]["args"] == {"PYTHON_IMAGE": "python:3.13-slim"}
    assert services["web"]["build"]["args"] == {"NGINX_IMAGE": "nginx:1.27"}


def kit_image_env() -> dict[str, str]:
    """The env file entries the embedded default writes: the image kit's stand-ins."""
    names = subprocess.run(
        ["bash", str(REPO_DIR / "tests" / "images" / "build.sh"), "--names"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return json.loads(names.stdout)["env"]


def test_image_variables_replace_every_base_image(compose: list[str], example_env: Path) -> None:
    kit = kit_image_env()
    with example_env.open("a") as env_file:
        env_file.writelines(f"{key}={value}\n" for key, value in kit.items())
        env_file.write("TASKAPP_PUBLISH_IP=127.0.0.1\n")

    services = resolved_services(compose, example_env)

    assert services["db"]["image"] == kit["TASKAPP_POSTGRES_IMAGE"]
    assert services["api"]["build"]["args"] == {"PYTHON_IMAGE": kit["TASKAPP_PYTHON_IMAGE"]}
    assert services["web"]["build"]["args"] == {"NGINX_IMAGE": kit["TASKAPP_NGINX_IMAGE"]}
    assert {p["host_ip"] for s in ("api", "web") for p in services[s]["ports"]} == {"127.0.0.1"}


@pytest.mark.parametrize(("folder", "arg"), [("api", "PYTHON_IMAGE"), ("web", "NGINX_IMAGE")])
def test_dockerfiles_take_their_base_image_from_compose(folder: str, arg: str) -> None:
    # No default in the Dockerfile: compose.yaml stays the one place that names images.
    lines = (APP_DIR / folder / "Dockerfile").read_text().splitlines()

    assert f"ARG {arg}" in lines
    assert [line for line in lines if line.startswith("FROM ")] == [f"FROM ${{{arg}}}"]


def test_env_file_is_git_ignored() -> None:
    ignored = (REPO_DIR / ".gitignore").read_text().splitlines()

    assert "app/.env" in ignored


def db_healthcheck_for(postgres: PostgresServer, port: int) -> list[str]:
    """compose.yaml's db healthcheck as the container's shell would run it, on `port`."""
    test = yaml.safe_load(COMPOSE_FILE.read_text())["services"]["db"]["healthcheck"]["test"]
    assert test[0] == "CMD-SHELL"
    # "$$" is Compose's escape for a "$" left to the container's shell.
    script = test[1].replace("$$", "$").replace("-h 127.0.0.1", f"-h 127.0.0.1 -p {port}")
    return ["sh", "-c", f'PATH="{postgres.bin_dir}:$PATH"; {script}']


def test_db_healthcheck_tells_a_running_postgres_from_none(postgres: PostgresServer) -> None:
    env = {**clean_env(), "POSTGRES_USER": "taskapp", "POSTGRES_DB": "postgres"}

    def run(command: list[str]) -> int:
        return subprocess.run(command, env=env, capture_output=True, timeout=30).returncode

    assert run(db_healthcheck_for(postgres, postgres.port)) == 0
    assert run(db_healthcheck_for(postgres, free_port())) != 0
