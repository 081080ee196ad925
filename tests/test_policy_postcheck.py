"""The checks after the handshake run for every kind of client: blocking sockets, asyncio
streams, memory BIOs, and the HTTP clients built on them; a failure closes the connection and
raises ``ssl.SSLCertVerificationError`` with rustls' reason."""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests import policy_scenarios as ps
from tests.tlsserver import HTTPSServer
from tlsback import policy

# leaf_is_ca: OpenSSL accepts it, only the post-handshake check rejects it.
POST_CHECK_ONLY = ["leaf_is_ca", "leaf_critical_policies", "leaf_trusted_directly",
                   "leaf_rsa_sha224", "leaf_trusted_full_chain", "path_length_self_issued",
                   "leaf_rsa_pss_salt_20", "leaf_long_form_length",
                   "leaf_boolean_true_as_01", "leaf_unique_ids"]


def _context(setup: ps.Setup) -> ssl.SSLContext:
    ctx = policy.new_context()
    ctx.load_verify_locations(cadata=setup.anchors_pem)
    return ctx


def _serve(https_server: Callable[..., HTTPSServer], scenario_id: str) -> tuple[
        ps.Setup, HTTPSServer]:
    setup = ps.setup_for(scenario_id)
    return setup, https_server(setup.chain, **setup.server_kwargs)


def _wait_for(pred: Callable[[], bool], timeout: float = 5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.02)
    return pred()


@pytest.mark.parametrize("scenario_id", POST_CHECK_ONLY)
def test_openssl_alone_accepts_these(scenario_id: str,
                                     https_server: Callable[..., HTTPSServer]) -> None:
    """Without the post-handshake classes the same settings connect: the checks are the gap."""
    setup, srv = _serve(https_server, scenario_id)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.set_ciphers(policy.CIPHERS)
    ctx.hostname_checks_common_name = False
    ctx.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    ctx.load_verify_locations(cadata=setup.anchors_pem)
    assert ps.handshake(ctx, srv.port, "localhost") is None


@pytest.mark.parametrize("scenario_id", POST_CHECK_ONLY)
def test_blocking_socket_rejects_and_closes(scenario_id: str,
                                            https_server: Callable[..., HTTPSServer]) -> None:
    """wrap_socket: the error is SSLCertVerificationError, the socket is closed, no request sent."""
    setup, srv = _serve(https_server, scenario_id)
    raw = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    with pytest.raises(ssl.SSLCertVerificationError) as info:
        _context(setup).wrap_socket(raw, server_hostname="localhost")
    err = info.value
    assert err.verify_code and err.verify_message
    assert err.reason == "CERTIFICATE_VERIFY_FAILED" and err.library == "SSL"
    assert getattr(err, "rustls_reason", None) == ps.BY_ID[scenario_id].rustls
    assert "invalid peer certificate" in str(err)
    assert srv.requests == []
    # The server sees the connection end without a request.
    assert _wait_for(lambda: len(srv.connections) >= 1)


def test_do_handshake_on_connect_false_and_connect(https_server: Callable[..., HTTPSServer]) -> None:
    """Explicit do_handshake() and SSLSocket.connect() paths run the checks too."""
    setup, srv = _serve(https_server, "leaf_is_ca")
    ctx = _context(setup)
    sock = ctx.wrap_socket(socket.socket(), server_hostname="localhost",
                           do_handshake_on_connect=False)
    with sock:
        sock.settimeout(10)
        sock.connect(("127.0.0.1", srv.port))
        with pytest.raises(ssl.SSLCertVerificationError, match="CaUsedAsEndEntity"):
            sock.do_handshake()
    sock2 = ctx.wrap_socket(socket.socket(), server_hostname="localhost")
    with sock2:
        sock2.settimeout(10)
        with pytest.raises(ssl.SSLCertVerificationError, match="CaUsedAsEndEntity"):
            sock2.connect(("127.0.0.1", srv.port))


def test_nonblocking_handshake_loop(https_server: Callable[..., HTTPSServer]) -> None:
    """A non-blocking caller retrying on SSLWantRead gets the verdict when the handshake ends."""
    import select

    setup, srv = _serve(https_server, "leaf_is_ca")
    raw = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    raw.setblocking(False)
    sock = _context(setup).wrap_socket(raw, server_hostname="localhost",
                                       do_handshake_on_connect=False)
    with sock, pytest.raises(ssl.SSLCertVerificationError, match="CaUsedAsEndEntity"):
        for _ in range(1000):
            try:
                sock.do_handshake()
                break
            except ssl.SSLWantReadError:
                select.select([sock], [], [], 5)
            except ssl.SSLWantWriteError:
                select.select([], [sock], [], 5)


@pytest.mark.parametrize("scenario_id", POST_CHECK_ONLY + ["control", "wrong_name"])
def test_asyncio_streams(scenario_id: str, https_server: Callable[..., HTTPSServer]) -> None:
    """asyncio.open_connection(ssl=ctx) (SSLObject via sslproto) gets the same verdicts."""
    setup, srv = _serve(https_server, scenario_id)
    scenario = ps.BY_ID[scenario_id]
    ctx = _context(setup)

    async def go() -> None:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(
            "127.0.0.1", srv.port, ssl=ctx, server_hostname="localhost"), 10)
        writer.write(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        data = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        await writer.wait_closed()
        assert data.startswith(b"HTTP/1.1 200")

    if scenario.rustls == ps.OK:
        asyncio.run(go())
        return
    with pytest.raises(ssl.SSLCertVerificationError) as info:
        asyncio.run(go())
    assert getattr(info.value, "rustls_reason", None) == scenario.rustls
    assert srv.requests == []


def test_sslobject_refuses_data_after_failed_check(https_server: Callable[..., HTTPSServer]) -> None:
    """Memory-BIO users (trio, anyio) cannot send or read after the check failed."""
    setup, srv = _serve(https_server, "leaf_is_ca")
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = _context(setup).wrap_bio(incoming, outgoing, server_hostname="localhost")
    assert isinstance(obj, policy.WebpkiSSLObject)
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as raw:
        with pytest.raises(ssl.SSLCertVerificationError, match="CaUsedAsEndEntity"):
            for _ in range(100):
                try:
                    obj.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    raw.sendall(outgoing.read())
                    data = raw.recv(65536)
                    if not data:
                        incoming.write_eof()
                    incoming.write(data)
        with pytest.raises(ssl.SSLCertVerificationError):
            obj.write(b"GET / HTTP/1.1\r\n\r\n")
        with pytest.raises(ssl.SSLCertVerificationError):
            obj.read(10)
        with pytest.raises(ssl.SSLCertVerificationError):
            obj.do_handshake()


def test_http_clients_get_the_checks(https_server: Callable[..., HTTPSServer]) -> None:
    """urllib, requests (urllib3), httpx and aiohttp all run the checks through the context."""
    import urllib.error
    import urllib.request

    setup, srv = _serve(https_server, "leaf_is_ca")
    ctx = _context(setup)
    url = srv.url + "/"
    with pytest.raises(urllib.error.URLError) as uinfo:
        urllib.request.urlopen(url, context=ctx, timeout=10)
    assert isinstance(uinfo.value.reason, ssl.SSLCertVerificationError)

    import httpx

    with httpx.Client(verify=ctx, timeout=10) as client, \
            pytest.raises(httpx.ConnectError, match="CaUsedAsEndEntity"):
        client.get(url)

    import requests
    from requests.adapters import HTTPAdapter

    class _Adapter(HTTPAdapter):
        def init_poolmanager(self, *args: object, **kwargs: object) -> None:
            kwargs["ssl_context"] = ctx
            super().init_poolmanager(*args, **kwargs)  # type: ignore[arg-type]

    with requests.Session() as session:
        session.mount("https://", _Adapter(max_retries=0))
        with pytest.raises(requests.exceptions.SSLError, match="CaUsedAsEndEntity"):
            session.get(url, timeout=10)

    import aiohttp

    async def go() -> None:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as s, \
                s.get(url, timeout=aiohttp.ClientTimeout(total=10)) as resp:
            await resp.read()

    with pytest.raises(aiohttp.ClientConnectorCertificateError) as ainfo:
        asyncio.run(go())
    assert "CaUsedAsEndEntity" in str(ainfo.value.certificate_error)
    assert srv.requests == []


def test_insecure_context_skips_all_checks(https_server: Callable[..., HTTPSServer]) -> None:
    """new_context(verify=False): no certificate checks, but the protocol policy stays."""
    _setup, srv = _serve(https_server, "leaf_is_ca")
    ctx = policy.new_context(verify=False)
    assert ctx.verify_mode == ssl.CERT_NONE and not ctx.check_hostname
    assert ps.handshake(ctx, srv.port, "wrong.example") is None
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    old = ps.setup_for("tls1_1_only")
    srv2 = https_server(old.chain, **old.server_kwargs)
    assert isinstance(ps.handshake(ctx, srv2.port, "localhost"), ssl.SSLError)


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_resumed_sessions_still_connect(version: ssl.TLSVersion,
                                        https_server: Callable[..., HTTPSServer]) -> None:
    """A resumed session has no verified chain; the leaf it remembers is checked, and passes."""
    setup = ps.setup_for("control")
    srv = https_server(setup.chain, maximum_version=version)
    ctx = _context(setup)
    with ctx.wrap_socket(socket.create_connection(("127.0.0.1", srv.port), timeout=10),
                         server_hostname="localhost") as first:
        first.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        while first.recv(65536):
            pass
        session = first.session
    with ctx.wrap_socket(socket.create_connection(("127.0.0.1", srv.port), timeout=10),
                         server_hostname="localhost", session=session) as second:
        assert second.session_reused


@pytest.mark.parametrize("how", ["socket", "asyncio"])
def test_absolute_host_name_is_sent_and_checked_without_its_dot(
        how: str, https_server: Callable[..., HTTPSServer]) -> None:
    """``localhost.`` (an absolute name) connects to a certificate for ``localhost``, and the SNI
    is ``localhost``, as rustls sends it (RFC 6066: no trailing dot); on sockets and memory BIOs."""
    setup, srv = _serve(https_server, "control")
    ctx = _context(setup)
    if how == "socket":
        assert ps.handshake(ctx, srv.port, "localhost.") is None
    else:
        async def go() -> None:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(
                "127.0.0.1", srv.port, ssl=ctx, server_hostname="localhost."), 10)
            writer.write(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            assert (await asyncio.wait_for(reader.read(), 10)).startswith(b"HTTP/1.1 200")
            writer.close()
            await writer.wait_closed()

        asyncio.run(go())
    assert _wait_for(lambda: bool(srv.connections))
    assert [c.sni for c in srv.connections] == ["localhost"]
    # Only one dot is the absolute form; anything else is still compared as given.
    assert isinstance(ps.handshake(ctx, srv.port, "wrong.localhost."), ssl.SSLCertVerificationError)


def test_bracketed_ipv6_literal_is_an_address(https_server: Callable[..., HTTPSServer]) -> None:
    """``[::1]`` as ``server_hostname`` is the address ``::1``: no SNI (rustls sends none for an
    address) and checked against iPAddress names only."""
    from tests.pki import issue

    base = ps.base()
    leaf = issue("v6", issuer=base.intermediate, san=["::1"])
    srv = https_server([leaf, base.intermediate])
    ctx = _context(ps.Setup([leaf, base.intermediate], [base.root]))
    assert ps.handshake(ctx, srv.port, "[::1]") is None
    assert ps.handshake(ctx, srv.port, "::1") is None
    assert isinstance(ps.handshake(ctx, srv.port, "[::2]"), ssl.SSLCertVerificationError)
    assert _wait_for(lambda: len(srv.connections) == 3)
    assert [c.sni for c in srv.connections] == [None, None, None]


def test_a_name_with_an_empty_label_matches_nothing(https_server: Callable[..., HTTPSServer]) -> None:
    """Only one final dot is the absolute form: ``localhost..`` (bytes skip the stdlib's IDNA
    check) is not ``localhost``."""
    setup, srv = _serve(https_server, "control")
    err = ps.handshake(_context(setup), srv.port, b"localhost..")  # type: ignore[arg-type]
    assert isinstance(err, ssl.SSLCertVerificationError)
    assert getattr(err, "rustls_reason", None) == "NotValidForName"


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3],
                         ids=["tls1.2", "tls1.3"])
def test_client_certificate_never_reaches_a_server_for_another_name(
        version: ssl.TLSVersion, tmp_path: Any, https_server: Callable[..., HTTPSServer]) -> None:
    """With a client certificate loaded, a server whose (trusted) certificate names another host
    never gets it: the name is checked during the handshake, before the client's Certificate
    message (as rustls does), not only after it."""
    from tests.pki import CLIENT_AUTH, PKI, issue

    clients = PKI.create(name_prefix="postcheck clients")
    client = issue("postcheck client", issuer=clients.intermediate, eku=[CLIENT_AUTH])
    combined = tmp_path / "client.pem"
    combined.write_bytes(client.pem + clients.intermediate.pem + client.key_pem)
    setup = ps.setup_for("control")
    srv = https_server(setup.chain, client_ca=clients.root, maximum_version=version)
    ctx = _context(setup)
    ctx.load_cert_chain(combined)
    err = ps.handshake(ctx, srv.port, "wrong.example")
    assert isinstance(err, ssl.SSLCertVerificationError)
    assert getattr(err, "rustls_reason", None) == "NotValidForName"
    assert ps.handshake(ctx, srv.port, "localhost") is None  # the same context, the right name
    assert _wait_for(lambda: len(srv.connections) == 2)
    assert [c.client_subject for c in srv.connections] == [None, "CN=postcheck client"]
