"""tlsback: uv's TLS trust configuration for Python programs.

``tlsback.load()`` resolves the backend, custom certificates, client certificate and insecure
hosts from flags, environment and config files, and gives real ``ssl.SSLContext`` objects that
every Python HTTP client accepts. Importing tlsback reads no file and no variable.
"""

from __future__ import annotations

import ssl
from typing import Any

from ._version import __version__
from .config import TLSConfig, default_config, load
from .errors import BackendError, ClientCertError, ConfigError, ExtensionError, TlsbackError
from .settings import add_arguments

__all__ = [
    "BackendError",
    "ClientCertError",
    "ConfigError",
    "ExtensionError",
    "TLSConfig",
    "TlsbackError",
    "__version__",
    "add_arguments",
    "create_default_context",
    "default_config",
    "load",
]


def create_default_context(**kwargs: Any) -> ssl.SSLContext:
    """Return the verifying context for the resolved settings: ``tlsback.load(**kwargs).context``.

    Args:
        **kwargs: the keywords of :func:`tlsback.load`.

    Raises:
        ConfigError: a bad flag, variable or config value.
        BackendError: the selected backend cannot be loaded.
    """
    return load(**kwargs).context
