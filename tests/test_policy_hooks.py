"""The fail-closed gate, attacked from every side: no application byte crosses a connection whose
checks have not passed.

The server here is a raw TLS server whose leaf has basicConstraints cA=TRUE (OpenSSL accepts
it, only the policy refuses it: ``CaUsedAsEndEntity``) or names another host (on tlsback's
verifying context only the gate checks names: ``NotValidForName``). The server writes a greeting right after
its handshake and records every application byte it receives. For each entry point of
``SSLSocket`` and ``SSLObject`` — blocking, non-blocking, through asyncio, over memory BIOs — the
client must get ``ssl.SSLCertVerificationError`` (or the stdlib's own refusal of the call), the
server must receive nothing, and the client must never return a byte.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import select
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import policy_scenarios as ps
from tests.pki import PKI
from tests.tlsserver import server_context
from tlsback import policy
from tlsback.policy import hooks
from tlsback.x509 import cert as x509_cert

GREETING = b"server application data"


class RecordingServer:
    """Accepts TLS connections, sends :data:`GREETING`, records what each client sends."""

    def __init__(self, scenario_id: str = "leaf_is_ca", *,
                 maximum_version: ssl.TLSVersion | None = None,
                 setup: ps.Setup | None = None) -> None:
        self.scenario_id = scenario_id
        self.setup = setup or ps.setup_for(scenario_id)
        self.ctx = server_context(self.setup.chain, maximum_version=maximum_version, alpn=None)
        self.received: list[bytes] = []
        self.handshakes = 0
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._accepter = threading.Thread(target=self._accept, daemon=True)
        self._accepter.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            t.start()
            self._threads.append(t)

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        try:
            with self.ctx.wrap_socket(conn, server_side=True) as tls:
                with self._lock:
                    self.handshakes += 1
                tls.sendall(GREETING)
                while True:
                    data = tls.recv(65536)
                    if not data:
                        return
                    with self._lock:
                        self.received.append(data)
        except (OSError, ValueError):
            return  # the client went away: what it sent before is recorded

    def client_context(self) -> ssl.SSLContext:
        ctx = policy.new_context()
        ctx.load_verify_locations(cadata=self.setup.anchors_pem)
        return ctx

    def deferred_socket(self, blocking: bool = True) -> ssl.SSLSocket:
        """A connected client socket whose handshake has not started."""
        raw = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        raw.setblocking(blocking)
        if blocking:
            raw.settimeout(10)
        return self.client_context().wrap_socket(raw, server_hostname="localhost",
                                                 do_handshake_on_connect=False)

    def got(self) -> bytes:
        for t in list(self._threads):
            t.join(10)
        with self._lock:
            return b"".join(self.received)

    def close(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept() on Linux
        self._listener.close()
        self._accepter.join(5)
        for t in self._threads:
            t.join(5)


# leaf_is_ca: a chain rule only tlsback's checks catch; wrong_name: the host name, which only
# tlsback's checks look at on its verifying context (OpenSSL's host check is off there).
@pytest.fixture(params=["leaf_is_ca", "wrong_name"])
def bad_server(request: pytest.FixtureRequest) -> Iterator[RecordingServer]:
    srv = RecordingServer(request.param)
    yield srv
    srv.close()


def _reason(srv: RecordingServer) -> str:
    return "certificate not valid for name" if srv.scenario_id == "wrong_name" else "CaUsedAsEndEntity"


REQUEST = b"GET /secret HTTP/1.1\r\nHost: localhost\r\nCookie: token\r\n\r\n"


def _sendfile(sock: ssl.SSLSocket) -> Any:
    import tempfile

    with tempfile.TemporaryFile() as f:
        f.write(REQUEST)
        f.seek(0)
        return sock.sendfile(f)


def _makefile_write(sock: ssl.SSLSocket) -> Any:
    with sock.makefile("wb") as f:
        f.write(REQUEST)
        f.flush()


def _makefile_read(sock: ssl.SSLSocket) -> Any:
    with sock.makefile("rb") as f:
        return f.read(5)


#: Every way into an ``SSLSocket``'s data (3.10-3.13 expose the same set; sendmsg/recvmsg and
#: recvfrom* are refused by the stdlib itself on a TLS socket).
SOCKET_CALLS: dict[str, Callable[[ssl.SSLSocket], Any]] = {
    "do_handshake": lambda s: s.do_handshake(),
    "read": lambda s: s.read(5),
    "read_into": lambda s: s.read(5, bytearray(5)),
    "recv": lambda s: s.recv(5),
    "recv_into": lambda s: s.recv_into(bytearray(5)),
    "recvfrom": lambda s: s.recvfrom(5),
    "recvfrom_into": lambda s: s.recvfrom_into(bytearray(5), 5),
    "recvmsg": lambda s: s.recvmsg(5),
    "write": lambda s: s.write(REQUEST),
    "send": lambda s: s.send(REQUEST),
    "sendall": lambda s: s.sendall(REQUEST),
    "sendto": lambda s: s.sendto(REQUEST, ("127.0.0.1", 9)),
    "sendmsg": lambda s: s.sendmsg([REQUEST]),
    "sendfile": _sendfile,
    "makefile_read": _makefile_read,
    "makefile_write": _makefile_write,
    "unwrap": lambda s: s.unwrap(),
    "pending": lambda s: s.pending(),
    "session": lambda s: s.session,
}

#: What may come back instead of data: our verdict, the stdlib refusing the call on a TLS
#: socket, or a socket that is already closed because the verdict was given.
REFUSALS = (ssl.SSLCertVerificationError, ValueError, NotImplementedError, OSError)
NO_DATA = (None, 0, b"", False)


def _returns_no_data(result: Any) -> bool:
    if isinstance(result, tuple):
        return all(_returns_no_data(r) for r in result)
    return result in NO_DATA


def _retry(call: Callable[[], Any], sock: socket.socket | None = None) -> Any:
    """Repeat a non-blocking call until it stops asking to be retried."""
    for _ in range(2000):
        try:
            return call()
        except ssl.SSLWantReadError:
            if sock is not None:
                select.select([sock], [], [], 1)
        except ssl.SSLWantWriteError:
            if sock is not None:
                select.select([], [sock], [], 1)
    raise AssertionError("the handshake never ended")


@pytest.mark.parametrize("blocking", [True, False], ids=["blocking", "nonblocking"])
@pytest.mark.parametrize("name", sorted(SOCKET_CALLS))
def test_socket_entry_points(name: str, blocking: bool, bad_server: RecordingServer) -> None:
    """Each SSLSocket entry point, first call on a connection: refused, nothing crosses."""
    sock = bad_server.deferred_socket(blocking)
    results: list[Any] = []
    with sock:
        for _attempt in range(3):  # the verdict is final: later calls are refused too
            try:
                results.append(_retry(lambda: SOCKET_CALLS[name](sock), sock))
            except REFUSALS as exc:
                results.append(exc)
    assert all(isinstance(r, BaseException) or _returns_no_data(r) for r in results), results
    assert bad_server.got() == b""
    verdicts = [r for r in results if isinstance(r, ssl.SSLCertVerificationError)]
    if bad_server.handshakes and name not in ("recvfrom", "recvfrom_into", "recvmsg", "sendto",
                                              "sendmsg", "pending", "session"):
        assert verdicts and verdicts[0].rustls_reason == ps.BY_ID[  # type: ignore[attr-defined]
            bad_server.scenario_id].rustls


@pytest.mark.parametrize("name", sorted(SOCKET_CALLS))
def test_socket_entry_points_after_connect(name: str, bad_server: RecordingServer) -> None:
    """``connect()`` on a wrapped socket with the handshake deferred: the same gate."""
    sock = bad_server.client_context().wrap_socket(socket.socket(), server_hostname="localhost",
                                                   do_handshake_on_connect=False)
    with sock:
        sock.settimeout(10)
        sock.connect(("127.0.0.1", bad_server.port))
        try:
            result = SOCKET_CALLS[name](sock)
        except REFUSALS:
            result = None
        assert _returns_no_data(result)
    assert bad_server.got() == b""


def _pump(obj: ssl.SSLObject, incoming: ssl.MemoryBIO, outgoing: ssl.MemoryBIO,
          raw: socket.socket, call: Callable[[], Any]) -> Any:
    """Drive a memory-BIO call to completion over ``raw``, as trio/anyio do."""
    for _ in range(200):
        try:
            result = call()
        except ssl.SSLWantReadError:
            if outgoing.pending:
                raw.sendall(outgoing.read())
            data = raw.recv(65536)
            if not data:
                incoming.write_eof()
            else:
                incoming.write(data)
            continue
        finally:
            if outgoing.pending:
                with contextlib.suppress(OSError):
                    raw.sendall(outgoing.read())
        return result
    raise AssertionError("no progress")


SSLOBJECT_CALLS: dict[str, Callable[[ssl.SSLObject], Any]] = {
    "do_handshake": lambda o: o.do_handshake(),
    "read": lambda o: o.read(5),
    "read_into": lambda o: o.read(5, bytearray(5)),
    "write": lambda o: o.write(REQUEST),
    "unwrap": lambda o: o.unwrap(),
    "pending": lambda o: o.pending(),
    "session": lambda o: o.session,
}


@pytest.mark.parametrize("name", sorted(SSLOBJECT_CALLS))
def test_memory_bio_entry_points(name: str, bad_server: RecordingServer) -> None:
    """Each SSLObject entry point, first call: refused; the verdict stays for every later call."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = bad_server.client_context().wrap_bio(incoming, outgoing, server_hostname="localhost")
    results: list[Any] = []
    with socket.create_connection(("127.0.0.1", bad_server.port), timeout=10) as raw:
        for call in [SSLOBJECT_CALLS[name], *SSLOBJECT_CALLS.values()]:
            try:
                results.append(_pump(obj, incoming, outgoing, raw, lambda c=call: c(obj)))
            except (ssl.SSLCertVerificationError, ValueError) as exc:
                results.append(exc)
    assert all(isinstance(r, BaseException) or _returns_no_data(r) for r in results), results
    assert any(isinstance(r, ssl.SSLCertVerificationError) for r in results)
    assert obj.session is None  # a refused connection's session cannot be resumed
    assert bad_server.got() == b""


def test_asyncio_streams_never_pass_data(bad_server: RecordingServer) -> None:
    """asyncio (SSLObject through sslproto): write before the handshake result, then read."""
    ctx = bad_server.client_context()

    async def go() -> bytes:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(
            "127.0.0.1", bad_server.port, ssl=ctx, server_hostname="localhost"), 10)
        writer.write(REQUEST)
        data = await asyncio.wait_for(reader.read(100), 10)
        writer.close()
        return data

    async def via_start_tls() -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", bad_server.port)
        await writer.start_tls(ctx, server_hostname="localhost")  # type: ignore[attr-defined]
        writer.write(REQUEST)
        return await reader.read(100)

    with pytest.raises(ssl.SSLCertVerificationError, match=_reason(bad_server)):
        asyncio.run(go())
    import sys

    if sys.version_info >= (3, 11):
        with pytest.raises(ssl.SSLCertVerificationError, match=_reason(bad_server)):
            asyncio.run(via_start_tls())
    assert bad_server.got() == b""


def test_asyncio_nonblocking_socket_with_loop_sock_calls(bad_server: RecordingServer) -> None:
    """A non-blocking SSLSocket driven by the event loop's sock_* calls is refused too."""
    ctx = bad_server.client_context()

    async def go() -> None:
        loop = asyncio.get_running_loop()
        raw = socket.create_connection(("127.0.0.1", bad_server.port), timeout=10)
        raw.setblocking(False)
        sock = ctx.wrap_socket(raw, server_hostname="localhost", do_handshake_on_connect=False)
        with sock:
            for _ in range(1000):
                try:
                    sock.send(REQUEST)
                except ssl.SSLWantReadError:
                    fut = loop.create_future()
                    loop.add_reader(sock.fileno(), fut.set_result, None)
                    try:
                        await asyncio.wait_for(fut, 5)
                    finally:
                        loop.remove_reader(sock.fileno())
                except ssl.SSLWantWriteError:
                    await asyncio.sleep(0.01)

    with pytest.raises(ssl.SSLCertVerificationError, match=_reason(bad_server)):
        asyncio.run(go())
    assert bad_server.got() == b""


# --- sequences of calls (hypothesis) ----------------------------------------------------------

_SEQ_SETTINGS = settings(max_examples=25, deadline=None, derandomize=True,
                         suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                HealthCheck.too_slow])


@_SEQ_SETTINGS
@given(calls=st.lists(st.sampled_from(sorted(SOCKET_CALLS)), min_size=1, max_size=6),
       blocking=st.booleans())
def test_any_sequence_of_socket_calls(calls: list[str], blocking: bool,
                                      bad_server: RecordingServer) -> None:
    """Whatever the order of calls on a socket, no byte goes out and none comes back."""
    sock = bad_server.deferred_socket(blocking)
    with sock:
        for name in calls:
            try:
                result = _retry(lambda n=name: SOCKET_CALLS[n](sock), sock)
            except REFUSALS:
                continue
            assert _returns_no_data(result), (name, result)
    assert bad_server.got() == b""


@_SEQ_SETTINGS
@given(calls=st.lists(st.sampled_from(sorted(SSLOBJECT_CALLS)), min_size=1, max_size=6))
def test_any_sequence_of_sslobject_calls(calls: list[str], bad_server: RecordingServer) -> None:
    """The same for memory BIOs."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = bad_server.client_context().wrap_bio(incoming, outgoing, server_hostname="localhost")
    with socket.create_connection(("127.0.0.1", bad_server.port), timeout=10) as raw:
        for name in calls:
            try:
                result = _pump(obj, incoming, outgoing, raw, lambda n=name: SSLOBJECT_CALLS[n](obj))
            except (ssl.SSLCertVerificationError, ValueError):
                continue
            assert _returns_no_data(result), (name, result)
    assert bad_server.got() == b""


# --- resumed sessions -------------------------------------------------------------------------

VERSIONS = [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3]


def _session_of_refused(ctx: ssl.SSLContext, port: int) -> ssl.SSLSession:
    """A refused connection hands out no session; the attacker digs it out of the C object,
    reading past the verdict for TLS 1.3's ticket (sent after the handshake)."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with pytest.raises(ssl.SSLCertVerificationError):
            _pump(obj, incoming, outgoing, raw, obj.do_handshake)
        assert obj.session is None
        gate = obj._sslobj
        assert isinstance(gate, hooks._Gate) and gate.session is None
        tls = gate._tls
        with contextlib.suppress(ssl.SSLError, OSError):
            _pump(obj, incoming, outgoing, raw, lambda: tls.read(100))
        session = tls.session
    assert session is not None
    return session


@pytest.mark.parametrize("version", VERSIONS, ids=["tls1.2", "tls1.3"])
def test_resumed_session_of_a_refused_leaf_is_refused(version: ssl.TLSVersion) -> None:
    """Resuming the session of a CA:TRUE leaf: the leaf it carries is checked and refused."""
    srv = RecordingServer(maximum_version=version)
    try:
        ctx = srv.client_context()
        session = _session_of_refused(ctx, srv.port)
        for kind in ("socket", "bio"):
            raw = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
            if kind == "socket":
                sock = ctx.wrap_socket(raw, server_hostname="localhost",
                                       do_handshake_on_connect=False, session=session)
                with sock, pytest.raises(ssl.SSLCertVerificationError, match="CaUsedAsEndEntity"):
                    sock.sendall(REQUEST)
                assert sock._sslobj is None or sock._sslobj._tls.session_reused
            else:
                incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
                obj = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost", session=session)
                with raw, pytest.raises(ssl.SSLCertVerificationError, match="CaUsedAsEndEntity"):
                    _pump(obj, incoming, outgoing, raw, lambda o=obj: o.write(REQUEST))
                assert obj._sslobj._tls.session_reused
        assert srv.got() == b""
    finally:
        srv.close()


@pytest.mark.parametrize("version", VERSIONS, ids=["tls1.2", "tls1.3"])
def test_resumed_session_checks_the_name_again(version: ssl.TLSVersion) -> None:
    """A good session offered for another host name: OpenSSL skips the name, the gate does not."""
    srv = RecordingServer("control", maximum_version=version)
    try:
        ctx = srv.client_context()
        with ctx.wrap_socket(socket.create_connection(("127.0.0.1", srv.port), timeout=10),
                             server_hostname="localhost") as first:
            assert first.recv(100) == GREETING
            session = first.session
        assert session is not None
        raw = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        sock = ctx.wrap_socket(raw, server_hostname="not-this.example", session=session,
                               do_handshake_on_connect=False)
        with sock:
            try:
                sock.do_handshake()
            except ssl.SSLCertVerificationError as exc:
                assert exc.rustls_reason == "NotValidForName"  # type: ignore[attr-defined]
            else:  # the server declined to resume (TLS 1.3 binds the ticket to the SNI)
                raise AssertionError("a full handshake for the wrong name must fail")
        with ctx.wrap_socket(socket.create_connection(("127.0.0.1", srv.port), timeout=10),
                             server_hostname="localhost", session=session) as again:
            assert again.session_reused and again.recv(100) == GREETING
    finally:
        srv.close()


# --- the checks cannot run: refused and closed ------------------------------------------------

EXCEPTIONS = [ValueError("x"), IndexError("x"), KeyError("x"), TypeError("x"),
              RecursionError("x"), UnicodeDecodeError("ascii", b"\xff", 0, 1, "x"),
              AttributeError("x"), OverflowError("x"), MemoryError()]


@settings(max_examples=20, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(exc=st.sampled_from(EXCEPTIONS), bio=st.booleans())
def test_any_exception_in_the_checks_refuses_and_closes(
        exc: BaseException, bio: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """The parser raising anything (patched only to prove the path): refused, closed, silent."""
    srv = RecordingServer("control")
    try:
        def boom(der: bytes) -> Any:
            raise exc

        monkeypatch.setattr(policy.rules, "parse_certificate", boom)
        monkeypatch.setattr(x509_cert, "parse_certificate", boom)  # what hooks imports
        ctx = srv.client_context()
        raw = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        if bio:
            incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
            obj = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
            with raw:
                with pytest.raises(ssl.SSLCertVerificationError, match="could not run"):
                    _pump(obj, incoming, outgoing, raw, lambda: obj.write(REQUEST))
                for call in (lambda: obj.read(5), lambda: obj.write(b"x"), obj.do_handshake):
                    with pytest.raises(ssl.SSLCertVerificationError):
                        call()
        else:
            sock = ctx.wrap_socket(raw, server_hostname="localhost", do_handshake_on_connect=False)
            with pytest.raises(ssl.SSLCertVerificationError, match="could not run"):
                sock.sendall(REQUEST)
            assert sock.fileno() == -1  # closed
        assert srv.got() == b""
    finally:
        monkeypatch.undo()
        srv.close()


_LABELS = st.sampled_from(["localhost", "a", "example", "test", "-x", "x-", "*", "a*", "xn--x",
                           "", "1", "_u", "A"])
_DNS = st.lists(_LABELS, min_size=1, max_size=4).map(".".join)
_NETS = st.sampled_from(["127.0.0.0/8", "127.0.0.1/32", "10.0.0.0/8", "::/0", "::1/128"])


@st.composite
def _fuzzed_setup(draw: st.DrawFn) -> ps.Setup:
    """A chain built from random names, constraints and extension bytes (valid DER, odd
    content): what a hostile server could present to the checks."""
    from cryptography import x509 as cx509

    from tests.pki import issue

    sans = draw(st.lists(st.one_of(_DNS.map(lambda d: f"dns:{d}"),
                                   _NETS.map(lambda n: n.split("/")[0])), max_size=4))
    sans.append("localhost")
    subtrees = st.lists(st.one_of(_DNS.filter(lambda d: "*" not in d).map(lambda d: f"dns:{d}"),
                                  _NETS.map(lambda n: f"ip:{n}"),
                                  st.just("dir:localhost")), max_size=3)
    permitted, excluded = draw(subtrees), draw(subtrees)
    extra = []
    if draw(st.booleans()):
        extra.append((cx509.UnrecognizedExtension(cx509.ObjectIdentifier("1.3.6.1.4.1.55555.9"),
                                                  draw(st.binary(max_size=40))),
                      draw(st.booleans())))
    inter_kw: dict[str, Any] = {}
    if permitted or excluded:
        inter_kw["name_constraints"] = cx509.NameConstraints(
            permitted_subtrees=[ps._general(e) for e in permitted] or None,
            excluded_subtrees=[ps._general(e) for e in excluded] or None)
    inter = issue("fuzz intermediate", issuer=ps.base().root, is_ca=True, **inter_kw)
    leaf = issue("localhost", issuer=inter, san=sans, is_ca=draw(st.booleans()),
                 extra_extensions=extra)
    return ps.Setup([leaf, inter], [ps.base().root])


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(setup=_fuzzed_setup(), bio=st.booleans())
def test_fuzzed_certificates_pass_or_are_refused_cleanly(setup: ps.Setup, bio: bool) -> None:
    """Whatever the certificates hold, a real connection either passes (and the request
    arrives) or is refused with SSLCertVerificationError before any byte — nothing else."""
    srv = RecordingServer(setup=setup)
    try:
        ctx = srv.client_context()
        raw = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        refused = False
        try:
            if bio:
                incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
                obj = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
                with raw:
                    _pump(obj, incoming, outgoing, raw, lambda: obj.write(REQUEST))
            else:
                with ctx.wrap_socket(raw, server_hostname="localhost",
                                     do_handshake_on_connect=False) as sock:
                    sock.sendall(REQUEST)
        except ssl.SSLCertVerificationError:
            refused = True
        got = srv.got() if refused else None
        assert got in (None, b"")
    finally:
        srv.close()


def test_makefile_stream_kept_open_still_refuses(bad_server: RecordingServer) -> None:
    """close() leaves the fd open while a makefile stream holds it: the gate still refuses."""
    sock = bad_server.deferred_socket()
    stream = sock.makefile("rwb")
    with pytest.raises(ssl.SSLCertVerificationError):
        stream.write(REQUEST)
        stream.flush()
    for call in (lambda: stream.read(5), lambda: sock.recv(5), lambda: sock.send(b"x"),
                 lambda: (stream.write(b"x"), stream.flush())):
        with pytest.raises(REFUSALS):
            call()
    with contextlib.suppress(OSError, ValueError):
        stream.close()
    sock.close()
    assert bad_server.got() == b""


def test_io_wrapper_over_socket_io(bad_server: RecordingServer) -> None:
    """A TextIOWrapper over makefile: the same refusal, no byte."""
    sock = bad_server.deferred_socket()
    with sock:
        text = io.TextIOWrapper(sock.makefile("rwb"), encoding="ascii")
        with pytest.raises(REFUSALS):
            text.readline()
        with contextlib.suppress(*REFUSALS):
            text.close()
    assert bad_server.got() == b""


def test_memory_bio_without_a_host_name_is_refused() -> None:
    """The stdlib's ``wrap_bio`` takes no ``server_hostname`` even with ``check_hostname`` on (and
    would then check no name); tlsback's context refuses it as ``wrap_socket`` does."""
    ctx = policy.new_context()
    assert ctx.check_hostname
    with pytest.raises(ValueError, match="check_hostname requires server_hostname"):
        ctx.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO())
    with socket.socket() as raw, pytest.raises(ValueError, match="requires server_hostname"):
        ctx.wrap_socket(raw)


def test_the_top_lookup_sees_a_certificate_added_after_an_earlier_lookup(pki: PKI) -> None:
    """The store's DER set is kept per context while its certificate count stays the same: a CA
    loaded afterwards (a lazy store's lookup, a caller's load_verify_locations) is seen."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    chain = [pki.leaf.der, pki.intermediate.der]
    assert not hooks._top_is_trusted(ctx, chain)
    ctx.load_verify_locations(cadata=pki.root.der)
    assert not hooks._top_is_trusted(ctx, chain)
    ctx.load_verify_locations(cadata=pki.intermediate.der)
    assert hooks._top_is_trusted(ctx, chain)
    assert hooks._top_is_trusted(ctx, [pki.leaf.der])  # a leaf alone: nothing above it to look up
