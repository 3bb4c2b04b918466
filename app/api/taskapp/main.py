"""HTTP layer: routes, status codes and error mapping.

uvicorn serves it as a factory (see __main__.py), so the environment is read when a worker
starts, not when the module is imported.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request, Response, status
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.routing import Match

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
    _add_no_store_header(app)
    _add_routes(app)
    return app


def _store(request: Request) -> TaskStore:
    return TaskStore(request.app.state.database)


Store = Annotated[TaskStore, Depends(_store)]


def _add_routes(app: FastAPI) -> None:
    @app.get("/api/tasks", tags=["tasks"])
    def list_tasks(store: Store) -> list[Task]:
        """All tasks, ordered by id."""
        return store.list()

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


def _add_no_store_header(app: FastAPI) -> None:
    # Task lists change with every click; a cached GET would show a stale list after a reload.
    @app.middleware("http")
    async def no_store(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        response.headers.setdefault("Cache-Control", "no-store")
        return response
