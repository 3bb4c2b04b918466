"""The web side: nginx with the real page and site configuration, and the page in Chromium."""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
import yaml
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from taskapp_testing import (
    APP_DIR,
    SEED,
    WEB_DIR,
    ApiServer,
    WebServer,
    free_port,
    headless_chromium,
    http_request,
    nginx_binary,
    running_web_server,
)

UI_TIMEOUT = 15


# --- nginx ---------------------------------------------------------------------------------


def nginx_version() -> str:
    result = subprocess.run([nginx_binary(), "-v"], capture_output=True, text=True, timeout=30)
    return result.stderr.strip()


def pick_server_block(version_output: str) -> subprocess.CompletedProcess[str]:
    """web/Dockerfile's choice of server block for an nginx that says `version_output`."""
    return subprocess.run(
        ["sh", str(WEB_DIR / "nginx" / "pick-server-block.sh"), version_output],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize(
    ("version", "server_block"),
    [
        ("1.22.1", "default-legacy.conf"),
        ("1.26.3", "default-legacy.conf"),
        ("1.27.2", "default-legacy.conf"),
        ("1.27.3", "default.conf"),
        ("1.27.5", "default.conf"),
        ("1.30.6", "default.conf"),
        ("1.100.0", "default.conf"),
        ("2.0.0", "default.conf"),
    ],
)
def test_image_keeps_connections_to_the_api_from_nginx_1_27_3_on(
    version: str, server_block: str
) -> None:
    result = pick_server_block(f"nginx version: nginx/{version}\n")

    assert (result.returncode, result.stdout.strip()) == (0, server_block)


def test_server_block_choice_fails_on_an_unreadable_version() -> None:
    assert pick_server_block("bash: nginx: command not found").returncode != 0


def test_dockerfile_installs_the_picked_server_block() -> None:
    dockerfile = (WEB_DIR / "Dockerfile").read_text()

    assert 'sh pick-server-block.sh "$(nginx -v 2>&1)"' in dockerfile
    assert 'mv "$conf" /etc/nginx/conf.d/default.conf' in dockerfile
    assert dockerfile.rstrip().splitlines()[-1] == "EXPOSE 80"
    assert " && nginx -t\n" in dockerfile


def local_nginx_supports_resolve() -> bool:
    return pick_server_block(nginx_version()).stdout.strip() == "default.conf"


@pytest.mark.parametrize("server_block", ["default.conf", "default-legacy.conf"])
def test_docker_server_block_passes_nginx_config_test(tmp_path: Path, server_block: str) -> None:
    # The server block as the image installs it: in conf.d, including taskapp/site.conf.
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "taskapp").mkdir()
    text = (WEB_DIR / "nginx" / server_block).read_text()
    if server_block == "default.conf" and not local_nginx_supports_resolve():
        # This nginx predates `resolve` (1.27.3): everything else is checked, with the api at
        # a fixed address, which nginx -t does not need to reach.
        assert "server api:8000 resolve;" in text
        text = text.replace("server api:8000 resolve;", "server 127.0.0.1:8000;")
    (tmp_path / "conf.d" / "default.conf").write_text(text)
    shutil.copy(WEB_DIR / "nginx" / "site.conf", tmp_path / "taskapp" / "site.conf")
    temp_paths = " ".join(
        f"{kind}_temp_path {tmp_path / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path / 'nginx.pid'};\nevents {{}}\n"
        f"http {{ {temp_paths} include conf.d/default.conf; }}\n"
    )

    config, error_log = tmp_path / "nginx.conf", tmp_path / "error.log"
    result = subprocess.run(
        [nginx_binary(), "-t", "-p", str(tmp_path), "-c", str(config), "-e", str(error_log)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert result.returncode == 0, result.stderr


class _PeerRecorder(BaseHTTPRequestHandler):
    """An HTTP/1.1 stand-in for the API that notes the client port of every request."""

    protocol_version = "HTTP/1.1"
    peers: ClassVar[list[int]] = []

    def do_GET(self) -> None:
        self.peers.append(self.client_address[1])
        body = b"[]"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


def test_nginx_reuses_its_connection_to_the_api(tmp_path: Path) -> None:
    # site.conf must not send "Connection: close" to the API, or the upstream's keepalive
    # (default.conf, and the test server block) would keep nothing open.
    _PeerRecorder.peers = []
    with ThreadingHTTPServer(("127.0.0.1", 0), _PeerRecorder) as api:
        threading.Thread(target=api.serve_forever, daemon=True).start()
        try:
            api_url = f"http://127.0.0.1:{api.server_address[1]}"
            with running_web_server(api_url, tmp_path) as web:
                for _ in range(10):
                    assert http_request(web.url + "/api/tasks").status == 200
        finally:
            api.shutdown()

    assert len(_PeerRecorder.peers) == 10
    assert len(set(_PeerRecorder.peers)) == 1


def test_nginx_serves_the_page_with_security_headers(web_server: WebServer) -> None:
    page = http_request(web_server.url + "/")

    assert page.status == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert b"<title>Task List</title>" in page.body
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["Cache-Control"] == "no-cache"
    script = http_request(web_server.url + "/app.js")
    assert script.status == 200
    assert script.headers["Content-Type"].startswith("application/javascript")
    assert http_request(web_server.url + "/no-such-file").status == 404


def test_nginx_proxies_the_api_under_api(web_server: WebServer) -> None:
    tasks_url = web_server.url + "/api/tasks"

    created = http_request(tasks_url, "POST", {"title": "through nginx"})

    assert created.status == 201
    assert created.json() in http_request(tasks_url).json()
    assert http_request(f"{tasks_url}/{created.json()['id']}", "DELETE").status == 204
    assert http_request(web_server.url + "/api/openapi.json").status == 200
    health = http_request(web_server.url + "/api/health")
    assert health.json() == {"status": "ok", "database": "up"}


def test_nginx_refuses_oversized_bodies_before_the_api(web_server: WebServer) -> None:
    response = http_request(web_server.url + "/api/tasks", "POST", {"title": "x" * 20_000})

    assert response.status == 413


def web_healthcheck_for(port: int) -> list[str]:
    """The web healthcheck of compose.yaml, aimed at `port` instead of the container's 80."""
    compose = yaml.safe_load((APP_DIR / "compose.yaml").read_text())
    test = compose["services"]["web"]["healthcheck"]["test"]
    assert test[0] == "CMD"
    script = test[-1]
    assert "/dev/tcp/127.0.0.1/80 " in script
    return [*test[1:-1], script.replace("/dev/tcp/127.0.0.1/80 ", f"/dev/tcp/127.0.0.1/{port} ")]


def run_command(command: list[str]) -> int:
    return subprocess.run(command, capture_output=True, timeout=30, check=False).returncode


def test_compose_web_healthcheck_passes_against_nginx(web_server: WebServer) -> None:
    assert run_command(web_healthcheck_for(web_server.port)) == 0


def test_compose_web_healthcheck_fails_when_nothing_listens() -> None:
    assert run_command(web_healthcheck_for(free_port())) != 0


# --- the page in Chromium ------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    driver = headless_chromium(tmp_path_factory.mktemp("chromium-profile"))
    try:
        yield driver
    finally:
        driver.quit()


def page_tasks(driver: webdriver.Chrome) -> list[tuple[str, bool]]:
    """(title, ticked) of every task on the page, read in one go so nothing goes stale."""
    rows = driver.execute_script(
        "return Array.from(document.querySelectorAll('#task-list li.task')).map(li =>"
        " [li.querySelector('label').textContent,"
        "  li.querySelector('input[type=checkbox]').checked]);"
    )
    return [(title, done) for title, done in rows]


def wait_for(driver: webdriver.Chrome, condition: Callable[[], bool], what: str) -> None:
    WebDriverWait(driver, UI_TIMEOUT, poll_frequency=0.05).until(
        lambda _: condition(), message=f"waiting for {what}"
    )


def body_state(driver: webdriver.Chrome) -> str | None:
    """ "loading" while the page waits for the API, then "ready" or "error"."""
    return driver.find_element(By.TAG_NAME, "body").get_attribute("data-state")


def wait_for_tasks(driver: webdriver.Chrome, expected: list[tuple[str, bool]]) -> None:
    def settled() -> bool:
        return body_state(driver) == "ready" and page_tasks(driver) == expected

    try:
        wait_for(driver, settled, f"the page to show {expected}")
    except Exception as error:
        raise AssertionError(f"page shows {page_tasks(driver)}, wanted {expected}") from error


def task_control(driver: webdriver.Chrome, title: str, action: str):
    """The checkbox ("toggle") or button ("delete") of the task with this title."""
    for item in driver.find_elements(By.CSS_SELECTOR, "#task-list li.task"):
        if item.find_element(By.TAG_NAME, "label").text == title:
            return item.find_element(By.CSS_SELECTOR, f"[data-action='{action}']")
    raise AssertionError(f"no task titled {title!r} on the page")


def message_text(driver: webdriver.Chrome) -> str:
    return driver.find_element(By.ID, "message").text


def delete_every_task(api_url: str) -> None:
    """A known starting point for a test that shares its API with the module's others."""
    for task in http_request(api_url + "/api/tasks").json():
        assert http_request(f"{api_url}/api/tasks/{task['id']}", "DELETE").status == 204


def add_task_on_page(driver: webdriver.Chrome, title: str) -> None:
    driver.find_element(By.ID, "new-task-title").send_keys(title)
    driver.find_element(By.ID, "add-task-button").click()


def test_page_of_a_new_database_shows_the_seeded_task(
    web_server: WebServer, browser: webdriver.Chrome
) -> None:
    # No test above this one in the module deletes the seed; the tests below may.
    browser.get(web_server.url + "/")

    assert browser.title == "Task List"
    wait_for(browser, lambda: (SEED["title"], False) in page_tasks(browser), "the seed")


def test_person_adds_ticks_and_deletes_tasks_and_state_survives_reload(
    api_server: ApiServer, web_server: WebServer, browser: webdriver.Chrome
) -> None:
    delete_every_task(api_server.url)
    # Markup in a title must show as text, never be interpreted.
    first, second = "Écrire <b>les</b> tests", "Ranger le bureau"

    browser.get(web_server.url + "/")
    wait_for_tasks(browser, [])
    assert browser.find_element(By.ID, "empty-state").is_displayed()

    add_task_on_page(browser, f"  {first}  ")
    wait_for_tasks(browser, [(first, False)])
    assert browser.find_element(By.ID, "new-task-title").get_attribute("value") == ""
    assert message_text(browser) == "Task added."
    assert not browser.find_element(By.ID, "empty-state").is_displayed()
    add_task_on_page(browser, second)
    wait_for_tasks(browser, [(first, False), (second, False)])

    task_control(browser, first, "toggle").click()
    wait_for_tasks(browser, [(first, True), (second, False)])

    task_control(browser, second, "delete").click()
    wait_for_tasks(browser, [(first, True)])

    browser.refresh()
    wait_for_tasks(browser, [(first, True)])
    stored = http_request(api_server.url + "/api/tasks").json()
    assert [(task["title"], task["done"]) for task in stored] == [(first, True)]

    task_control(browser, first, "toggle").click()
    wait_for_tasks(browser, [(first, False)])
    task_control(browser, first, "delete").click()
    wait_for_tasks(browser, [])
    browser.refresh()
    wait_for_tasks(browser, [])
    assert browser.find_element(By.ID, "empty-state").is_displayed()


def test_page_shows_the_api_reason_when_a_title_is_refused(
    web_server: WebServer, browser: webdriver.Chrome
) -> None:
    browser.get(web_server.url + "/")
    wait_for(browser, lambda: body_state(browser) == "ready", "the page to load")
    before = page_tasks(browser)

    # Spaces pass the input's "required" check but not the API's trimmed 1..200 rule.
    add_task_on_page(browser, "   ")

    wait_for(browser, lambda: "title must be 1 to 200" in message_text(browser), "the error")
    assert "error" in browser.find_element(By.ID, "message").get_attribute("class")
    assert page_tasks(browser) == before
