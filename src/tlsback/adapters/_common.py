"""What every adapter needs: the configuration, origins as URLs, refused keywords."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..config import TLSConfig

__all__ = ["origin_url", "refuse", "resolve"]

log = logging.getLogger("tlsback.adapters")

_DEFAULT_PORTS = {"http": 80, "https": 443}


def resolve(cfg: TLSConfig | None) -> TLSConfig:
    """``cfg``, or the process-wide :func:`tlsback.default_config` when None."""
    if cfg is not None:
        return cfg
    from ..config import default_config

    return default_config()


def origin_url(scheme: str, host: str, port: int | None) -> str:
    """``scheme://host[:port]/`` for an origin, in log lines.

    Clients hand connection pools host names without brackets (``::1``) or with them
    (``[::1]``); both give a well-formed URL.
    """
    scheme = scheme.lower()
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    if port is None or port == _DEFAULT_PORTS.get(scheme):
        return f"{scheme}://{host}/"
    return f"{scheme}://{host}:{port}/"


def refuse(kwargs: Mapping[str, object], names: Iterable[str], client: str) -> None:
    """Raise TypeError if ``kwargs`` holds a TLS keyword the adapter owns.

    Raises:
        TypeError: naming the keyword and where TLS settings come from instead.
    """
    given = sorted(n for n in names if n in kwargs)
    if given:
        raise TypeError(
            f"tlsback's {client} adapter sets TLS itself; do not pass {', '.join(given)}. "
            "Trust comes from the tlsback configuration (SSL_CERT_FILE, SSL_CERT_DIR, "
            "SSL_CLIENT_CERT, --native-tls, --allow-insecure-host); pass another TLSConfig "
            "as cfg= for different settings"
        )
