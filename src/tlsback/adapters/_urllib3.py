"""``urllib3``: a pool manager that picks the context per origin.

urllib3 accepts an ``ssl_context`` but changes it and loads into it per connection when other
TLS keywords are set too: ``ca_certs``/``ca_cert_dir``/``ca_cert_data`` are loaded with
``load_verify_locations`` on every new connection, ``cert_file`` with ``load_cert_chain``,
``cert_reqs`` sets ``verify_mode`` and ``assert_hostname`` turns ``check_hostname`` off
(``urllib3.util.ssl_.ssl_wrap_socket`` and ``connection._ssl_wrap_socket_and_match_hostname``).
This manager removes those keywords from every pool it creates, so the shared context is only
ever read. Pools are keyed by their context, so a verified and an insecure pool never mix.
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING, Any

from ._common import ca_bundle_config, log, origin_url, refuse, resolve

if TYPE_CHECKING:
    import urllib3

    from ..config import TLSConfig

__all__ = ["TLS_KEYWORDS", "urllib3_pool_manager"]

#: urllib3 keywords that would load certificates or change the shared context per connection.
TLS_KEYWORDS = (
    "ssl_context",
    "cert_reqs",
    "ca_certs",
    "ca_cert_dir",
    "ca_cert_data",
    "cert_file",
    "key_file",
    "key_password",
    "assert_hostname",
    "assert_fingerprint",
    "ssl_version",
    "ssl_minimum_version",
    "ssl_maximum_version",
    "proxy_ssl_context",
    "proxy_assert_hostname",
    "proxy_assert_fingerprint",
)
# Markers a caller (the requests adapter) puts in pool_kwargs for "verify=False on this request"
# and for "verify=<CA bundle path>".
UNVERIFIED_KEY = "_tlsback_unverified"
CA_PATH_KEY = "_tlsback_ca_path"

_classes: dict[str, Any] = {}


def _build_classes() -> dict[str, Any]:
    """The urllib3 subclasses, created on first use so importing this module imports nothing."""
    if _classes:
        return _classes
    import urllib3
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

    class QuietUnverifiedPool:
        """Skips ``InsecureRequestWarning`` for pools tlsback made unverified on purpose.

        tlsback only gives a pool a ``CERT_NONE`` context for a URL the user allowed with
        ``allow-insecure-host`` (or ``verify=False`` through requests); a warning per request
        would repeat what ``tlsback info`` already says. Verification failures still raise.
        """

        conn_kw: dict[str, Any]

        def _validate_conn(self, conn: Any) -> None:
            ctx = self.conn_kw.get("ssl_context")
            if ctx is not None and ctx.verify_mode == ssl.CERT_NONE:
                HTTPConnectionPool._validate_conn(self, conn)  # type: ignore[arg-type]
                if conn.is_closed:
                    conn.connect()
                return
            super()._validate_conn(conn)  # type: ignore[misc]

    class TlsbackHTTPSConnectionPool(QuietUnverifiedPool, HTTPSConnectionPool):
        """urllib3's HTTPS pool, quiet for tlsback's insecure hosts."""

    # The https pool class of each manager tlsback wraps -> its quiet twin. Only these are
    # replaced: any other class (a SOCKS pool without its twin) would lose what it does.
    quiet_pools: dict[type, type] = {HTTPSConnectionPool: TlsbackHTTPSConnectionPool}

    class TlsbackPoolMixin:
        """Chooses ``ssl_context`` per origin and drops every keyword that would change it."""

        _tlsback: TLSConfig
        pool_classes_by_scheme: dict[str, type]

        def _tlsback_init(self, cfg: TLSConfig) -> None:
            self._tlsback = cfg
            pools = dict(self.pool_classes_by_scheme)
            https = pools["https"]
            if https not in quiet_pools:
                # Fail closed: an unknown pool might not use the ssl_context chosen below.
                raise TypeError(f"tlsback cannot wrap a urllib3 manager whose HTTPS pool is {https!r}")
            pools["https"] = quiet_pools[https]
            self.pool_classes_by_scheme = pools

        def connection_from_context(self, request_context: dict[str, Any]) -> Any:
            # Every pool lookup (connection_from_url/host, redirects, requests) ends here, with
            # the final scheme/host/port (for a ProxyManager: the proxy's, for plain HTTP).
            unverified = bool(request_context.pop(UNVERIFIED_KEY, False))
            ca_path = request_context.pop(CA_PATH_KEY, None)
            for key in TLS_KEYWORDS:
                request_context.pop(key, None)
            scheme = str(request_context.get("scheme", "http")).lower()
            if scheme == "https":
                cfg = self._tlsback
                if ca_path is not None:
                    cfg = ca_bundle_config(cfg, ca_path)
                host, port = str(request_context["host"]), request_context.get("port")
                url = origin_url(scheme, host, port)
                if unverified:
                    ctx = cfg.insecure_context
                    log.debug("urllib3: %s: verify=False requested: not verified", url)
                else:
                    # Decided on the host urllib3 parsed and will connect to (IDNA-encoded).
                    ctx = cfg.context_for_origin(scheme, host, port)
                    if ctx is not cfg.context:
                        log.debug("urllib3: %s matches an allowed insecure host: not verified", url)
                request_context["ssl_context"] = ctx
            return super().connection_from_context(request_context)  # type: ignore[misc]

    class TlsbackPoolManager(TlsbackPoolMixin, urllib3.PoolManager):
        """``urllib3.PoolManager`` with tlsback's contexts."""

        def __init__(self, cfg: TLSConfig, **kw: Any) -> None:
            super().__init__(**kw)
            self._tlsback_init(cfg)

    class TlsbackProxyManager(TlsbackPoolMixin, urllib3.ProxyManager):
        """``urllib3.ProxyManager`` with tlsback's contexts, for the proxy and the targets."""

        def __init__(self, cfg: TLSConfig, proxy_url: str, **kw: Any) -> None:
            proxy_ctx = None
            proxy = urllib3.util.parse_url(proxy_url)  # as ProxyManager reads it
            if proxy.scheme == "https":
                # Without this urllib3 builds a default context (system CAs) for the proxy.
                proxy_ctx = cfg.context_for_origin("https", proxy.host or "", proxy.port)
            super().__init__(proxy_url, proxy_ssl_context=proxy_ctx, **kw)
            self._tlsback_init(cfg)

    _classes.update(
        pool_manager=TlsbackPoolManager,
        proxy_manager=TlsbackProxyManager,
        mixin=TlsbackPoolMixin,
        quiet=QuietUnverifiedPool,
        quiet_pools=quiet_pools,
    )
    return _classes


def socks_proxy_manager_class() -> Any:
    """``TlsbackSOCKSProxyManager(cfg, proxy_url, **kw)``, created on first use.

    urllib3's ``SOCKSProxyManager`` tunnels each connection through the SOCKS proxy (PySocks),
    then wraps it in TLS with the pool's ``ssl_context`` like a direct connection: so tlsback
    chooses that context per target origin, as for a direct connection, and insecure hosts are
    decided on the target host (the SOCKS proxy itself speaks no TLS).

    Raises:
        ImportError: PySocks is not installed (the message says what to install).
    """
    classes = _build_classes()
    if "socks_manager" in classes:
        return classes["socks_manager"]
    import warnings

    try:
        with warnings.catch_warnings():
            # urllib3 warns before raising ImportError when PySocks is missing; the error says it.
            warnings.simplefilter("ignore")
            from urllib3.contrib.socks import SOCKSHTTPSConnectionPool, SOCKSProxyManager
    except ImportError as exc:
        raise ImportError(
            "a socks:// proxy needs PySocks: pip install 'urllib3[socks]' "
            f"(or 'requests[socks]'); {exc}"
        ) from exc

    quiet: Any = classes["quiet"]
    mixin: Any = classes["mixin"]

    class TlsbackSOCKSHTTPSConnectionPool(quiet, SOCKSHTTPSConnectionPool):  # type: ignore[misc]
        """urllib3's SOCKS HTTPS pool, quiet for tlsback's insecure hosts."""

    classes["quiet_pools"][SOCKSHTTPSConnectionPool] = TlsbackSOCKSHTTPSConnectionPool

    class TlsbackSOCKSProxyManager(mixin, SOCKSProxyManager):  # type: ignore[misc]
        """``urllib3.contrib.socks.SOCKSProxyManager`` with tlsback's contexts for the targets."""

        def __init__(self, cfg: TLSConfig, proxy_url: str, **kw: Any) -> None:
            super().__init__(proxy_url, **kw)
            self._tlsback_init(cfg)

    classes["socks_manager"] = TlsbackSOCKSProxyManager
    return TlsbackSOCKSProxyManager


def urllib3_pool_manager(cfg: TLSConfig | None = None, **kw: Any) -> urllib3.PoolManager:
    """A ``urllib3.PoolManager`` with tlsback's TLS configuration.

    Args:
        cfg: the configuration; None for :func:`tlsback.default_config`.
        **kw: ``PoolManager`` keywords (``num_pools``, ``maxsize``, ``headers``, ``retries``,
            ``timeout``, ...); with ``proxy_url=`` a ``ProxyManager`` is returned instead
            (an ``https://`` proxy is verified with the context for its URL), or for a
            ``socks5h://`` (``socks5``, ``socks4a``, ``socks4``) proxy a ``SOCKSProxyManager``
            (PySocks needed; TLS to each target as for a direct connection).

    Returns:
        ``urllib3.PoolManager`` (or ``urllib3.ProxyManager``, ``SOCKSProxyManager``).

    Raises:
        TypeError: a TLS keyword (``ssl_context``, ``ca_certs``, ``cert_reqs``, ...) was given.
        ImportError: a SOCKS proxy without PySocks installed.
    """
    refuse(kw, TLS_KEYWORDS, "urllib3")
    cfg = resolve(cfg)
    classes = _build_classes()
    proxy_url = kw.pop("proxy_url", None)
    if proxy_url is not None and is_socks(str(proxy_url)):
        return socks_proxy_manager_class()(cfg, str(proxy_url), **kw)  # type: ignore[no-any-return]
    if proxy_url is not None:
        return classes["proxy_manager"](cfg, str(proxy_url), **kw)  # type: ignore[no-any-return]
    return classes["pool_manager"](cfg, **kw)  # type: ignore[no-any-return]


def proxy_manager_class() -> Any:
    """The ProxyManager subclass (for the requests adapter)."""
    return _build_classes()["proxy_manager"]


def is_socks(proxy_url: str) -> bool:
    """True for a ``socks4://``, ``socks4a://``, ``socks5://`` or ``socks5h://`` proxy URL."""
    return proxy_url.lower().startswith("socks")
