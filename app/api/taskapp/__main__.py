"""Entry point of the image: `python -m taskapp --host 0.0.0.0 --port 8000`.

It checks the configuration once, before uvicorn starts its workers. uvicorn's supervisor
respawns a worker that fails at start forever, so without this check a missing password
would loop silently instead of stopping the container with a clear message.

uvicorn serves with uvloop and httptools when they are installed (the image pins both), else
with asyncio and h11. It logs no line per request unless given --access-log.
"""

from __future__ import annotations

import argparse
import os
import sys

import uvicorn

from taskapp.config import ConfigError, DatabaseSettings

EXIT_CONFIG_ERROR = 2


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m taskapp", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8000, help="TCP port to listen on")
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="worker processes (default: $WEB_CONCURRENCY, else 1)",
    )
    parser.add_argument(
        "--access-log",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="log one line per request (default: off; errors and start-up are always logged)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        DatabaseSettings.from_env(os.environ)
    except ConfigError as error:
        print(f"taskapp: configuration error: {error}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    uvicorn.run(
        "taskapp.main:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        server_header=False,
        # One line per request through logging, to stdout and Docker's json-file log, cost a
        # measurable share of a request this small; the web server can keep an access log.
        access_log=args.access_log,
        timeout_graceful_shutdown=10,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
