"""Helpers for the Task List app tests: a throwaway PostgreSQL, processes, HTTP, polling.

Everything listens on 127.0.0.1 on free ports and lives in temporary directories. A missing
tool fails the tests with the package to install; nothing is skipped silently.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from taskapp.config import DatabaseSettings

REPO_DIR = Path(__file__).resolve().parents[2]
APP_DIR = REPO_DIR / "app"
API_DIR = APP_DIR / "api"
WEB_DIR = APP_DIR / "web"


POSTGRES_ROOT = Path("/usr/lib/postgresql")
APP_ROLE = "taskapp"
# Quotes and spaces prove that the API quotes its connection string.
APP_PASSWORD = "s3cret with 'quotes' and spaces"
SUPERUSER_PASSWORD = "superuser-test-password"
SEED = {"id": 1, "title": "Apprendre Docker", "done": False}

# Direct connections only: a proxy from the environment must never see test traffic.
_NO_PROXY_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll condition until it holds; fail with `what` when it does not in time."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


@dataclass
class HttpResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> object:
        return json.loads(self.body)


def http_request(
    url: str,
    method: str = "GET",
    payload: object = None,
    timeout: float = 10.0,
    headers: dict[str, str] | None = None,
) -> HttpResponse:
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with _NO_PROXY_OPENER.open(request, timeout=timeout) as response:
            return HttpResponse(response.status, dict(response.headers), response.read())
    except urllib.error.HTTPError as error:
        return HttpResponse(error.code, dict(error.headers), error.read())


def http_status_or_none(url: str) -> int | None:
    """The status of a GET, or None while nothing answers on that address."""
    try:
        return http_request(url, timeout=2.0).status
    except OSError:
        return None


def read_if_exists(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def require_tool(name: str, package_hint: str, extra_dirs: tuple[str, ...] = ()) -> str:
    found = shutil.which(name) or next(
        (str(Path(d) / name) for d in extra_dirs if (Path(d) / name).is_file()), None
    )
    if found is None:
        pytest.fail(f"{name} is required by these tests: {package_hint}", pytrace=False)
    return found


def find_postgres_bin_dir() -> Path:
    """The newest /usr/lib/postgresql/<version>/bin, as Debian's packages lay it out."""
    versions = [
        path.parent
        for path in POSTGRES_ROOT.glob("*/bin/pg_ctl")
        if path.parent.parent.name.isdigit()
    ]
    if not versions:
        pytest.fail(
            f"no PostgreSQL server under {POSTGRES_ROOT}: apt-get install postgresql",
            pytrace=False,
        )
    return max(versions, key=lambda bin_dir: int(bin_dir.parent.name))


class PostgresServer:
    """A throwaway cluster. PostgreSQL refuses to run as root, so root runs it as postgres."""

    def __init__(self, bin_dir: Path, base_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.base_dir = base_dir
        self.data_dir = base_dir / "data"
        self.log_file = base_dir / "postgres.log"
        self.port = free_port()
        self._run_as = "postgres" if os.geteuid() == 0 else None

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", self._run_as, "--"] if self._run_as else []
        result = subprocess.run(
            [*prefix, *command], capture_output=True, text=True, timeout=60, check=False
        )
        if result.returncode != 0:
            log = read_if_exists(self.log_file)
            raise RuntimeError(
                f"{' '.join(command)} failed ({result.returncode}):\n"
                f"{result.stdout}{result.stderr}\n{log[-3000:]}"
            )

    def initdb(self) -> None:
        if self._run_as:
            account = pwd.getpwnam(self._run_as)
            os.chown(self.base_dir, account.pw_uid, account.pw_gid)
        password_file = self.base_dir / "superuser-password"
        password_file.write_text(SUPERUSER_PASSWORD + "\n")
        if self._run_as:
            os.chown(password_file, account.pw_uid, account.pw_gid)
        self._run(
            str(self.bin_dir / "initdb"),
            "--pgdata",
            str(self.data_dir),
            "--username",
            "postgres",
            "--pwfile",
            str(password_file),
            "--auth-local",
            "trust",
            "--auth-host",
            "scram-sha-256",
            "--encoding",
            "UTF8",
            "--no-sync",
        )
        password_file.unlink()

    def start(self) -> None:
        # Durability settings off: a test cluster trades crash safety for speed.
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.base_dir}"
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(
            str(self.bin_dir / "pg_ctl"),
            "--pgdata",
            str(self.data_dir),
            "--log",
            str(self.log_file),
            "--options",
            options,
            "--wait",
            "--timeout",
            "30",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        """Stop the server; "immediate" skips the shutdown checkpoint of a doomed cluster."""
        self._run(
            str(self.bin_dir / "pg_ctl"),
            "--pgdata",
            str(self.data_dir),
            "--mode",
            mode,
            "--wait",
            "stop",
        )

    def is_running(self) -> bool:
        return (self.data_dir / "postmaster.pid").exists()

    def admin_connection(self) -> psycopg.Connection:
        return psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            user="postgres",
            password=SUPERUSER_PASSWORD,
            dbname="postgres",
            autocommit=True,
        )

    def create_app_role(self) -> None:
        with self.admin_connection() as conn:
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(APP_ROLE), sql.Literal(APP_PASSWORD)
                )
            )

    def create_database(self, owner: str = APP_ROLE) -> DatabaseSettings:
        """A new empty database, by default owned by the (unprivileged) application role."""
        name = f"tasks_{uuid.uuid4().hex[:12]}"
        with self.admin_connection() as conn:
            conn.execute(
                # FILE_COPY: with fsync off it is ten times faster than the default WAL_LOG.
                sql.SQL("CREATE DATABASE {} OWNER {} STRATEGY FILE_COPY").format(
                    sql.Identifier(name), sql.Identifier(owner)
                )
            )
        return DatabaseSettings(
            host="127.0.0.1", port=self.port, name=name, user=APP_ROLE, password=APP_PASSWORD
        )


def app_connection(settings: DatabaseSettings) -> psycopg.Connection:
    """A connection as the API's own role, to look at the database past the API."""
    return psycopg.connect(
        host=settings.host,
        port=settings.port,
        dbname=settings.name,
        user=settings.user,
        password=settings.password,
        autocommit=True,
    )


def image_command() -> list[str]:
    """The CMD of app/api/Dockerfile, so the tests run the server exactly as the image does."""
    text = (API_DIR / "Dockerfile").read_text().replace("\\\n", " ")
    cmd_lines = [line for line in text.splitlines() if line.startswith("CMD ")]
    assert len(cmd_lines) == 1, "app/api/Dockerfile must have one exec-form CMD"
    return json.loads(cmd_lines[0].removeprefix("CMD "))


def replace_option(command: list[str], option: str, value: str) -> list[str]:
    index = command.index(option)
    return [*command[: index + 1], value, *command[index + 2 :]]


@dataclass
class ApiServer:
    url: str
    process: subprocess.Popen[bytes]
    log_file: Path
    settings: DatabaseSettings


@contextmanager
def running_api_server(settings: DatabaseSettings, log_dir: Path) -> Iterator[ApiServer]:
    """The image's CMD on a free 127.0.0.1 port, with WEB_CONCURRENCY=2 like the image."""
    port = free_port()
    command = image_command()
    assert command[0] == "python"
    command = [sys.executable, *command[1:]]
    command = replace_option(command, "--host", "127.0.0.1")
    command = replace_option(command, "--port", str(port))
    env = {
        **os.environ,
        "WEB_CONCURRENCY": "2",
        "POSTGRES_HOST": settings.host,
        "POSTGRES_PORT": str(settings.port),
        "POSTGRES_DB": settings.name,
        "POSTGRES_USER": settings.user,
        "POSTGRES_PASSWORD": settings.password,
    }
    log_file = log_dir / "api.log"
    with log_file.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=API_DIR, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    server = ApiServer(f"http://127.0.0.1:{port}", process, log_file, settings)
    try:

        def healthy() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"the API exited early:\n{read_if_exists(log_file)}")
            return http_status_or_none(server.url + "/api/health") == 200

        wait_until(healthy, timeout=30, what="the API server to report healthy")
        yield server
    finally:
        stop_process(process)


def stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def nginx_binary() -> str:
    return require_tool("nginx", "apt-get install nginx", extra_dirs=("/usr/sbin",))


def nginx_test_config(work_dir: Path, port: int, api_url: str) -> str:
    """nginx.conf serving app/web/html through app/web/nginx/site.conf, as the image does.

    Only the parts of default.conf that are Docker's (port 80, Docker's DNS, the api host
    name, the image's document root) are replaced: the upstream block keeps idle connections
    to the API like default.conf's, at a fixed address instead of a name to `resolve`.
    """
    api_address = api_url.removeprefix("http://")
    # As root, workers would otherwise drop to "nobody", which may not read the checkout.
    user = "user root;" if os.geteuid() == 0 else ""
    temp_paths = "\n".join(
        f"    {kind}_temp_path {work_dir / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""
{user}
worker_processes 1;
pid {work_dir / "nginx.pid"};
error_log {work_dir / "error.log"};
events {{ worker_connections 64; }}
http {{
    types {{ text/html html; text/css css; application/javascript js; }}
    default_type application/octet-stream;
    access_log {work_dir / "access.log"};
{temp_paths}
    upstream taskapp_api {{
        server {api_address};
        keepalive 16;
        keepalive_timeout 4s;
    }}
    server {{
        listen 127.0.0.1:{port};
        set $api_upstream http://taskapp_api;
        root {WEB_DIR / "html"};
        include {WEB_DIR / "nginx" / "site.conf"};
    }}
}}
"""


@dataclass
class WebServer:
    url: str
    port: int
    process: subprocess.Popen[bytes]


@contextmanager
def running_web_server(api_url: str, work_dir: Path) -> Iterator[WebServer]:
    port = free_port()
    config = work_dir / "nginx.conf"
    config.write_text(nginx_test_config(work_dir, port, api_url))
    error_log, stderr_log = work_dir / "error.log", work_dir / "stderr.log"
    command = [nginx_binary(), "-p", str(work_dir), "-c", str(config), "-e", str(error_log)]
    with stderr_log.open("wb") as stderr:
        process = subprocess.Popen(
            [*command, "-g", "daemon off;"], stdout=subprocess.DEVNULL, stderr=stderr
        )
    server = WebServer(f"http://127.0.0.1:{port}", port, process)
    try:

        def serving() -> bool:
            if process.poll() is not None:
                output = read_if_exists(stderr_log) + read_if_exists(error_log)
                raise AssertionError(f"nginx exited early:\n{output}")
            return http_status_or_none(server.url + "/healthz") == 200

        wait_until(serving, timeout=15, what="nginx to serve /healthz")
        yield server
    finally:
        stop_process(process)


CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-proxy-server",
    "--window-size=1024,768",
]


def headless_chromium(profile: Path):
    """Debian's Chromium, headless, with a new empty profile; nothing is downloaded."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile.mkdir(parents=True, exist_ok=True)
    options = webdriver.ChromeOptions()
    options.binary_location = require_tool("chromium", "apt-get install chromium")
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    # A driver path given to Service keeps Selenium Manager from downloading anything.
    service = Service(
        executable_path=require_tool("chromedriver", "apt-get install chromium-driver"),
        log_output=str(profile / "driver.log"),
    )
    return webdriver.Chrome(options=options, service=service)
