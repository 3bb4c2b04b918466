"""The API's behaviour against a real PostgreSQL, through FastAPI's in-process client."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import pytest
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from taskapp.config import DatabaseSettings
from taskapp.models import Task
from taskapp_testing import SEED, app_connection


def add(client: TestClient, title: str) -> dict:
    response = client.post("/api/tasks", json={"title": title})
    assert response.status_code == 201, response.text
    return response.json()


def titles(client: TestClient) -> list[str]:
    return [task["title"] for task in client.get("/api/tasks").json()]


def error_messages(response) -> str:
    """All messages of a 422, so a test can check that the reason is given."""
    detail = response.json()["detail"]
    return " | ".join(item["msg"] for item in detail) if isinstance(detail, list) else detail


# --- listing and seeding -------------------------------------------------------------------


def test_new_database_holds_only_the_seeded_task(client: TestClient) -> None:
    response = client.get("/api/tasks")

    assert response.status_code == 200
    assert response.json() == [SEED]


def test_tasks_are_listed_in_id_order(client: TestClient) -> None:
    created = [add(client, title) for title in ("b", "a", "c")]
    client.patch(f"/api/tasks/{created[0]['id']}", json={"title": "z"})

    ids = [task["id"] for task in client.get("/api/tasks").json()]

    assert ids == sorted(ids) == [1, *(task["id"] for task in created)]


def test_deleted_seed_stays_deleted_after_a_restart(
    start_client: Callable[[DatabaseSettings], TestClient], database: DatabaseSettings
) -> None:
    first_run = start_client(database)
    assert first_run.delete("/api/tasks/1").status_code == 204
    assert first_run.get("/api/tasks").json() == []

    second_run = start_client(database)

    assert second_run.get("/api/tasks").json() == []


def test_seed_is_not_added_again_when_other_tasks_exist_after_restart(
    start_client: Callable[[DatabaseSettings], TestClient], database: DatabaseSettings
) -> None:
    first_run = start_client(database)
    add(first_run, "kept")
    first_run.delete("/api/tasks/1")

    assert titles(start_client(database)) == ["kept"]


def test_seed_marker_is_recorded_in_the_database(
    client: TestClient, database: DatabaseSettings
) -> None:
    client.get("/api/tasks")

    with app_connection(database) as conn:
        markers = conn.execute("SELECT key FROM taskapp_meta").fetchall()

    assert markers == [("seeded",)]


# --- create --------------------------------------------------------------------------------


def test_create_returns_201_with_the_new_task(client: TestClient) -> None:
    response = client.post("/api/tasks", json={"title": "Écrire les tests"})

    assert response.status_code == 201
    task = response.json()
    assert task == {"id": task["id"], "title": "Écrire les tests", "done": False}
    assert task["id"] > SEED["id"]
    assert client.get("/api/tasks").json()[-1] == task


def test_create_trims_the_title(client: TestClient) -> None:
    assert add(client, "  \t padded \n ")["title"] == "padded"


@pytest.mark.parametrize("title", ["x", "y" * 200, " " + "z" * 200 + " "])
def test_create_accepts_titles_of_1_to_200_characters(client: TestClient, title: str) -> None:
    assert add(client, title)["title"] == title.strip()


def test_titles_are_stored_verbatim_not_interpreted_as_sql(client: TestClient) -> None:
    hostile = "x'); DROP TABLE tasks; --"

    add(client, hostile)

    assert titles(client) == [SEED["title"], hostile]


# --- update --------------------------------------------------------------------------------


def test_patch_done_marks_the_task_done_and_back(client: TestClient) -> None:
    response = client.patch("/api/tasks/1", json={"done": True})

    assert response.status_code == 200
    assert response.json() == {**SEED, "done": True}
    assert client.get("/api/tasks").json() == [{**SEED, "done": True}]
    assert client.patch("/api/tasks/1", json={"done": False}).json() == SEED


def test_patch_title_is_trimmed_and_keeps_done(client: TestClient) -> None:
    client.patch("/api/tasks/1", json={"done": True})

    response = client.patch("/api/tasks/1", json={"title": "  Apprendre Compose "})

    assert response.status_code == 200
    assert response.json() == {"id": 1, "title": "Apprendre Compose", "done": True}


def test_patch_title_and_done_together(client: TestClient) -> None:
    task = add(client, "draft")

    response = client.patch(f"/api/tasks/{task['id']}", json={"title": "final", "done": True})

    assert response.json() == {"id": task["id"], "title": "final", "done": True}


# --- delete --------------------------------------------------------------------------------


def test_delete_returns_204_and_removes_only_that_task(client: TestClient) -> None:
    task = add(client, "temporary")

    response = client.delete(f"/api/tasks/{task['id']}")

    assert response.status_code == 204
    assert response.content == b""
    assert client.get("/api/tasks").json() == [SEED]


def test_delete_twice_is_404_the_second_time(client: TestClient) -> None:
    assert client.delete("/api/tasks/1").status_code == 204
    assert client.delete("/api/tasks/1").status_code == 404


# --- unknown ids ---------------------------------------------------------------------------

UNKNOWN_IDS = [999, 0, -1, 2**63, 10**30]


@pytest.mark.parametrize("task_id", UNKNOWN_IDS)
def test_patch_unknown_id_is_404(client: TestClient, task_id: int) -> None:
    response = client.patch(f"/api/tasks/{task_id}", json={"done": True})

    assert response.status_code == 404
    assert response.json() == {"detail": "task not found"}


@pytest.mark.parametrize("task_id", UNKNOWN_IDS)
def test_delete_unknown_id_is_404(client: TestClient, task_id: int) -> None:
    assert client.delete(f"/api/tasks/{task_id}").status_code == 404
    assert client.get("/api/tasks").json() == [SEED]


@pytest.mark.parametrize("path", ["/api/tasks/abc", "/api/tasks/1.5", "/api/tasks/%20"])
def test_non_integer_id_is_422(client: TestClient, path: str) -> None:
    assert client.patch(path, json={"done": True}).status_code == 422
    assert client.delete(path).status_code == 422


# --- bad input -----------------------------------------------------------------------------

BAD_TITLES = {
    "empty": "",
    "whitespace only": "  \t\n ",
    "201 characters": "x" * 201,
    "201 characters after trimming": "  " + "x" * 201 + "  ",
    "NUL character": "a\x00b",
    "lone surrogate": "a\ud800b",
}


@pytest.mark.parametrize("title", BAD_TITLES.values(), ids=BAD_TITLES.keys())
def test_create_rejects_bad_titles_with_a_message(client: TestClient, title: str) -> None:
    # ASCII-escaped by json.dumps: the client's own encoder refuses lone surrogates.
    body = json.dumps({"title": title})

    response = client.post("/api/tasks", content=body, headers={"Content-Type": "application/json"})

    assert response.status_code == 422
    assert "title" in error_messages(response)
    assert client.get("/api/tasks").json() == [SEED]


@pytest.mark.parametrize("title", BAD_TITLES.values(), ids=BAD_TITLES.keys())
def test_patch_rejects_bad_titles(client: TestClient, title: str) -> None:
    body = json.dumps({"title": title})

    response = client.patch(
        "/api/tasks/1", content=body, headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 422
    assert client.get("/api/tasks").json() == [SEED]


WRONG_CREATE_BODIES = {
    "number title": {"title": 123},
    "null title": {"title": None},
    "list title": {"title": ["a"]},
    "missing title": {},
    "misspelt field": {"titel": "x"},
    "unknown extra field": {"title": "x", "priority": 1},
    "array body": ["x"],
    "string body": "x",
}


@pytest.mark.parametrize("body", WRONG_CREATE_BODIES.values(), ids=WRONG_CREATE_BODIES.keys())
def test_create_rejects_wrong_types(client: TestClient, body: object) -> None:
    response = client.post("/api/tasks", json=body)

    assert response.status_code == 422
    assert error_messages(response)


WRONG_PATCH_BODIES = {
    "empty object": {},
    "done as string": {"done": "yes"},
    "done as number": {"done": 1},
    "done null": {"done": None},
    "title null": {"title": None},
    "title number": {"title": 5},
    "unknown field": {"priority": 1},
    "array body": [True],
}


@pytest.mark.parametrize("body", WRONG_PATCH_BODIES.values(), ids=WRONG_PATCH_BODIES.keys())
def test_patch_rejects_wrong_bodies(client: TestClient, body: object) -> None:
    response = client.patch("/api/tasks/1", json=body)

    assert response.status_code == 422
    assert error_messages(response)
    assert client.get("/api/tasks").json() == [SEED]


MALFORMED_JSON = {
    "truncated": b'{"title": "x"',
    "single quotes": b"{'title': 'x'}",
    "trailing comma": b'{"title": "x",}',
    "not utf-8": b'{"title": "\xff\xfe"}',
    "random bytes": b"d\xc3]\x1b\x9a\xd1\xa3",
    "nested too deep": b"[" * 100_000 + b"]" * 100_000,
    "empty body": b"",
}


@pytest.mark.parametrize("method", ["POST", "PATCH"])
@pytest.mark.parametrize("body", MALFORMED_JSON.values(), ids=MALFORMED_JSON.keys())
def test_malformed_json_is_the_documented_422(client: TestClient, method: str, body: bytes) -> None:
    # One documented answer to a body that is not JSON, whichever way it is not: FastAPI's
    # own 400 for bytes it cannot even decode is not in the schema.
    path = "/api/tasks" if method == "POST" else "/api/tasks/1"

    response = client.request(
        method, path, content=body, headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 422
    assert error_messages(response)
    assert client.get("/api/tasks").json() == [SEED]


ALLOWED_METHODS = {
    "/api/tasks": "GET, POST",
    "/api/tasks/1": "DELETE, PATCH",
    "/api/tasks/abc": "DELETE, PATCH",
    "/api/health": "GET",
}


@pytest.mark.parametrize("method", ["PUT", "OPTIONS", "TRACE"])
@pytest.mark.parametrize("path", ALLOWED_METHODS.keys())
def test_405_allow_names_every_method_of_the_path(
    client: TestClient, path: str, method: str
) -> None:
    response = client.request(method, path)

    assert response.status_code == 405
    assert response.headers["allow"] == ALLOWED_METHODS[path]


def test_body_without_json_content_type_is_rejected(client: TestClient) -> None:
    response = client.post(
        "/api/tasks", content=b'{"title": "x"}', headers={"Content-Type": "text/plain"}
    )

    assert response.status_code in (400, 415, 422)


# --- health, OpenAPI, headers --------------------------------------------------------------


def test_health_reports_the_database_up(client: TestClient) -> None:
    response = client.get("/api/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "up"}


@pytest.mark.parametrize("path", ["/api/openapi.json", "/openapi.json"])
def test_openapi_document_describes_the_api(client: TestClient, path: str) -> None:
    response = client.get(path)

    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    assert set(document["paths"]) == {"/api/tasks", "/api/tasks/{task_id}", "/api/health"}
    assert set(document["paths"]["/api/tasks"]) == {"get", "post"}
    assert set(document["paths"]["/api/tasks/{task_id}"]) == {"patch", "delete"}
    assert "404" in document["paths"]["/api/tasks/{task_id}"]["delete"]["responses"]


def test_interactive_docs_are_served_under_api(client: TestClient) -> None:
    response = client.get("/api/docs")

    assert response.status_code == 200
    assert "/api/openapi.json" in response.text


def test_api_responses_are_not_cached(client: TestClient) -> None:
    created = client.post("/api/tasks", json={"title": "x"})

    assert created.headers["cache-control"] == "no-store"
    assert client.get("/api/health").headers["cache-control"] == "no-store"
    assert client.get("/api/tasks/1").headers["cache-control"] == "no-store"  # a 405


# --- the list's validator: ETag, If-None-Match, 304 ----------------------------------------


def test_list_may_be_stored_but_is_revalidated_every_time(client: TestClient) -> None:
    response = client.get("/api/tasks")

    assert response.headers["cache-control"] == "no-cache"
    assert re.fullmatch(r'"[0-9a-f]{32}"', response.headers["etag"])


def test_list_answers_304_to_its_current_etag(client: TestClient) -> None:
    etag = client.get("/api/tasks").headers["etag"]

    response = client.get("/api/tasks", headers={"If-None-Match": etag})

    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["etag"] == etag
    assert response.headers["cache-control"] == "no-cache"


@pytest.mark.parametrize(
    "if_none_match",
    ["{etag}", "W/{etag}", '"other", {etag}', 'W/"other",W/{etag}', "*", " * "],
)
def test_if_none_match_uses_the_weak_comparison_of_rfc_9110(
    client: TestClient, if_none_match: str
) -> None:
    etag = client.get("/api/tasks").headers["etag"]

    response = client.get("/api/tasks", headers={"If-None-Match": if_none_match.format(etag=etag)})

    assert response.status_code == 304


@pytest.mark.parametrize("if_none_match", ['"other"', "", "W/", '"*"'])
def test_list_is_sent_when_no_tag_matches(client: TestClient, if_none_match: str) -> None:
    response = client.get("/api/tasks", headers={"If-None-Match": if_none_match})

    assert response.status_code == 200
    assert response.json() == [SEED]


@pytest.mark.parametrize(
    "write",
    [
        lambda client: client.post("/api/tasks", json={"title": "new"}),
        lambda client: client.patch("/api/tasks/1", json={"done": True}),
        lambda client: client.patch("/api/tasks/1", json={"title": "renamed"}),
        lambda client: client.delete("/api/tasks/1"),
    ],
    ids=["create", "tick", "rename", "delete"],
)
def test_a_write_is_visible_at_once_to_a_client_holding_the_old_etag(
    client: TestClient, write: Callable[[TestClient], object]
) -> None:
    etag = client.get("/api/tasks").headers["etag"]

    write(client)
    response = client.get("/api/tasks", headers={"If-None-Match": etag})

    assert response.status_code == 200
    assert response.headers["etag"] != etag
    assert response.json() == client.get("/api/tasks").json() != [SEED]


def test_the_same_list_has_the_same_etag_in_every_process(
    start_client: Callable[[DatabaseSettings], TestClient], database: DatabaseSettings
) -> None:
    # Two app instances stand for uvicorn's two workers (or two replicas).
    first, second = start_client(database), start_client(database)
    add(first, "shared")

    assert first.get("/api/tasks").headers["etag"] == second.get("/api/tasks").headers["etag"]


def test_list_body_is_what_the_models_would_send(client: TestClient) -> None:
    # The JSON comes from PostgreSQL: it must read as Starlette's JSONResponse of the models,
    # byte for byte, escapes and non-ASCII text included.
    tricky = [
        'quote " and \\ backslash',
        "tab\tnew\nline",
        "\x01\x1f\x7f",
        "é ü 漢字 😀",
        "</script>",
    ]
    for title in tricky:
        add(client, title)
    expected = [Task.model_validate(task) for task in client.get("/api/tasks").json()]

    body = client.get("/api/tasks").content

    assert body == JSONResponse([task.model_dump() for task in expected]).body
    assert [task["title"] for task in json.loads(body)][1:] == tricky


def test_empty_list_is_an_empty_json_array(client: TestClient) -> None:
    client.delete("/api/tasks/1")

    response = client.get("/api/tasks")

    assert response.content == b"[]"
    assert response.headers["content-type"] == "application/json"


def test_list_document_states_the_etag_and_the_304(client: TestClient) -> None:
    document = client.get("/api/openapi.json").json()
    get = document["paths"]["/api/tasks"]["get"]

    assert get["responses"]["200"]["content"]["application/json"]["schema"] == {
        "type": "array",
        "items": {"$ref": "#/components/schemas/Task"},
        "title": "Response List Tasks Api Tasks Get",
    }
    assert "ETag" in get["responses"]["200"]["headers"]
    assert "304" in get["responses"]
    assert [(p["name"], p["in"]) for p in get["parameters"]] == [("if-none-match", "header")]
