"""The benchmark's figures as a markdown table (bench/results/latest.md), ready for the README.

Usage: report.py [bench/results/latest.json]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

PHASES = [
    "startup",
    "preflight",
    "provision",
    "wait_for_host",
    "configure",
    "deploy",
    "verify",
    "audit",
    "summary",
    "teardown",
    "audit_leftovers",
]


def spread(figure: dict[str, Any] | None, unit: str = "s", digits: int = 1) -> str:
    """ "median (min-max) unit" of a summary."""
    if not figure or figure.get("median") is None:
        return "n/a"
    median, low, high = (round(figure[k], digits) for k in ("median", "min", "max"))
    if digits == 0:
        median, low, high = int(median), int(low), int(high)
    value = f"{median} {unit}".strip()
    return value if len(figure.get("runs", [])) < 2 else f"{value} ({low}-{high})"


def workers_of(results: dict[str, Any], run_key: str, rate: str) -> str:
    """How many hey workers shared the rate (they fire together: bursts of that many)."""
    load = next((run["load"] for run in results.get("runs", []) if "load" in run), {})
    return str(load.get(run_key, {}).get(rate, {}).get("workers", "?"))


def reproduce(command: str) -> str:
    """`make bench`, with BENCH_ARGS when the run had options."""
    options = command.partition("stack_bench.py")[2].strip()
    return f"make bench BENCH_ARGS='{options}'" if options else "make bench"


def calls(counts: dict[str, Any]) -> str:
    return f"{spread(counts['read'], '', 0)} / {spread(counts['mutating'], '', 0)}"


def ordered(phases: Any) -> list[str]:
    """site.yml's order; a phase this list does not know goes last."""
    return sorted(phases, key=lambda p: PHASES.index(p) if p in PHASES else len(PHASES))


def markdown(results: dict[str, Any]) -> str:
    f = results["figures"]
    m = results["machine"]
    runs = results["settings"]["runs"]
    lines = [
        f"Measured {results['date'][:10]}: {m['cpus']} vCPUs, {m['memory_gib']} GiB, "
        f"{m['os']}, Docker {m['docker']}; the machine was shared with other jobs "
        f"(load average at start {', '.join(f'{x:.1f}' for x in m['load_average_at_start'])}). "
        f"Host container sized like a t3.micro ({results['settings']['host']['cpus']} CPUs, "
        f"{results['settings']['host']['memory']}). Median (min-max) of {runs} run(s).",
        "",
        f"Reproduce: `{reproduce(results['command'])}`",
        "",
        "| figure | value |",
        "|---|---|",
        f"| first converge of `site.yml` | {spread(f['first_converge_s'])} |",
        f"| … zero to HTTP 200 on both ports | {spread(f['first_converge_to_http_200_s'])} |",
    ]
    for phase in ordered(f["first_converge_phase_s"]):
        lines.append(f"| … phase {phase} | {spread(f['first_converge_phase_s'][phase])} |")
    lines += [
        f"| rerun (nothing to do) | {spread(f['rerun_s'])}, changed "
        f"{spread(f['rerun_changed'], '', 0)} |",
        f"| rerun / first converge | {spread(f['rerun_ratio'], '', 2)} |",
    ]
    for phase in ordered(f.get("rerun_phase_s", {})):
        lines.append(f"| … rerun phase {phase} | {spread(f['rerun_phase_s'][phase])} |")
    if f.get("rerun_full_s", {}).get("runs"):
        lines.append(
            f"| rerun running every role (`-e stack_state_enabled=false`) | "
            f"{spread(f['rerun_full_s'])}, changed {spread(f['rerun_full_changed'], '', 0)} |"
        )
    lines += strategy_rows(f) + user_data_rows(f)
    lines.append(f"| `teardown.yml` | {spread(f['teardown_s'])} |")
    for kind in ("converge", "rerun", "teardown"):
        total = f["aws_calls"][kind]["total"]
        lines.append(f"| AWS calls, {kind}: read / mutating | {calls(total)} |")
    configure_kinds = {
        "configure_fresh_s": "fresh host",
        "configure_fresh_package_s": "fresh host, apt's tasks alone",
        "configure_fresh_without_package_s": "fresh host, all but apt's tasks",
        "configure_rerun_s": "converged host",
    }
    for kind, what in configure_kinds.items():
        if kind in f:
            lines += configure_rows(what, f[kind])
    paths = (
        ("load", "rates", "host address"),
        ("load_published_port", "rates_published_port", "127.0.0.1 port"),
        ("load_bursts_of_20", "rates_bursts_of_20", "host address"),
    )
    for key, run_key, path in paths:
        for rate, figure in f.get(key, {}).items():
            workers = workers_of(results, run_key, rate)
            lines.append(
                f"| GET /api/tasks (100 tasks) at {rate}/s ({workers} hey workers) via {path}: "
                f"p50 / p99, errors | {spread(figure['p50_ms'], 'ms')} / "
                f"{spread(figure['p99_ms'], 'ms')}, {spread(figure['errors'], '', 0)} |"
            )
    for service, figure in f.get("memory_mib", {}).items():
        lines.append(f"| resident memory, {service} | {spread(figure, 'MiB', 0)} |")
    lines += ["", "AWS calls per phase (read / mutating, median):", ""]
    lines += calls_table(f["aws_calls"])
    return "\n".join(lines) + "\n"


def user_data_rows(f: dict[str, Any]) -> list[str]:
    """The first converge with the host prepared by user data (aws_instance_bootstrap)."""
    if "first_converge_user_data_s" not in f:
        return []
    rows = [
        "| first converge, host prepared by user data | "
        f"{spread(f['first_converge_user_data_s'])} |",
        f"| … zero to HTTP 200 on both ports, user data | "
        f"{spread(f['first_converge_user_data_to_http_200_s'])} |",
    ]
    for phase in ordered(f.get("first_converge_user_data_phase_s", {})):
        figure = f["first_converge_user_data_phase_s"][phase]
        rows.append(f"| … phase {phase}, user data | {spread(figure)} |")
    return rows


def strategy_rows(f: dict[str, Any]) -> list[str]:
    """The same runs with Ansible's linear strategy instead of Mitogen (project's cfg)."""
    rows = []
    if "first_converge_linear_s" in f:
        rows.append(f"| first converge, linear strategy | {spread(f['first_converge_linear_s'])} |")
        for phase in ordered(f.get("first_converge_linear_phase_s", {})):
            figure = f["first_converge_linear_phase_s"][phase]
            rows.append(f"| … phase {phase}, linear | {spread(figure)} |")
    if "rerun_linear_s" in f:
        rows.append(
            f"| rerun, linear strategy | {spread(f['rerun_linear_s'])}, changed "
            f"{spread(f['rerun_linear_changed'], '', 0)} |"
        )
    if "rerun_linear_ratio" in f:
        ratio = spread(f["rerun_linear_ratio"], "", 2)
        rows.append(f"| rerun / first converge, linear strategy | {ratio} |")
    return rows


# How each configuration of the configure comparison is named in the table.
CONFIGURATION_NAMES = {
    "project": "project cfg",
    "project_linear": "project cfg without Mitogen",
    "defaults": "Ansible defaults",
}


def configure_rows(what: str, c: dict[str, Any]) -> list[str]:
    rows = []
    for name, label in CONFIGURATION_NAMES.items():
        if name not in c:
            continue
        ratio = c.get(f"ratio_{name}_over_project")
        times = f" ({spread(ratio, 'x', 2)} the project's time)" if ratio else ""
        rows.append(f"| configure phase, {what}: {label} | {spread(c[name])}{times} |")
    return rows


def calls_table(aws_calls: dict[str, Any]) -> list[str]:
    kinds = list(aws_calls)
    rows = ["| phase | " + " | ".join(kinds) + " |", "|---|" + "---|" * len(kinds)]
    phases = ordered({p for k in kinds for p in aws_calls[k] if p != "total"})
    phases.append("total")
    for phase in phases:
        cells = []
        for kind in kinds:
            counts = aws_calls[kind].get(phase)
            cells.append(
                f"{int(counts['read']['median'])} / {int(counts['mutating']['median'])}"
                if counts and counts["read"]["median"] is not None
                else ""
            )
        rows.append(f"| {phase} | " + " | ".join(cells) + " |")
    return rows


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else Path(__file__).parent / "results" / "latest.json"
    print(markdown(json.loads(path.read_text())), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
