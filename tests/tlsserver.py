"""Real HTTPS/HTTP servers and a CONNECT proxy on 127.0.0.1 for the tests.

    from tests.tlsserver import HTTPSServer, ok, redirect

    with HTTPSServer(pki) as srv:                 # PKI, Cert, or [leaf, intermediate, ...]
        urllib.request.urlopen(srv.url + "/x", context=ctx)
        assert srv.requests[0].path == "/x"

Design:
- ``http.server.ThreadingHTTPServer``; the TLS handshake runs in the per-connection thread (not
  in ``accept``), so a client that fails or stalls its handshake never blocks the server.
  Handshake failures are recorded in :attr:`HTTPSServer.connections` (``error`` set), never
  printed or raised: the tests run with ``filterwarnings = error`` and no thread exceptions.
- The server context runs at ``@SECLEVEL=0`` by default, so it can *serve* weak certificates
  (SHA-1, RSA-1024) and old protocols when asked: the client under test decides what it accepts.
- TLS 1.0/1.1: OpenSSL 3.0 negotiates them only at security level 0 (their PRF uses SHA-1/MD5).
  ``HTTPSServer(..., maximum_version=ssl.TLSVersion.TLSv1_1)`` does that; the client must
  also drop to ``@SECLEVEL=0`` and ``minimum_version = TLSv1``. Setting TLSv1/TLSv1_1 as a
  min/max version raises a DeprecationWarning in Python >= 3.10; this module suppresses it for
  its own context (use :func:`legacy_client_context` for a client that can talk to it).
- TLS 1.2 suites restricted with ``ciphers=`` need ``maximum_version=TLSv1_2`` (``set_ciphers``
  does not affect TLS 1.3), which :class:`HTTPSServer` sets automatically when ``ciphers`` is
  given and ``maximum_version`` is not. RSA suites (``ECDHE-RSA-AES128-SHA``,
  ``AES128-GCM-SHA256``) need an RSA leaf: ``PKI.create(key_kind="rsa2048")``.
- Every open connection is shut down on :meth:`HTTPSServer.stop`; stop waits (bounded) for the
  handler threads.
"""

from __future__ import annotations

import _socket
import contextlib
import http.client
import http.server
import select
import socket
import ssl
import tempfile
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from tests.pki import PKI, Cert

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = [
    "DEFAULT_BODY",
    "ConnectProxy",
    "ConnectionInfo",
    "HTTPSServer",
    "PlainHTTPServer",
    "RecordedRequest",
    "Response",
    "Route",
    "get",
    "handshake",
    "legacy_client_context",
    "ok",
    "redirect",
    "server_context",
]

DEFAULT_BODY = b"hello from tlsback test server\n"

#: (status, headers, body)
Route = tuple[int, dict[str, str], bytes]
#: a route may also be computed: ``fn(request) -> Route``
RouteLike = Route | Callable[["RecordedRequest"], Route]

_HANDLER_TIMEOUT = 10.0  # seconds a connection may idle (handshake included)
_STOP_JOIN_TIMEOUT = 5.0


def ok(body: bytes | str = DEFAULT_BODY, content_type: str = "text/plain") -> Route:
    """A 200 route."""
    data = body.encode() if isinstance(body, str) else body
    return (200, {"Content-Type": content_type}, data)


def redirect(location: str, status: int = 302) -> Route:
    """A redirect route."""
    return (status, {"Location": location, "Content-Type": "text/plain"}, b"redirect\n")


class RecordedRequest(NamedTuple):
    """One HTTP request the server answered."""

    method: str
    path: str
    headers: dict[str, str]
    client_subject: str | None  # RFC 4514 subject of the client certificate, if any


class ConnectionInfo(NamedTuple):
    """One accepted TCP connection and how its TLS handshake went."""

    client_address: tuple[str, int]
    sni: str | None
    tls_version: str | None  # e.g. "TLSv1.3"; None when the handshake failed / plain HTTP
    cipher: str | None
    alpn: str | None
    client_subject: str | None
    error: str | None  # handshake error, None on success


def _simple_index(name: str) -> bytes:
    # PEP 503 page with no links: pip and uv accept it (and find no versions).
    return (
        "<!DOCTYPE html>\n<html>\n  <head>\n"
        '    <meta name="pypi:repository-version" content="1.0">\n'
        f"    <title>Links for {name}</title>\n  </head>\n"
        f"  <body>\n    <h1>Links for {name}</h1>\n  </body>\n</html>\n"
    ).encode()


def _default_route(req: RecordedRequest) -> Route:
    path = req.path.split("?", 1)[0]
    if path in ("/simple", "/simple/"):
        body = b'<!DOCTYPE html>\n<html><head><meta name="pypi:repository-version" content="1.0"><title>Simple index</title></head><body></body></html>\n'
        return (200, {"Content-Type": "text/html"}, body)
    if path.startswith("/simple/"):
        rest = path[len("/simple/") :]
        if rest and "/" not in rest:
            return redirect(path + "/", 301)
        pkg = rest.strip("/").split("/", 1)[0]
        return (200, {"Content-Type": "text/html"}, _simple_index(pkg))
    return ok()


def _subject_of(der: bytes | None) -> str | None:
    if not der:
        return None
    from cryptography import x509

    return x509.load_der_x509_certificate(der).subject.rfc4514_string()


def _as_chain(chain: Cert | PKI | Sequence[Cert]) -> list[Cert]:
    if isinstance(chain, PKI):
        return chain.chain
    if isinstance(chain, Cert):
        return [chain]
    return list(chain)


@contextlib.contextmanager
def _legacy_versions_allowed() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        yield


def server_context(
    chain: Cert | PKI | Sequence[Cert],
    key: Any = None,
    *,
    minimum_version: ssl.TLSVersion | None = None,
    maximum_version: ssl.TLSVersion | None = None,
    ciphers: str | None = None,
    client_ca: Cert | Sequence[Cert] | None = None,
    require_client_cert: bool = False,
    alpn: Sequence[str] | None = ("http/1.1",),
) -> ssl.SSLContext:
    """Build the server ``SSLContext`` :class:`HTTPSServer` uses (exposed for odd setups).

    ``key`` is a private key object or PEM bytes; default the leaf's key.
    """
    certs = _as_chain(chain)
    if key is None:
        key_pem = certs[0].key_pem
    elif isinstance(key, bytes):
        key_pem = key
    elif isinstance(key, Cert):
        key_pem = key.key_pem
    else:
        key_pem = Cert(certs[0].cert, key).key_pem
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with _legacy_versions_allowed():
        # Serve whatever the client under test offers, weak certificates included.
        cipher_string = ciphers or "ALL:!aNULL"
        if "@SECLEVEL" not in cipher_string:
            cipher_string += ":@SECLEVEL=0"
        ctx.set_ciphers(cipher_string)
        if minimum_version is not None:
            ctx.minimum_version = minimum_version
        elif maximum_version is not None and maximum_version < ssl.TLSVersion.TLSv1_2:
            ctx.minimum_version = ssl.TLSVersion.TLSv1
        if maximum_version is None and ciphers is not None:
            maximum_version = ssl.TLSVersion.TLSv1_2  # set_ciphers has no effect on TLS 1.3
        if maximum_version is not None:
            ctx.maximum_version = maximum_version
    with tempfile.TemporaryDirectory(prefix="tlsback-srv-") as tmp:
        certfile = Path(tmp) / "chain.pem"
        keyfile = Path(tmp) / "key.pem"
        certfile.write_bytes(b"".join(c.pem for c in certs))
        keyfile.write_bytes(key_pem)
        ctx.load_cert_chain(certfile, keyfile)
    if client_ca is not None:
        cas = [client_ca] if isinstance(client_ca, Cert) else list(client_ca)
        ctx.load_verify_locations(cadata="".join(c.pem.decode() for c in cas))
        ctx.verify_mode = ssl.CERT_REQUIRED if require_client_cert else ssl.CERT_OPTIONAL
    elif require_client_cert:
        raise ValueError("require_client_cert needs client_ca")
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    return ctx


def legacy_client_context(
    cafile: str | Path | None = None,
    *,
    cadata: str | bytes | None = None,
    minimum_version: ssl.TLSVersion = ssl.TLSVersion.MINIMUM_SUPPORTED,
    verify: bool = True,
) -> ssl.SSLContext:
    """A permissive client context (TLS 1.0 .. 1.3, every cipher, ``@SECLEVEL=0``).

    For checking what a restricted server really negotiates. Not for the code under test.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    with _legacy_versions_allowed():
        ctx.set_ciphers("ALL:@SECLEVEL=0")
        ctx.minimum_version = minimum_version
    if isinstance(cadata, bytes) and cadata.lstrip().startswith(b"-----"):
        cadata = cadata.decode("ascii")  # bytes cadata means DER to ssl
    if verify:
        if cafile is not None or cadata is not None:
            ctx.load_verify_locations(cafile=cafile, cadata=cadata)
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


# The SNI callback runs inside the handshake, i.e. in the connection's own thread.
_sni_seen = threading.local()


def _record_sni(sslobj: Any, server_name: str | None, ctx: ssl.SSLContext) -> None:
    _sni_seen.name = server_name


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer
    timeout = _HANDLER_TIMEOUT

    def log_message(self, format: str, *args: Any) -> None:
        pass  # silence: tests must stay quiet

    def log_error(self, format: str, *args: Any) -> None:
        pass

    def _client_subject(self) -> str | None:
        conn = self.connection
        if isinstance(conn, ssl.SSLSocket):
            try:
                return _subject_of(conn.getpeercert(binary_form=True))
            except (ValueError, OSError):
                return None
        return None

    def _serve(self) -> None:
        body_in = b""
        length = self.headers.get("Content-Length")
        if length:
            try:
                body_in = self.rfile.read(int(length))
            except (ValueError, OSError):
                body_in = b""
        req = RecordedRequest(
            self.command,
            self.path,
            {k: v for k, v in self.headers.items()},
            self._client_subject(),
        )
        owner = self.server.owner
        assert isinstance(owner, HTTPSServer)
        with owner._lock:
            owner.requests.append(req)
            owner.bodies.append(body_in)
        route = owner.find_route(req)
        status, headers, body = route(req) if callable(route) else route
        self.send_response(status)
        lower = {k.lower() for k in headers}
        for k, v in headers.items():
            self.send_header(k, v)
        if "content-length" not in lower:
            self.send_header("Content-Length", str(len(body)))
        if "content-type" not in lower:
            self.send_header("Content-Type", "text/plain")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _serve


class _HTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = False
    owner: _BaseServer

    def finish_request(self, request: Any, client_address: Any) -> None:
        self.owner._serve_connection(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with contextlib.suppress(OSError):
            request.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # recorded elsewhere; never print tracebacks from server threads


class _BaseServer:
    """Common start/stop/connection tracking for the servers in this module."""

    def __init__(self, host: str) -> None:
        self.host = host
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._threads: set[threading.Thread] = set()
        self._thread: threading.Thread | None = None
        self._httpd: _HTTPServer | None = None
        self.errors: list[str] = []

    def _make_httpd(self, handler: type[http.server.BaseHTTPRequestHandler]) -> None:
        self._httpd = _HTTPServer((self.host, 0), handler, bind_and_activate=True)
        self._httpd.owner = self
        self._httpd_ref = self._httpd  # handlers still running after stop() need it
        self.port = self._httpd.server_address[1]

    def start(self) -> Self:
        assert self._httpd is not None
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"{type(self).__name__}:{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting, shut down open connections, wait (bounded) for handler threads."""
        if self._httpd is None:
            return
        httpd, self._httpd = self._httpd, None
        if self._thread is not None:
            # Wakes serve_forever's poll at once (on Linux a shut-down listening socket is
            # readable, its accept fails and the loop sees the shutdown flag) instead of after
            # up to poll_interval: hundreds of servers a run. Elsewhere, poll_interval still ends it.
            with contextlib.suppress(OSError):
                _socket.socket.shutdown(httpd.socket, socket.SHUT_RDWR)
            httpd.shutdown()
            self._thread.join(_STOP_JOIN_TIMEOUT)
        httpd.server_close()
        with self._lock:
            socks = list(self._open)
            threads = list(self._threads)
        for s in socks:
            with contextlib.suppress(OSError, ValueError):
                # On the file descriptor itself: SSLSocket.shutdown() would drop its SSL
                # object under a thread that may be reading from it.
                _socket.socket.shutdown(s, socket.SHUT_RDWR)
        for t in threads:
            t.join(_STOP_JOIN_TIMEOUT)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @contextlib.contextmanager
    def _track(self, *socks: socket.socket) -> Iterator[None]:
        me = threading.current_thread()
        with self._lock:
            self._open.update(socks)
            self._threads.add(me)
        try:
            yield
        finally:
            with self._lock:
                self._open.difference_update(socks)
                self._threads.discard(me)
            for s in socks:
                with contextlib.suppress(OSError):
                    s.close()

    def _serve_connection(self, request: socket.socket, client_address: Any) -> None:
        raise NotImplementedError


class HTTPSServer(_BaseServer):
    """A real HTTPS (or, with ``tls=False``, HTTP) server on 127.0.0.1, in a thread.

    Args:
        chain: a :class:`PKI` (leaf + intermediate are sent), a :class:`Cert`, or a sequence of
            certificates, leaf first, all sent as the chain.
        key: the leaf's private key (object, PEM bytes or a Cert); default ``chain[0].key``.
        context: a complete server ``SSLContext`` to use instead (chain/key then ignored,
            pass ``None`` for chain).
        minimum_version, maximum_version: ``ssl.TLSVersion`` limits.
        ciphers: OpenSSL cipher string for TLS <= 1.2 (implies ``maximum_version=TLSv1_2``).
        client_ca: CA(s) whose client certificates are accepted; requested optionally
            unless ``require_client_cert``.
        require_client_cert: reject clients without a certificate.
        routes: ``{path: (status, headers, body)}`` or ``{path: fn(request) -> route}``.
            Paths match exactly (with query first, then without); ``"*"`` is the fallback.
            Default route: 200 ``DEFAULT_BODY``, plus a PEP 503 index under ``/simple/``.
        host: bind address.
        tls: ``False`` for plain HTTP.
        alpn: ALPN protocols offered by the server (default ``http/1.1``).

    Attributes:
        url: ``https://localhost:{port}``; ``ip_url``: ``https://127.0.0.1:{port}``.
        requests: :class:`RecordedRequest` list, in arrival order.
        bodies: the request bodies, parallel to ``requests``.
        connections: :class:`ConnectionInfo` per TCP connection (handshake failures too).
    """

    def __init__(
        self,
        chain: Cert | PKI | Sequence[Cert] | None = None,
        key: Any = None,
        *,
        context: ssl.SSLContext | None = None,
        minimum_version: ssl.TLSVersion | None = None,
        maximum_version: ssl.TLSVersion | None = None,
        ciphers: str | None = None,
        client_ca: Cert | Sequence[Cert] | None = None,
        require_client_cert: bool = False,
        routes: dict[str, RouteLike] | None = None,
        host: str = "127.0.0.1",
        tls: bool = True,
        alpn: Sequence[str] | None = ("http/1.1",),
    ) -> None:
        super().__init__(host)
        self.tls = tls
        self.routes: dict[str, RouteLike] = dict(routes or {})
        self.requests: list[RecordedRequest] = []
        self.bodies: list[bytes] = []
        self.connections: list[ConnectionInfo] = []
        self.context: ssl.SSLContext | None = None
        if tls:
            if context is None:
                if chain is None:
                    raise ValueError("HTTPSServer needs a chain (or context=, or tls=False)")
                context = server_context(
                    chain,
                    key,
                    minimum_version=minimum_version,
                    maximum_version=maximum_version,
                    ciphers=ciphers,
                    client_ca=client_ca,
                    require_client_cert=require_client_cert,
                    alpn=alpn,
                )
            if context.sni_callback is None:
                context.sni_callback = _record_sni
            self.context = context
        self._make_httpd(_Handler)

    # -- addresses
    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://localhost:{self.port}"

    @property
    def ip_url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def netloc(self) -> str:
        return f"localhost:{self.port}"

    # -- routing
    def find_route(self, req: RecordedRequest) -> RouteLike:
        for candidate in (req.path, req.path.split("?", 1)[0]):
            if candidate in self.routes:
                return self.routes[candidate]
        return self.routes.get("*", _default_route)

    # -- connection handling (runs in the per-connection thread)

    def _serve_connection(self, request: socket.socket, client_address: Any) -> None:
        request.settimeout(_HANDLER_TIMEOUT)
        conn: socket.socket = request
        with self._track(request):
            if self.tls:
                assert self.context is not None
                _sni_seen.name = None
                try:
                    conn = self.context.wrap_socket(
                        request, server_side=True, do_handshake_on_connect=False
                    )
                    with self._lock:
                        self._open.add(conn)  # so stop() can interrupt a stalled handshake
                    conn.do_handshake()
                except (ssl.SSLError, OSError, ValueError) as exc:
                    with contextlib.suppress(OSError):
                        conn.close()
                    with self._lock:
                        self._open.discard(conn)
                    with self._lock:
                        self.connections.append(
                            ConnectionInfo(
                                client_address,
                                _sni_seen.name,
                                None,
                                None,
                                None,
                                None,
                                f"{type(exc).__name__}: {exc}",
                            )
                        )
                    return
                assert isinstance(conn, ssl.SSLSocket)
                cipher = conn.cipher()
                try:
                    subject = _subject_of(conn.getpeercert(binary_form=True))
                except (ValueError, OSError):
                    subject = None
                info = ConnectionInfo(
                    client_address,
                    _sni_seen.name,
                    conn.version(),
                    cipher[0] if cipher else None,
                    conn.selected_alpn_protocol(),
                    subject,
                    None,
                )
            else:
                info = ConnectionInfo(client_address, None, None, None, None, None, None)
            with self._lock:
                self.connections.append(info)
            try:
                _Handler(conn, client_address, self._httpd_ref)
            except (OSError, ValueError) as exc:  # client went away mid-request
                with self._lock:
                    self.errors.append(f"{type(exc).__name__}: {exc}")
            finally:
                with self._lock:
                    self._open.discard(conn)
                with contextlib.suppress(OSError):
                    conn.close()


class PlainHTTPServer(HTTPSServer):
    """Plain-HTTP variant (``http://``), e.g. for redirect tests."""

    def __init__(self, *, routes: dict[str, RouteLike] | None = None, host: str = "127.0.0.1"):
        super().__init__(None, routes=routes, host=host, tls=False)


class _ProxyHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    rbufsize = 0  # unbuffered: bytes after the CONNECT head belong to the tunnel
    server: _HTTPServer
    timeout = _HANDLER_TIMEOUT

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def log_error(self, format: str, *args: Any) -> None:
        pass

    def _reply(self, status: int, text: str, extra: dict[str, str] | None = None) -> None:
        body = text.encode()
        self.send_response(status)
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def do_CONNECT(self) -> None:
        proxy: ConnectProxy = self.server.owner  # type: ignore[assignment]
        target = self.path
        with proxy._lock:
            proxy.targets.append(target)
            proxy.headers.append({k: v for k, v in self.headers.items()})
        if proxy.auth is not None:
            import base64

            expected = (
                "Basic " + base64.b64encode(f"{proxy.auth[0]}:{proxy.auth[1]}".encode()).decode()
            )
            if self.headers.get("Proxy-Authorization") != expected:
                self._reply(
                    407, "proxy auth required\n", {"Proxy-Authenticate": 'Basic realm="tlsback"'}
                )
                return
        host, _, port_s = target.rpartition(":")
        host = host.strip("[]")
        if host not in ("127.0.0.1", "localhost", "::1") or not port_s.isdigit():
            self._reply(403, "this test proxy only tunnels to 127.0.0.1\n")
            return
        try:
            upstream = socket.create_connection(("127.0.0.1", int(port_s)), timeout=5)
        except OSError as exc:
            self._reply(502, f"cannot connect: {exc}\n")
            return
        with proxy._track(upstream):
            self.send_response(200, "Connection established")
            self.end_headers()
            self.wfile.flush()
            self.close_connection = True
            _relay(self.connection, upstream)


def _relay(a: socket.socket, b: socket.socket) -> None:
    a.setblocking(True)
    b.setblocking(True)
    socks: list[socket.socket] = [a, b]
    while True:
        # Bytes already decrypted into an SSLSocket's buffer do not make its fd readable.
        readable: list[socket.socket] = [
            s for s in socks if isinstance(s, ssl.SSLSocket) and s.pending()
        ]
        if not readable:
            try:
                readable, _, broken = select.select(socks, [], socks, _HANDLER_TIMEOUT)
            except (OSError, ValueError):
                return
            if broken or not readable:
                return
        for s in readable:
            other = b if s is a else a
            try:
                data = s.recv(65536)
            except OSError:
                return
            if not data:
                return
            try:
                other.sendall(data)
            except OSError:
                return


class ConnectProxy(_BaseServer):
    """An HTTP proxy on 127.0.0.1 that tunnels ``CONNECT`` to 127.0.0.1 only.

    Plain HTTP by default; give it a certificate chain to make it an HTTPS proxy (the client
    then speaks TLS to the proxy, and TLS-in-TLS to the target).

    Args:
        chain, key: the proxy's own certificate (like :class:`HTTPSServer`); ``None`` = plain.
        auth: ``(user, password)`` to require ``Proxy-Authorization: Basic``.

    Attributes:
        url: ``http://127.0.0.1:{port}`` (or ``https://localhost:{port}`` with a chain).
        targets: the ``host:port`` of every CONNECT, in order.
        headers: the CONNECT request headers, parallel to ``targets``.
    """

    def __init__(
        self,
        chain: Cert | PKI | Sequence[Cert] | None = None,
        key: Any = None,
        *,
        host: str = "127.0.0.1",
        auth: tuple[str, str] | None = None,
    ) -> None:
        super().__init__(host)
        self.auth = auth
        self.targets: list[str] = []
        self.headers: list[dict[str, str]] = []
        self.context = server_context(chain, key, alpn=None) if chain is not None else None
        self._make_httpd(_ProxyHandler)

    @property
    def url(self) -> str:
        if self.context is not None:
            return f"https://localhost:{self.port}"
        return f"http://127.0.0.1:{self.port}"

    def _serve_connection(self, request: socket.socket, client_address: Any) -> None:
        request.settimeout(_HANDLER_TIMEOUT)
        conn: socket.socket = request
        with self._track(request):
            try:
                if self.context is not None:
                    conn = self.context.wrap_socket(
                        request, server_side=True, do_handshake_on_connect=False
                    )
                    with self._lock:
                        self._open.add(conn)
                    conn.do_handshake()
                _ProxyHandler(conn, client_address, self._httpd_ref)
            except (OSError, ValueError) as exc:
                with self._lock:
                    self.errors.append(f"{type(exc).__name__}: {exc}")
            finally:
                with self._lock:
                    self._open.discard(conn)
                with contextlib.suppress(OSError):
                    conn.close()


# --- small clients for tests -------------------------------------------------------------------


class Response(NamedTuple):
    status: int
    headers: dict[str, str]
    body: bytes
    tls_version: str | None
    cipher: str | None


def get(
    url: str,
    context: ssl.SSLContext | None = None,
    *,
    method: str = "GET",
    server_hostname: str | None = None,
    timeout: float = 10,
) -> Response:
    """One request on a fresh connection with ``context`` (no redirects followed).

    ``server_hostname`` overrides SNI / the verified name (default: the URL's host).
    """
    import urllib.parse

    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or "localhost"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    raw = socket.create_connection((host, port), timeout=timeout)
    sock: socket.socket = raw
    try:
        if parts.scheme == "https":
            ctx = context if context is not None else ssl.create_default_context()
            sock = ctx.wrap_socket(raw, server_hostname=server_hostname or host)
        req = f"{method} {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nConnection: close\r\n\r\n"
        sock.sendall(req.encode())
        resp = http.client.HTTPResponse(sock)
        try:
            resp.begin()
            body = resp.read()
        finally:
            resp.close()
        version = sock.version() if isinstance(sock, ssl.SSLSocket) else None
        cipher = sock.cipher() if isinstance(sock, ssl.SSLSocket) else None
        return Response(
            resp.status, dict(resp.getheaders()), body, version, cipher[0] if cipher else None
        )
    finally:
        sock.close()
        raw.close()


def handshake(
    port: int,
    context: ssl.SSLContext,
    *,
    server_hostname: str | None = "localhost",
    host: str = "127.0.0.1",
    timeout: float = 10,
) -> tuple[str | None, str | None]:
    """Handshake only; returns ``(tls_version, cipher_name)``. Raises what the client raises."""
    with (
        socket.create_connection((host, port), timeout=timeout) as raw,
        context.wrap_socket(raw, server_hostname=server_hostname) as tls,
    ):
        cipher = tls.cipher()
        return tls.version(), cipher[0] if cipher else None
