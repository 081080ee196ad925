"""``requests``: a session whose transport adapter uses tlsback's urllib3 managers.

requests on its own ignores ``SSL_CERT_FILE`` and, for every request, points the pool at
certifi's bundle (``HTTPAdapter.cert_verify`` sets ``ca_certs``), which urllib3 then loads into
the context of every new connection. This adapter leaves the pools' TLS to tlsback:

* ``verify=True`` (the default): the context for the URL (``cfg.context_for``), per request, so
  each redirect hop (requests sends each hop through the adapter again) is decided on its own URL;
* ``verify=False``: tlsback's insecure context (the client certificate is still presented);
* ``verify="<path>"`` or ``cert=...``: refused with ``ValueError`` (they would load files per
  connection); the session does not read ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` either;
* proxies (``proxies=`` or the environment): ``proxy_manager_for`` builds tlsback proxy managers;
  an ``https://`` proxy is verified with the context for its own URL.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._common import resolve
from ._urllib3 import UNVERIFIED_KEY, pool_mixin, proxy_manager_class

if TYPE_CHECKING:
    import requests

    from ..config import TLSConfig

__all__ = ["requests_adapter", "requests_session"]

_classes: dict[str, Any] = {}


def _build_classes() -> dict[str, Any]:
    if _classes:
        return _classes
    import requests
    import requests.adapters

    from ._urllib3 import _build_classes as urllib3_classes

    manager_cls = urllib3_classes()["pool_manager"]
    proxy_cls = proxy_manager_class()

    class TlsbackHTTPAdapter(requests.adapters.HTTPAdapter):
        """``requests.adapters.HTTPAdapter`` with tlsback's TLS (see the module docstring)."""

        def __init__(self, cfg: TLSConfig, **kw: Any) -> None:
            self._tlsback = cfg
            super().__init__(**kw)

        def init_poolmanager(self, connections: int, maxsize: int, block: bool = False,
                             **pool_kwargs: Any) -> None:
            self._pool_connections = connections
            self._pool_maxsize = maxsize
            self._pool_block = block
            self.poolmanager = manager_cls(
                self._tlsback, num_pools=connections, maxsize=maxsize, block=block, **pool_kwargs
            )

        def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
            if proxy in self.proxy_manager:
                return self.proxy_manager[proxy]
            if proxy.lower().startswith("socks"):
                manager = super().proxy_manager_for(proxy, **proxy_kwargs)
                # Give the SOCKS manager tlsback's per-origin contexts too.
                manager.__class__ = type(
                    "TlsbackSOCKSProxyManager", (pool_mixin(), type(manager)), {}
                )
                manager._tlsback_init(self._tlsback)
                return manager
            manager = self.proxy_manager[proxy] = proxy_cls(
                self._tlsback,
                proxy,
                proxy_headers=self.proxy_headers(proxy),
                num_pools=self._pool_connections,
                maxsize=self._pool_maxsize,
                block=self._pool_block,
                **proxy_kwargs,
            )
            return manager

        def build_connection_pool_key_attributes(
            self, request: Any, verify: Any, cert: Any = None,
        ) -> Any:  # requests' (host params, pool kwargs), our pool kwargs are not its TypedDict
            _check(verify, cert)
            host_params, _ = super().build_connection_pool_key_attributes(request, True, None)
            # TLS keywords are dropped: the tlsback pool manager chooses the context.
            return host_params, {UNVERIFIED_KEY: True} if verify is False else {}

        def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
            # requests would set ca_certs (certifi) or cert_file on the pool here, which urllib3
            # loads per connection. The pool's context already says everything.
            _check(verify, cert)

    class TlsbackSession(requests.Session):
        """``requests.Session`` that does not take a CA bundle from the environment.

        ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` would turn into ``verify="<path>"`` on every
        request; tlsback's ``SSL_CERT_FILE``/``SSL_CERT_DIR`` are the trust settings here.
        Proxies and ``.netrc`` from the environment still apply.
        """

        def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any,
                                       cert: Any) -> Any:
            # Any value but True/None keeps requests from consulting the CA variables.
            settings = super().merge_environment_settings(
                url, proxies, stream, "tlsback:not-from-environment", cert
            )
            settings["verify"] = self.verify if verify is None else verify
            return settings

    _classes.update(adapter=TlsbackHTTPAdapter, session=TlsbackSession)
    return _classes


def _check(verify: Any, cert: Any) -> None:
    if cert:
        raise ValueError(
            "tlsback's requests adapter presents the client certificate from SSL_CLIENT_CERT; "
            "do not pass cert= (it would be loaded into the shared context per connection)"
        )
    if verify not in (True, False, None):
        raise ValueError(
            f"tlsback's requests adapter does not take verify={verify!r}: add CA certificates "
            "with SSL_CERT_FILE / SSL_CERT_DIR (a path here would be loaded per connection)"
        )


def requests_adapter(cfg: TLSConfig | None = None, **kw: Any) -> requests.adapters.HTTPAdapter:
    """A ``requests`` transport adapter with tlsback's TLS, to mount on a session of your own.

    Args:
        cfg: the configuration; None for :func:`tlsback.default_config`.
        **kw: ``HTTPAdapter`` keywords (``pool_connections``, ``pool_maxsize``, ``max_retries``).

    Returns:
        The adapter; ``session.mount("https://", adapter)`` and ``"http://"`` (for proxies).
    """
    return _build_classes()["adapter"](resolve(cfg), **kw)  # type: ignore[no-any-return]


def requests_session(cfg: TLSConfig | None = None) -> requests.Session:
    """A ``requests.Session`` with tlsback's TLS configuration.

    Args:
        cfg: the configuration; None for :func:`tlsback.default_config`.

    Returns:
        A ``requests.Session`` (subclass) with one tlsback adapter mounted for ``https://`` and
        ``http://``. ``verify=False`` on a request uses tlsback's insecure context; a CA path
        in ``verify=`` and ``cert=`` raise ``ValueError`` (see the module docstring).
    """
    classes = _build_classes()
    session: requests.Session = classes["session"]()
    adapter = classes["adapter"](resolve(cfg))
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session
