"""The HTTP GET behind ``tlsback fetch``: the urllib adapter, with readable failures.

The adapter decides every redirect hop on its own URL, so an allowed insecure host never makes
a redirect to another host go unverified (docs/insecure-hosts.md, "Redirects"); proxies come
from the environment.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from ._explain import CLIENT_CERT_HINT, explain_error
from ._scantypes import printable, shown
from ._version import __version__
from .adapters import urllib_opener

if TYPE_CHECKING:
    from .config import TLSConfig

__all__ = ["FetchError", "UsageError", "check_url", "fetch", "proxy_for", "shown_url"]


class FetchError(Exception):
    """A request failed; the message says why in words a person understands."""


class UsageError(FetchError):
    """The URL cannot be fetched at all (another scheme, no host): a usage error (exit 2)."""


CHUNK = 256 * 1024


def check_url(url: str) -> None:
    """Refuse what ``fetch`` cannot request, before anything else happens.

    Raises:
        UsageError: not an ``http://`` or ``https://`` URL with a valid host (a name the IDNA
            codec of the socket module accepts, or a bracketed IPv6 address) and port, or a URL
            with a space or a control character in it.
    """
    bad = next((c for c in url if c <= " " or c == "\x7f"), None)
    if bad is not None:
        raise UsageError(f"invalid URL {shown_url(url)}: it contains {bad!r}")
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range or not a number
    except ValueError as exc:
        raise UsageError(f"invalid URL {shown_url(url)}: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"unsupported URL {shown_url(url)}: only http:// and https:// URLs can be fetched")
    host = parts.hostname
    if parts.netloc.rpartition("@")[2].startswith("["):
        # urlsplit checks a bracketed address only on Python 3.11.4 and later.
        import ipaddress

        try:
            ipaddress.IPv6Address(host.partition("%")[0])
        except ValueError:
            raise UsageError(f"invalid URL {shown_url(url)}: {host!r} is not an IPv6 address") from None
    else:
        try:
            host.encode("idna")  # what the socket module does with the name before connecting
        except UnicodeError as exc:
            raise UsageError(f"invalid URL {shown_url(url)}: host name {host!r}: {exc}") from None


def shown_url(url: str) -> str:
    """``url`` as a message shows it: the password replaced by ``****`` (as uv shows it), quoted
    and escaped if it holds a character that is not printable."""
    try:
        parts = urllib.parse.urlsplit(url)
        if parts.password is not None:
            userinfo, _, hostport = parts.netloc.rpartition("@")
            url = urllib.parse.urlunsplit(parts._replace(netloc=f"{userinfo.partition(':')[0]}:****@{hostport}"))
    except ValueError:
        pass
    return shown(url)


def _request(url: str) -> urllib.request.Request:
    """The request for ``url``; credentials in it become an ``Authorization`` header that is
    sent to this URL alone (urllib copies ordinary headers onto a redirect to another host)."""
    parts = urllib.parse.urlsplit(url)
    headers = {"User-Agent": f"tlsback/{__version__}"}
    if parts.username is None and parts.password is None:
        return urllib.request.Request(url, headers=headers)
    import base64

    hostport = parts.netloc.rpartition("@")[2]
    credentials = f"{urllib.parse.unquote(parts.username or '')}:{urllib.parse.unquote(parts.password or '')}"
    request = urllib.request.Request(urllib.parse.urlunsplit(parts._replace(netloc=hostport)), headers=headers)
    request.add_unredirected_header("Authorization", "Basic " + base64.b64encode(credentials.encode()).decode())
    return request


def proxy_for(url: str, env: Mapping[str, str]) -> str | None:
    """The proxy urllib will use for ``url`` given ``env`` (``https_proxy``, ``no_proxy``, ...)."""
    proxies: dict[str, str] = {}
    # Lower-case names win, as in urllib.request.getproxies_environment().
    for name, value in sorted(env.items(), key=lambda kv: kv[0].islower()):
        if value and name.lower().endswith("_proxy"):
            proxies[name.lower()[:-6]] = value
    parts = urllib.parse.urlsplit(url)
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined] # not in typeshed
    if not proxy or bypass(parts.hostname or "", proxies):
        return None
    return proxy


def fetch(cfg: TLSConfig, url: str, sink: Callable[[bytes], object], *, timeout: float = 30.0,
          progress: Callable[[int, int | None], None] | None = None) -> int:
    """GET ``url``, following redirects, handing the body to ``sink`` piece by piece.

    The body is never held whole in memory: ``sink`` gets chunks of at most 256 KiB.

    Args:
        cfg: the configuration.
        url: an ``http://`` or ``https://`` URL.
        sink: called with each chunk of the body (``file.write``).
        timeout: seconds per connection attempt and per read.
        progress: called with (bytes so far, Content-Length or None) after each chunk.

    Returns:
        The number of body bytes.

    Raises:
        UsageError: the URL cannot be fetched at all.
        FetchError: a TLS, connection or HTTP failure, with a readable reason (the proxy
            named when one was used).
    """
    check_url(url)
    from .settings import environment

    request = _request(url)
    proxy = proxy_for(request.full_url, environment())
    via = f" through the proxy {shown_url(proxy)}" if proxy else ""
    url = shown_url(url)  # from here on, only for messages
    try:
        with urllib_opener(cfg).open(request, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            done = 0
            while True:
                chunk = response.read(CHUNK)
                if not chunk:
                    return done
                sink(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
    except urllib.error.HTTPError as exc:
        # The reason phrase is the server's text: escaped, as it could drive the terminal.
        raise FetchError(f"{shown_url(exc.url)}: HTTP {exc.code} {shown(str(exc.reason))}") from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, ssl.SSLError):
            raise FetchError(explain_error(reason, url, cfg.backend_name)) from None
        if isinstance(reason, socket.timeout):
            raise FetchError(f"request to {url}{via} failed: timed out after {timeout:g} s") from None
        text = reason.strerror if isinstance(reason, OSError) and reason.strerror else str(reason)
        raise FetchError(f"request to {url}{via} failed: {printable(text)}{_reset_hint(cfg, url, reason)}") from None
    except ssl.SSLError as exc:  # raised while reading, e.g. a post-handshake rejection
        raise FetchError(explain_error(exc, url, cfg.backend_name)) from None
    except (OSError, http.client.HTTPException, ValueError) as exc:  # ValueError: a redirect's bad host
        # The text may quote the server (a bad status line): escaped, like the reason phrase.
        text = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or type(exc).__name__
        raise FetchError(f"request to {url}{via} failed: {printable(text)}{_reset_hint(cfg, url, exc)}") from None


def _reset_hint(cfg: TLSConfig, url: str, exc: object) -> str:
    """A server that demands a client certificate may just drop the connection (TLS 1.3: after
    the client's Finished); without one configured, say what to set."""
    if not isinstance(exc, (ConnectionResetError, BrokenPipeError)) or not url.lower().startswith("https:") \
            or cfg.settings.client_cert.value:
        return ""
    return f"\n  hint: if the server requires a client certificate (mTLS): {CLIENT_CERT_HINT}"
