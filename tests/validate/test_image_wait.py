"""app_deploy's wait for the image archives it loads in the background: each way a load can
end is said in one line, and only a loaded archive is recorded as loaded.

The job files are written here as `async` leaves them on the host (Ansible's async_wrapper and
Mitogen's both write this JSON), so the wait runs on localhost with no engine and no host: the
part of roles/app_deploy/tasks/images.yml that the stack's tests cannot reach on demand (a load
that never reports back).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from checks_env import REPO_ROOT, checks_environment

JOB_ID = "j1.1"


def wait_for(archive: Path) -> list[dict[str, Any]]:
    """A play that waits for one load of `archive` started by images_start.yml, as its
    registered results look."""
    started = {"ansible_job_id": JOB_ID, "item": [{"item": str(archive)}, {}]}
    stat = {"exists": True, "size": 1, "mtime": 2}
    return [
        {
            "hosts": "localhost",
            "connection": "local",
            "gather_facts": False,
            "vars": {
                "app_deploy_image_archives": [str(archive)],
                "app_deploy_wait_timeout": 1,
                "app_deploy__images_started": True,
                "app_deploy__archive_stats": {"results": [{"item": str(archive), "stat": stat}]},
                "app_deploy__image_loads": {"results": [started]},
            },
            "tasks": [
                {
                    "name": "Wait for the loads",
                    "ansible.builtin.include_role": {"name": "app_deploy", "tasks_from": "images"},
                }
            ],
        }
    ]


def run_the_wait(
    tmp_path: Path, job: dict[str, Any]
) -> tuple[subprocess.CompletedProcess[str], Path]:
    archive = tmp_path / "images.tar"
    jobs = tmp_path / "async"
    jobs.mkdir()
    (jobs / JOB_ID).write_text(json.dumps({"ansible_job_id": JOB_ID, **job}))
    playbook = tmp_path / "wait.yml"
    playbook.write_text(yaml.safe_dump(wait_for(archive)))
    run = subprocess.run(
        ["ansible-playbook", str(playbook)],
        cwd=REPO_ROOT,
        env=checks_environment(ANSIBLE_ASYNC_DIR=str(jobs)),
        capture_output=True,
        text=True,
        check=False,
    )
    return run, archive


@pytest.mark.parametrize(
    ("job", "said"),
    [
        pytest.param(
            {"finished": 1, "rc": 1, "stderr": "open /x: no such file or directory\n"},
            "could not be loaded (open /x: no such file or directory): make it again with"
            " docker save, or take it out of the list",
            id="the-engine-refused-it",
        ),
        pytest.param(
            {"started": 1, "finished": 0},
            "could not be loaded (still loading after app_deploy_wait_timeout=1 s): raise it,"
            " or look at the engine on localhost (journalctl -u docker)",
            id="it-never-reported-back",
        ),
    ],
)
def test_a_load_that_did_not_end_well_is_refused_in_one_line(
    tmp_path: Path, job: dict[str, Any], said: str
) -> None:
    run, archive = run_the_wait(tmp_path, job)
    output = " ".join((run.stdout + run.stderr).split())
    assert run.returncode != 0, output[-3000:]
    assert f"app_deploy_image_archives: {archive} {said}" in output, output[-3000:]
    assert output.count("[ERROR]") == 1, output[-3000:]
    assert not Path(f"{archive}.loaded").exists()


def test_a_loaded_archive_is_recorded_by_its_size_and_date(tmp_path: Path) -> None:
    run, archive = run_the_wait(tmp_path, {"finished": 1, "rc": 0, "stdout": "Loaded image: x"})
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    assert Path(f"{archive}.loaded").read_text() == "1 2\n"
    assert not (tmp_path / "async" / JOB_ID).exists(), "the job file is left behind"
