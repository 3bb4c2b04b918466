"""The running stack, seen from outside as a user sees it (Molecule's verify step).

These tests need the scenario's stack (molecule/default: `make test-stack`); they are not
collected by the project's plain `pytest` run.
"""

from __future__ import annotations

import shutil
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

SCENARIO_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = SCENARIO_DIR.parents[1]
sys.path[:0] = [
    str(REPO_ROOT / "embedded"),
    str(REPO_ROOT / "tests" / "app"),
    str(REPO_ROOT / "app" / "api"),
]

# E402 below: these modules are found only through the sys.path entries just added.
import harness  # noqa: E402  (embedded/harness.py)
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402
from taskapp_testing import headless_chromium, http_request  # noqa: E402

# The scenario's stack: the emulator and the ports that molecule/default's create step started.
STACK = harness.Stack.of_profile("molecule")
WEB = harness.PROFILES["molecule"].web_url
API = harness.PROFILES["molecule"].api_url
SEED = {"id": 1, "title": "Apprendre Docker", "done": False}


def titles(base_url: str) -> list[str]:
    response = http_request(f"{base_url}/api/tasks")
    assert response.status == 200
    return [task["title"] for task in response.json()]


def test_the_page_answers_on_the_published_web_port():
    response = http_request(f"{WEB}/")
    assert response.status == 200
    assert b"<title>Task List</title>" in response.body


def test_the_seed_task_is_served_through_both_ports():
    for base_url in (API, WEB):  # the API directly, and through the web server's /api/ proxy
        tasks = http_request(f"{base_url}/api/tasks").json()
        assert SEED in tasks, base_url


def test_the_tag_audit_is_clean_and_the_budget_exists():
    audit = STACK.runner.playbook("playbooks/audit.yml")
    assert audit.returncode == 0, audit.stdout[-3000:]
    assert "tagging rules: 0 violation(s)" in audit.stdout
    budget = STACK.emulator.client("budgets", "us-east-1").describe_budget(
        AccountId="123456789012", BudgetName="taskstack-monthly-cost"
    )["Budget"]
    assert budget["BudgetLimit"]["Amount"] in ("15", "15.0")


@pytest.fixture
def browser(tmp_path: Path) -> Iterator:
    driver = headless_chromium(tmp_path / "chromium-profile")
    try:
        yield driver
    finally:
        driver.quit()


def test_a_person_adds_a_task_in_the_browser_and_it_is_there_after_reload(browser):
    title = f"Visible after reload {uuid.uuid4().hex[:6]}"
    browser.get(f"{WEB}/")
    wait = WebDriverWait(browser, 20)
    wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-state") == "ready")
    browser.find_element(By.ID, "new-task-title").send_keys(title)
    browser.find_element(By.ID, "add-task-button").click()
    wait.until(lambda d: title in d.find_element(By.ID, "task-list").text)

    browser.refresh()
    wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-state") == "ready")
    assert title in browser.find_element(By.ID, "task-list").text
    assert title in titles(API)


def test_data_survives_a_rerun_of_site_with_an_app_change(tmp_path: Path):
    title = f"Kept across a new app version {uuid.uuid4().hex[:6]}"
    assert http_request(f"{API}/api/tasks", "POST", {"title": title}).status == 201

    changed_app = tmp_path / "app"
    shutil.copytree(REPO_ROOT / "app", changed_app, ignore=shutil.ignore_patterns(".env"))
    page = changed_app / "web" / "html" / "index.html"
    marker = f"<!-- app version {uuid.uuid4().hex[:8]} -->"
    page.write_text(page.read_text() + marker + "\n")

    rerun = STACK.site("-e", f"app_deploy_local_source={changed_app}")
    assert rerun.returncode == 0, rerun.output[-3000:]

    deadline = time.monotonic() + 60
    while marker.encode() not in http_request(f"{WEB}/").body and time.monotonic() < deadline:
        time.sleep(1)
    assert marker.encode() in http_request(f"{WEB}/").body, "the new app version is not served"
    assert title in titles(API)
    assert SEED["title"] in titles(API)
