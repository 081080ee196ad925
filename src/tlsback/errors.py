"""The exceptions tlsback raises.

::

    Exception
     └── TlsbackError                       every error tlsback raises on purpose
          ├── ConfigError (ValueError)       a bad flag, variable or config file value
          ├── BackendError (LookupError)     an unknown backend, or one that cannot load
          ├── ExtensionError (ImportError)   the native extension was required but is missing/stale
          └── ClientCertError (ValueError)   SSL_CLIENT_CERT holds a key that does not match

Handshake failures are not in this tree: they stay ``ssl.SSLCertVerificationError``
(or ``ssl.SSLError``) so that every HTTP client handles them as it already does.
"""

from __future__ import annotations

__all__ = [
    "BackendError",
    "ClientCertError",
    "ConfigError",
    "ExtensionError",
    "TlsbackError",
]


class TlsbackError(Exception):
    """Base class of the errors tlsback raises on purpose."""


class ConfigError(TlsbackError, ValueError):
    """A configuration value (flag, environment variable, config file) is invalid.

    The message names where the value came from and the value itself.
    """


class BackendError(TlsbackError, LookupError):
    """A backend is unknown, or its plugin failed to load."""


class ExtensionError(TlsbackError, ImportError):
    """The native extension was required (``TLSBACK_REQUIRE_EXTENSIONS=1``) but cannot be used."""


class ClientCertError(TlsbackError, ValueError):
    """The client certificate and private key in ``SSL_CLIENT_CERT`` do not belong together."""
