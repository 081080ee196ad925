"""``aiohttp``: a connector that picks the context per connection's URL.

aiohttp asks its connector for the context of every new connection
(``TCPConnector._get_ssl_context(req)``), redirect hops included (each hop is a new request),
and for a proxy connection separately for the proxy and for the target. This connector answers
with ``cfg.context_for(url)``. A context or fingerprint given per request (``ssl=``) still wins;
``ssl=False`` gets tlsback's insecure context, so the client certificate is still presented.

On Python 3.10, asyncio cannot run TLS inside TLS: an ``https://`` URL through an ``https://``
proxy is refused with a clear ``aiohttp.ClientConnectionError`` before anything is sent (aiohttp
itself only warns, then fails obscurely). Python 3.10's asyncio also leaves a TLS transport
marked open when the server drops the connection after the handshake (a TLS 1.3 server refusing
a missing client certificate does that), so collecting it warns "unclosed transport"; its
socket is already closed, and the connector's protocols close the transport themselves.
"""

from __future__ import annotations

import functools
import ssl
import sys
from typing import TYPE_CHECKING, Any

from ._common import log, refuse, resolve

if TYPE_CHECKING:
    import aiohttp

    from ..config import TLSConfig

__all__ = ["aiohttp_connector"]

_REFUSED = ("ssl", "verify_ssl", "ssl_context", "fingerprint")
_classes: dict[str, Any] = {}
# asyncio's TLS in TLS (start_tls over a TLS transport) and its rewritten sslproto: bpo-44011.
_LEGACY_ASYNCIO_TLS = sys.version_info < (3, 11)


def _connector_class() -> Any:
    if "connector" in _classes:
        return _classes["connector"]
    import aiohttp
    from aiohttp.client_proto import ResponseHandler

    class ClosingResponseHandler(ResponseHandler):
        """Closes its transport when the connection is lost (Python 3.10, see the docstring)."""

        def connection_lost(self, exc: BaseException | None) -> None:
            transport = self.transport
            super().connection_lost(exc)
            if transport is not None:
                transport.close()  # the socket is gone already: this only marks it closed

    class TlsbackTCPConnector(aiohttp.TCPConnector):
        """``aiohttp.TCPConnector`` with tlsback's contexts (see the module docstring)."""

        def __init__(self, cfg: TLSConfig, **kw: Any) -> None:
            self._tlsback = cfg
            super().__init__(ssl=cfg.context, **kw)
            if _LEGACY_ASYNCIO_TLS:
                self._factory = functools.partial(  # type: ignore[assignment]  # a subclass
                    ClosingResponseHandler, loop=self._loop
                )

        async def connect(self, req: Any, *args: Any, **kwargs: Any) -> Any:
            proxy = req.proxy
            if (
                _LEGACY_ASYNCIO_TLS
                and req.is_ssl()
                and proxy is not None
                and proxy.scheme == "https"
                and not type(self._loop).__module__.startswith("uvloop")  # uvloop can
            ):
                raise aiohttp.ClientConnectionError(
                    f"{req.url.with_query(None)} through the HTTPS proxy {proxy.with_user(None)}: "
                    "TLS inside TLS needs Python 3.11 or newer (asyncio on Python "
                    f"{sys.version_info[0]}.{sys.version_info[1]} cannot start TLS over a TLS "
                    "connection); use an http:// proxy URL, or Python 3.11+"
                )
            return await super().connect(req, *args, **kwargs)

        def _get_ssl_context(self, req: Any) -> ssl.SSLContext | None:
            if not req.is_ssl():
                return None
            given = req.ssl
            if isinstance(given, ssl.SSLContext):
                return given
            cfg = self._tlsback
            if given is False:
                return cfg.insecure_context
            if given is not True:  # a Fingerprint: aiohttp pins instead of verifying
                return super()._get_ssl_context(req)
            url = str(req.url)
            ctx = cfg.context_for(url)
            if ctx is not cfg.context:
                log.debug("aiohttp: %s matches an allowed insecure host: not verified", url)
            return ctx

    _classes["connector"] = TlsbackTCPConnector
    return TlsbackTCPConnector


def aiohttp_connector(cfg: TLSConfig | None = None, **kw: Any) -> aiohttp.TCPConnector:
    """An ``aiohttp.TCPConnector`` with tlsback's TLS configuration.

    Create it inside a running event loop (aiohttp requires that), and pass it to
    ``aiohttp.ClientSession(connector=...)``. HTTPS proxies (``proxy="https://..."``) work on
    Python 3.11+, where asyncio can run TLS inside TLS; on 3.10 an HTTPS request through one
    raises ``aiohttp.ClientConnectionError`` saying so, before anything is sent.

    Args:
        cfg: the configuration; None for :func:`tlsback.default_config`.
        **kw: ``TCPConnector`` keywords (``limit``, ``limit_per_host``, ``ttl_dns_cache``, ...).

    Returns:
        ``aiohttp.TCPConnector`` sharing ``cfg.context``.

    Raises:
        TypeError: ``ssl=``, ``verify_ssl=``, ``ssl_context=`` or ``fingerprint=`` was given.
    """
    refuse(kw, _REFUSED, "aiohttp")
    return _connector_class()(resolve(cfg), **kw)  # type: ignore[no-any-return]
