"""``httpx``: clients with ``verify=cfg.context`` and per-origin mounts for insecure hosts.

httpx takes an ``SSLContext`` as ``verify`` and uses it as is. Allowed insecure hosts become
mounts (``"https://host[:port]"`` -> a transport with ``cfg.insecure_context``); httpx picks the
transport per request URL, redirect hops included. Proxies are resolved here (``proxy=`` or,
with ``trust_env``, the environment, as httpx itself does) so that

* an insecure host reached through a proxy still goes through that proxy, and
* an ``https://`` proxy is verified with the context for its own URL (httpx would otherwise
  build a default context for it, with certifi's roots).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._common import https_patterns, log, refuse, resolve

if TYPE_CHECKING:
    import httpx

    from ..config import TLSConfig

__all__ = ["httpx_async_client", "httpx_client"]

_REFUSED = ("verify", "cert")
_TRANSPORT_KEYS = ("http1", "http2", "limits", "trust_env")


def _environment_proxies() -> dict[str, str | None]:
    try:
        from httpx._utils import get_environment_proxies  # what httpx.Client itself uses
    except ImportError:  # pragma: no cover - httpx moved it
        log.warning("httpx: cannot read proxies from the environment; pass proxy= explicitly")
        return {}
    return dict(get_environment_proxies())


def _proxy_for(proxy_map: dict[str, Any], url: str) -> Any:
    """The proxy httpx would use for ``url``: the most specific matching pattern wins."""
    import httpx

    try:
        from httpx._utils import URLPattern
    except ImportError:  # pragma: no cover
        return proxy_map.get("all://")
    target = httpx.URL(url)
    for pattern in sorted(URLPattern(key) for key in proxy_map):
        if pattern.matches(target):
            return proxy_map[pattern.pattern]
    return None


def _mounts(cfg: TLSConfig, kw: dict[str, Any], transport_cls: Callable[..., Any]) -> tuple[Any, dict[str, Any]]:
    """``(verify context, mounts)`` for a client built with the keywords ``kw`` (modified)."""
    import httpx

    everything, patterns = https_patterns(cfg)
    verify = cfg.insecure_context if everything else cfg.context
    common = {k: kw[k] for k in _TRANSPORT_KEYS if k in kw}
    user_mounts = dict(kw.pop("mounts", None) or {})
    if kw.get("transport") is not None:
        # The caller's own transport: httpx then ignores proxies; only add insecure mounts.
        proxy_map: dict[str, Any] = {}
        if kw.get("proxy") is not None:
            raise TypeError("httpx does not use proxy= with transport=; pass one of them")
    else:
        proxy = kw.pop("proxy", None)
        if proxy is not None:
            proxy_map = {"all://": proxy}
        elif kw.get("trust_env", True):
            proxy_map = dict(_environment_proxies())
        else:
            proxy_map = {}

    def make_proxy(proxy: Any) -> Any:
        if isinstance(proxy, httpx.Proxy):
            url, given = str(proxy.url), proxy
        else:
            url, given = str(proxy), None
        if not url.lower().startswith("https:"):
            return given if given is not None else httpx.Proxy(url)
        if given is not None and given.ssl_context is not None:
            return given
        return httpx.Proxy(
            url,
            ssl_context=cfg.context_for(url),
            auth=given.auth if given is not None else None,
            headers=given.headers if given is not None else None,
        )

    mounts: dict[str, Any] = {}
    for pattern, proxy in proxy_map.items():
        # None means "no proxy" (NO_PROXY): httpx then uses the client's default transport.
        mounts[pattern] = None if proxy is None else transport_cls(
            verify=verify, proxy=make_proxy(proxy), **common
        )
    for pattern in patterns:
        proxy = _proxy_for(proxy_map, pattern)
        mounts[pattern] = transport_cls(
            verify=cfg.insecure_context, proxy=None if proxy is None else make_proxy(proxy), **common
        )
    if patterns:
        log.debug("httpx: insecure mounts %s", ", ".join(patterns))
    mounts.update(user_mounts)  # the caller's own mounts win
    return verify, mounts


def httpx_client(cfg: TLSConfig | None = None, **kw: Any) -> httpx.Client:
    """An ``httpx.Client`` with tlsback's TLS configuration.

    Args:
        cfg: the configuration; None for :func:`tlsback.default_config`.
        **kw: ``httpx.Client`` keywords (``timeout``, ``headers``, ``follow_redirects``,
            ``proxy``, ``mounts``, ``http2``, ``limits``, ``trust_env``, ...).

    Returns:
        ``httpx.Client`` sharing ``cfg.context``; insecure hosts get mounts of their own.

    Raises:
        TypeError: ``verify=`` or ``cert=`` was given (TLS comes from ``cfg``).
    """
    import httpx

    refuse(kw, _REFUSED, "httpx")
    cfg = resolve(cfg)
    verify, mounts = _mounts(cfg, kw, httpx.HTTPTransport)
    return httpx.Client(verify=verify, mounts=mounts, **kw)


def httpx_async_client(cfg: TLSConfig | None = None, **kw: Any) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` with tlsback's TLS configuration.

    Args:
        cfg: the configuration; None for :func:`tlsback.default_config`.
        **kw: ``httpx.AsyncClient`` keywords, as for :func:`httpx_client`.

    Returns:
        ``httpx.AsyncClient`` sharing ``cfg.context``; insecure hosts get mounts of their own.

    Raises:
        TypeError: ``verify=`` or ``cert=`` was given (TLS comes from ``cfg``).
    """
    import httpx

    refuse(kw, _REFUSED, "httpx")
    cfg = resolve(cfg)
    verify, mounts = _mounts(cfg, kw, httpx.AsyncHTTPTransport)
    return httpx.AsyncClient(verify=verify, mounts=mounts, **kw)
