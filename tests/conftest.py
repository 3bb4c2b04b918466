"""Collection and scheduling rules shared by the whole suite."""

from __future__ import annotations

import os

import pytest

try:
    from xdist.scheduler import LoadScopeScheduling
except ImportError:  # ansible-test units runs tests/unit with a pytest of its own, without xdist
    LoadScopeScheduling = None

# tests/readme runs the README's `make demo` and `make destroy` in a clean clone (minutes,
# Docker, the image kit): a bare `pytest` leaves it out. Naming it still runs it
# (`make test-readme`: pytest tests/readme): pytest applies this list only to what it finds
# under a folder, never to a path given on the command line (tests/test_project_collection.py).
collect_ignore = ["readme"]

# A shell that ran `eval "$(make -s local-env)"` points boto3 at that one emulator. The suite
# starts emulators of its own, and moto's in-process mock answers only the calls sent to AWS's
# own addresses: with the variable left in, those tests failed with "Connection refused".
for _name in [name for name in os.environ if name.startswith("AWS_ENDPOINT_URL")]:
    del os.environ[_name]

# Test files whose tests one pytest-xdist worker runs together (make test-python runs one
# worker per CPU): the name is the group, and files of one group share a worker.
ONE_WORKER_FILES = {
    # One ansible-playbook run checks every case (the module's fixture, minutes): a second
    # worker would run it all again.
    "tests/validate/test_role_validation.py": "role-validation",
    # The harness's resilience profile: fixed ports, one host container at a time.
    "tests/integration/test_resilience.py": "resilience-profile",
    # Readers of the one provisioned stack (tests/integration/conftest.py: provisioned_stack).
    "tests/integration/test_provision.py": "provisioned-stack",
    "tests/integration/test_audits.py": "provisioned-stack",
    # One stack whose tests run in file order: each starts from what the one before left.
    "tests/integration/test_user_data.py": "user-data-stack",
}
# Tests (all the cases of one test function) that one worker runs together, the same way.
ONE_WORKER_TESTS = {
    # Teardown's refusals beside a provisioned stack (test_bad_input.py:
    # provisioned_beside_another_project): provisioned once, not once per worker.
    "tests/integration/test_bad_input.py::"
    "test_teardown_checks_its_settings_before_it_deletes_anything": "teardown-refusals",
}


class ProjectScheduling(LoadScopeScheduling or object):
    """Every test is a unit of work of its own, but for ONE_WORKER_FILES and ONE_WORKER_TESTS:
    one unit per group.

    pytest-xdist's own `--dist=loadgroup` does this with `xdist_group` marks, but 3.8.0 renames
    the test (item._nodeid) to carry the group, which pytest 9.2 no longer reads: the marks
    are ignored, and both workers ran the validation playbook (measured: its setup twice).
    """

    def _split_scope(self, nodeid: str) -> str:
        if group := ONE_WORKER_FILES.get(nodeid.split("::", 1)[0]):
            return group
        return ONE_WORKER_TESTS.get(nodeid.split("[", 1)[0], nodeid)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log) -> ProjectScheduling:
    return ProjectScheduling(config, log)
