"""Adapters: one call gives an HTTP client tlsback's TLS behaviour (docs/adapters.md).

Each adapter lives in its own small module and imports its client only when called, so
``import tlsback.adapters`` costs nothing and needs none of the clients installed::

    import tlsback.adapters as ta

    opener = ta.urllib_opener()                 # urllib.request.OpenerDirector
    pool = ta.urllib3_pool_manager()            # urllib3.PoolManager
    session = ta.requests_session()             # requests.Session
    adapter = ta.requests_adapter()             # requests HTTPAdapter, for your own session
    client = ta.httpx_client()                  # httpx.Client
    aclient = ta.httpx_async_client()           # httpx.AsyncClient
    connector = ta.aiohttp_connector()          # aiohttp.TCPConnector (create it in a loop)

Every adapter takes ``cfg`` (a :class:`tlsback.TLSConfig`; None means
:func:`tlsback.default_config`, one per process) and:

* shares ``cfg.context`` (never copies it, never loads certificates into it per connection);
* uses ``cfg.insecure_context`` for hosts matching an allowed insecure host, deciding for each
  request and for each redirect hop on the host its client connects to, through the one
  matcher (``cfg.context_for_origin``; docs/insecure-hosts.md);
* presents the client certificate (it is in both contexts);
* goes through HTTPS proxies where the client supports them, verifying the proxy with the
  context for the proxy's URL.

TLS keywords of the clients (``verify=``, ``cert=``, ``ssl=``, ``ca_certs=``, ...) are refused
with a ``TypeError``: trust comes from the tlsback configuration, so nothing loads
certificates per connection or changes the shared context behind its back.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = [
    "aiohttp_connector",
    "httpx_async_client",
    "httpx_client",
    "requests_adapter",
    "requests_session",
    "urllib3_pool_manager",
    "urllib_opener",
]

_WHERE = {
    "urllib_opener": "._urllib",
    "urllib3_pool_manager": "._urllib3",
    "requests_session": "._requests",
    "requests_adapter": "._requests",
    "httpx_client": "._httpx",
    "httpx_async_client": "._httpx",
    "aiohttp_connector": "._aiohttp",
}

if TYPE_CHECKING:
    from ._aiohttp import aiohttp_connector
    from ._httpx import httpx_async_client, httpx_client
    from ._requests import requests_adapter, requests_session
    from ._urllib import urllib_opener
    from ._urllib3 import urllib3_pool_manager


def __getattr__(name: str) -> Any:
    # PEP 562: the adapter module (and with it, nothing of its client yet) is imported on
    # first access; the client itself is imported when the adapter is called.
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
