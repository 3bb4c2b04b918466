"""tests/tools/stages.sh, which `make test` and `make test-cold` (CI) run: a stage fails the run
when its target fails, also when it is one of two targets run side by side ("A + B")."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

STAGES = Path(__file__).resolve().parent / "tools" / "stages.sh"
# ok prints after a pause, so that a side-by-side stage is seen to wait for it.
MAKEFILE = """\
ok:
\t@sleep 0.5; echo "ok ran with WORD=$(WORD)"
fail:
\t@echo "fail ran"; exit 3
"""


def stages(tmp_path: Path, *stage: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "Makefile").write_text(MAKEFILE)
    return subprocess.run(
        ["bash", str(STAGES), *stage],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_stages_run_in_order_with_their_variables(tmp_path: Path):
    run = stages(tmp_path, "ok WORD=first", "ok WORD=second")
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.index("WORD=first") < run.stdout.index("WORD=second")
    assert run.stdout.count(" ok\n") == 2  # the table at the end


@pytest.mark.parametrize("stage", ["fail + ok", "ok + fail"])
def test_a_failing_target_side_by_side_fails_the_stage_and_stops_the_run(tmp_path, stage):
    run = stages(tmp_path, stage, "ok WORD=never")
    assert run.returncode != 0, run.stdout
    assert f"=== stage {stage} failed" in run.stdout
    assert "WORD=never" not in run.stdout
    assert "fail ran" in run.stdout


def test_side_by_side_prints_the_background_output_after_the_foreground(tmp_path: Path):
    run = stages(tmp_path, "ok WORD=beside + ok WORD=main")
    assert run.returncode == 0, run.stdout + run.stderr
    out = run.stdout
    assert out.index("WORD=main") < out.index("--- ok WORD=beside, run beside ok WORD=main:")
    assert out.index("--- ok WORD=beside") < out.index("WORD=beside\n")


@pytest.mark.parametrize("stage", ["fail + ok + ok", "ok + fail + ok", "ok + ok + fail"])
def test_any_of_several_targets_side_by_side_fails_the_stage(tmp_path: Path, stage: str):
    run = stages(tmp_path, stage, "ok WORD=never")
    assert run.returncode != 0, run.stdout
    assert f"=== stage {stage} failed" in run.stdout
    assert "WORD=never" not in run.stdout


def test_several_side_by_side_print_the_others_output_in_order(tmp_path: Path):
    run = stages(tmp_path, "ok WORD=one + ok WORD=two + ok WORD=main")
    assert run.returncode == 0, run.stdout + run.stderr
    out = run.stdout
    one = out.index("--- ok WORD=one, run beside ok WORD=main:")
    two = out.index("--- ok WORD=two, run beside ok WORD=main:")
    assert out.index("WORD=main") < one < out.index("WORD=one\n") < two < out.index("WORD=two\n")
