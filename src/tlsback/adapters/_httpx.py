"""``httpx``: clients whose transports pick the context per request, for the request's host.

httpx takes an ``SSLContext`` as ``verify`` and uses it as is. When insecure hosts are
configured, every transport of the client (the default one and each proxy's) is a
:class:`TlsbackTransport`: it holds a verifying and an insecure ``HTTPTransport`` (each with
its own connection pool, so a verified and an unverified connection never mix) and sends each
request, redirect hops included, through the one whose context ``cfg.context_for_origin`` gives
for the host httpx connects to (``request.url.raw_host``, already IDNA-encoded by httpx).
Proxies are resolved here (``proxy=`` or, with ``trust_env``, the environment, as httpx itself
does) so that

* an insecure host reached through a proxy still goes through that proxy, and
* an ``https://`` proxy is verified with the context for its own URL (httpx would otherwise
  build a default context for it, with certifi's roots).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._common import log, refuse, resolve

if TYPE_CHECKING:
    import httpx

    from ..config import TLSConfig

__all__ = ["httpx_async_client", "httpx_client", "transport_classes"]

_REFUSED = ("verify", "cert")
_TRANSPORT_KEYS = ("http1", "http2", "limits", "trust_env")


def _environment_proxies() -> dict[str, str | None]:
    try:
        from httpx._utils import get_environment_proxies  # what httpx.Client itself uses
    except ImportError:  # pragma: no cover - httpx moved it
        log.warning("httpx: cannot read proxies from the environment; pass proxy= explicitly")
        return {}
    return dict(get_environment_proxies())


_classes: dict[str, Any] = {}


def transport_classes() -> tuple[type[httpx.BaseTransport], type[httpx.AsyncBaseTransport]]:
    """``(TlsbackTransport, AsyncTlsbackTransport)``, created on first use (httpx imported then)."""
    if _classes:
        return _classes["sync"], _classes["async"]
    import httpx

    def pick(cfg: TLSConfig, url: httpx.URL) -> bool:
        # The one decision point every adapter asks (cfg.context_for_origin), on the host httpx
        # connects to: lower case, IDNA-encoded, IPv6 without brackets. The insecure transport
        # was built with cfg.insecure_context (built once, never replaced): it is taken only for
        # that very context; any other answer goes through the verifying transport.
        ctx = cfg.context_for_origin(url.scheme, url.raw_host.decode("ascii", "replace"), url.port)
        insecure = ctx is cfg.insecure_context
        if insecure:
            log.debug("httpx: %s matches an allowed insecure host: not verified", url)
        return insecure

    class _Pick:
        """Holds a verified and an insecure transport; ``cfg`` decides per host which one."""

        def __init__(self, cfg: TLSConfig, verified: Any, insecure: Any) -> None:
            self._tlsback = cfg
            self.verified = verified
            self.insecure = insecure

        def transport_for(self, url: httpx.URL) -> Any:
            """The transport a request to ``url`` goes through."""
            return self.insecure if pick(self._tlsback, url) else self.verified

    class TlsbackTransport(_Pick, httpx.BaseTransport):
        """Sends each request through ``verified`` or ``insecure``, as ``cfg`` decides per host."""

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            response: httpx.Response = self.transport_for(request.url).handle_request(request)
            return response

        # httpx's BaseTransport.__exit__ calls close(); the inner pools need no __enter__.
        def close(self) -> None:
            try:
                self.insecure.close()
            finally:
                self.verified.close()

    class AsyncTlsbackTransport(_Pick, httpx.AsyncBaseTransport):
        """The ``AsyncClient`` twin of :class:`TlsbackTransport`."""

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            response: httpx.Response = await self.transport_for(request.url).handle_async_request(request)
            return response

        async def aclose(self) -> None:
            try:
                await self.insecure.aclose()
            finally:
                await self.verified.aclose()

    _classes["sync"], _classes["async"] = TlsbackTransport, AsyncTlsbackTransport
    return TlsbackTransport, AsyncTlsbackTransport


def _transports(cfg: TLSConfig, kw: dict[str, Any], transport_cls: Callable[..., Any],
                wrapper_cls: Callable[..., Any]) -> dict[str, Any]:
    """httpx keywords (``verify``, ``transport``?, ``mounts``) for ``kw`` (which is modified)."""
    import httpx

    common = {k: kw[k] for k in _TRANSPORT_KEYS if k in kw}
    user_mounts = dict(kw.pop("mounts", None) or {})
    user_transport = kw.pop("transport", None)
    if user_transport is not None:
        # The caller's own transport: httpx then ignores proxies.
        proxy_map: dict[str, Any] = {}
        if kw.get("proxy") is not None:
            raise TypeError("httpx does not use proxy= with transport=; pass one of them")
        if cfg.insecure_hosts:
            # tlsback cannot choose the context inside a transport it did not build, and
            # sending the allowed hosts around it would skip what it does (its proxy, retries,
            # own TLS): refused, as proxy= with transport= is.
            rules = " ".join(str(rule) for rule in cfg.insecure_hosts)
            raise TypeError(
                f"tlsback's httpx adapter cannot honour allow-insecure-host ({rules}) with your "
                "own transport=: it cannot choose the context inside a transport it did not "
                "build. Drop transport= (tlsback's transports take proxy=, http2=, limits=), "
                "or pass a TLSConfig without insecure hosts as cfg="
            )
    else:
        proxy = kw.pop("proxy", None)
        if proxy is not None:
            proxy_map = {"all://": proxy}
        elif kw.get("trust_env", True):
            proxy_map = dict(_environment_proxies())
        else:
            proxy_map = {}

    def make_proxy(proxy: Any) -> Any:
        # httpx.Proxy moves credentials out of the URL; the decision is on the host it keeps.
        given = proxy if isinstance(proxy, httpx.Proxy) else httpx.Proxy(str(proxy))
        if given.url.scheme != "https" or given.ssl_context is not None:
            return given
        url = given.url
        ctx = cfg.context_for_origin(url.scheme, url.raw_host.decode("ascii", "replace"), url.port)
        return httpx.Proxy(url, ssl_context=ctx, auth=given.auth, headers=given.headers)

    def transport(proxy: Any = None) -> Any:
        # Without rules no insecure context is built and no request needs a decision.
        verified = transport_cls(verify=cfg.context, proxy=proxy, **common)
        if not cfg.insecure_hosts:
            return verified
        return wrapper_cls(cfg, verified,
                           transport_cls(verify=cfg.insecure_context, proxy=proxy, **common))

    mounts: dict[str, Any] = {}
    for pattern, proxy in proxy_map.items():
        # None means "no proxy" (NO_PROXY): httpx then uses the client's default transport.
        mounts[pattern] = None if proxy is None else transport(make_proxy(proxy))
    mounts.update(user_mounts)  # the caller's own mounts win
    out: dict[str, Any] = {"verify": cfg.context, "mounts": mounts}
    if user_transport is not None:
        out["transport"] = user_transport
    elif cfg.insecure_hosts:
        out["transport"] = transport()
    return out


def httpx_client(cfg: TLSConfig | None = None, **kw: Any) -> httpx.Client:
    """An ``httpx.Client`` with tlsback's TLS configuration.

    Args:
        cfg: the configuration; None for :func:`tlsback.default_config`.
        **kw: ``httpx.Client`` keywords (``timeout``, ``headers``, ``follow_redirects``,
            ``proxy``, ``mounts``, ``http2``, ``limits``, ``trust_env``, ...).

    Returns:
        ``httpx.Client`` sharing ``cfg.context``; each request's host picks its context.

    Raises:
        TypeError: ``verify=`` or ``cert=`` was given (TLS comes from ``cfg``); ``transport=``
            with ``proxy=``, or with allow-insecure-host rules in ``cfg``.
    """
    import httpx

    refuse(kw, _REFUSED, "httpx")
    cfg = resolve(cfg)
    sync_cls, _ = transport_classes()
    return httpx.Client(**_transports(cfg, kw, httpx.HTTPTransport, sync_cls), **kw)


def httpx_async_client(cfg: TLSConfig | None = None, **kw: Any) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` with tlsback's TLS configuration.

    Args:
        cfg: the configuration; None for :func:`tlsback.default_config`.
        **kw: ``httpx.AsyncClient`` keywords, as for :func:`httpx_client`.

    Returns:
        ``httpx.AsyncClient`` sharing ``cfg.context``; each request's host picks its context.

    Raises:
        TypeError: as for :func:`httpx_client`.
    """
    import httpx

    refuse(kw, _REFUSED, "httpx")
    cfg = resolve(cfg)
    _, async_cls = transport_classes()
    return httpx.AsyncClient(**_transports(cfg, kw, httpx.AsyncHTTPTransport, async_cls), **kw)
