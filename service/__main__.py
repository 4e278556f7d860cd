"""``python -m service --artifact DIR [--host H] [--port P] [--workers N]``.

Every option also reads its ``SCORING_*`` environment variable (options win). The server is
uvicorn with uvloop and httptools, access log off, graceful shutdown on SIGTERM (requests in
flight finish, up to ``--graceful-timeout`` seconds). Connections are read through
:class:`service.connections.GuardedHttpToolsProtocol`: header, body and write timeouts and
a cap on open connections (``SCORING_HEADER_TIMEOUT_SECONDS``,
``SCORING_BODY_TIMEOUT_SECONDS``, ``SCORING_REQUEST_TIMEOUT_SECONDS``,
``SCORING_MAX_CONNECTIONS``).
"""

from __future__ import annotations

import argparse
import functools
import os
import resource
import socket
import sys
from typing import Any

from .settings import ENV_PREFIX, Settings

#: File descriptors kept free beyond the connection cap (artifact, store, threads, logs).
SPARE_FILES = 128


def _raise_file_limit(max_connections: int) -> None:
    """Raise the soft limit on open files to fit the connection cap (up to the hard
    limit): at the limit, ``accept`` fails and new connections, probes included, wait."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = max_connections + SPARE_FILES
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return
    new = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if new > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    if new < wanted:
        print(
            f"warning: the open-file limit ({new}) is below SCORING_MAX_CONNECTIONS + "
            f"{SPARE_FILES} ({wanted}); lower SCORING_MAX_CONNECTIONS or raise the limit",
            file=sys.stderr,
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m service",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--artifact", help="artifact directory [SCORING_ARTIFACT]")
    parser.add_argument("--host", help="bind address [SCORING_HOST, default 127.0.0.1]")
    parser.add_argument("--port", type=int, help="port [SCORING_PORT, default 8000]")
    parser.add_argument("--workers", type=int, help="processes [SCORING_WORKERS, default 1]")
    parser.add_argument(
        "--fd", type=int, help="serve on this inherited, bound socket (--host/--port unused)"
    )
    parser.add_argument("--api-key", help="require this bearer token [SCORING_API_KEY]")
    parser.add_argument("--log-level", help="[SCORING_LOG_LEVEL, default info]")
    parser.add_argument(
        "--graceful-timeout",
        type=int,
        default=30,
        help="seconds to finish requests in flight on SIGTERM (default 30)",
    )
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env(
            artifact=args.artifact,
            host=args.host,
            port=args.port,
            workers=args.workers,
            api_key=args.api_key,
            log_level=args.log_level,
        )
    except ValueError as exc:
        parser.error(str(exc))
    # Workers are separate processes: hand them the resolved settings through the env.
    for name in ("artifact", "host", "port", "workers", "api_key", "log_level"):
        os.environ[ENV_PREFIX + name.upper()] = str(getattr(settings, name))

    _raise_file_limit(settings.max_connections)
    import uvicorn

    if args.fd is not None and settings.workers > 1:
        parser.error("--fd serves one process (--workers 1)")
    run = uvicorn.run if args.fd is None else functools.partial(_run_on_socket, args.fd)
    run(
        "service.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        loop="uvloop",
        http="service.connections:GuardedHttpToolsProtocol",
        ws="none",
        lifespan="on",
        log_level=settings.log_level,
        access_log=False,
        timeout_graceful_shutdown=args.graceful_timeout,
    )
    sys.exit(0)


def _run_on_socket(fd: int, app: str, **options: Any) -> None:
    """``uvicorn.run(app, **options)`` on the inherited, bound socket ``fd``. (uvicorn's own
    ``fd=`` opens it as AF_UNIX, so uvloop would serve TCP as a pipe, without TCP_NODELAY:
    a 40 ms delayed-ACK stall on each keep-alive request.)"""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, **options))
    server.run(sockets=[socket.socket(fileno=fd)])  # the socket's own family
    if not server.started:
        sys.exit(3)  # as uvicorn.run: the application did not start


if __name__ == "__main__":
    main()
