"""``aiohttp``: a connector that picks the context per connection's host.

aiohttp asks its connector for the context of every new connection
(``TCPConnector._get_ssl_context(req)``), redirect hops included (each hop is a new request),
and for a proxy connection separately for the proxy and for the target. This connector answers
with ``cfg.context_for_origin(...)`` for the host yarl encoded and aiohttp connects to. A
context or fingerprint given per request (``ssl=``) still wins; ``ssl=False`` gets tlsback's
insecure context, so the client certificate is still presented.
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING, Any

from ._common import log, refuse, resolve

if TYPE_CHECKING:
    import aiohttp

    from ..config import TLSConfig

__all__ = ["aiohttp_connector"]

_REFUSED = ("ssl", "verify_ssl", "ssl_context", "fingerprint")
_classes: dict[str, Any] = {}


def _connector_class() -> Any:
    if "connector" in _classes:
        return _classes["connector"]
    import aiohttp

    class TlsbackTCPConnector(aiohttp.TCPConnector):
        """``aiohttp.TCPConnector`` with tlsback's contexts (see the module docstring)."""

        def __init__(self, cfg: TLSConfig, **kw: Any) -> None:
            self._tlsback = cfg
            super().__init__(ssl=cfg.context, **kw)

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
            # Decided on the host aiohttp resolves and connects to: yarl's encoded raw_host.
            url = req.url
            ctx = cfg.context_for_origin(url.scheme, url.raw_host or "", url.port)
            if ctx is not cfg.context:
                log.debug("aiohttp: %s matches an allowed insecure host: not verified", url)
            return ctx

    _classes["connector"] = TlsbackTCPConnector
    return TlsbackTCPConnector


def aiohttp_connector(cfg: TLSConfig | None = None, **kw: Any) -> aiohttp.TCPConnector:
    """An ``aiohttp.TCPConnector`` with tlsback's TLS configuration.

    Create it inside a running event loop (aiohttp requires that), and pass it to
    ``aiohttp.ClientSession(connector=...)``. HTTPS proxies (``proxy="https://..."``) work on
    Python 3.11+, where asyncio can run TLS inside TLS.

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
