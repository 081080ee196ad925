"""The adapters against real local servers, for both backends.

What they guarantee: docs/adapters.md, "What every adapter guarantees".

Every client: a trusted server works, an untrusted one fails with a certificate error, an
allowed insecure host works, each redirect hop is decided on its own URL, the client certificate
is presented (insecure hosts included), CONNECT and HTTPS proxies work, and no request loads
certificates (the load-count test).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Import every client now: some load certificates at import time (requests' preloaded context,
# aiohttp's module-level contexts), which must not count as per-connection loads below.
import aiohttp
import httpx
import pytest
import requests
import requests.adapters
import urllib3  # noqa: F401

import tlsback
from tests.pki import PKI
from tests.test_adapters_support import (
    BACKENDS,
    CLIENTS,
    HTTPS_PROXY_CLIENTS,
    ClientPKI,
    LoadCounter,
    expect_cert_error,
    fetch,
    make_cfg,
    warm,
)
from tests.tlsserver import DEFAULT_BODY, ConnectProxy, HTTPSServer, redirect

pytest_plugins = ["tests.test_adapters_support"]  # fixtures: servers, loads, client_cert

Servers = Callable[..., HTTPSServer]

backends = pytest.mark.parametrize("backend", BACKENDS)
clients = pytest.mark.parametrize("client", CLIENTS)


@backends
@clients
def test_trusted_untrusted_and_insecure_hosts(
    backend: str, client: str, pki: PKI, other_pki: PKI, servers: Servers, tmp_path: Path,
) -> None:
    """Trusted: 200. Untrusted: certificate error. Allowed insecure host: 200; other ports: not."""
    good = servers(pki)
    bad = servers(other_pki)
    cfg = make_cfg(backend, tmp_path, ca=pki)
    assert fetch(client, cfg, good.url + "/ok") == (200, DEFAULT_BODY)
    expect_cert_error(client, cfg, bad.url + "/")

    allowed = make_cfg(backend, tmp_path, ca=pki, insecure=f"localhost:{bad.port}")
    assert fetch(client, allowed, bad.url + "/insecure") == (200, DEFAULT_BODY)
    assert fetch(client, allowed, good.url + "/still-verified").status == 200
    assert bad.requests[-1].path == "/insecure"

    elsewhere = make_cfg(backend, tmp_path, ca=pki, insecure=f"localhost:{bad.port + 1} example.com")
    expect_cert_error(client, elsewhere, bad.url + "/")
    # Host names compare exactly: the IP literal is another host.
    by_name = make_cfg(backend, tmp_path, ca=pki, insecure="localhost")
    expect_cert_error(client, by_name, bad.ip_url + "/")


@backends
@clients
def test_each_redirect_hop_is_decided_on_its_own_url(
    backend: str, client: str, pki: PKI, other_pki: PKI, servers: Servers, tmp_path: Path,
) -> None:
    """uv decides once for the first URL; tlsback decides for every hop.

    docs/insecure-hosts.md, "Redirects".
    """
    untrusted = servers(other_pki)
    trusted = servers(pki)
    allowed = servers(other_pki, routes={
        "/to-untrusted": redirect(untrusted.url + "/landed"),
        "/to-trusted": redirect(trusted.url + "/landed"),
    })
    verified_hop = servers(pki, routes={
        "/to-untrusted": redirect(untrusted.url + "/landed"),
        "/to-allowed": redirect(allowed.url + "/landed"),
    })
    cfg = make_cfg(backend, tmp_path, ca=pki, insecure=f"localhost:{allowed.port}")

    # verified -> untrusted, not allowed: fails on the second hop
    expect_cert_error(client, cfg, verified_hop.url + "/to-untrusted")
    # allowed insecure -> untrusted, not allowed: fails too (uv would follow it unverified)
    expect_cert_error(client, cfg, allowed.url + "/to-untrusted")
    assert not untrusted.requests
    # allowed insecure -> trusted: verified second hop succeeds
    assert fetch(client, cfg, allowed.url + "/to-trusted").status == 200
    assert trusted.requests[-1].path == "/landed"
    # verified -> allowed insecure: succeeds
    assert fetch(client, cfg, verified_hop.url + "/to-allowed").status == 200
    assert allowed.requests[-1].path == "/landed"


@backends
@clients
def test_client_certificate_presented_verified_and_insecure(
    backend: str, client: str, pki: PKI, other_pki: PKI, servers: Servers, tmp_path: Path,
    client_cert: ClientPKI,
) -> None:
    """SSL_CLIENT_CERT is presented to servers that require it, insecure hosts included."""
    verified = servers(pki, client_ca=client_cert.pki.root, require_client_cert=True)
    insecure = servers(other_pki, client_ca=client_cert.pki.root, require_client_cert=True)
    cfg = make_cfg(backend, tmp_path, ca=pki, insecure=f"localhost:{insecure.port}",
                   client_cert=client_cert.path)
    assert fetch(client, cfg, verified.url + "/m").status == 200
    assert verified.requests[-1].client_subject == client_cert.subject
    assert fetch(client, cfg, insecure.url + "/m").status == 200
    assert insecure.requests[-1].client_subject == client_cert.subject


@backends
@clients
def test_without_client_certificate_the_mtls_server_refuses(
    backend: str, client: str, pki: PKI, servers: Servers, tmp_path: Path, client_cert: ClientPKI,
) -> None:
    """Control for the test above: no SSL_CLIENT_CERT, no access."""
    srv = servers(pki, client_ca=client_cert.pki.root, require_client_cert=True)
    cfg = make_cfg(backend, tmp_path, ca=pki)
    with pytest.raises(Exception):  # noqa: B017 - each client has its own error type
        fetch(client, cfg, srv.url + "/m")
    assert not srv.requests


@backends
@clients
def test_through_connect_proxy(
    backend: str, client: str, pki: PKI, other_pki: PKI, servers: Servers, tmp_path: Path,
    connect_proxy: Callable[..., ConnectProxy], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Through an HTTP CONNECT proxy: verified as usual, insecure hosts decided on the target."""
    proxy = connect_proxy()
    good = servers(pki)
    bad = servers(other_pki)
    cfg = make_cfg(backend, tmp_path, ca=pki, insecure=f"localhost:{bad.port}")
    assert fetch(client, cfg, good.url + "/p", proxy=proxy.url, monkeypatch=monkeypatch).status == 200
    assert fetch(client, cfg, bad.url + "/p", proxy=proxy.url, monkeypatch=monkeypatch).status == 200
    assert proxy.targets == [good.netloc, bad.netloc]
    strict = make_cfg(backend, tmp_path, ca=pki)
    expect_cert_error(client, strict, bad.url + "/p", proxy=proxy.url, monkeypatch=monkeypatch)


@backends
@pytest.mark.parametrize("client", HTTPS_PROXY_CLIENTS)
def test_through_https_proxy(
    backend: str, client: str, pki: PKI, other_pki: PKI, servers: Servers, tmp_path: Path,
    connect_proxy: Callable[..., ConnectProxy],
) -> None:
    """TLS to the proxy is verified with tlsback's context for the proxy URL (TLS in TLS).

    aiohttp on Python 3.10 cannot (asyncio has no TLS in TLS there): the adapter says so with a
    clear error before connecting, instead of aiohttp's warning and obscure failure.
    """
    good = servers(pki)
    trusted_proxy = connect_proxy(chain=pki)
    cfg = make_cfg(backend, tmp_path, ca=pki)
    if client == "aiohttp" and sys.version_info < (3, 11):
        with pytest.raises(aiohttp.ClientConnectionError, match=r"TLS inside TLS needs Python 3\.11"):
            fetch(client, cfg, good.url + "/via", proxy=trusted_proxy.url)
        assert trusted_proxy.targets == []
        assert not good.requests
        return
    assert fetch(client, cfg, good.url + "/via", proxy=trusted_proxy.url).status == 200
    assert trusted_proxy.targets == [good.netloc]

    untrusted_proxy = connect_proxy(chain=other_pki)
    expect_cert_error(client, cfg, good.url + "/via", proxy=untrusted_proxy.url)
    assert untrusted_proxy.targets == []
    allowed = make_cfg(backend, tmp_path, ca=pki, insecure=f"localhost:{untrusted_proxy.port}")
    assert fetch(client, allowed, good.url + "/via", proxy=untrusted_proxy.url).status == 200
    assert untrusted_proxy.targets == [good.netloc]


@backends
@clients
def test_no_certificate_loads_per_connection(
    backend: str, client: str, pki: PKI, other_pki: PKI, servers: Servers, tmp_path: Path,
    loads: LoadCounter, client_cert: ClientPKI,
) -> None:
    """Once the contexts are built, requests load nothing: not CAs, not the client certificate."""
    good = servers(pki)
    bad = servers(other_pki, routes={"/r": redirect(good.url + "/after")})
    cfg = warm(make_cfg(backend, tmp_path, ca=pki, insecure=f"localhost:{bad.port}",
                        client_cert=client_cert.path))
    assert loads.calls, "building the contexts loads the store (sanity check of the counter)"
    loads.reset()
    for _ in range(3):  # each fetch builds a new client: new connections every time
        assert fetch(client, cfg, good.url + "/1").status == 200
        assert fetch(client, cfg, bad.url + "/r").status == 200
    assert len(good.connections) >= 6
    assert loads.calls == []


def httpx_context(client: httpx.Client, url: str) -> object:
    """The SSL context an httpx client built by tlsback uses for ``url`` (its pool's)."""
    target = httpx.URL(url)
    transport = client._transport_for_url(target)
    while hasattr(transport, "transport_for"):  # tlsback's per-request chooser
        transport = transport.transport_for(target)
    return transport._pool._ssl_context


def test_adapters_share_the_configs_contexts(pki: PKI, other_pki: PKI, servers: Servers,
                                              tmp_path: Path) -> None:
    """The contexts the clients hold are cfg.context / cfg.insecure_context themselves."""
    import tlsback.adapters as ta

    good = servers(pki)
    bad = servers(other_pki)
    cfg = make_cfg("rustls", tmp_path, ca=pki, insecure=f"localhost:{bad.port}")

    pm = ta.urllib3_pool_manager(cfg)
    assert pm.connection_from_url(good.url).conn_kw["ssl_context"] is cfg.context
    assert pm.connection_from_url(bad.url).conn_kw["ssl_context"] is cfg.insecure_context

    session = ta.requests_session(cfg)
    adapter = session.get_adapter("https://x")
    assert adapter.poolmanager.connection_from_url(good.url).conn_kw["ssl_context"] is cfg.context

    with ta.httpx_client(cfg) as client:
        assert httpx_context(client, good.url) is cfg.context
        assert httpx_context(client, bad.url + "/x") is cfg.insecure_context
        assert httpx_context(client, f"https://localhost:{bad.port + 1}/") is cfg.context

    async def connector_ssl() -> object:
        conn = ta.aiohttp_connector(cfg)
        try:
            return conn._ssl
        finally:
            await conn.close()

    import asyncio

    assert asyncio.run(connector_ssl()) is cfg.context


@clients
def test_every_adapter_asks_the_one_decision_point(
    client: str, pki: PKI, other_pki: PKI, servers: Servers, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Which context an origin gets is decided by ``cfg.context_for_origin`` alone: where it
    answers "verify" for an allowed insecure host, every client verifies (and fails)."""
    bad = servers(other_pki)
    cfg = make_cfg("rustls", tmp_path, ca=pki, insecure=f"localhost:{bad.port}")
    assert fetch(client, cfg, bad.url + "/").status == 200
    asked: list[tuple[str, str, int | None]] = []

    def verify_all(scheme: str, host: str, port: int | None) -> object:
        asked.append((scheme, host, port))
        return cfg.context

    monkeypatch.setattr(cfg, "context_for_origin", verify_all)
    expect_cert_error(client, cfg, bad.url + "/")
    assert ("https", "localhost", bad.port) in asked


def test_wildcard_rule_turns_verification_off_everywhere(
    other_pki: PKI, servers: Servers, tmp_path: Path,
) -> None:
    """`*` (docs/insecure-hosts.md, "Spellings"): every host, for every client."""
    bad = servers(other_pki)
    cfg = make_cfg("rustls", tmp_path, insecure="*")
    for client in CLIENTS:
        assert fetch(client, cfg, bad.url + "/").status == 200


def test_https_rule_with_default_port_never_matches(other_pki: PKI, servers: Servers,
                                                     tmp_path: Path) -> None:
    """`localhost:443` never matches an https URL: the httpx client verifies it."""
    import tlsback.adapters as ta

    bad = servers(other_pki)
    cfg = make_cfg("rustls", tmp_path, insecure="localhost:443 http://localhost")
    with ta.httpx_client(cfg) as client:
        assert httpx_context(client, bad.url) is cfg.context
    expect_cert_error("httpx", cfg, bad.url + "/")


@pytest.mark.parametrize(
    ("factory", "kwargs"),
    [
        ("urllib3_pool_manager", {"ssl_context": None}),
        ("urllib3_pool_manager", {"ca_certs": "/x"}),
        ("urllib3_pool_manager", {"cert_reqs": "CERT_NONE"}),
        ("urllib3_pool_manager", {"assert_hostname": False}),
        ("httpx_client", {"verify": False}),
        ("httpx_async_client", {"cert": "/x"}),
    ],
)
def test_tls_keywords_are_refused(factory: str, kwargs: dict[str, object], tmp_path: Path) -> None:
    """Keywords that would load certificates or change the shared context are a TypeError."""
    import tlsback.adapters as ta

    cfg = make_cfg("rustls", tmp_path)
    with pytest.raises(TypeError, match="sets TLS itself"):
        getattr(ta, factory)(cfg, **kwargs)


@pytest.mark.parametrize("kwarg", ["ssl", "verify_ssl", "ssl_context", "fingerprint"])
def test_aiohttp_tls_keywords_are_refused(kwarg: str, tmp_path: Path) -> None:
    """aiohttp's TLS keywords are refused too."""
    import tlsback.adapters as ta

    cfg = make_cfg("rustls", tmp_path)
    with pytest.raises(TypeError, match=kwarg):
        ta.aiohttp_connector(cfg, **{kwarg: None})


@backends
def test_requests_verify_and_cert_arguments(
    backend: str, pki: PKI, other_pki: PKI, servers: Servers, tmp_path: Path,
    client_cert: ClientPKI, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """verify=False: tlsback's insecure context (client cert kept); verify=<CA file or directory>:
    that bundle alone (client cert kept); cert=: refused; REQUESTS_CA_BUNDLE is not read."""
    import requests

    import tlsback.adapters as ta

    bad = servers(other_pki, client_ca=client_cert.pki.root, require_client_cert=True)
    good = servers(pki)
    cfg = make_cfg(backend, tmp_path, ca=pki, client_cert=client_cert.path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "does-not-exist.pem"))
    with ta.requests_session(cfg) as s:
        assert s.get(good.url + "/", timeout=10).status_code == 200
        assert s.get(bad.url + "/nv", verify=False, timeout=10).status_code == 200
        assert bad.requests[-1].client_subject == client_cert.subject
        # verify=<CA path>, as requests users pass it: that bundle is the only trust.
        with pytest.raises(OSError, match="invalid path"):
            s.get(good.url + "/", verify=str(tmp_path / "missing.pem"))
        other_ca = other_pki.root.write_pem(tmp_path / "other-ca.pem")
        assert s.get(bad.url + "/by-path", verify=str(other_ca), timeout=10).status_code == 200
        assert bad.requests[-1].client_subject == client_cert.subject
        with pytest.raises(requests.exceptions.SSLError):  # cfg's CA is not in that bundle
            s.get(good.url + "/not-in-bundle", verify=str(other_ca), timeout=10)
        ca_dir = tmp_path / "ca-dir"
        ca_dir.mkdir()
        pki.root.write_pem(ca_dir / "corp.pem")
        assert s.get(good.url + "/by-dir", verify=str(ca_dir), timeout=10).status_code == 200
        with pytest.raises(ValueError, match="SSL_CLIENT_CERT"):
            s.get(good.url + "/", cert=str(client_cert.path))
        s.verify = False
        assert s.get(bad.url + "/session-nv", timeout=10).status_code == 200
    # The bundle replaced in place (a rotation): its new content is the trust, never the old.
    pki.root.write_pem(other_ca)
    with ta.requests_session(cfg) as s, pytest.raises(requests.exceptions.SSLError):
        s.get(bad.url + "/rotated-out", verify=str(other_ca), timeout=10)
    with ta.requests_session(cfg) as s:
        assert s.get(good.url + "/rotated-in", verify=str(other_ca), timeout=10).status_code == 200
    # One configuration kept per bundle file, the current content's: not one per content seen.
    kept = cfg.__dict__["_tlsback_ca_configs"]
    assert sorted(kept) == sorted(os.path.realpath(p) for p in (other_ca, ca_dir))


def test_requests_adapter_for_own_session(pki: PKI, servers: Servers, tmp_path: Path) -> None:
    """requests_adapter() can be mounted on a session the program already has."""
    import tlsback.adapters as ta

    good = servers(pki)
    cfg = make_cfg("rustls", tmp_path, ca=pki)
    with requests.Session() as s:
        s.mount("https://", ta.requests_adapter(cfg))
        assert s.get(good.url + "/own", timeout=10).status_code == 200


def test_httpx_user_mounts_win(other_pki: PKI, servers: Servers, tmp_path: Path) -> None:
    """A mount the caller passes for the same pattern replaces tlsback's insecure mount."""
    import tlsback.adapters as ta

    bad = servers(other_pki)
    cfg = make_cfg("rustls", tmp_path, insecure=f"localhost:{bad.port}")
    mine = httpx.HTTPTransport(verify=cfg.context)
    with ta.httpx_client(cfg, mounts={f"https://localhost:{bad.port}": mine}) as client:
        assert client._transport_for_url(httpx.URL(bad.url)) is mine


@pytest.mark.parametrize("factory", ["httpx_client", "httpx_async_client"])
def test_httpx_own_transport_with_insecure_rules_is_refused(
    factory: str, pki: PKI, other_pki: PKI, servers: Servers, tmp_path: Path,
) -> None:
    """``transport=`` plus allow-insecure-host rules: a TypeError naming both, before any request.

    tlsback cannot choose the context inside a transport it did not build; sending the allowed
    hosts around it would skip what the caller's transport does (its proxy, retries, own TLS).
    Without rules the caller's transport carries every request.
    """
    import tlsback.adapters as ta

    good = servers(pki)
    bad = servers(other_pki)
    seen: list[str] = []
    if factory == "httpx_client":
        class Mine(httpx.HTTPTransport):
            def handle_request(self, request: httpx.Request) -> httpx.Response:
                seen.append(str(request.url))
                return super().handle_request(request)

        def get(client: Any, url: str) -> int:
            with client:
                return int(client.get(url).status_code)
    else:
        class Mine(httpx.AsyncHTTPTransport):  # type: ignore[no-redef]
            async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
                seen.append(str(request.url))
                return await super().handle_async_request(request)

        def get(client: Any, url: str) -> int:
            async def go() -> int:
                async with client:
                    return int((await client.get(url)).status_code)
            return asyncio.run(go())

    allowed = make_cfg("rustls", tmp_path, ca=pki, insecure=f"localhost:{bad.port}")
    with pytest.raises(TypeError, match=rf"allow-insecure-host \(localhost:{bad.port}\) with your own transport="):
        getattr(ta, factory)(allowed, transport=Mine(verify=allowed.context))
    assert not bad.requests and not seen

    strict = make_cfg("rustls", tmp_path, ca=pki)
    assert get(getattr(ta, factory)(strict, transport=Mine(verify=strict.context)), good.url + "/mine") == 200
    assert seen == [good.url + "/mine"]


def test_httpx_environment_proxy_for_insecure_host(
    other_pki: PKI, servers: Servers, tmp_path: Path, connect_proxy: Callable[..., ConnectProxy],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An insecure host's own mount still goes through the proxy from the environment."""
    bad = servers(other_pki)
    proxy = connect_proxy()
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    cfg = make_cfg("rustls", tmp_path, insecure=f"localhost:{bad.port}")
    assert fetch("httpx", cfg, bad.url + "/env-proxy").status == 200
    assert proxy.targets == [bad.netloc]


def test_cfg_none_uses_the_process_default(pki: PKI, servers: Servers, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """cfg=None means tlsback.default_config(): one configuration per process."""
    import tlsback.adapters as ta
    import tlsback.config

    good = servers(pki)
    cfg = make_cfg("rustls", tmp_path, ca=pki)
    calls: list[int] = []

    def fake_default() -> tlsback.TLSConfig:
        calls.append(1)
        return cfg

    monkeypatch.setattr(tlsback.config, "default_config", fake_default)
    with ta.urllib_opener().open(good.url + "/", timeout=10) as resp:
        assert resp.status == 200
    with ta.urllib3_pool_manager() as pm:
        assert pm.request("GET", good.url + "/").status == 200
    with ta.requests_session() as s:
        assert s.get(good.url + "/", timeout=10).status_code == 200
    with ta.httpx_client() as c:
        assert c.get(good.url + "/").status_code == 200
    assert len(calls) == 4


def test_importing_adapters_imports_no_client() -> None:
    """`import tlsback.adapters` (and touching an adapter) imports none of the HTTP clients."""
    code = (
        "import sys, tlsback, tlsback.adapters as ta\n"
        "ta.urllib3_pool_manager, ta.requests_session, ta.httpx_client, ta.aiohttp_connector\n"
        "bad = [m for m in ('urllib3', 'requests', 'httpx', 'aiohttp', 'truststore') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_unknown_adapter_name() -> None:
    """A typo is an AttributeError, as for any module."""
    import tlsback.adapters as ta

    with pytest.raises(AttributeError, match="httpx_clinet"):
        ta.httpx_clinet  # noqa: B018
    assert "httpx_client" in dir(ta)
