"""Insecure-host rules end to end, with real servers: the wildcard forms through the CLI and the
Python API, and URLs whose host parsers read differently through every adapter and
``context_for``. The server whose CA is not trusted must never answer a request."""

from __future__ import annotations

import ssl
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import urllib3

import tlsback
from tests.pki import PKI
from tests.test_adapters_support import (
    CLIENTS,
    HTTPS_PROXY_CLIENTS,
    expect_cert_error,
    fetch,
    find_cert_error,
    make_cfg,
)
from tests.tlsserver import ConnectProxy, HTTPSServer

pytest_plugins = ["tests.test_adapters_support"]  # fixtures: servers

Servers = Callable[..., HTTPSServer]

# Values uv accepts and never matches (a host literally named `*...`, or nothing).
NEVER_IN_UV = ["*:9", "*:{port}", "*:443", "https://*", "http://*:1", "https://*:{port}",
               "*.localhost", "*.0.0.1", "localhost*"]


@pytest.mark.parametrize("value", NEVER_IN_UV)
@pytest.mark.parametrize("source", ["env", "flag", "uv.toml", "pyproject-table"])
def test_cli_fetch_refuses_wildcard_forms_with_exit_2(
    value: str, source: str, other_pki: PKI, pki: PKI, servers: Servers, tmp_path: Path,
    run_cli: Callable[..., Any],
) -> None:
    """`UV_INSECURE_HOST='*:9' tlsback fetch URL` (and the flag, uv.toml, a pyproject table):
    a configuration error naming the value and its origin, exit 2, no request sent."""
    bad = servers(other_pki)
    value = value.format(port=bad.port)
    ca = pki.root.write_pem(tmp_path / "ca1.pem")
    env: dict[str, str] = {"SSL_CERT_FILE": str(ca)}
    args = ["fetch", bad.ip_url + "/"]
    if source == "env":
        env["UV_INSECURE_HOST"] = value
        where = "env:UV_INSECURE_HOST"
    elif source == "flag":
        args = ["--allow-insecure-host", value, *args]
        where = "cli"
    elif source == "uv.toml":
        (tmp_path / "uv.toml").write_text(f'allow-insecure-host = ["{value}"]\n')
        where = str(tmp_path / "uv.toml")
    else:
        host, _, port = value.rpartition(":") if value.startswith("*:") else (value, "", "")
        table = f'{{ host = "{host}"' + (f", port = {port}" if port else "") + " }"
        if "://" in value:
            scheme, _, rest = value.partition("://")
            host, _, port = rest.partition(":")
            table = f'{{ host = "{host}", scheme = "{scheme}"' + (f", port = {port}" if port else "") + " }"
        (tmp_path / "pyproject.toml").write_text(f"[tool.uv]\nallow-insecure-host = [{table}]\n")
        where = str(tmp_path / "pyproject.toml")
    result = run_cli(*args, env=env, cwd=tmp_path)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "only the bare `*`" in result.stderr
    assert where in result.stderr
    assert "Traceback" not in result.stderr
    assert bad.requests == []


@pytest.mark.parametrize("value", ["", " "])
def test_cli_empty_flag_value_is_an_error(value: str, run_cli: Callable[..., Any]) -> None:
    """`--allow-insecure-host ''` is refused like `[""]` in a config file (uv accepts it and it
    does nothing)."""
    result = run_cli("--allow-insecure-host", value, "info")
    assert result.returncode == 2
    assert "missing host" in result.stderr and "(from cli)" in result.stderr


def test_cli_bare_wildcard_and_named_host(other_pki: PKI, pki: PKI, servers: Servers,
                                          tmp_path: Path, run_cli: Callable[..., Any]) -> None:
    """The bare `*` fetches from the untrusted server; a rule naming another host does not."""
    bad = servers(other_pki)
    env = {"SSL_CERT_FILE": str(pki.root.write_pem(tmp_path / "ca1.pem"))}
    ok = run_cli("fetch", bad.ip_url + "/", env={**env, "UV_INSECURE_HOST": "*"})
    assert ok.returncode == 0, ok.stderr
    other = run_cli("fetch", bad.ip_url + "/", env={**env, "UV_INSECURE_HOST": "localhost"})
    assert other.returncode == 1, other.stderr
    assert len(bad.requests) == 1


@pytest.mark.parametrize("value", [v for v in NEVER_IN_UV if "{" not in v] + ["", "ex\u200dample.com"])
def test_api_refuses_the_same_values(value: str, tmp_path: Path) -> None:
    """`tlsback.load(allow_insecure_host=[...])` refuses what the CLI refuses."""
    with pytest.raises(tlsback.ConfigError, match="argument:allow_insecure_host"):
        tlsback.load(allow_insecure_host=[value], env={}, cwd=tmp_path)


def _ambiguous_urls(bad: HTTPSServer, good: HTTPSServer) -> list[str]:
    # WHATWG (urllib3, httpx, yarl) reads host 127.0.0.1 (the untrusted server); RFC 3986
    # (urllib.parse) reads localhost (the rule).
    return [
        f"https://127.0.0.1:{bad.port}\\@localhost:{good.port}/",
        f"https://127.0.0.1:{bad.port}\\@localhost/",
    ]


@pytest.mark.parametrize("client", CLIENTS)
def test_adapters_never_send_an_ambiguous_url_unverified(
    client: str, other_pki: PKI, pki: PKI, servers: Servers, tmp_path: Path,
) -> None:
    """Rule `localhost`; a URL whose authority a backslash splits differently: the client
    either refuses the URL or verifies (and fails against) the untrusted 127.0.0.1 server."""
    bad = servers(other_pki)
    good = servers(pki)
    cfg = make_cfg("rustls", tmp_path, ca=pki, insecure="localhost")
    for url in _ambiguous_urls(bad, good):
        try:
            fetch(client, cfg, url)
        except Exception as exc:  # noqa: BLE001 - any refusal is fine, if nothing was sent
            assert find_cert_error(exc) is not None or bad.requests == [], repr(exc)
        assert bad.requests == [], (client, url)


@pytest.mark.parametrize("client", CLIENTS)
def test_adapters_rule_for_another_host_verifies(
    client: str, other_pki: PKI, servers: Servers, tmp_path: Path,
) -> None:
    """A rule naming `localhost` (or `localhost` on another port, or http only) leaves
    127.0.0.1 and other ports verified, for every client."""
    bad = servers(other_pki)
    for rule in ("localhost", f"127.0.0.1:{bad.port + 1}", f"http://127.0.0.1:{bad.port}",
                 "127.0.0.10", "127.0.0.1.example"):
        cfg = make_cfg("rustls", tmp_path, insecure=rule)
        expect_cert_error(client, cfg, bad.ip_url + "/")
    assert bad.requests == []


def test_context_for_with_a_client_that_parses_by_whatwg(
    other_pki: PKI, pki: PKI, servers: Servers, tmp_path: Path,
) -> None:
    """The README pattern `PoolManager(ssl_context=cfg.context_for(u)).request("GET", u)`: with
    rule `localhost`, a URL urllib3 sends to 127.0.0.1 gets the verifying context."""
    bad = servers(other_pki)
    good = servers(pki)
    cfg = make_cfg("rustls", tmp_path, ca=pki, insecure="localhost")
    for url in _ambiguous_urls(bad, good):
        ctx = cfg.context_for(url)
        assert ctx is cfg.context
        assert ctx.verify_mode == ssl.CERT_REQUIRED
        with urllib3.PoolManager(ssl_context=ctx, retries=False) as pm, \
                pytest.raises(urllib3.exceptions.SSLError):
            pm.request("GET", url)
    # The plain URL to the rule's host is still allowed.
    assert cfg.context_for(good.url + "/") is cfg.insecure_context
    assert bad.requests == []


@pytest.mark.parametrize("client", HTTPS_PROXY_CLIENTS)
def test_https_proxy_with_credentials_decided_on_the_proxy_host(
    client: str, pki: PKI, other_pki: PKI, servers: Servers, tmp_path: Path,
    connect_proxy: Callable[..., ConnectProxy],
) -> None:
    """An `https://user:pw@proxy` URL: the proxy's context is decided on the host the client
    parsed (credentials apart), so a rule naming the proxy covers it, and only it."""
    good = servers(pki)
    proxy = connect_proxy(chain=other_pki)  # (urllib3 sends no credentials by itself)
    url = proxy.url.replace("https://", "https://user:pw@")
    if client == "aiohttp" and sys.version_info < (3, 11):
        # No TLS in TLS in asyncio there: refused before connecting, even for an allowed proxy.
        import aiohttp

        allowed = make_cfg("rustls", tmp_path, ca=pki, insecure=f"localhost:{proxy.port}")
        with pytest.raises(aiohttp.ClientConnectionError, match=r"TLS inside TLS needs Python 3\.11"):
            fetch(client, allowed, good.url + "/via", proxy=url)
        assert proxy.targets == [] and not good.requests
        return
    cfg = make_cfg("rustls", tmp_path, ca=pki)
    expect_cert_error(client, cfg, good.url + "/via", proxy=url)
    allowed = make_cfg("rustls", tmp_path, ca=pki, insecure=f"localhost:{proxy.port}")
    assert fetch(client, allowed, good.url + "/via", proxy=url).status == 200
    assert proxy.targets == [good.netloc]
