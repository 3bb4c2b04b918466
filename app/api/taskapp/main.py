"""HTTP layer: routes, status codes and error mapping.

uvicorn serves it as a factory (see __main__.py), so the environment is read when a worker
starts, not when the module is imported.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Request, Response, status
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from taskapp.config import DatabaseSettings
from taskapp.db import Database, DatabaseUnavailable
from taskapp.models import ErrorMessage, Health, Task, TaskCreate, TaskUpdate
from taskapp.store import TaskStore

log = logging.getLogger(__name__)

OPENAPI_URL = "/api/openapi.json"
_NOT_FOUND = {404: {"model": ErrorMessage, "description": "No task with this id"}}
_UNAVAILABLE = {503: {"model": ErrorMessage, "description": "The database is unreachable"}}
# The health check answers 503 with its own body, not the error message of the other calls.
_HEALTH_DOWN = {503: {"model": Health, "description": "The database is unreachable"}}
# What FastAPI's own 422 says of a body that is not JSON, for the bodies it answers 400 to.
_UNREADABLE_BODY = {
    "type": "json_invalid",
    "loc": ["body"],
    "msg": "the body must be JSON text encoded in UTF-8",
}


# GET /api/tasks may be stored by a client but never used without asking the API again
# (no-cache); the ETag lets that revalidation answer 304 without the list. Every request reads
# the database, so a write is visible at once, whichever worker or replica serves the next
# read: the ETag is a hash of the body, the same in every process for the same tasks.
_LIST_CACHE_CONTROL = "no-cache"
_LIST_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "All tasks, ordered by id",
        "headers": {
            "ETag": {
                "description": "Validator of this list: send it back in If-None-Match",
                "schema": {"type": "string"},
            },
            "Cache-Control": {"description": "no-cache", "schema": {"type": "string"}},
        },
    },
    304: {"description": "The list has not changed since the ETag given in If-None-Match"},
}


class TaskNotFound(Exception):
    pass


def create_app(settings: DatabaseSettings | None = None) -> FastAPI:
    """Build the API; settings default to the POSTGRES_* environment variables."""
    database = Database(settings or DatabaseSettings.from_env(os.environ))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        database.open()
        try:
            yield
        finally:
            database.close()

    app = FastAPI(
        title="Task List API",
        version="1.0.0",
        description="Tasks with a title and a done flag, kept in PostgreSQL.",
        # Under /api/ so that the web server's /api/ proxy serves the document too.
        openapi_url=OPENAPI_URL,
        docs_url="/api/docs",
        redoc_url=None,
        lifespan=lifespan,
        responses=_UNAVAILABLE,
    )
    app.state.database = database
    _add_error_handlers(app)
    app.add_middleware(NoStoreByDefault)
    _add_routes(app)
    return app


def _store(request: Request) -> TaskStore:
    return TaskStore(request.app.state.database)


Store = Annotated[TaskStore, Depends(_store)]


def _add_routes(app: FastAPI) -> None:
    @app.get("/api/tasks", tags=["tasks"], response_model=list[Task], responses=_LIST_RESPONSES)
    def list_tasks(
        store: Store,
        if_none_match: Annotated[
            str | None,
            Header(description="ETag(s) of a list the client holds: 304 if still current"),
        ] = None,
    ) -> Response:
        """All tasks, ordered by id."""
        # The body comes from PostgreSQL as JSON text: no model per row, no re-encoding.
        body = store.list_json()
        etag = f'"{hashlib.blake2b(body, digest_size=16).hexdigest()}"'
        headers = {"ETag": etag, "Cache-Control": _LIST_CACHE_CONTROL}
        if if_none_match is not None and etag_matches(if_none_match, etag):
            return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
        return Response(body, media_type="application/json", headers=headers)

    @app.post("/api/tasks", status_code=status.HTTP_201_CREATED, tags=["tasks"])
    def create_task(body: TaskCreate, store: Store) -> Task:
        """Add a task; the title is trimmed and must be 1 to 200 characters."""
        return store.create(body.title)

    @app.patch("/api/tasks/{task_id}", responses=_NOT_FOUND, tags=["tasks"])
    def update_task(task_id: int, body: TaskUpdate, store: Store) -> Task:
        """Change the title and/or the done flag of a task."""
        task = store.update(task_id, title=body.title, done=body.done)
        if task is None:
            raise TaskNotFound
        return task

    @app.delete(
        "/api/tasks/{task_id}",
        status_code=status.HTTP_204_NO_CONTENT,
        responses=_NOT_FOUND,
        tags=["tasks"],
    )
    def delete_task(task_id: int, store: Store) -> Response:
        if not store.delete(task_id):
            raise TaskNotFound
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @app.get("/api/health", responses=_HEALTH_DOWN, tags=["health"])
    def health(request: Request) -> Health:
        """200 when the database answers, 503 otherwise."""
        request.app.state.database.ping()
        return Health(status="ok", database="up")

    # FastAPI's usual address, for tools that look there first.
    @app.get("/openapi.json", include_in_schema=False)
    def openapi_alias() -> JSONResponse:
        return JSONResponse(app.openapi())


class AsciiJSONResponse(JSONResponse):
    """JSON with every non-ASCII character escaped, lone surrogates included.

    Starlette encodes JSON as UTF-8, which cannot carry a lone surrogate such as a client's
    invalid "\\ud800": any response that might quote client input uses this class instead.
    """

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, error: RequestValidationError) -> JSONResponse:
        # FastAPI's own handler, minus the echo of the rejected input: it helps nobody and can
        # be as large as the request itself.
        errors = [
            {key: value for key, value in item.items() if key != "input"} for item in error.errors()
        ]
        return AsciiJSONResponse({"detail": jsonable_encoder(errors)}, status_code=422)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> Response:
        if error.status_code == status.HTTP_400_BAD_REQUEST:
            # FastAPI's 400 for a body it cannot even decode (bytes that are not UTF-8, JSON
            # nested too deep): the schema documents one answer to a bad body, the 422.
            return AsciiJSONResponse({"detail": [_UNREADABLE_BODY]}, status_code=422)
        if error.status_code == status.HTTP_405_METHOD_NOT_ALLOWED:
            error = HTTPException(
                error.status_code,
                error.detail,
                headers={**(error.headers or {}), "Allow": ", ".join(_allowed_methods(request))},
            )
        return await http_exception_handler(request, error)

    @app.exception_handler(TaskNotFound)
    async def task_not_found(_: Request, __: Exception) -> JSONResponse:
        return JSONResponse({"detail": "task not found"}, status_code=404)

    @app.exception_handler(DatabaseUnavailable)
    async def database_unavailable(request: Request, error: Exception) -> JSONResponse:
        log.warning("database unavailable for %s %s: %s", request.method, request.url, error)
        if request.url.path == "/api/health":
            body = {"status": "unavailable", "database": "down"}
        else:
            body = {"detail": "database unavailable, try again later"}
        return JSONResponse(body, status_code=503, headers={"Retry-After": "5"})


def _allowed_methods(request: Request) -> list[str]:
    """Every method of every route whose path matches the request's (RFC 9110, 15.5.6).

    FastAPI makes one route per method, and Starlette answers 405 from the first route whose
    path matches: its Allow would name that route's method alone.
    """
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match is not Match.NONE:
            methods.update(getattr(route, "methods", None) or ())
    return sorted(methods)


def etag_matches(if_none_match: str, etag: str) -> bool:
    """If-None-Match's weak comparison (RFC 9110, 13.1.2): "*", or any listed tag."""
    if if_none_match.strip() == "*":
        return True
    return any(tag.strip().removeprefix("W/") == etag for tag in if_none_match.split(","))


class NoStoreByDefault:
    """Cache-Control: no-store on every response that does not set its own.

    Task lists change with every click; a cached answer would show a stale list after a
    reload. A plain ASGI middleware: Starlette's @app.middleware("http") runs each request
    through an extra task and memory stream, a measurable share of a request this small.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_default(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).setdefault("Cache-Control", "no-store")
            await send(message)

        await self.app(scope, receive, send_with_default)
