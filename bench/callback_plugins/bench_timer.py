"""Records when each play and task starts, and what changed, for bench/stack_bench.py.

Enabled only by the benchmark (ANSIBLE_CALLBACK_PLUGINS=bench/callback_plugins,
ANSIBLE_CALLBACKS_ENABLED=bench_timer); it writes one JSON line per event to the file named by
BENCH_TIMING_FILE and prints nothing, so the normal output stays as users see it.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: bench_timer
type: aggregate
short_description: play and task start times as JSON lines, for the benchmark
description:
  - Writes an event per play start, task start, changed result and playbook end to the file
    named by the BENCH_TIMING_FILE environment variable.
requirements:
  - enabled in the callbacks_enabled setting
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bench_timer"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        self._path = os.environ.get("BENCH_TIMING_FILE", "")

    def _write(self, event: str, **fields: Any) -> None:
        if not self._path:
            return
        with open(self._path, "a", encoding="utf-8") as out:
            out.write(json.dumps({"event": event, "time": time.time(), **fields}) + "\n")

    def v2_playbook_on_play_start(self, play: Any) -> None:
        # The play's file tells its phase: site.yml imports one playbook per phase.
        # get_path() is "<file>:<line>".
        source = play.get_path().rpartition(":")[0] if hasattr(play, "get_path") else ""
        self._write("play", name=play.get_name(), file=os.path.basename(source))

    def v2_playbook_on_task_start(self, task: Any, is_conditional: bool) -> None:
        # The action as written (ansible.builtin.apt): the bench sums the package manager's tasks.
        self._write("task", name=task.get_name(), action=task.action)

    def v2_playbook_on_handler_task_start(self, task: Any) -> None:
        self._write("task", name=task.get_name(), handler=True)

    def v2_runner_on_ok(self, result: Any) -> None:
        if result._result.get("changed", False):
            self._write("changed", host=result._host.get_name(), task=result._task.get_name())

    def v2_runner_on_failed(self, result: Any, ignore_errors: bool = False) -> None:
        self._write("failed", host=result._host.get_name(), task=result._task.get_name())

    def v2_playbook_on_stats(self, stats: Any) -> None:
        self._write("end")
