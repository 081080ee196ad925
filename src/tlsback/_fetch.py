"""The HTTP GET behind ``tlsback fetch``: every hop verified with the resolved configuration.

Redirects are followed (at most 10), and each hop picks its context from its own URL, so an
allowed insecure host never makes a redirect to another host go unverified (SPEC §4). HTTPS
proxies from the environment are honoured through ``CONNECT``.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import urllib.parse
import urllib.request
from typing import TYPE_CHECKING

from ._version import __version__

if TYPE_CHECKING:
    from .config import TLSConfig

__all__ = ["FetchError", "fetch"]

MAX_REDIRECTS = 10


class FetchError(Exception):
    """A request failed; the message says why in words a person understands."""


def _explain(exc: BaseException, url: str, cfg: TLSConfig) -> str:
    from ._explain import explain_error

    return explain_error(exc, url, cfg.backend_name)


def _connection(cfg: TLSConfig, url: urllib.parse.SplitResult, timeout: float) -> http.client.HTTPConnection:
    host = url.hostname or ""
    port = url.port
    proxies = urllib.request.getproxies()
    proxy = proxies.get(url.scheme)
    if proxy and urllib.request.proxy_bypass(host):
        proxy = None
    conn: http.client.HTTPConnection
    if url.scheme == "https":
        ctx = cfg.context_for(url.geturl())
        if proxy:
            p = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
            conn = http.client.HTTPSConnection(p.hostname or "", p.port or 80, timeout=timeout, context=ctx)
            conn.set_tunnel(host, port or 443)
        else:
            conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=ctx)
    else:
        if proxy:
            p = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
            conn = http.client.HTTPConnection(p.hostname or "", p.port or 80, timeout=timeout)
        else:
            conn = http.client.HTTPConnection(host, port, timeout=timeout)
    return conn


def fetch(cfg: TLSConfig, url: str, *, timeout: float = 30.0) -> bytes:
    """GET ``url`` and return the body of the final response.

    Raises:
        FetchError: a TLS, connection or HTTP failure, with a readable reason.
    """
    current = url
    for _ in range(MAX_REDIRECTS + 1):
        parts = urllib.parse.urlsplit(current)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise FetchError(f"unsupported URL {current!r}: only http:// and https:// URLs can be fetched")
        conn = _connection(cfg, parts, timeout)
        target = current if (parts.scheme == "http" and conn.host != parts.hostname) else (
            urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
        )
        try:
            conn.request("GET", target, headers={"User-Agent": f"tlsback/{__version__}", "Accept": "*/*"})
            resp = conn.getresponse()
            body = resp.read()
        except ssl.SSLError as exc:
            raise FetchError(_explain(exc, current, cfg)) from None
        except (OSError, http.client.HTTPException) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or type(exc).__name__
            if isinstance(exc, socket.timeout):
                reason = f"timed out after {timeout:g} s"
            raise FetchError(f"request to {current} failed: {reason}") from None
        finally:
            conn.close()
        if resp.status in (301, 302, 303, 307, 308):
            location = resp.getheader("Location")
            if not location:
                raise FetchError(f"{current}: HTTP {resp.status} redirect without a Location header")
            current = urllib.parse.urljoin(current, location)
            continue
        if resp.status >= 400:
            raise FetchError(f"{current}: HTTP {resp.status} {resp.reason}")
        return body
    raise FetchError(f"{url}: more than {MAX_REDIRECTS} redirects")
