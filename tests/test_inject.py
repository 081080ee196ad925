"""``tlsback.inject_into_ssl()`` / ``extract_from_ssl()`` against real local servers.

The CA of the test servers is only in an unhashed ``SSL_CERT_DIR`` (``corp.pem``), which
OpenSSL's own default paths never read: every client fails before the injection, works after
it and fails again after the extraction.
"""

from __future__ import annotations

import asyncio
import http.client
import os
import ssl
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

import tlsback
from tests.conftest import BlockImport
from tests.pki import PKI, issue
from tlsback import inject

CLIENT_AUTH = x509.ObjectIdentifier("1.3.6.1.5.5.7.3.2")


def write_client_cert(client_pki: PKI, path: Path) -> Path:
    """A client certificate (clientAuth) with its chain and key, key first, as SSL_CLIENT_CERT."""
    leaf = issue("tlsback client", issuer=client_pki.intermediate, san=None, eku=[CLIENT_AUTH])
    return leaf.write_combined(path, chain=[client_pki.intermediate], key_first=True)


@pytest.fixture(autouse=True)
def _always_extract() -> Iterator[None]:
    yield
    tlsback.extract_from_ssl()


@pytest.fixture
def corp_env(corp_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """SSL_CERT_DIR set to the unhashed ``corp_dir``."""
    monkeypatch.setenv("SSL_CERT_DIR", str(corp_dir))
    return corp_dir


def _urlopen(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as r:
        body: bytes = r.read()
        return body


def test_stdlib_fails_before_works_after_and_fails_after_extract(pki: PKI, https_server: Any, corp_env: Path) -> None:
    """urllib's default opener, http.client and ssl.create_default_context follow the injection."""
    srv = https_server(pki)
    with pytest.raises(urllib.error.URLError):
        _urlopen(srv.url)
    tlsback.inject_into_ssl(tlsback.load())
    assert _urlopen(srv.url).startswith(b"hello")
    conn = http.client.HTTPSConnection("localhost", srv.port, timeout=10)
    conn.request("GET", "/")
    assert conn.getresponse().status == 200
    conn.close()
    ctx = ssl.create_default_context()
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    tlsback.extract_from_ssl()
    assert ssl.SSLContext is inject._original_SSLContext
    assert ssl.create_default_context is inject._original_create_default_context
    with pytest.raises(urllib.error.URLError):
        _urlopen(srv.url)


def test_idempotent_and_reversible(corp_env: Path) -> None:
    """A second call switches the configuration without patching twice; extract restores all."""
    cfg1, cfg2 = tlsback.load(), tlsback.load()
    tlsback.inject_into_ssl(cfg1)
    patches = list(inject._state.patches)
    tlsback.inject_into_ssl(cfg2)
    assert inject._state.patches == patches
    assert inject.injected() is cfg2
    tlsback.extract_from_ssl()
    tlsback.extract_from_ssl()
    assert inject.injected() is None
    assert ssl._create_default_https_context is inject._original_https_context


def test_third_party_clients_imported_before(pki: PKI, https_server: Any, corp_env: Path) -> None:
    """urllib3, requests, httpx and pip's vendored requests, imported before the call."""
    import httpx
    import requests
    import urllib3

    srv = https_server(pki)
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(srv.url, timeout=10)
    tlsback.inject_into_ssl()
    assert requests.get(srv.url, timeout=10).status_code == 200
    assert urllib3.PoolManager().request("GET", srv.url).status == 200
    assert httpx.get(srv.url).status_code == 200
    with requests.Session() as s:  # a session reuses its pool: one context, many requests
        assert [s.get(srv.url, timeout=10).status_code for _ in range(3)] == [200] * 3
    pip_requests = pytest.importorskip("pip._vendor.requests")
    assert pip_requests.get(srv.url, timeout=10).status_code == 200


def test_aiohttp(pki: PKI, https_server: Any, corp_env: Path) -> None:
    """aiohttp's default verified context (made at its import) is replaced too."""
    aiohttp = pytest.importorskip("aiohttp")
    srv = https_server(pki)

    async def get() -> int:
        async with aiohttp.ClientSession() as session, session.get(srv.url) as r:
            await r.read()
            return int(r.status)

    tlsback.inject_into_ssl()
    assert asyncio.run(get()) == 200


def test_client_certificate_reaches_requests(pki: PKI, https_server: Any, corp_env: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """SSL_CLIENT_CERT is presented by clients that never heard of it."""
    import requests

    client_pki = PKI.create(name_prefix="tlsback client")
    monkeypatch.setenv("SSL_CLIENT_CERT", str(write_client_cert(client_pki, tmp_path / "client.pem")))
    srv = https_server(pki, client_ca=client_pki.root, require_client_cert=True)
    tlsback.inject_into_ssl(tlsback.load())
    assert requests.get(srv.url, timeout=10).status_code == 200
    assert _urlopen(srv.url).startswith(b"hello")
    assert srv.requests[-1].client_subject == "CN=tlsback client"


def _two_servers(https_server: Any, other_pki: PKI) -> tuple[Any, Any]:
    """Two servers on 127.0.0.1 with a certificate nothing trusts: only a rule lets them through."""
    return https_server(other_pki), https_server(other_pki)


def test_insecure_rule_port_is_honoured_where_the_socket_shows_it(other_pki: PKI, https_server: Any,
                                                                  corp_env: Path) -> None:
    """A rule with a port applies to a connection straight to that port of that host (the
    socket's peer), by name or by address, and never to the same host's other port; a rule
    without a port applies to every port of its host, and to no other host."""
    import requests

    a, b = _two_servers(https_server, other_pki)
    tlsback.inject_into_ssl(tlsback.load(allow_insecure_host=[f"localhost:{a.port}"]))
    assert requests.get(a.url, timeout=10).status_code == 200
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(b.url, timeout=10)
    with pytest.raises(requests.exceptions.SSLError):  # 127.0.0.1 is another host to the rule
        requests.get(a.ip_url, timeout=10)

    tlsback.inject_into_ssl(tlsback.load(allow_insecure_host=[f"https://127.0.0.1:{a.port}"]))
    assert _urlopen(a.ip_url).startswith(b"hello")  # urllib: http.client's own default context
    with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED|UnknownIssuer"):
        _urlopen(b.ip_url)

    tlsback.inject_into_ssl(tlsback.load(allow_insecure_host=["localhost"]))
    assert requests.get(a.url, timeout=10).status_code == 200
    assert requests.get(b.url, timeout=10).status_code == 200
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(b.ip_url, timeout=10)


def test_insecure_rule_port_through_a_proxy_is_not_applied(other_pki: PKI, https_server: Any,
                                                           connect_proxy: Any, corp_env: Path,
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    """Through a proxy the socket's peer is the proxy (here on the host's own address): its port
    is not the URL's. A rule naming the proxy's port does not cover the server's, and a rule
    naming the server's port cannot be checked: both stay verified, and the log says why."""
    import requests

    srv = https_server(other_pki)
    proxy = connect_proxy()
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    for port in (proxy.port, srv.port):
        tlsback.inject_into_ssl(tlsback.load(allow_insecure_host=[f"localhost:{port}"]))
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(srv.url, timeout=10)
    assert proxy.targets == [f"localhost:{srv.port}"] * 2
    assert "not connected straight to that host (a proxy?)" in caplog.text
    tlsback.inject_into_ssl(tlsback.load(allow_insecure_host=["localhost"]))  # no port: applies
    assert requests.get(srv.url, timeout=10).status_code == 200


def _raw_tls(url: str, alpn: list[str] | None) -> str | None:
    """A TLS connection as a non-HTTP client makes one (SMTP, IMAP, a database driver): the
    default context, the host's name, ALPN as given; returns the negotiated protocol version."""
    import socket
    import urllib.parse

    parts = urllib.parse.urlsplit(url)
    ctx = ssl.create_default_context()
    if alpn is not None:
        ctx.set_alpn_protocols(alpn)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock, \
            ctx.wrap_socket(sock, server_hostname=parts.hostname) as tls:
        return tls.version()


def test_insecure_rules_apply_only_to_connections_that_say_https(other_pki: PKI, https_server: Any,
                                                                 corp_env: Path) -> None:
    """A rule names HTTPS URLs: a TLS connection that does not offer HTTP (alone) in ALPN may be
    any protocol, and stays verified to that host whatever the rule, ``*`` included."""
    srv = https_server(other_pki)
    for rule in ("*", "localhost", f"https://localhost:{srv.port}"):
        tlsback.inject_into_ssl(tlsback.load(allow_insecure_host=[rule]))
        for alpn in (None, ["imap"], ["h2", "smtp"]):
            with pytest.raises(ssl.SSLCertVerificationError):
                _raw_tls(srv.url, alpn)
        assert _raw_tls(srv.url, ["h2", "http/1.1"]) in ("TLSv1.2", "TLSv1.3")


def test_insecure_rule_port_is_unknown_without_a_socket(other_pki: PKI, https_server: Any,
                                                        corp_env: Path) -> None:
    """Memory BIOs (asyncio, anyio: httpx's async client, aiohttp) have no socket to show the
    port: a rule with a port does not apply, one without does (aiohttp's own default context,
    which offers no ALPN, is marked as the HTTPS client it is)."""
    import aiohttp
    import httpx

    srv = https_server(other_pki)

    async def httpx_get() -> int:
        async with httpx.AsyncClient(timeout=10) as client:
            return (await client.get(srv.url)).status_code

    async def aiohttp_get() -> int:
        async with aiohttp.ClientSession() as session, session.get(srv.url) as r:
            await r.read()
            return int(r.status)

    tlsback.inject_into_ssl(tlsback.load(allow_insecure_host=[f"localhost:{srv.port}"]))
    with pytest.raises(httpx.ConnectError):
        asyncio.run(httpx_get())
    with pytest.raises(aiohttp.ClientConnectorCertificateError):
        asyncio.run(aiohttp_get())
    tlsback.inject_into_ssl(tlsback.load(allow_insecure_host=["localhost"]))
    assert asyncio.run(httpx_get()) == 200
    assert asyncio.run(aiohttp_get()) == 200


def test_policy_applies_to_injected_contexts(https_server: Any, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The rustls policy (here: a leaf that is a CA is refused) holds in contexts urllib3 builds."""
    import requests

    bad = PKI.create(is_ca=True)
    d = tmp_path / "d"
    d.mkdir()
    bad.root.write_pem(d / "corp.pem")
    monkeypatch.setenv("SSL_CERT_DIR", str(d))
    srv = https_server(bad)
    tlsback.inject_into_ssl(tlsback.load())
    with pytest.raises(requests.exceptions.SSLError, match="CaUsedAsEndEntity|CA"):
        requests.get(srv.url, timeout=10)


def test_concurrent_inject_extract_and_requests(pki: PKI, https_server: Any, corp_env: Path) -> None:
    """Swapping from several threads while others connect never raises anything but a verdict."""
    srv = https_server(pki)
    cfg = tlsback.load()
    errors: list[BaseException] = []

    def swap() -> None:
        for _ in range(20):
            tlsback.inject_into_ssl(cfg)
            tlsback.extract_from_ssl()

    def fetch() -> None:
        for _ in range(10):
            try:
                _urlopen(srv.url)
            except urllib.error.URLError as exc:  # not injected at that moment: a verdict
                if not isinstance(exc.reason, ssl.SSLError):
                    errors.append(exc)
            except Exception as exc:  # noqa: BLE001
                errors.append(exc)

    threads = [threading.Thread(target=swap) for _ in range(2)] + [threading.Thread(target=fetch) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    tlsback.extract_from_ssl()
    assert ssl.SSLContext is inject._original_SSLContext


def test_native_backend(pki: PKI, https_server: Any, corp_env: Path) -> None:
    """With the native backend (OpenSSL with the system store on Linux) plus the custom CA."""
    import requests

    srv = https_server(pki)
    tlsback.inject_into_ssl(tlsback.load(native_tls=True))
    assert _urlopen(srv.url).startswith(b"hello")
    assert requests.get(srv.url, timeout=10).status_code == 200
    tlsback.extract_from_ssl()
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(srv.url, timeout=10)


def test_named_ca_file_is_loaded_as_asked(pki: PKI, other_pki: PKI, https_server: Any, corp_env: Path,
                                          tmp_path: Path) -> None:
    """A CA file a caller names (not certifi's, not where()'s) is the caller's choice: honoured."""
    import requests

    srv = https_server(other_pki)
    tlsback.inject_into_ssl(tlsback.load())
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(srv.url, timeout=10)
    other = other_pki.root.write_pem(tmp_path / "other.pem")
    assert requests.get(srv.url, timeout=10, verify=str(other)).status_code == 200
    ctx = ssl.create_default_context(cafile=str(other))
    assert _urlopen_ctx(srv.url, ctx).startswith(b"hello")


def test_a_named_ca_file_is_judged_by_the_file_it_leads_to_now(
        pki: PKI, other_pki: PKI, https_server: Any, corp_env: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A link to certifi's bundle means tlsback's store; the same link replaced to lead to
    another CA file is that file, loaded as asked (the real path is remembered per name only
    while the name leads to the same file), and back again. Unchanged, the name's real path is
    looked up once."""
    import certifi

    srv, other = https_server(pki), https_server(other_pki)
    own = other_pki.root.write_pem(tmp_path / "other.pem")
    link = tmp_path / "ca.pem"
    monkeypatch.setattr(inject, "_real_paths", {})
    real = os.path.realpath
    looked_up: list[str] = []
    monkeypatch.setattr(os.path, "realpath", lambda p, *a, **k: looked_up.append(p) or real(p, *a, **k))
    tlsback.inject_into_ssl(tlsback.load())

    def trusts(server: Any) -> bool:
        ctx = ssl.create_default_context(cafile=str(link))
        try:
            return _urlopen_ctx(server.url, ctx).startswith(b"hello")
        except urllib.error.URLError as exc:
            assert isinstance(exc.reason, ssl.SSLCertVerificationError), exc
            return False

    for target, default in [(certifi.where(), True), (str(own), False), (certifi.where(), True)]:
        tmp = tmp_path / "ca.pem.new"
        tmp.symlink_to(target)
        os.replace(tmp, link)
        assert trusts(srv)  # tlsback's store, either way
        assert trusts(other) is not default  # the named file added, unless it is certifi's
    assert str(link) in looked_up  # each new file behind the name was looked up
    looked_up.clear()
    for _ in range(3):
        inject._is_default_bundle(str(link))
    assert str(link) not in looked_up


def _urlopen_ctx(url: str, ctx: ssl.SSLContext) -> bytes:
    with urllib.request.urlopen(url, timeout=10, context=ctx) as r:
        body: bytes = r.read()
        return body


def test_without_certifi_the_import_is_tried_once(
        pki: PKI, https_server: Any, corp_env: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Naming a CA file to an injected context asks whether it is certifi's bundle; without
    certifi the failed import is remembered, not repeated (a sys.path search) on every call."""
    import sys

    srv = https_server(pki)
    ca = pki.root.write_pem(tmp_path / "own-ca.pem")
    finder = BlockImport("certifi")
    monkeypatch.delitem(sys.modules, "certifi", raising=False)
    monkeypatch.setattr(sys, "meta_path", [finder, *sys.meta_path])
    monkeypatch.setattr(inject, "_bundle_paths", {})
    tlsback.inject_into_ssl(tlsback.load())
    for _ in range(3):
        ctx = ssl.create_default_context(cafile=str(ca))
        with urllib.request.urlopen(srv.url, timeout=10, context=ctx) as resp:
            assert resp.status == 200
    assert finder.asked == 1


def test_an_alpn_offer_given_as_an_iterator_is_read_once_for_both_uses() -> None:
    """``set_alpn_protocols`` takes any iterable: a generator offering HTTP alone is HTTPS for
    the per-host rules too (it was used up by the stdlib before being looked at)."""
    ctx = inject.InjectedSSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.set_alpn_protocols(p for p in ["h2", "http/1.1"])
    assert ctx._tlsback_https  # type: ignore[attr-defined]
    ctx.set_alpn_protocols(iter(["http/1.1", "smtp"]))
    assert not ctx._tlsback_https  # type: ignore[attr-defined]
