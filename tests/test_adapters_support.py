"""Helpers for the adapter and concurrency tests: one ``fetch`` per HTTP client, configs,
load counting, and a finder for the certificate error inside each client's exception.

(A module of helpers, no tests; named ``test_adapters_*`` to sit with the tests it serves.)
"""

from __future__ import annotations

import asyncio
import os
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import pytest

import tlsback
from tests.pki import CLIENT_AUTH, PKI, Cert, issue
from tests.tlsserver import HTTPSServer

BACKENDS = ("rustls", "native")
CLIENTS = ("urllib", "urllib3", "requests", "httpx", "httpx_async", "aiohttp")
# Clients that can speak TLS to an https:// proxy (TLS inside TLS).
HTTPS_PROXY_CLIENTS = ("urllib3", "requests", "httpx", "httpx_async", "aiohttp")


class Result(NamedTuple):
    status: int
    body: bytes


def make_cfg(
    backend: str,
    tmp_path: Path,
    *,
    ca: PKI | None = None,
    insecure: str | None = None,
    client_cert: Path | None = None,
    extra_env: dict[str, str] | None = None,
) -> tlsback.TLSConfig:
    """A TLSConfig from an explicit environment: SSL_CERT_FILE = ``ca``'s root, etc."""
    env = dict(os.environ)
    if ca is not None:
        path = tmp_path / f"ca-{id(ca)}.pem"
        path.write_bytes(ca.root.pem)
        env["SSL_CERT_FILE"] = str(path)
    if insecure is not None:
        env["UV_INSECURE_HOST"] = insecure
    if client_cert is not None:
        env["SSL_CLIENT_CERT"] = str(client_cert)
    env.update(extra_env or {})
    return tlsback.load(backend=backend, env=env, cwd=tmp_path)


def fetch(client: str, cfg: tlsback.TLSConfig, url: str, *, proxy: str | None = None,
          monkeypatch: pytest.MonkeyPatch | None = None) -> Result:
    """GET ``url`` (following redirects) through the tlsback adapter for ``client``."""
    import tlsback.adapters as ta

    if client == "urllib":
        if proxy is not None:
            assert monkeypatch is not None, "urllib takes proxies from the environment"
            monkeypatch.setenv("https_proxy", proxy)
            monkeypatch.setenv("http_proxy", proxy)
        opener = ta.urllib_opener(cfg)
        with opener.open(url, timeout=10) as resp:
            return Result(resp.status, resp.read())
    if client == "urllib3":
        kw: dict[str, Any] = {"proxy_url": proxy} if proxy else {}
        with ta.urllib3_pool_manager(cfg, timeout=10, retries=False, **kw) as pm:
            r = pm.request("GET", url, redirect=True, retries=3)
            return Result(r.status, r.data)
    if client == "requests":
        with ta.requests_session(cfg) as s:
            r = s.get(url, timeout=10, proxies={"https": proxy, "http": proxy} if proxy else None)
            return Result(r.status_code, r.content)
    if client == "httpx":
        with ta.httpx_client(cfg, follow_redirects=True, timeout=10, proxy=proxy) as c:
            r = c.get(url)
            return Result(r.status_code, r.content)
    if client == "httpx_async":

        async def go() -> Result:
            async with ta.httpx_async_client(cfg, follow_redirects=True, timeout=10, proxy=proxy) as c:
                r = await c.get(url)
                return Result(r.status_code, r.content)

        return asyncio.run(go())
    if client == "aiohttp":
        import aiohttp

        async def go_aiohttp() -> Result:
            async with (
                aiohttp.ClientSession(connector=ta.aiohttp_connector(cfg)) as s,
                s.get(url, proxy=proxy, timeout=aiohttp.ClientTimeout(total=10)) as r,
            ):
                return Result(r.status, await r.read())

        return asyncio.run(go_aiohttp())
    raise AssertionError(client)


def find_cert_error(exc: BaseException) -> BaseException | None:
    """The certificate verification error inside a client's exception, or None.

    Walks ``__cause__``, ``__context__``, ``args`` and the attributes clients keep the
    original error in (``reason``, ``certificate_error``, ``os_error``).
    """
    seen: set[int] = set()
    todo: list[Any] = [exc]
    while todo:
        e = todo.pop()
        if not isinstance(e, BaseException) or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, ssl.SSLCertVerificationError):
            return e
        text = str(e)
        if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
            return e
        todo.extend([e.__cause__, e.__context__, *e.args])
        for attr in ("reason", "certificate_error", "os_error", "_os_error"):
            todo.append(getattr(e, attr, None))
    return None


def expect_cert_error(client: str, cfg: tlsback.TLSConfig, url: str, **kw: Any) -> BaseException:
    """The request must fail because of certificate verification."""
    with pytest.raises(Exception) as info:
        fetch(client, cfg, url, **kw)
    found = find_cert_error(info.value)
    assert found is not None, f"{client}: not a certificate error: {info.value!r}"
    return found


class LoadCounter:
    """Counts every call that hands an SSLContext certificates or keys, in any thread."""

    NAMES = ("load_verify_locations", "set_default_verify_paths", "load_default_certs",
             "load_cert_chain")

    def __init__(self) -> None:
        self.calls: list[str] = []
        self._lock = threading.Lock()

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for name in self.NAMES:
            real = getattr(ssl.SSLContext, name)
            monkeypatch.setattr(ssl.SSLContext, name, self._wrap(name, real))

    def _wrap(self, name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def counted(ctx: ssl.SSLContext, *args: Any, **kwargs: Any) -> Any:
            with self._lock:
                self.calls.append(name)
            return real(ctx, *args, **kwargs)

        return counted

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> LoadCounter:
    counter = LoadCounter()
    counter.install(monkeypatch)
    return counter


@dataclass
class ClientPKI:
    """A separate PKI for client certificates and a combined SSL_CLIENT_CERT file."""

    pki: PKI
    leaf: Cert
    path: Path

    @property
    def subject(self) -> str:
        return self.leaf.cert.subject.rfc4514_string()


@pytest.fixture(scope="session")
def client_pki() -> PKI:
    return PKI.create(("tlsback client",), name_prefix="tlsback client", eku=[CLIENT_AUTH])


@pytest.fixture
def client_cert(client_pki: PKI, tmp_path: Path) -> ClientPKI:
    leaf = issue("adapter client", issuer=client_pki.intermediate, san=None, eku=[CLIENT_AUTH])
    path = leaf.write_combined(tmp_path / "client.pem", chain=[client_pki.intermediate])
    return ClientPKI(client_pki, leaf, path)


def big_backlog(srv: HTTPSServer) -> HTTPSServer:
    """Let the test server queue 256 pending connections (socketserver's default is 5)."""
    httpd = srv._httpd
    assert httpd is not None
    httpd.socket.listen(256)
    return srv


def warm(cfg: tlsback.TLSConfig) -> tlsback.TLSConfig:
    """Build both contexts now, so that what follows is only connections."""
    cfg.context  # noqa: B018
    cfg.insecure_context  # noqa: B018
    return cfg


@pytest.fixture
def servers(https_server: Callable[..., HTTPSServer]) -> Iterator[Callable[..., HTTPSServer]]:
    """``https_server`` with a larger listen backlog."""
    yield lambda *a, **k: big_backlog(https_server(*a, **k))
