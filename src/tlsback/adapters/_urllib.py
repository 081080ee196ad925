"""``urllib.request``: an opener whose HTTPS connections pick the context for their host."""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any

from ._common import log, resolve

if TYPE_CHECKING:
    from ..config import TLSConfig

__all__ = ["TlsbackHTTPSHandler", "urllib_opener"]


class _TlsbackHTTPSConnection(http.client.HTTPSConnection):
    """An ``HTTPSConnection`` that picks its context when it connects, for the host it connects to.

    ``http.client`` splits the host and port itself, and through a proxy (``CONNECT``) the TLS
    session goes to the tunnel's host, not the proxy's: the decision is made on that host, as
    ``connect()`` will use it, so nothing urllib reads differently from tlsback can slip by.
    """

    def __init__(self, host: str, *, tlsback: TLSConfig, **kw: Any) -> None:
        # Verifying until connect() decides: a path that skips the decision stays verified.
        super().__init__(host, context=tlsback.context, **kw)
        self._tlsback = tlsback

    def connect(self) -> None:
        host: str = self.host
        port: int | None = self.port
        tunnel_host = getattr(self, "_tunnel_host", None)  # set by set_tunnel() (CONNECT)
        if tunnel_host:
            host, port = tunnel_host, getattr(self, "_tunnel_port", None)
        cfg = self._tlsback
        # A non-ASCII host is never insecure: socket and ssl encode it with Python's IDNA 2003
        # codec (straße.de becomes strasse.de), which no rule is compared in.
        ctx = cfg.context_for_origin("https", host, port)
        if ctx is not cfg.context:
            log.debug("urllib: %s matches an allowed insecure host: not verified", host)
        # http.client wraps the socket with self._context (3.10-3.13); set it before connecting.
        self._context = ctx
        super().connect()


class TlsbackHTTPSHandler(urllib.request.HTTPSHandler):
    """An ``HTTPSHandler`` whose connections pick ``cfg``'s context for the host they connect to.

    Redirects reach this handler again as new requests, so each hop is decided on its own host.
    Through a proxy (``CONNECT``), the context is chosen for the target, which is where the TLS
    session goes; urllib cannot speak TLS to the proxy itself.
    """

    def __init__(self, cfg: TLSConfig, debuglevel: int = 0) -> None:
        """Args: cfg: the configuration whose contexts are used; debuglevel: as urllib's."""
        # Hand urllib our context: without one, Python 3.13's HTTPSHandler.__init__ builds a
        # default context (loading the default certificates, ~20 ms) for every opener.
        super().__init__(debuglevel=debuglevel, context=cfg.context)
        self._tlsback = cfg

    def https_open(self, req: urllib.request.Request) -> Any:
        """Open ``req`` on a connection that picks its context per host (see above)."""
        # do_open calls http_class(host, timeout=..., **kw): the extra keyword is passed on.
        return self.do_open(_TlsbackHTTPSConnection, req,  # type: ignore[arg-type]
                            tlsback=self._tlsback)


class _ProxyHandler(urllib.request.ProxyHandler):
    """urllib's proxy handler (proxies from the environment), refusing SOCKS proxies clearly.

    urllib has no SOCKS support: given ``https_proxy=socks5h://...`` it would send an HTTP
    ``CONNECT`` to the SOCKS port and fail with a reset connection. The error names the proxy.
    """

    def proxy_open(self, req: urllib.request.Request, proxy: str, type: str) -> Any:
        # no_proxy first, as urllib's own proxy_open: a host it names is reached directly.
        if proxy.lower().startswith("socks") and not (req.host and urllib.request.proxy_bypass(req.host)):
            raise urllib.error.URLError(
                f"urllib cannot use the SOCKS proxy {proxy} (the {type} proxy from the "
                "environment); use tlsback's requests or urllib3 adapter with PySocks for SOCKS, "
                "an HTTP proxy, or no proxy")
        return super().proxy_open(req, proxy, type)


def urllib_opener(cfg: TLSConfig | None = None) -> urllib.request.OpenerDirector:
    """A ``urllib.request`` opener with tlsback's TLS configuration.

    It has urllib's default handlers (proxies from the environment, redirects, cookies are not
    included, as with ``build_opener``), with the HTTPS handler replaced, and a proxy handler
    that refuses a ``socks://`` proxy with a clear error (urllib cannot use one).

    Args:
        cfg: the configuration; None for :func:`tlsback.default_config`.

    Returns:
        ``urllib.request.OpenerDirector``; use ``opener.open(url)``. It is not installed
        globally (call ``urllib.request.install_opener`` for that).
    """
    return urllib.request.build_opener(TlsbackHTTPSHandler(resolve(cfg)), _ProxyHandler())
