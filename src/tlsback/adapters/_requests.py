"""``requests``: a session whose transport adapter uses tlsback's urllib3 managers.

requests on its own ignores ``SSL_CERT_FILE`` and, for every request, points the pool at
certifi's bundle (``HTTPAdapter.cert_verify`` sets ``ca_certs``), which urllib3 then loads into
the context of every new connection. This adapter leaves the pools' TLS to tlsback:

* ``verify=True`` (the default): the context for the host urllib3 connects to
  (``cfg.context_for_origin``), per request, so each redirect hop (requests sends each hop
  through the adapter again) is decided on its own host;
* ``verify=False``: tlsback's insecure context (the client certificate is still presented);
* ``verify="<path>"`` (a CA bundle file or directory): as in requests, that bundle is the only
  trust for the request; tlsback loads it once per adapter configuration, with its own loader
  and policy (:func:`tlsback.adapters._common.ca_bundle_config`), never per connection;
* ``cert=...``: refused with ``ValueError`` (use ``tlsback.load(client_cert=PATH)``); the
  session does not read ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE``;
* proxies (``proxies=`` or the environment): ``proxy_manager_for`` builds tlsback proxy managers;
  an ``https://`` proxy is verified with the context for its own URL; through a ``socks5h://``
  (or ``socks5``, ``socks4a``, ``socks4``) proxy the TLS to the target is tlsback's, decided on
  the target host as for a direct connection.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ._common import ca_bundle_config, resolve
from ._urllib3 import (
    CA_PATH_KEY,
    UNVERIFIED_KEY,
    is_socks,
    proxy_manager_class,
    socks_proxy_manager_class,
)

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
    import requests.exceptions
    import requests.utils

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
            if is_socks(proxy):
                # As requests builds its SOCKS manager, with tlsback's contexts for the targets.
                try:
                    socks_cls = socks_proxy_manager_class()
                except ImportError as exc:
                    raise requests.exceptions.InvalidSchema(
                        f"Missing dependencies for SOCKS support: {exc}") from exc
                username, password = requests.utils.get_auth_from_url(proxy)
                manager = self.proxy_manager[proxy] = socks_cls(
                    self._tlsback,
                    proxy,
                    username=username,
                    password=password,
                    num_pools=self._pool_connections,
                    maxsize=self._pool_maxsize,
                    block=self._pool_block,
                    **proxy_kwargs,
                )
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
            if verify is False:
                return host_params, {UNVERIFIED_KEY: True}
            if verify not in (True, None):
                ca_bundle_config(self._tlsback, verify)  # requests' error for a missing path, now
                return host_params, {CA_PATH_KEY: os.fspath(verify)}
            return host_params, {}

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
            "do not pass cert= (it would be loaded into the shared context per connection); "
            "for another certificate use tlsback.load(client_cert=PATH)"
        )
    if verify not in (True, False, None) and not isinstance(verify, (str, os.PathLike)):
        raise ValueError(
            f"tlsback's requests adapter takes verify=True, False or a CA bundle path, not {verify!r}"
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
        in ``verify=`` is the only trust for that request; ``cert=`` raises ``ValueError``
        (see the module docstring).
    """
    classes = _build_classes()
    session: requests.Session = classes["session"]()
    adapter = classes["adapter"](resolve(cfg))
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session
