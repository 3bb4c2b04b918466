#!/usr/bin/env python3
"""What one AWS task costs under the project's strategy, in this tree and in another commit,
side by side in one run.

The same playbook (bench/aws_task_cost.yml: the project's identity check, then ten runs each of
ec2_vpc_net_info and ec2_instance_info) against the emulator of the harness's bench profile,
from this tree and from a git worktree of --against, the two alternating. Prints the first
task's time and, for each module, the median over the runs of its loop's time divided by ten
(a module run and the loop's own overhead per item); nothing is asserted.

Usage: aws_task_cost.py [--against COMMIT] [--runs N]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import benchlib

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent
sys.path.insert(0, str(REPO_ROOT / "embedded"))
import harness  # noqa: E402  (embedded/harness.py: the emulator, its environment, the runs)

PLAYBOOK = HERE / "aws_task_cost.yml"
FIRST_TASK = "Check the identity, the first AWS task of site.yml"
# Each loop task: the module it runs, and how many times.
LOOPS = {
    "Read the VPCs ten times": ("amazon.aws.ec2_vpc_net_info", 10),
    "Read the instances ten times": ("amazon.aws.ec2_instance_info", 10),
}


@contextlib.contextmanager
def worktree(commit: str) -> Iterator[Path]:
    """A checkout of ``commit`` beside this one (its ansible.cfg, roles and plugins)."""
    path = Path(tempfile.mkdtemp(prefix="aws-task-cost-"))
    subprocess.run(
        ["git", "worktree", "add", "--detach", "--quiet", str(path), commit],
        cwd=REPO_ROOT,
        check=True,
    )
    try:
        yield path
    finally:
        subprocess.run(
            ["git", "worktree", "remove", "--force", str(path)], cwd=REPO_ROOT, check=False
        )


def timed_run(runner: harness.Runner, tree: Path, timing_file: Path) -> dict[str, float]:
    """Each task's wall time in one run of the playbook from ``tree``."""
    timing_file.unlink(missing_ok=True)
    env = {**runner.env, **benchlib.timer_settings(), "BENCH_TIMING_FILE": str(timing_file)}
    result = subprocess.run(
        runner.argv("ansible-playbook", str(PLAYBOOK)),
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"aws_task_cost: the playbook failed in {tree}:\n{result.stdout[-2000:]}")
    events = benchlib.read_json_lines(timing_file)
    return dict(benchlib.task_seconds(events, events[-1]["time"]))


def figures(runs: list[dict[str, float]]) -> dict[str, float]:
    """Median over the runs: the first task, and one module run of each loop."""
    result = {"first AWS task": statistics.median(run[FIRST_TASK] for run in runs)}
    for task, (module, count) in LOOPS.items():
        result[f"one run of {module}"] = statistics.median(run[task] / count for run in runs)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--against", help="a commit to compare with, e.g. 23c6274")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    stack = harness.Stack.of_profile("bench")
    started_here = not stack.emulator.running()
    if started_here:
        print(stack.up())
    try:
        with contextlib.ExitStack() as stack_of_trees:
            trees = {"this tree": REPO_ROOT}
            if args.against:
                trees[args.against] = stack_of_trees.enter_context(worktree(args.against))
            timing_dir = Path(stack_of_trees.enter_context(tempfile.TemporaryDirectory()))
            runs: dict[str, list[dict[str, float]]] = {label: [] for label in trees}
            for number in range(args.runs):
                for index, (label, tree) in enumerate(trees.items()):
                    timing = timing_dir / f"run{number}-tree{index}.jsonl"
                    runs[label].append(timed_run(stack.runner, tree, timing))
    finally:
        if started_here:
            stack.emulator.stop()
    table = {label: figures(label_runs) for label, label_runs in runs.items()}
    print(f"| seconds, median of {args.runs} | " + " | ".join(table) + " |")
    print("|---|" + "---|" * len(table))
    for figure in next(iter(table.values())):
        print(f"| {figure} | " + " | ".join(f"{t[figure]:.2f}" for t in table.values()) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
