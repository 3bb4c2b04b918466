"""The benchmark's own logic on recorded samples: no stack, no Docker, no timing."""

from __future__ import annotations

from pathlib import Path

import benchlib
import pytest

# hey 0.1.4's summary for a short run with a few failures (trimmed histogram).
HEY_OUTPUT = """
Summary:
  Total:\t10.0105 secs
  Slowest:\t0.0812 secs
  Fastest:\t0.0021 secs
  Average:\t0.0064 secs
  Requests/sec:\t199.8901

  Total data:\t1234567 bytes
  Size/request:\t617 bytes

Response time histogram:
  0.002 [1]\t|
  0.010 [1890]\t|■■■■■■■■■■■■■■■■■■■■■■■■■■■■■■■■■■■■■■■■

Latency distribution:
  10% in 0.0035 secs
  25% in 0.0041 secs
  50% in 0.0052 secs
  75% in 0.0066 secs
  90% in 0.0089 secs
  95% in 0.0110 secs
  99% in 0.0315 secs

Details (average, fastest, slowest):
  DNS+dialup:\t0.0000 secs, 0.0021 secs, 0.0812 secs
  resp wait:\t0.0060 secs, 0.0019 secs, 0.0800 secs

Status code distribution:
  [200]\t1990 responses
  [502]\t4 responses

Error distribution:
  [5]\tGet "http://127.0.0.1:8004/api/tasks": dial tcp 127.0.0.1:8004: connect: connection refused
  [1]\tGet "http://127.0.0.1:8004/api/tasks": context deadline exceeded
"""


def test_hey_percentiles_in_milliseconds():
    parsed = benchlib.parse_hey(HEY_OUTPUT)
    assert parsed["p50_ms"] == pytest.approx(5.2)
    assert parsed["p99_ms"] == pytest.approx(31.5)
    assert parsed["requests_per_s"] == pytest.approx(199.8901)


def test_hey_errors_count_non_2xx_and_transport_errors():
    parsed = benchlib.parse_hey(HEY_OUTPUT)
    assert parsed["statuses"] == {200: 1990, 502: 4}
    assert parsed["responses"] == 1994
    assert len(parsed["transport_errors"]) == 2
    assert parsed["errors"] == 4 + 5 + 1


def test_hey_without_errors():
    clean = HEY_OUTPUT.split("Error distribution:")[0].replace("  [502]\t4 responses\n", "")
    assert benchlib.parse_hey(clean)["errors"] == 0


@pytest.mark.parametrize(
    ("rate", "expected"), [(50, (1, 50)), (200, (4, 50)), (500, (10, 50)), (7, (1, 7))]
)
def test_hey_workers_multiply_to_the_rate(rate, expected):
    workers, per_worker = benchlib.hey_workers(rate)
    assert (workers, per_worker) == expected
    assert workers * per_worker == rate


def test_hey_workers_exact_for_awkward_rates():
    workers, per_worker = benchlib.hey_workers(123)
    assert workers * per_worker == 123


def test_hey_workers_bursts_of_twenty():
    assert benchlib.hey_workers(200, max_per_worker=10) == (20, 10)


@pytest.mark.parametrize(
    ("action", "kind"),
    [
        ("DescribeVpcs", "read"),
        ("GetCallerIdentity", "read"),
        ("ListTagsForResource", "read"),
        ("DescribeBudget", "read"),
        ("CreateVpc", "mutating"),
        ("RunInstances", "mutating"),
        ("CreateTags", "mutating"),
        ("AuthorizeSecurityGroupIngress", "mutating"),
        ("", "unknown"),
    ],
)
def test_call_kind(action, kind):
    assert benchlib.call_kind(action) == kind


def test_summary_median_min_max():
    assert benchlib.summary([3.0, 1.0, 2.0]) == {
        "median": 2.0,
        "min": 1.0,
        "max": 3.0,
        "runs": [3.0, 1.0, 2.0],
    }
    assert benchlib.summary([1.0, 4.0])["median"] == 2.5
    assert benchlib.summary([])["median"] is None


EVENTS = [
    {"event": "play", "time": 102.0, "name": "Preflight", "file": "preflight.yml"},
    {"event": "task", "time": 102.5, "name": "check"},
    {"event": "play", "time": 110.0, "name": "Find", "file": "wait_for_host.yml"},
    {"event": "task", "time": 110.1, "name": "refresh"},
    {"event": "play", "time": 111.0, "name": "Wait", "file": "wait_for_host.yml"},
    {"event": "task", "time": 111.5, "name": "wait"},
    {"event": "changed", "time": 112.0, "host": "i-1", "task": "wait"},
    {"event": "play", "time": 120.0, "name": "Configure", "file": "configure.yml"},
    {"event": "task", "time": 120.5, "name": "apt"},
    {"event": "end", "time": 150.0},
]


def test_phase_windows_start_with_startup_and_merge_plays_of_one_file():
    windows = benchlib.phase_windows(EVENTS, started=100.0)
    assert [(w.phase, w.start, w.end) for w in windows] == [
        ("startup", 100.0, 102.0),
        ("preflight", 102.0, 110.0),
        ("wait_for_host", 110.0, 120.0),
        ("configure", 120.0, 150.0),
    ]
    assert benchlib.phase_seconds(windows)["wait_for_host"] == 10.0


def test_phase_windows_without_plays():
    assert benchlib.phase_windows([], started=1.0) == []


def test_calls_are_mapped_to_phases_by_time():
    windows = benchlib.phase_windows(EVENTS, started=100.0)
    requests = [
        {"time": 99.0, "service": "ec2", "action": "DescribeVpcs"},  # before the run
        {"time": 101.0, "service": "ec2", "action": "DescribeInstances"},  # inventory
        {"time": 103.0, "service": "sts", "action": "GetCallerIdentity"},
        {"time": 104.0, "service": "budgets", "action": "CreateBudget"},
        {"time": 110.2, "service": "ec2", "action": "DescribeInstances"},
        {"time": 150.5, "service": "ec2", "action": "CreateTags"},  # after the last play
        {"time": 160.0, "service": "ec2", "action": "RunInstances"},  # after the process
    ]
    counts = benchlib.calls_by_phase(requests, windows, until=151.0)
    assert counts["startup"] == {"read": 1, "mutating": 0, "unknown": 0}
    assert counts["preflight"] == {"read": 1, "mutating": 1, "unknown": 0}
    assert counts["wait_for_host"]["read"] == 1
    assert counts["configure"]["mutating"] == 1
    assert benchlib.total_calls(counts) == {"read": 3, "mutating": 2, "unknown": 0}


def test_changed_count_and_task_seconds():
    assert benchlib.changed_count(EVENTS) == 1
    tasks = dict(benchlib.task_seconds(EVENTS, finish=150.0))
    assert tasks["apt"] == pytest.approx(29.5)
    assert tasks["check"] == pytest.approx(7.5)
    assert next(iter(tasks)) == "apt"


def test_package_seconds_sum_apts_tasks_per_phase():
    events = [
        {"event": "play", "time": 10.0, "name": "Configure", "file": "configure.yml"},
        {"event": "task", "time": 10.5, "name": "refresh", "action": "ansible.builtin.apt"},
        {"event": "task", "time": 12.5, "name": "read", "action": "ansible.builtin.command"},
        {"event": "task", "time": 13.0, "name": "install", "action": "ansible.builtin.apt"},
        {"event": "changed", "time": 18.0, "host": "i-1", "task": "install"},
        {"event": "task", "time": 19.0, "name": "start", "action": "ansible.builtin.systemd"},
        {"event": "play", "time": 20.0, "name": "Deploy", "file": "deploy.yml"},
        {"event": "task", "time": 20.5, "name": "old name", "action": "apt"},
        {"event": "end", "time": 21.0},
    ]
    windows = benchlib.phase_windows(events, started=9.0)
    seconds = benchlib.package_seconds(events, windows)
    assert seconds["configure"] == pytest.approx(2.0 + 6.0)
    assert seconds["deploy"] == pytest.approx(0.5)
    assert seconds["startup"] == 0.0
    # Events recorded before the action was (older timing files): nothing counted.
    assert benchlib.package_seconds(EVENTS, benchlib.phase_windows(EVENTS, 100.0)) == {
        "startup": 0.0,
        "preflight": 0.0,
        "wait_for_host": 0.0,
        "configure": 0.0,
    }


def test_actions_in_counts_by_service_and_action():
    requests = [
        {"time": 1.0, "service": "ec2", "action": "DescribeVpcs"},
        {"time": 2.0, "service": "ec2", "action": "DescribeVpcs"},
        {"time": 3.0, "service": "sts", "action": "GetCallerIdentity"},
        {"time": 9.0, "service": "ec2", "action": "RunInstances"},
    ]
    assert benchlib.actions_in(requests, 0.0, 5.0) == {
        "ec2:DescribeVpcs": 2,
        "sts:GetCallerIdentity": 1,
    }


@pytest.mark.parametrize(
    ("size", "mib"),
    [("45.5MiB", 45.5), ("1GiB", 1024.0), ("512KiB", 0.5), ("1048576B", 1.0), ("1MB", 0.95367)],
)
def test_mebibytes(size, mib):
    assert benchlib.mebibytes(size) == pytest.approx(mib, rel=1e-4)


def test_mebibytes_refuses_garbage():
    with pytest.raises(ValueError):
        benchlib.mebibytes("--")


def test_docker_stats_by_service():
    output = (
        "taskapp-db-1\t31.2MiB / 256MiB\n"
        "taskapp-api-1\t120MiB / 192MiB\n"
        "taskapp-web-1\t4MiB / 64MiB\n"
    )
    memory = benchlib.parse_docker_stats(output)
    assert memory == {"taskapp-db-1": 31.2, "taskapp-api-1": 120.0, "taskapp-web-1": 4.0}
    assert [benchlib.service_of_container(n) for n in memory] == ["db", "api", "web"]
    assert benchlib.service_of_container("other") == "other"


def test_report_table_from_figures():
    import report

    one = {"median": 2.0, "min": 1.0, "max": 3.0, "runs": [1.0, 2.0, 3.0]}
    counts = {"read": one, "mutating": {"median": 0, "min": 0, "max": 0, "runs": [0, 0, 0]}}
    results = {
        "date": "2026-11-28T04:00:00Z",
        "command": "make bench  # ...",
        "machine": {
            "cpus": 2,
            "memory_gib": 23.5,
            "os": "Linux",
            "docker": "20.10",
            "load_average_at_start": [1.0, 1.0, 1.0],
        },
        "settings": {"runs": 3, "host": {"cpus": "2", "memory": "1g"}},
        "figures": {
            "first_converge_s": one,
            "first_converge_to_http_200_s": one,
            "first_converge_phase_s": {"deploy": one, "startup": one, "newphase": one},
            "rerun_s": one,
            "rerun_changed": counts["mutating"],
            "rerun_ratio": one,
            "teardown_s": one,
            "aws_calls": {
                kind: {"provision": counts, "total": counts}
                for kind in ("converge", "rerun", "teardown")
            },
        },
    }
    table = report.markdown(results)
    assert "| first converge of `site.yml` | 2.0 s (1.0-3.0) |" in table
    assert table.index("phase startup") < table.index("phase deploy") < table.index("newphase")
    assert "| AWS calls, rerun: read / mutating | 2 (1-3) / 0 (0-0) |" in table
    assert "| provision | 2 / 0 | 2 / 0 | 2 / 0 |" in table
    assert "user data" not in table

    # The first converge with the host prepared by user data, side by side.
    results["figures"].update(
        first_converge_user_data_s=one,
        first_converge_user_data_to_http_200_s=one,
        first_converge_user_data_phase_s={"configure": one, "wait_for_host": one},
    )
    table = report.markdown(results)
    assert "| first converge, host prepared by user data | 2.0 s (1.0-3.0) |" in table
    assert "| … zero to HTTP 200 on both ports, user data | 2.0 s (1.0-3.0) |" in table
    assert table.index("phase wait_for_host, user data") < table.index("phase configure, user data")

    # A fresh host's configure phase: whole, apt's tasks, the rest, against Ansible's defaults.
    compared = {"project": one, "defaults": one, "ratio_defaults_over_project": one}
    results["figures"].update(
        configure_fresh_s=compared,
        configure_fresh_package_s=compared,
        configure_fresh_without_package_s=compared,
    )
    table = report.markdown(results)
    rows = [line for line in table.splitlines() if "configure phase, fresh host" in line]
    assert len(rows) == 6, rows
    assert table.index("fresh host, apt's tasks alone") < table.index("all but apt's tasks")


def test_report_reproduce_command():
    import report

    assert report.reproduce("make bench  # .venv/bin/python bench/stack_bench.py ") == "make bench"
    assert (
        report.reproduce("make bench  # .venv/bin/python bench/stack_bench.py --runs 1")
        == "make bench BENCH_ARGS='--runs 1'"
    )


def test_timer_settings_name_the_callback_that_exists():
    settings = benchlib.timer_settings()
    assert settings["ANSIBLE_CALLBACKS_ENABLED"] == "bench_timer"
    assert (Path(settings["ANSIBLE_CALLBACK_PLUGINS"]) / "bench_timer.py").is_file()


@pytest.mark.parametrize("turn", range(4))
def test_the_users_rerun_comes_first_and_the_others_alternate(turn):
    order = benchlib.rerun_order(turn)
    assert order[0] == benchlib.USER_RERUN
    assert sorted(order[1:]) == sorted(benchlib.OTHER_RERUNS)
    assert benchlib.rerun_order(turn + 1)[1:] == order[:0:-1]


def test_fresh_configure_splits_apts_tasks_from_the_rest_per_configuration():
    import stack_bench

    def converge(configure: float, apt: float) -> dict:
        return {"phases_s": {"configure": configure}, "package_s": {"configure": apt}}

    runs = [
        {"converge": converge(12.0, 8.0), "converge_defaults": converge(20.0, 9.0)},
        {"converge": converge(11.0, 8.0), "converge_defaults": converge(21.0, 9.0)},
    ]
    figures = stack_bench.fresh_configure(runs)
    assert figures["configure_fresh_s"]["ratio_defaults_over_project"]["runs"] == [
        pytest.approx(20 / 12),
        pytest.approx(21 / 11),
    ]
    assert figures["configure_fresh_package_s"]["project"]["median"] == 8.0
    without = figures["configure_fresh_without_package_s"]
    assert without["project"]["runs"] == [4.0, 3.0]
    assert without["ratio_defaults_over_project"]["runs"] == [11 / 4, 12 / 3]
    # Only the project's configuration ran: nothing to compare.
    assert stack_bench.fresh_configure([{"converge": converge(12.0, 8.0)}]) == {}
    # Runs recorded before the timer kept each task's action: the whole phase, no split.
    older = [{"converge": converge(12.0, 0.0), "converge_defaults": converge(20.0, 0.0)}]
    assert list(stack_bench.fresh_configure(older)) == ["configure_fresh_s"]
