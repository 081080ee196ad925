"""requests, urllib3 and httpx through a SOCKS proxy, against real local servers.

requests and urllib3 (PySocks) through SOCKS5, SOCKS5h, SOCKS4 and SOCKS4a; httpx (socksio)
through SOCKS5, sync and async.

What they guarantee (docs/adapters.md, "Proxies"): the TLS to the target, tunnelled through the
SOCKS proxy, is tlsback's: its trust store and its verification policy; an allowed insecure host
is decided on the target host, exactly as for a direct connection; the connection really goes
through the proxy (it records every CONNECT).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import socks  # noqa: F401 - PySocks, a test extra: these tests need it (never skipped in CI)

import tlsback.adapters as ta
from tests.conftest import BlockImport, started_servers
from tests.pki import PKI
from tests.socksserver import Socks5Proxy
from tests.test_adapters_support import BACKENDS, expect_cert_error, fetch, make_cfg
from tests.tlsserver import DEFAULT_BODY, HTTPSServer, redirect

pytest_plugins = ["tests.test_adapters_support"]  # fixtures: servers

Servers = Callable[..., HTTPSServer]
SOCKS_CLIENTS = ("urllib3", "requests")


@pytest.fixture
def socks_proxy() -> Iterator[Callable[..., Socks5Proxy]]:
    """Factory: ``socks_proxy(auth=None)`` -> started :class:`Socks5Proxy`."""
    yield from started_servers(Socks5Proxy)


def _via(proxy: Socks5Proxy, scheme: str) -> str:
    return proxy.url.replace("socks5h://", f"{scheme}://", 1)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("client", SOCKS_CLIENTS)
@pytest.mark.parametrize("scheme", ["socks5h", "socks5"])
def test_verified_untrusted_and_insecure_through_socks(
    backend: str, client: str, scheme: str, pki: PKI, other_pki: PKI, servers: Servers,
    tmp_path: Path, socks_proxy: Callable[..., Socks5Proxy],
) -> None:
    """Trusted only by tlsback's store: 200; untrusted: refused; allowed target: 200, unverified."""
    proxy = socks_proxy()
    via = _via(proxy, scheme)
    good = servers(pki)
    bad = servers(other_pki)
    cfg = make_cfg(backend, tmp_path, ca=pki, insecure=f"localhost:{bad.port}")
    # pki's root is only in cfg's SSL_CERT_FILE: a 200 means tlsback's store verified it.
    assert fetch(client, cfg, good.url + "/socks", proxy=via) == (200, DEFAULT_BODY)
    assert good.requests[-1].path == "/socks"
    # The insecure rule names the target host, not the proxy.
    assert fetch(client, cfg, bad.url + "/allowed", proxy=via).status == 200
    assert bad.requests[-1].path == "/allowed"
    strict = make_cfg(backend, tmp_path, ca=pki)
    expect_cert_error(client, strict, bad.url + "/refused", proxy=via)
    # A rule for another port of the same host does not cover it either.
    elsewhere = make_cfg(backend, tmp_path, ca=pki, insecure=f"localhost:{bad.port + 1}")
    expect_cert_error(client, elsewhere, bad.url + "/refused", proxy=via)
    assert [r.path for r in bad.requests] == ["/allowed"]

    # Every connection went through the proxy (urllib3 retries a refused handshake: more
    # than one CONNECT per refusal). socks5h: the proxy resolves the name; socks5: the client
    # does, and sends an address.
    hosts = {host for host, _ in proxy.targets}
    ports = [port for _, port in proxy.targets]
    assert hosts == ({"localhost"} if scheme == "socks5h" else hosts & {"127.0.0.1", "::1"})
    assert hosts and ports[:2] == [good.port, bad.port] and set(ports[2:]) == {bad.port}


@pytest.mark.parametrize("client", SOCKS_CLIENTS)
def test_rustls_policy_applies_through_socks(
    client: str, servers: Servers, tmp_path: Path, socks_proxy: Callable[..., Socks5Proxy],
) -> None:
    """A leaf that is a CA (OpenSSL accepts it, the rustls policy does not) is refused."""
    bad = PKI.create(is_ca=True)
    srv = servers(bad)
    proxy = socks_proxy()
    cfg = make_cfg("rustls", tmp_path, ca=bad)
    err = expect_cert_error(client, cfg, srv.url + "/", proxy=proxy.url)
    assert "CaUsedAsEndEntity" in str(err)
    assert set(proxy.targets) == {("localhost", srv.port)}
    assert not srv.requests


@pytest.mark.parametrize("client", SOCKS_CLIENTS)
def test_redirect_hops_through_socks_are_decided_each(
    client: str, pki: PKI, other_pki: PKI, servers: Servers, tmp_path: Path,
    socks_proxy: Callable[..., Socks5Proxy],
) -> None:
    """An allowed host redirecting to an untrusted one fails on the second hop, via SOCKS too."""
    untrusted = servers(other_pki)
    trusted = servers(pki)
    allowed = servers(other_pki, routes={
        "/to-untrusted": redirect(untrusted.url + "/landed"),
        "/to-trusted": redirect(trusted.url + "/landed"),
    })
    proxy = socks_proxy()
    cfg = make_cfg("rustls", tmp_path, ca=pki, insecure=f"localhost:{allowed.port}")
    expect_cert_error(client, cfg, allowed.url + "/to-untrusted", proxy=proxy.url)
    assert not untrusted.requests
    assert fetch(client, cfg, allowed.url + "/to-trusted", proxy=proxy.url).status == 200
    assert trusted.requests[-1].path == "/landed"


def test_requests_verify_arguments_and_socks_auth(
    pki: PKI, other_pki: PKI, servers: Servers, tmp_path: Path,
    socks_proxy: Callable[..., Socks5Proxy],
) -> None:
    """Through SOCKS, ``verify=False`` uses the insecure context and ``verify=<CA file>`` makes
    that file the only trust, as for a direct connection; credentials in the URL work."""
    bad = servers(other_pki)
    good = servers(pki)
    proxy = socks_proxy(auth=("user", "secret"))
    via = proxy.url.replace("://", "://user:secret@", 1)
    cfg = make_cfg("rustls", tmp_path)
    own_ca = str(other_pki.root.write_pem(tmp_path / "own-ca.pem"))
    with ta.requests_session(cfg) as s:
        proxies = {"https": via}
        with pytest.raises(requests.exceptions.SSLError):
            s.get(bad.url + "/verified", proxies=proxies, timeout=10)
        r = s.get(bad.url + "/unverified", proxies=proxies, timeout=10, verify=False)
        assert r.status_code == 200
        assert s.get(bad.url + "/own-ca", proxies=proxies, timeout=10, verify=own_ca).status_code == 200
        with pytest.raises(requests.exceptions.SSLError):
            s.get(good.url + "/own-ca", proxies=proxies, timeout=10, verify=own_ca)
    assert [r.path for r in bad.requests] == ["/unverified", "/own-ca"]
    assert not good.requests
    assert proxy.targets == [("localhost", bad.port)] * 3 + [("localhost", good.port)]


def _through_proxy(client: str, via: str, pki: PKI, other_pki: PKI, servers: Servers,
                   tmp_path: Path) -> tuple[HTTPSServer, HTTPSServer]:
    """Verified with tlsback's store only, refused when untrusted, allowed insecure by the
    target's rule (not another port's); returns (good, bad) for the proxy checks."""
    good = servers(pki)
    bad = servers(other_pki)
    cfg = make_cfg("rustls", tmp_path, ca=pki, insecure=f"localhost:{bad.port}")
    assert fetch(client, cfg, good.url + "/via", proxy=via) == (200, DEFAULT_BODY)
    assert fetch(client, cfg, bad.url + "/allowed", proxy=via).status == 200
    expect_cert_error(client, make_cfg("rustls", tmp_path, ca=pki), bad.url + "/refused", proxy=via)
    elsewhere = make_cfg("rustls", tmp_path, ca=pki, insecure=f"localhost:{bad.port + 1}")
    expect_cert_error(client, elsewhere, bad.url + "/refused", proxy=via)
    assert [r.path for r in good.requests] == ["/via"]
    assert [r.path for r in bad.requests] == ["/allowed"]
    return good, bad


@pytest.mark.parametrize("client", SOCKS_CLIENTS)
@pytest.mark.parametrize("scheme", ["socks4a", "socks4"])
def test_socks4_proxies(client: str, scheme: str, pki: PKI, other_pki: PKI, servers: Servers,
                        tmp_path: Path, socks_proxy: Callable[..., Socks5Proxy]) -> None:
    """SOCKS4a (the proxy resolves the name) and SOCKS4 (the client does, and sends an IPv4
    address): the same verification and the same insecure-host decision on the target."""
    proxy = socks_proxy()
    good, bad = _through_proxy(client, _via(proxy, scheme), pki, other_pki, servers, tmp_path)
    hosts = {host for host, _ in proxy.targets}
    assert hosts == ({"localhost"} if scheme == "socks4a" else {"127.0.0.1"})
    assert {port for _, port in proxy.targets} == {good.port, bad.port}


@pytest.mark.parametrize("client", ["httpx", "httpx_async"])
def test_httpx_through_socks5(client: str, pki: PKI, other_pki: PKI, servers: Servers, tmp_path: Path,
                              socks_proxy: Callable[..., Socks5Proxy]) -> None:
    """httpx's SOCKS5 transport (socksio) with tlsback's contexts: the same verification and
    insecure-host decision as a direct connection, every connection through the proxy."""
    import socksio  # noqa: F401 - httpx's SOCKS support, a test extra
    proxy = socks_proxy()
    good, bad = _through_proxy(client, _via(proxy, "socks5"), pki, other_pki, servers, tmp_path)
    assert {host for host, _ in proxy.targets} == {"localhost"}  # httpx sends the name
    assert {port for _, port in proxy.targets} == {good.port, bad.port}


def test_urllib3_socks_refuses_tls_keywords(tmp_path: Path) -> None:
    """A SOCKS pool manager takes no TLS keyword either: trust comes from the configuration."""
    cfg = make_cfg("rustls", tmp_path)
    with pytest.raises(TypeError, match="ca_certs"):
        ta.urllib3_pool_manager(cfg, proxy_url="socks5h://127.0.0.1:9", ca_certs="/x")


def test_without_pysocks_a_socks_proxy_is_refused_clearly(
    pki: PKI, servers: Servers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    socks_proxy: Callable[..., Socks5Proxy],
) -> None:
    """No PySocks: urllib3_pool_manager raises ImportError saying what to install; requests
    raises its own InvalidSchema with that reason. Nothing is sent around the proxy."""
    import sys

    from tlsback.adapters import _requests, _urllib3

    for name in [m for m in sys.modules if m == "socks" or m == "urllib3.contrib.socks"]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(sys, "meta_path", [BlockImport("socks"), *sys.meta_path])
    monkeypatch.setattr(_urllib3, "_classes", {})
    monkeypatch.setattr(_requests, "_classes", {})
    good = servers(pki)
    proxy = socks_proxy()
    cfg = make_cfg("rustls", tmp_path, ca=pki)
    with pytest.raises(ImportError, match=r"socks:// proxy needs PySocks: pip install 'urllib3\[socks\]'"):
        ta.urllib3_pool_manager(cfg, proxy_url=proxy.url)
    with ta.requests_session(cfg) as s, pytest.raises(requests.exceptions.InvalidSchema, match="PySocks"):
        s.get(good.url, proxies={"https": proxy.url}, timeout=10)
    assert not good.requests and not proxy.targets


def test_urllib_refuses_a_socks_proxy_clearly(
    pki: PKI, servers: Servers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    socks_proxy: Callable[..., Socks5Proxy], run_cli: Callable[..., Any],
) -> None:
    """urllib has no SOCKS support (it would send CONNECT to the SOCKS port): the urllib adapter,
    and `tlsback fetch` with it, refuse a socks:// proxy from the environment with a message
    naming it, before connecting anywhere."""
    import urllib.error

    good = servers(pki)
    proxy = socks_proxy()
    cfg = make_cfg("rustls", tmp_path, ca=pki)
    monkeypatch.setenv("https_proxy", proxy.url)
    with pytest.raises(urllib.error.URLError, match=r"urllib cannot use the SOCKS proxy socks5h://127\.0\.0\.1:"):
        ta.urllib_opener(cfg).open(good.url, timeout=10)
    monkeypatch.setenv("no_proxy", "localhost")  # a host the proxy is not used for: direct
    with ta.urllib_opener(cfg).open(good.url + "/direct", timeout=10) as resp:
        assert resp.status == 200
    monkeypatch.delenv("no_proxy")
    ca = pki.root.write_pem(tmp_path / "ca.pem")
    r = run_cli("fetch", good.url, env={"SSL_CERT_FILE": ca, "https_proxy": proxy.url})
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert "urllib cannot use the SOCKS proxy" in r.stderr and "hint" not in r.stderr
    assert not proxy.targets and not proxy.errors
    assert [r.path for r in good.requests] == ["/direct"]
