"""A socket-level guard: tests may reach loopback and unix sockets, nothing else."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


def _is_local_host(host: Any) -> bool:
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode()
    host = str(host).strip("[]")
    if host in LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


class OutboundGuard:
    def __init__(self) -> None:
        self.violations: list[str] = []
        self._real_connect = socket.socket.connect
        self._real_connect_ex = socket.socket.connect_ex
        self._real_getaddrinfo = socket.getaddrinfo

    @contextmanager
    def active(self) -> Iterator[None]:
        guard = self

        def connect(sock: socket.socket, address: Any) -> Any:
            guard._check(sock, address)
            return guard._real_connect(sock, address)

        def connect_ex(sock: socket.socket, address: Any) -> Any:
            guard._check(sock, address)
            return guard._real_connect_ex(sock, address)

        def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
            if not _is_local_host(host):
                guard.violations.append(f"DNS lookup of {host!r}")
                raise socket.gaierror(socket.EAI_NONAME, f"outbound network is disabled in tests ({host})")
            return guard._real_getaddrinfo(host, *args, **kwargs)

        socket.socket.connect = connect  # type: ignore[method-assign]
        socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
        socket.getaddrinfo = getaddrinfo  # type: ignore[assignment]
        try:
            yield
        finally:
            socket.socket.connect = self._real_connect  # type: ignore[method-assign]
            socket.socket.connect_ex = self._real_connect_ex  # type: ignore[method-assign]
            socket.getaddrinfo = self._real_getaddrinfo  # type: ignore[assignment]

    def _check(self, sock: socket.socket, address: Any) -> None:
        if sock.family == getattr(socket, "AF_UNIX", None):
            return
        host = address[0] if isinstance(address, tuple) else address
        if not _is_local_host(host):
            self.violations.append(f"connect to {address!r}")
            raise ConnectionRefusedError(f"outbound network is disabled in tests ({address!r})")
