"""``urllib.request``: an opener whose HTTPS handler picks the context per request URL."""

from __future__ import annotations

import http.client
import urllib.request
from typing import TYPE_CHECKING, Any

from ._common import log, resolve

if TYPE_CHECKING:
    from ..config import TLSConfig

__all__ = ["TlsbackHTTPSHandler", "urllib_opener"]


class TlsbackHTTPSHandler(urllib.request.HTTPSHandler):
    """An ``HTTPSHandler`` that uses ``cfg.context_for(url)`` for every request.

    Redirects reach this handler again as new requests, so each hop is decided on its own URL.
    Through a proxy (``CONNECT``), the context is chosen for the target URL, which is where
    the TLS session goes; urllib cannot speak TLS to the proxy itself.
    """

    def __init__(self, cfg: TLSConfig, debuglevel: int = 0) -> None:
        """Args: cfg: the configuration whose contexts are used; debuglevel: as urllib's."""
        # Hand urllib our context: without one, Python 3.13's HTTPSHandler.__init__ builds a
        # default context (loading the default certificates, ~20 ms) for every opener.
        super().__init__(debuglevel=debuglevel, context=cfg.context)
        self._tlsback = cfg

    def https_open(self, req: urllib.request.Request) -> Any:
        """Open ``req`` with the context for its URL (``full_url`` is the target, even via a proxy)."""
        url = req.full_url
        ctx = self._tlsback.context_for(url)
        if ctx is not self._tlsback.context:
            log.debug("urllib: %s matches an allowed insecure host: not verified", url)
        return self.do_open(http.client.HTTPSConnection, req, context=ctx)


def urllib_opener(cfg: TLSConfig | None = None) -> urllib.request.OpenerDirector:
    """A ``urllib.request`` opener with tlsback's TLS configuration.

    It has urllib's default handlers (proxies from the environment, redirects, cookies are not
    included, as with ``build_opener``), with the HTTPS handler replaced.

    Args:
        cfg: the configuration; None for :func:`tlsback.default_config`.

    Returns:
        ``urllib.request.OpenerDirector``; use ``opener.open(url)``. It is not installed
        globally (call ``urllib.request.install_opener`` for that).
    """
    return urllib.request.build_opener(TlsbackHTTPSHandler(resolve(cfg)))
