#!/usr/bin/env python3
"""Start, stop and inspect the embedded AWS emulator (a moto server on 127.0.0.1).

The emulator stands in for AWS when no account is used. It is seeded at start with
Canonical's Ubuntu 24.04 AMI records (embedded/amis.json) so that the playbooks run the
same AMI lookup as on AWS. Its state lives in memory: a restart forgets everything.

With --hosts, every instance it launches also becomes a local host container reachable over
SSH on 127.0.0.1 (embedded/hosts.py), so that the whole site.yml runs on this machine.

With --enforce-iam, every request must be signed by an IAM user of the emulator and allowed by
its policies (embedded/iam_enforcement.py). The usual fake credentials then belong to an
administrator, which creates the least-privilege deployer (playbooks/deployer_iam.yml).
Each decision is logged to <state-dir>/iam-decisions.jsonl.

It runs in the realistic mode unless told otherwise (--no-realistic, or EMBEDDED_REALISM=false):
instances are pending, stopping and shutting-down for a while, deleting what an instance still
uses answers DependencyViolation, a share of EC2 calls is throttled, the tagging API still lists
deleted alarms and topics for a while (embedded/realism.py, docs/emulator.md; timings from
EMBEDDED_PENDING_S, EMBEDDED_SHUTTING_DOWN_S, EMBEDDED_STOPPING_S, EMBEDDED_THROTTLE_SHARE,
EMBEDDED_STALE_TAGS_S).

`env` prints the exports that point a shell at the emulator (eval "$(make -s local-env)");
`unset-env` prints the one `unset` line that takes them back out, so that the next run goes to
AWS with nothing of the emulator left over.

Usage: emulator.py {start|stop|status|reset|env|unset-env} [--port N] [--state-dir DIR]
                   [--hosts] [--enforce-iam] [--realistic | --no-realistic]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import hosts
from hosts import HOST_ARCHIVE_DIR

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent
AMI_SEED = HERE / "amis.json"
# Image archives made by tests/images/build.sh; mounted read-only into each host container.
# Beside each, <archive>.json describes it; its "env" names the images it holds for the app's
# env file (TASKAPP_*_IMAGE: the kit's stand-ins are not named like the official images).
IMAGE_CACHE = REPO_ROOT / ".cache" / "images"
DEFAULT_PORT = 4566
DEFAULT_STATE_DIR = REPO_ROOT / ".state" / "emulator"
START_TIMEOUT_S = 30.0

# Fake credentials: the emulator accepts any non-empty strings. They are never sent to AWS
# because the endpoint is always 127.0.0.1 when they are used.
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
PLACEHOLDER_ALERT_EMAIL = "billing-alerts@example.com"


class EmulatorError(RuntimeError):
    """A one-line problem the user can act on."""


def endpoint_url(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def pid_file(state_dir: Path) -> Path:
    return state_dir / "moto.pid"


def port_file(state_dir: Path) -> Path:
    """The port the emulator of this state folder was started on."""
    return state_dir / "moto.port"


def recorded_port(state_dir: Path) -> int | None:
    try:
        return int(port_file(state_dir).read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def chosen_port(given: int | None, state_dir: Path) -> int:
    """--port, else EMULATOR_PORT, else the port this state folder's emulator runs on: a
    `make destroy` in a shell without the EMULATOR_PORT of `make demo` still finds it."""
    if given is not None:
        return given
    if os.environ.get("EMULATOR_PORT"):
        return int(os.environ["EMULATOR_PORT"])
    return recorded_port(state_dir) or DEFAULT_PORT


def log_file(state_dir: Path) -> Path:
    return state_dir / "moto.log"


def outbox_file(state_dir: Path) -> Path:
    """The e-mails the emulator's SNS topics would have sent (embedded/alarms.py)."""
    return state_dir / "outbox.jsonl"


def read_pid(state_dir: Path) -> int | None:
    try:
        return int(pid_file(state_dir).read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def process_alive(pid: int) -> bool:
    # A server this very process started (the harness, the tests) stays a zombie that
    # signal 0 still reaches until it is reaped: `stop` then waited its whole 10 s.
    try:
        reaped, _ = os.waitpid(pid, os.WNOHANG)
        if reaped == pid:
            return False
    except ChildProcessError:
        pass  # not our child: started by another `emulator.py start`
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def answers(port: int) -> bool:
    """True when a moto server answers on the port (its API lists what it holds)."""
    try:
        with urllib.request.urlopen(f"{endpoint_url(port)}/moto-api/data.json", timeout=2) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError):
        return False


def port_taken(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def server_command(port: int, enforce_iam: bool = False, realistic: bool = True) -> list[str]:
    """embedded/server.py: moto, plus host containers for instances when EMBEDDED_HOSTS=true
    and AWS's EC2 behaviours with --realistic; run through embedded/iam_enforcement.py when IAM
    policies are enforced."""
    try:
        import moto  # noqa: F401 - imported only to tell the user moto is missing
    except ImportError as exc:
        raise EmulatorError(f"moto is not installed for {sys.executable}: run `make`") from exc
    script = "iam_enforcement.py" if enforce_iam else "server.py"
    mode = ["--realistic"] if realistic else []
    return [sys.executable, str(HERE / script), *mode, "-H", "127.0.0.1", "-p", str(port)]


def realism_default() -> bool:
    """The realistic mode is the default; EMBEDDED_REALISM=false turns it off."""
    return os.environ.get("EMBEDDED_REALISM", "true").lower() != "false"


def realism_file(state_dir: Path) -> Path:
    """Present while the running emulator models AWS's EC2 behaviours (embedded/realism.py)."""
    return state_dir / "realism.json"


def is_realistic(state_dir: Path) -> bool:
    return realism_file(state_dir).exists()


def enable_realism(env: dict[str, str], state_dir: Path) -> None:
    env["EMBEDDED_REALISM"] = "true"
    settings = {key: env[key] for key in sorted(env) if key in REALISM_SETTINGS}
    realism_file(state_dir).write_text(json.dumps(settings, indent=2) + "\n")


# What the realistic mode reads (embedded/realism.py); unset ones take its defaults.
REALISM_SETTINGS = (
    "EMBEDDED_PENDING_S",
    "EMBEDDED_SHUTTING_DOWN_S",
    "EMBEDDED_STOPPING_S",
    "EMBEDDED_THROTTLE_SHARE",
    "EMBEDDED_THROTTLE_SEED",
    "EMBEDDED_STALE_TAGS_S",
)


def iam_file(state_dir: Path) -> Path:
    """Present while the running emulator enforces IAM policies."""
    return state_dir / "iam.json"


def iam_decisions(state_dir: Path) -> Path:
    return state_dir / "iam-decisions.jsonl"


def enforces_iam(state_dir: Path) -> bool:
    return iam_file(state_dir).exists()


def enable_iam(env: dict[str, str], state_dir: Path) -> None:
    log = iam_decisions(state_dir)
    env["EMBEDDED_IAM_LOG"] = str(log)
    iam_file(state_dir).write_text(json.dumps({"decisions": str(log)}, indent=2) + "\n")


def hosts_file(state_dir: Path) -> Path:
    return state_dir / "hosts.json"


def host_settings(state_dir: Path) -> dict[str, str] | None:
    """How the controller reaches the host containers, when the emulator makes them."""
    try:
        return json.loads(hosts_file(state_dir).read_text())
    except (FileNotFoundError, ValueError):
        return None


def app_env_of(archives: list[str]) -> dict[str, str]:
    """The app's env file entries that make it use the images of these archives."""
    app_env: dict[str, str] = {}
    for archive in archives:
        description = Path(archive).with_suffix(".json")
        try:
            app_env.update(json.loads(description.read_text())["env"])
        except FileNotFoundError:
            continue  # an archive without names of its own: the app's defaults apply
        except (ValueError, KeyError, TypeError) as exc:
            raise EmulatorError(
                f"{description} is not an image kit description: run tests/images/build.sh"
            ) from exc
    return app_env


def enable_hosts(env: dict[str, str], port: int, state_dir: Path) -> None:
    if not shutil.which("docker"):
        raise EmulatorError("--hosts needs Docker: run `make prerequisites` or install Docker")
    archives = sorted(str(p) for p in IMAGE_CACHE.glob("*.tar"))
    env.update(EMBEDDED_HOSTS="true", EMBEDDED_IMAGE_ARCHIVES=":".join(archives))
    settings = {
        "EMBEDDED_HOST_ADDRESS": "127.0.0.1",
        # Where the host's opened ports are published on 127.0.0.1, as a JSON object.
        "EMBEDDED_HOST_PORTS": json.dumps(
            {
                str(guest): local
                for guest, local in hosts.published_ports_from_env(
                    os.environ.get("EMBEDDED_HOST_PORTS", "")
                ).items()
            }
        ),
        # Where the archives land inside each host, for the deploy role to load.
        "EMBEDDED_HOST_IMAGE_ARCHIVES": ":".join(
            f"{HOST_ARCHIVE_DIR}/{Path(p).name}" for p in archives
        ),
        # The names of those images for the app's env file (app_deploy_env), as a JSON object.
        "EMBEDDED_HOST_APP_ENV": json.dumps(app_env_of(archives), sort_keys=True),
    }
    env.update(settings)
    hosts_file(state_dir).write_text(json.dumps(settings, indent=2) + "\n")


def start(
    port: int,
    state_dir: Path,
    with_hosts: bool = False,
    enforce_iam: bool = False,
    realistic: bool = True,
) -> str:
    pid = read_pid(state_dir)
    if pid and process_alive(pid) and answers(port):
        if realistic != is_realistic(state_dir):
            running = "realistic" if is_realistic(state_dir) else "plain"
            raise EmulatorError(
                f"the emulator runs in the {running} mode: `make emulator-stop` first"
            )
        if with_hosts and host_settings(state_dir) is None:
            raise EmulatorError(
                "the emulator runs without host containers: `make emulator-stop` first"
            )
        # The other way round is harmless: the usual credentials are the administrator's.
        if enforce_iam and not enforces_iam(state_dir):
            raise EmulatorError(
                "the emulator runs without IAM enforcement: `make emulator-stop` first"
            )
        return f"emulator already running on {endpoint_url(port)} (pid {pid})"
    if port_taken(port):
        raise EmulatorError(
            f"port {port} on 127.0.0.1 is taken by another program: stop it or set EMULATOR_PORT"
        )
    state_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, MOTO_AMIS_PATH=str(AMI_SEED))
    # The emulator must never inherit an endpoint pointing at itself or real credentials.
    env.pop("AWS_ENDPOINT_URL", None)
    env["MOTO_PORT"] = str(port)
    env["EMBEDDED_OUTBOX"] = str(outbox_file(state_dir))
    hosts_file(state_dir).unlink(missing_ok=True)
    iam_file(state_dir).unlink(missing_ok=True)
    realism_file(state_dir).unlink(missing_ok=True)
    env["EMBEDDED_REALISM"] = "false"
    if realistic:
        enable_realism(env, state_dir)
    if with_hosts:
        enable_hosts(env, port, state_dir)
    if enforce_iam:
        enable_iam(env, state_dir)
    with log_file(state_dir).open("ab") as log:
        process = subprocess.Popen(
            server_command(port, enforce_iam, realistic),
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    pid_file(state_dir).write_text(f"{process.pid}\n")
    port_file(state_dir).write_text(f"{port}\n")
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise EmulatorError(
                f"the emulator exited at start (code {process.returncode}): "
                f"see {log_file(state_dir)}"
            )
        if answers(port):
            iam = ", IAM policies enforced" if enforce_iam else ""
            mode = ", realistic EC2" if realistic else ""
            return f"emulator started on {endpoint_url(port)} (pid {process.pid}{iam}{mode})"
        time.sleep(0.2)
    stop(port, state_dir)
    raise EmulatorError(
        f"the emulator did not answer within {START_TIMEOUT_S:.0f}s: see {log_file(state_dir)}"
    )


def stop(port: int, state_dir: Path, with_hosts: bool = False, enforce_iam: bool = False) -> str:
    # The emulator forgets its instances: their host containers go with it, found by the port
    # it was started on (their label), whatever port this command was given.
    if host_settings(state_dir) is not None:
        started_on = recorded_port(state_dir) or port
        hosts.remove_all(hosts.HostSettings(emulator_port=str(started_on)))
        hosts_file(state_dir).unlink(missing_ok=True)
    iam_file(state_dir).unlink(missing_ok=True)
    realism_file(state_dir).unlink(missing_ok=True)
    pid = read_pid(state_dir)
    if not pid or not process_alive(pid):
        pid_file(state_dir).unlink(missing_ok=True)
        port_file(state_dir).unlink(missing_ok=True)
        return "emulator not running"
    os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and process_alive(pid):
        time.sleep(0.1)
    if process_alive(pid):
        os.killpg(pid, signal.SIGKILL)
    pid_file(state_dir).unlink(missing_ok=True)
    port_file(state_dir).unlink(missing_ok=True)
    return f"emulator stopped (pid {pid})"


def status(port: int, state_dir: Path, with_hosts: bool = False, enforce_iam: bool = False) -> str:
    pid = read_pid(state_dir)
    if pid and process_alive(pid) and answers(port):
        iam = ", IAM policies enforced" if enforces_iam(state_dir) else ""
        mode = ", realistic EC2" if is_realistic(state_dir) else ""
        return f"running on {endpoint_url(port)} (pid {pid}, log {log_file(state_dir)}{iam}{mode})"
    raise EmulatorError("emulator not running: start it with `make emulator-start`")


def reset(port: int, state_dir: Path, with_hosts: bool = False, enforce_iam: bool = False) -> str:
    """Forget every resource (the AMI seed and, with IAM enforcement, the admin come back)."""
    request = urllib.request.Request(f"{endpoint_url(port)}/moto-api/reset", method="POST")
    try:
        urllib.request.urlopen(request, timeout=10).close()
    except (urllib.error.URLError, OSError) as exc:
        raise EmulatorError(f"cannot reset the emulator on {endpoint_url(port)}: {exc}") from exc
    return "emulator reset: every resource forgotten"


# The inventory overlay of the embedded default (embedded/inventory/): after the production
# source, so that its group_vars override where the host is reached and what images it loads.
OVERLAY_INVENTORY = HERE / "inventory" / "overlay.yml"
PRODUCTION_INVENTORY = REPO_ROOT / "inventory" / "aws_ec2.yml"
# A profile or session token from the user's shell would be sent to the emulator.
USER_AWS_SETTINGS = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")


def playbook_environment(port: int, state_dir: Path) -> dict[str, str]:
    """What plain `ansible-playbook` runs need to use this emulator: the endpoint, its fake
    credentials (with IAM enforcement, the administrator's), the inventory overlay and, with
    host containers, where they are published. The one place every harness takes it from."""
    return {
        **(host_settings(state_dir) or {}),
        "AWS_ENDPOINT_URL": endpoint_url(port),
        **FAKE_CREDENTIALS,
        "ANSIBLE_INVENTORY": f"{PRODUCTION_INVENTORY},{OVERLAY_INVENTORY}",
        # The emulator sends no mail: a placeholder address is enough for the budget alert.
        "BUDGET_ALERT_EMAIL": os.environ.get("BUDGET_ALERT_EMAIL", PLACEHOLDER_ALERT_EMAIL),
        "PATH": f"{REPO_ROOT / '.venv' / 'bin'}:{os.environ.get('PATH', '')}",
    }


def shell_env(
    port: int, state_dir: Path, with_hosts: bool = False, enforce_iam: bool = False
) -> str:
    """Exports that point plain `ansible-playbook` runs at the emulator."""
    exports = playbook_environment(port, state_dir)
    lines = [f"export {key}={json.dumps(value)}" for key, value in exports.items()]
    unset = list(USER_AWS_SETTINGS)
    if host_settings(state_dir) is None:
        unset += [name for name in os.environ if name.startswith("EMBEDDED_HOST_")]
    lines.append("unset " + " ".join(unset))
    return "\n".join(lines)


def shell_unset_env(
    port: int, state_dir: Path, with_hosts: bool = False, enforce_iam: bool = False
) -> str:
    """One `unset` line that undoes `env` in the caller's shell.

    The endpoint, the inventory overlay and every EMBEDDED_ setting go; the credentials and the
    alert address go only when they are the emulator's own values (a user's real ones stay).
    PATH keeps the project's .venv: the same ansible-playbook runs against AWS. What `env`
    unset (AWS_PROFILE, a session token) cannot be brought back: set it again.
    """
    names = ["AWS_ENDPOINT_URL"] if "AWS_ENDPOINT_URL" in os.environ else []
    if str(OVERLAY_INVENTORY) in os.environ.get("ANSIBLE_INVENTORY", ""):
        names.append("ANSIBLE_INVENTORY")
    names += [key for key, fake in FAKE_CREDENTIALS.items() if os.environ.get(key) == fake]
    if os.environ.get("BUDGET_ALERT_EMAIL") == PLACEHOLDER_ALERT_EMAIL:
        names.append("BUDGET_ALERT_EMAIL")
    names += sorted(name for name in os.environ if name.startswith("EMBEDDED_"))
    return f"unset {' '.join(names)}" if names else ""


COMMANDS = {
    "start": start,
    "stop": stop,
    "status": status,
    "reset": reset,
    "env": shell_env,
    "unset-env": shell_unset_env,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=sorted(COMMANDS))
    parser.add_argument(
        "--port",
        type=int,
        help=f"default: EMULATOR_PORT, else the running one, else {DEFAULT_PORT}",
    )
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    parser.add_argument(
        "--hosts", action="store_true", help="start: make a host container for each instance"
    )
    parser.add_argument(
        "--enforce-iam",
        action="store_true",
        help="start: check every request against the caller's IAM policies",
    )
    parser.add_argument(
        "--realistic",
        action=argparse.BooleanOptionalAction,
        default=realism_default(),
        help="start: model AWS's EC2 lifecycle, DependencyViolation and throttling "
        "(default: on unless EMBEDDED_REALISM=false)",
    )
    args = parser.parse_args(argv)
    try:
        port = chosen_port(args.port, args.state_dir)
        if args.command == "start":
            print(start(port, args.state_dir, args.hosts, args.enforce_iam, args.realistic))
            return 0
        print(COMMANDS[args.command](port, args.state_dir, args.hosts, args.enforce_iam))
    except EmulatorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
