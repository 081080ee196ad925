"""Thread and task safety: one shared configuration, many concurrent requests.

32 threads and 100 concurrent asyncio requests, for both backends. Each batch mixes a trusted
server, an allowed insecure host and an untrusted server, so that "all verified" is checked, not
assumed: every trusted request succeeds, every insecure-allowed one too, and every untrusted one
fails with a certificate error, whatever the interleaving. Nothing is loaded while they run.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest
import requests.adapters  # noqa: F401 - loads certifi at import; not during the test

import tlsback
import tlsback.adapters as ta
from tests.pki import PKI
from tests.test_adapters_support import BACKENDS, LoadCounter, find_cert_error, make_cfg, warm
from tests.tlsserver import HTTPSServer, get

pytest_plugins = ["tests.test_adapters_support"]  # fixtures: servers, loads

Servers = Callable[..., HTTPSServer]
THREADS = 32
TASKS = 100


def plan(n: int) -> list[str]:
    """Which server each request goes to: mostly trusted, some insecure-allowed, some untrusted."""
    return ["untrusted" if i % 8 == 3 else "insecure" if i % 8 == 5 else "trusted" for i in range(n)]


def check_outcomes(kinds: list[str], outcomes: list[Any]) -> None:
    for kind, outcome in zip(kinds, outcomes):
        if kind == "untrusted":
            assert isinstance(outcome, BaseException), "an untrusted server was accepted"
            assert find_cert_error(outcome) is not None, repr(outcome)
        else:
            assert outcome == 200, f"{kind}: {outcome!r}"


def assert_no_loads(cfg: tlsback.TLSConfig, loads: LoadCounter) -> None:
    if type(cfg.context).__module__.startswith("truststore"):
        return  # truststore reloads per connection (see test_concurrency_native_linux.py)
    assert loads.calls == []


@pytest.fixture
def three(pki: PKI, other_pki: PKI, servers: Servers) -> dict[str, HTTPSServer]:
    return {"trusted": servers(pki), "insecure": servers(other_pki), "untrusted": servers(other_pki)}


def config(backend: str, tmp_path: Path, pki: PKI, three: dict[str, HTTPSServer]) -> tlsback.TLSConfig:
    return warm(make_cfg(backend, tmp_path, ca=pki, insecure=f"localhost:{three['insecure'].port}"))


@pytest.mark.parametrize("backend", BACKENDS)
def test_32_threads_share_the_contexts(
    backend: str, pki: PKI, three: dict[str, HTTPSServer], tmp_path: Path, loads: LoadCounter,
) -> None:
    """32 threads handshake on the shared contexts at once (cfg.context_for per URL)."""
    cfg = config(backend, tmp_path, pki, three)
    loads.reset()
    kinds = plan(THREADS * 4)
    barrier = threading.Barrier(THREADS)

    def worker(i: int) -> list[Any]:
        barrier.wait(timeout=30)
        out: list[Any] = []
        for kind in kinds[i::THREADS]:
            url = three[kind].url + f"/t{i}"
            try:
                out.append(get(url, cfg.context_for(url)).status)
            except Exception as exc:  # noqa: BLE001 - judged by check_outcomes
                out.append(exc)
        return out

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(worker, range(THREADS)))
    for i, out in enumerate(results):
        check_outcomes(kinds[i::THREADS], out)
    assert not [c.error for c in three["trusted"].connections if c.error]
    assert not [c.error for c in three["insecure"].connections if c.error]
    assert_no_loads(cfg, loads)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("client", ["urllib3", "requests"])
def test_32_threads_share_one_pool_manager(
    backend: str, client: str, pki: PKI, three: dict[str, HTTPSServer], tmp_path: Path,
    loads: LoadCounter,
) -> None:
    """One urllib3 PoolManager / requests Session used by 32 threads at once."""
    cfg = config(backend, tmp_path, pki, three)
    loads.reset()
    kinds = plan(THREADS * 3)
    if client == "urllib3":
        pm = ta.urllib3_pool_manager(cfg, maxsize=THREADS, retries=False, timeout=20)

        def request(url: str) -> int:
            return int(pm.request("GET", url).status)
    else:
        session = ta.requests_session(cfg)

        def request(url: str) -> int:
            return int(session.get(url, timeout=20).status_code)

    barrier = threading.Barrier(THREADS)

    def worker(i: int) -> list[Any]:
        barrier.wait(timeout=30)
        out: list[Any] = []
        for kind in kinds[i::THREADS]:
            try:
                out.append(request(three[kind].url + f"/p{i}"))
            except Exception as exc:  # noqa: BLE001
                out.append(exc)
        return out

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(worker, range(THREADS)))
    for i, out in enumerate(results):
        check_outcomes(kinds[i::THREADS], out)
    assert_no_loads(cfg, loads)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("client", ["httpx", "aiohttp"])
def test_100_concurrent_asyncio_requests(
    backend: str, client: str, pki: PKI, three: dict[str, HTTPSServer], tmp_path: Path,
    loads: LoadCounter,
) -> None:
    """100 requests in flight at once on one event loop, one shared client."""
    cfg = config(backend, tmp_path, pki, three)
    loads.reset()
    kinds = plan(TASKS)

    async def run() -> list[Any]:
        if client == "httpx":
            limits = httpx.Limits(max_connections=TASKS)
            async with ta.httpx_async_client(cfg, timeout=30, limits=limits) as c:

                async def one(i: int, kind: str) -> int:
                    return (await c.get(three[kind].url + f"/a{i}")).status_code

                return await asyncio.gather(*(one(i, k) for i, k in enumerate(kinds)),
                                            return_exceptions=True)
        connector = ta.aiohttp_connector(cfg, limit=TASKS)
        async with aiohttp.ClientSession(connector=connector,
                                         timeout=aiohttp.ClientTimeout(total=60)) as s:

            async def one_aiohttp(i: int, kind: str) -> int:
                async with s.get(three[kind].url + f"/a{i}") as r:
                    await r.read()
                    return r.status

            return await asyncio.gather(*(one_aiohttp(i, k) for i, k in enumerate(kinds)),
                                        return_exceptions=True)

    outcomes = asyncio.run(run())
    check_outcomes(kinds, outcomes)
    served = {r.path for r in three["trusted"].requests} | {r.path for r in three["insecure"].requests}
    assert served == {f"/a{i}" for i, k in enumerate(kinds) if k != "untrusted"}
    assert_no_loads(cfg, loads)


def test_contexts_are_built_once_under_contention(pki: PKI, tmp_path: Path, loads: LoadCounter,
                                                  three: dict[str, HTTPSServer]) -> None:
    """32 threads asking a fresh TLSConfig for its contexts at once get the same two objects."""
    cfg = make_cfg("rustls", tmp_path, ca=pki, insecure=f"localhost:{three['insecure'].port}")
    barrier = threading.Barrier(THREADS)

    def ask(_: int) -> tuple[int, int]:
        barrier.wait(timeout=30)
        return id(cfg.context), id(cfg.insecure_context)

    with ThreadPoolExecutor(THREADS) as pool:
        ids = set(pool.map(ask, range(THREADS)))
    assert len(ids) == 1
    assert cfg.context is not cfg.insecure_context
