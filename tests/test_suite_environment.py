"""The suite run from a shell that `eval "$(make -s local-env)"` pointed at an emulator."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
# Uses moto's in-process mock, which answers only the calls sent to AWS's own addresses.
IN_PROCESS_MOCK_TEST = (
    "tests/embedded/test_alarm_actions.py::test_a_new_alarm_has_insufficient_data_as_on_aws"
)


def test_an_emulator_endpoint_left_in_the_shell_does_not_reach_the_tests():
    env = {**os.environ, "AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_ENDPOINT_URL_SNS": "x"}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
         IN_PROCESS_MOCK_TEST],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-2000:]
