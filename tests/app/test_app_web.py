"""The web side: nginx with the real page and site configuration, and the page in Chromium."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

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
)

UI_TIMEOUT = 15


# --- nginx ---------------------------------------------------------------------------------


def test_docker_server_block_passes_nginx_config_test(tmp_path: Path) -> None:
    # default.conf as the image installs it: in conf.d, including taskapp/site.conf.
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "taskapp").mkdir()
    shutil.copy(WEB_DIR / "nginx" / "default.conf", tmp_path / "conf.d" / "default.conf")
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
