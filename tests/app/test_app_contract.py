"""The API and its published OpenAPI document agree: Schemathesis, every check, every operation.

The property-based check of the contract. The document is read from the running server (the
image's command, as in test_app_server.py), and every operation gets Schemathesis's examples,
coverage and fuzzing phases, in positive and negative mode, with all of its checks: among
them that every status code is documented, that every response matches its schema, that an
invalid request is refused and a valid one accepted, and that a 405 names every method of
the path in `Allow`.

Deterministic: a fixed seed and derandomized Hypothesis, no example database, so every run
sends the same requests; the number of fuzzed examples per operation is bounded to keep the
module within a minute on two cores.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator

import pytest
import requests
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from schemathesis.config import SchemathesisConfig
from taskapp.models import STRIPPED_CHARACTERS, TITLE_MAX_LENGTH, TITLE_PATTERN, TaskCreate
from taskapp_testing import ApiServer, http_request

# Enough for the disagreements this test was written against (an empty PATCH valid by the
# schema, the 400 for a body that is not UTF-8, the Allow header of a 405, a title the schema
# allowed) to show up in every run, few enough for two shared cores.
MAX_FUZZED_EXAMPLES = 25
SEED = 20261130

CONTRACT_CONFIG = {
    "seed": SEED,
    # How fast cases are generated on a busy shared machine is not part of the contract.
    "suppress-health-check": ["too_slow"],
    "generation": {
        "mode": "all",
        "max-examples": MAX_FUZZED_EXAMPLES,
        "deterministic": True,
        # No example database: what one run found must not change what the next one sends.
        "database": "none",
    },
    "phases": {
        "examples": {"enabled": True},
        "coverage": {"enabled": True},
        "fuzzing": {"enabled": True},
    },
    "checks": {"enabled": True},
}


@pytest.fixture(scope="module")
def session() -> Iterator[requests.Session]:
    # Direct connections only, like every other app test: a proxy from the environment must
    # never see test traffic.
    with requests.Session() as session:
        session.trust_env = False
        yield session


@pytest.fixture(scope="module")
def api_schema(api_server: ApiServer) -> schemathesis.BaseSchema:
    response = http_request(api_server.url + "/api/openapi.json")
    assert response.status == 200, response.body
    config = SchemathesisConfig.from_dict({**CONTRACT_CONFIG, "base-url": api_server.url})
    return schemathesis.openapi.from_dict(response.json(), config=config)


@pytest.fixture(autouse=True)
def legacy_node_id(request: pytest.FixtureRequest) -> None:
    # Schemathesis 4.32 reads and rewrites the item's private `_nodeid`, which pytest 9.2 no
    # longer has: without it from_fixture fails before it sends a request.
    request.node._nodeid = request.node.nodeid


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
def test_api_agrees_with_its_published_schema(case, session: requests.Session) -> None:
    case.call_and_validate(session=session)


# --- the rules the document states, against the code that enforces them -------------------


def title_is_accepted(title: str) -> bool:
    try:
        TaskCreate.model_validate({"title": title})
    except ValidationError:
        return False
    return True


def title_matches_pattern(title: str) -> bool:
    # re.search, as JSON Schema validators apply `pattern` (it is not implicitly anchored).
    return re.search(TITLE_PATTERN, title) is not None


def test_pattern_knows_every_character_strip_removes() -> None:
    everything = (chr(code) for code in range(sys.maxunicode + 1))
    assert "".join(char for char in everything if char.isspace()) == STRIPPED_CHARACTERS


EDGE = "x"
BOUNDARY_TITLES = {
    "empty": "",
    "1 character": EDGE,
    "200 characters": EDGE * TITLE_MAX_LENGTH,
    "201 characters": EDGE * (TITLE_MAX_LENGTH + 1),
    "200 with inner spaces": EDGE + " " * (TITLE_MAX_LENGTH - 2) + EDGE,
    "201 with inner spaces": EDGE + " " * (TITLE_MAX_LENGTH - 1) + EDGE,
    "200 inside every whitespace": STRIPPED_CHARACTERS
    + EDGE * TITLE_MAX_LENGTH
    + STRIPPED_CHARACTERS,
    "whitespace only": STRIPPED_CHARACTERS,
    "inner NUL": "a\x00b",
    "NUL alone": "\x00",
    "inner newline": "a\nb",
    "U+001C, space to strip(), not to \\s": "\x1c",
    "U+FEFF, space to \\s, not to strip()": "\ufeff",
    "trailing newline, where $ also matches": "x\n",
}


@pytest.mark.parametrize("title", BOUNDARY_TITLES.values(), ids=BOUNDARY_TITLES.keys())
def test_title_pattern_agrees_with_the_api_at_the_edges(title: str) -> None:
    assert title_matches_pattern(title) == title_is_accepted(title)


CHARACTERS = st.sampled_from(STRIPPED_CHARACTERS + "\x00") | st.characters(codec="utf-8")


@settings(
    max_examples=300,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    lead=st.text(st.sampled_from(STRIPPED_CHARACTERS), max_size=3),
    core=st.text(CHARACTERS, max_size=TITLE_MAX_LENGTH + 2)
    | st.integers(TITLE_MAX_LENGTH - 2, TITLE_MAX_LENGTH + 1).map(lambda n: EDGE * n),
    trail=st.text(st.sampled_from(STRIPPED_CHARACTERS), max_size=3),
)
def test_title_pattern_accepts_exactly_the_titles_the_api_accepts(
    lead: str, core: str, trail: str
) -> None:
    title = lead + core + trail
    assert title_matches_pattern(title) == title_is_accepted(title)


def test_document_states_the_update_rules(client: TestClient) -> None:
    update = client.get("/api/openapi.json").json()["components"]["schemas"]["TaskUpdate"]

    # At least one field; neither may be null; nothing else.
    assert update["minProperties"] == 1
    assert update["additionalProperties"] is False
    assert update["properties"]["title"]["type"] == "string"
    assert update["properties"]["done"] == {"type": "boolean", "title": "Done"}


def test_health_documents_its_own_503_body(client: TestClient) -> None:
    document = client.get("/api/openapi.json").json()
    down = document["paths"]["/api/health"]["get"]["responses"]["503"]

    assert down["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Health"}
