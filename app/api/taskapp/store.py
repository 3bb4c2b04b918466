"""Task persistence. Every statement is parameterized; no value is ever formatted into SQL."""

from __future__ import annotations

from psycopg.rows import class_row

from taskapp.db import Database
from taskapp.models import Task

# Ids outside PostgreSQL's bigint range cannot exist; answering "not found" for them without
# a query keeps psycopg from choosing a numeric parameter type for huge Python ints.
_BIGINT_MAX = 2**63 - 1


def _may_exist(task_id: int) -> bool:
    return 1 <= task_id <= _BIGINT_MAX


# The whole list as one JSON text, built by PostgreSQL: the API sends it as it comes, without
# a Python object per row. row_to_json writes what the API's models would ({"id":1,
# "title":"...","done":false}, compact, non-ASCII as UTF-8, control characters escaped), so the
# bytes are the ones Starlette's JSONResponse would send for the same rows.
_LIST_JSON = """
SELECT coalesce('[' || string_agg(row_to_json(t)::text, ',' ORDER BY t.id) || ']', '[]')
FROM (SELECT id, title, done FROM tasks) AS t
"""


class TaskStore:
    def __init__(self, database: Database) -> None:
        self._database = database

    def list(self) -> list[Task]:
        with self._database.connection() as conn:
            cursor = conn.cursor(row_factory=class_row(Task))
            return cursor.execute("SELECT id, title, done FROM tasks ORDER BY id").fetchall()

    def list_json(self) -> bytes:
        """All tasks, ordered by id, as the JSON array GET /api/tasks answers (UTF-8)."""
        with self._database.connection() as conn:
            row = conn.execute(_LIST_JSON).fetchone()
        assert row is not None  # an aggregate without GROUP BY always yields one row
        return row[0].encode()

    def create(self, title: str) -> Task:
        with self._database.connection() as conn:
            cursor = conn.cursor(row_factory=class_row(Task))
            row = cursor.execute(
                "INSERT INTO tasks (title) VALUES (%s) RETURNING id, title, done", (title,)
            ).fetchone()
        assert row is not None  # INSERT ... RETURNING always yields the new row
        return row

    def update(self, task_id: int, title: str | None, done: bool | None) -> Task | None:
        """Change the given fields; None leaves a field as it is. None when no such task."""
        if not _may_exist(task_id):
            return None
        with self._database.connection() as conn:
            cursor = conn.cursor(row_factory=class_row(Task))
            return cursor.execute(
                "UPDATE tasks SET title = COALESCE(%(title)s, title),"
                " done = COALESCE(%(done)s, done)"
                " WHERE id = %(id)s RETURNING id, title, done",
                {"id": task_id, "title": title, "done": done},
            ).fetchone()

    def delete(self, task_id: int) -> bool:
        if not _may_exist(task_id):
            return False
        with self._database.connection() as conn:
            deleted = conn.execute("DELETE FROM tasks WHERE id = %s", (task_id,))
            return deleted.rowcount == 1
