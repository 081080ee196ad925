"""A tiny SOCKS proxy on 127.0.0.1 for the tests: SOCKS5 (RFC 1928, RFC 1929 user/password),
and SOCKS4 / SOCKS4a (an IPv4 address, or a name the proxy resolves; the user id is recorded).

    with Socks5Proxy() as proxy:                       # or Socks5Proxy(auth=("u", "p"))
        session.get(srv.url, proxies={"https": proxy.url})      # socks5h://127.0.0.1:PORT
        assert proxy.targets == [("localhost", srv.port)]

Only ``CONNECT`` is served, and only to 127.0.0.1 (``localhost``, an IPv4 or a domain address):
the proxy never reaches the network. It records the address each client asked for as the client
sent it (a name with ``socks5h://``, an IP address with ``socks5://``, where the client resolves).
"""

from __future__ import annotations

import contextlib
import http.server
import ipaddress
import socket
import struct
from typing import Any

from tests.tlsserver import _HANDLER_TIMEOUT, _BaseServer, _relay

__all__ = ["Socks5Proxy"]

_LOCAL = ("127.0.0.1", "localhost", "::1")  # all served by 127.0.0.1


def _read(conn: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise ConnectionError("client closed the SOCKS negotiation")
        data += chunk
    return data


class Socks5Proxy(_BaseServer):
    """A SOCKS5 proxy that tunnels ``CONNECT`` to 127.0.0.1 only.

    Args:
        auth: ``(user, password)`` to require RFC 1929 authentication; None: no authentication.

    Attributes:
        url: ``socks5h://127.0.0.1:{port}`` (the proxy resolves names).
        targets: ``(host, port)`` of every CONNECT, in order, as the client sent them.
    """

    def __init__(self, *, auth: tuple[str, str] | None = None) -> None:
        super().__init__("127.0.0.1")
        self.auth = auth
        self.targets: list[tuple[str, int]] = []
        self.socks4_users: list[str] = []  # the user id of each SOCKS4 request
        # The handler class is never used: _serve_connection speaks SOCKS itself.
        self._make_httpd(http.server.BaseHTTPRequestHandler)

    @property
    def url(self) -> str:
        return f"socks5h://127.0.0.1:{self.port}"

    def _serve_connection(self, request: socket.socket, client_address: Any) -> None:
        request.settimeout(_HANDLER_TIMEOUT)
        with self._track(request):
            try:
                upstream = self._negotiate(request)
                if upstream is not None:
                    with self._track(upstream):
                        _relay(request, upstream)
            except (OSError, ValueError, struct.error) as exc:
                with self._lock:
                    self.errors.append(f"{type(exc).__name__}: {exc}")
            finally:
                with contextlib.suppress(OSError):
                    request.close()

    def _negotiate(self, conn: socket.socket) -> socket.socket | None:
        version, count = _read(conn, 2)
        if version == 4:
            return self._negotiate4(conn, command=count)
        if version != 5:
            raise ValueError(f"not SOCKS4 or SOCKS5: version {version}")
        methods = _read(conn, count)
        wanted = 0x02 if self.auth is not None else 0x00
        if wanted not in methods:
            conn.sendall(b"\x05\xff")
            return None
        conn.sendall(bytes([5, wanted]))
        if self.auth is not None:
            _, ulen = _read(conn, 2)
            user = _read(conn, ulen).decode()
            (plen,) = _read(conn, 1)
            password = _read(conn, plen).decode()
            if (user, password) != self.auth:
                conn.sendall(b"\x01\x01")
                return None
            conn.sendall(b"\x01\x00")
        _, command, _, atyp = _read(conn, 4)
        if atyp == 1:
            host = str(ipaddress.IPv4Address(_read(conn, 4)))
        elif atyp == 3:
            (n,) = _read(conn, 1)
            host = _read(conn, n).decode("ascii")
        elif atyp == 4:
            host = str(ipaddress.IPv6Address(_read(conn, 16)))
        else:
            raise ValueError(f"unknown SOCKS address type {atyp}")
        (port,) = struct.unpack("!H", _read(conn, 2))
        with self._lock:
            self.targets.append((host, port))

        def reply(code: int) -> None:
            conn.sendall(bytes([5, code, 0, 1]) + socket.inet_aton("127.0.0.1") + b"\x00\x00")

        if command != 1:  # CONNECT only
            reply(0x07)
            return None
        if host not in _LOCAL:
            reply(0x02)  # "connection not allowed by ruleset"
            return None
        try:
            upstream = socket.create_connection(("127.0.0.1", port), timeout=5)
        except OSError:
            reply(0x05)  # "connection refused"
            return None
        reply(0x00)
        return upstream

    def _negotiate4(self, conn: socket.socket, command: int) -> socket.socket | None:
        def until_nul() -> bytes:
            data = b""
            while not data.endswith(b"\0"):
                data += _read(conn, 1)
                if len(data) > 255:
                    raise ValueError("SOCKS4 field too long")
            return data[:-1]

        (port,) = struct.unpack("!H", _read(conn, 2))
        address = _read(conn, 4)
        user = until_nul().decode("ascii")
        # SOCKS4a: 0.0.0.x (x not 0) means "the name follows, the proxy resolves it".
        host = until_nul().decode("ascii") if address[:3] == b"\0\0\0" and address[3] else socket.inet_ntoa(address)
        with self._lock:
            self.targets.append((host, port))
            self.socks4_users.append(user)

        def reply(granted: bool) -> None:
            conn.sendall(bytes([0, 0x5A if granted else 0x5B]) + b"\0" * 6)

        if command != 1 or host not in _LOCAL:  # CONNECT to 127.0.0.1 only
            reply(False)
            return None
        try:
            upstream = socket.create_connection(("127.0.0.1", port), timeout=5)
        except OSError:
            reply(False)
            return None
        reply(True)
        return upstream

