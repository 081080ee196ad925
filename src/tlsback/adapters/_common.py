"""What every adapter needs: the configuration, origins as URLs, refused keywords."""

from __future__ import annotations

import logging
import os
import stat
import threading
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..config import TLSConfig

__all__ = ["ca_bundle_config", "origin_url", "refuse", "resolve"]

log = logging.getLogger("tlsback.adapters")


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
    from ..insecure import _DEFAULT_PORTS  # the matcher's table: one notion of "default port"

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


_ca_lock = threading.Lock()


def ca_bundle_config(cfg: TLSConfig, path: str | os.PathLike[str]) -> TLSConfig:
    """The configuration for a request that names its own CA bundle (requests' ``verify=path``).

    As in requests, the bundle (a file, or a directory of certificates) is then the only trust:
    ``cfg``'s settings with that path as the custom certificates in ``only`` mode, and the
    rustls backend where ``cfg``'s backend trusts the operating system's store regardless. Insecure
    hosts and the client certificate stay ``cfg``'s. Built once per path and ``cfg``, so nothing
    is loaded per connection.

    Raises:
        OSError: the path does not exist (requests' own message).
    """
    from ..config import TLSConfig
    from ..settings import Setting, replaced

    given = os.fspath(path)
    try:
        st = os.stat(given)
    except OSError:
        raise OSError(f"Could not find a suitable TLS CA certificate bundle, invalid path: {given}") from None
    # The configuration is kept per file as it is now: by its real path (a relative path after a
    # chdir names another file) and its identity (a replaced or edited bundle is loaded again,
    # never trusted as it was).
    # One configuration per real path: the one for the file's older content is dropped.
    real = os.path.realpath(given)
    identity = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    with _ca_lock:
        configs: dict[str, tuple[tuple[int, ...], TLSConfig]] = cfg.__dict__.setdefault("_tlsback_ca_configs", {})
        kept = configs.get(real)
        found = kept[1] if kept is not None and kept[0] == identity else None
        if found is None:
            origin = "argument:verify"
            is_dir = stat.S_ISDIR(st.st_mode)
            s = replaced(
                cfg.settings,
                custom_certs=Setting("only", origin),
                cert_file=Setting(None if is_dir else real, origin),
                cert_dirs=Setting((real,) if is_dir else (), origin),
            )
            if not cfg.backend.uses_platform_store:
                s = replaced(s, backend=Setting("rustls", origin))
            found = TLSConfig(s)
            configs[real] = (identity, found)
        return found
