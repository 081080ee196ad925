"""The HTTP GET behind ``tlsback fetch``: the urllib adapter, with readable failures.

The adapter decides every redirect hop on its own URL, so an allowed insecure host never makes
a redirect to another host go unverified (SPEC §4); proxies come from the environment.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import urllib.error
import urllib.parse
import urllib.request
from typing import TYPE_CHECKING

from ._explain import explain_error
from ._version import __version__
from .adapters import urllib_opener

if TYPE_CHECKING:
    from .config import TLSConfig

__all__ = ["FetchError", "fetch"]


class FetchError(Exception):
    """A request failed; the message says why in words a person understands."""


def fetch(cfg: TLSConfig, url: str, *, timeout: float = 30.0) -> bytes:
    """GET ``url``, following redirects, and return the body of the final response.

    Raises:
        FetchError: a TLS, connection or HTTP failure, with a readable reason.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FetchError(f"unsupported URL {url!r}: only http:// and https:// URLs can be fetched")
    request = urllib.request.Request(url, headers={"User-Agent": f"tlsback/{__version__}"})
    try:
        with urllib_opener(cfg).open(request, timeout=timeout) as response:
            body: bytes = response.read()
            return body
    except urllib.error.HTTPError as exc:
        raise FetchError(f"{exc.url}: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, ssl.SSLError):
            raise FetchError(explain_error(reason, url, cfg.backend_name)) from None
        if isinstance(reason, socket.timeout):
            raise FetchError(f"request to {url} failed: timed out after {timeout:g} s") from None
        text = reason.strerror if isinstance(reason, OSError) and reason.strerror else str(reason)
        raise FetchError(f"request to {url} failed: {text}") from None
    except ssl.SSLError as exc:  # raised while reading, e.g. a post-handshake rejection
        raise FetchError(explain_error(exc, url, cfg.backend_name)) from None
    except (OSError, http.client.HTTPException) as exc:
        text = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or type(exc).__name__
        raise FetchError(f"request to {url} failed: {text}") from None
