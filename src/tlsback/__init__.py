"""tlsback: uv's TLS trust configuration for Python programs.

``tlsback.load()`` resolves the backend, custom certificates, client certificate and insecure
hosts from flags, environment and config files, and gives real ``ssl.SSLContext`` objects that
every Python HTTP client accepts.

Importing tlsback reads no file and no variable, and imports nothing but this file, the version
and the exception classes: programs that embed tlsback (installers) start fast. The rest is
imported on first use (PEP 562).
"""

from __future__ import annotations

from ._version import __version__
from .errors import BackendError, ClientCertError, ConfigError, ExtensionError, TlsbackError

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs ~7 ms at start-up
if TYPE_CHECKING:
    import ssl
    from typing import Any

    from ._export import where
    from .config import TLSConfig, default_config, load
    from .inject import extract_from_ssl, inject_into_ssl
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
    "extract_from_ssl",
    "inject_into_ssl",
    "load",
    "where",
]

_LAZY = {
    "TLSConfig": "config",
    "default_config": "config",
    "load": "config",
    "add_arguments": "settings",
    "inject_into_ssl": "inject",
    "extract_from_ssl": "inject",
    "where": "_export",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        value = getattr(import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def create_default_context(**kwargs: Any) -> ssl.SSLContext:
    """Return the verifying context for the resolved settings: ``tlsback.load(**kwargs).context``.

    Args:
        **kwargs: the keywords of :func:`tlsback.load`.

    Raises:
        ConfigError: a bad flag, variable or config value.
        BackendError: the selected backend cannot be loaded.
    """
    from .config import load

    return load(**kwargs).context
