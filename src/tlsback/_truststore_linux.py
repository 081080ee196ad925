"""The ``native`` backend where the OS verifier is OpenSSL (Linux, BSD): store loaded once.

What truststore 0.10 does on Linux (``truststore/_api.py``, ``truststore/_openssl.py``):

* ``truststore.SSLContext`` wraps a plain ``ssl.SSLContext(PROTOCOL_TLS_CLIENT)``; verification is
  OpenSSL's own (``CERT_REQUIRED``, ``check_hostname``): its ``_verify_peercerts_impl`` is a no-op.
* The trust store is the system's: if OpenSSL's default CA file exists, or its default CA
  directory holds hash-named certificates, ``set_default_verify_paths()``; otherwise the first
  existing file of a list of well-known bundles (Alpine/Arch/Fedora/RHEL/Debian/SUSE paths).
* But it does that inside ``wrap_socket``/``wrap_bio``, for *every* connection, under a
  per-context ``RLock`` that is also held through the handshake. Re-reading the ~150 roots of
  ``/etc/ssl/certs/ca-certificates.crt`` costs ~22 ms per connection on this machine (OpenSSL 3.0
  parses and inserts each one again), and concurrent handshakes on one context run one at a time.

:func:`native_context` keeps those semantics (same context type and defaults, same store
decision, same hostname checking) but loads the store once, when the context is built, into a
plain ``ssl.SSLContext`` that OpenSSL shares safely between threads. The CA directory is given
to OpenSSL as ``capath`` and read lazily, per issuer, as before.

One deliberate difference: OpenSSL's *compiled-in* default paths are used, never the
``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` variables that ``set_default_verify_paths()`` would read from
the process environment behind tlsback's back. Those variables are tlsback's custom
certificates (docs/sources.md, "`SSL_CERT_FILE`" and "`SSL_CERT_DIR`"): the backend loads them
alongside, with tlsback's parsing and warnings, from the environment ``tlsback.load(env=...)``
was given.

macOS and Windows keep ``truststore.SSLContext`` (the OS verifier); :func:`applies` says which.
"""

from __future__ import annotations

import logging
import os
import platform
import re
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["SystemStore", "applies", "find_system_store", "native_context"]

logger = logging.getLogger(__name__)

# truststore's list (from certifi-system-store), used when its module cannot be imported: the
# bundles tried, in order, when OpenSSL's defaults give nothing.
_FALLBACK_CA_FILE_CANDIDATES = (
    "/etc/ssl/cert.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/pki/tls/cert.pem",
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/ssl/ca-bundle.pem",
)
_HASHED_NAME_RE = re.compile(r"^[0-9a-fA-F]{8}\.[0-9]$")


def applies() -> bool:
    """Whether the native backend should use :func:`native_context` on this platform.

    Returns:
        False on macOS and Windows (truststore's OS verifiers), True elsewhere (OpenSSL is the
        verifier, as in truststore's ``_openssl`` module).
    """
    return platform.system() not in ("Darwin", "Windows")


@dataclass(frozen=True)
class SystemStore:
    """Where the system's trust anchors are, as truststore would find them.

    Attributes:
        cafile: a PEM bundle loaded eagerly, or None.
        capath: a hash-named directory OpenSSL reads lazily, or None.
        how: ``openssl-defaults``, ``candidate`` (a well-known bundle), ``explicit`` (given by
            the caller) or ``none`` (nothing found: only the custom certificates will verify).
    """

    cafile: str | None
    capath: str | None
    how: str

    def describe(self) -> dict[str, Any]:
        """JSON-ready, for ``tlsback info``."""
        return {"cafile": self.cafile, "capath": self.capath, "how": self.how}


def _candidates() -> Sequence[str]:
    try:
        from truststore import _openssl  # same list as the truststore installed beside us

        found = getattr(_openssl, "_CA_FILE_CANDIDATES", None)
        if found:
            return tuple(found)
    except ImportError:  # pragma: no cover - truststore is a dependency
        pass
    return _FALLBACK_CA_FILE_CANDIDATES


def _capath_contains_certs(capath: str) -> bool:
    try:
        return any(_HASHED_NAME_RE.match(name) for name in os.listdir(capath))
    except OSError:
        return False


def find_system_store(paths: Sequence[str] | None = None) -> SystemStore:
    """Decide what the system store is, as truststore does on Linux, without the environment.

    Args:
        paths: explicit locations instead of the probe (tests, ``TLSBACK_PLATFORM_STORE``):
            the first existing file is the ``cafile``, the first directory with hash-named
            certificates the ``capath``.

    Returns:
        The :class:`SystemStore`; nothing is loaded yet.
    """
    if paths is not None:
        cafile = next((p for p in paths if os.path.isfile(p)), None)
        capath = next((p for p in paths if os.path.isdir(p) and _capath_contains_certs(p)), None)
        return SystemStore(cafile, capath, "explicit" if cafile or capath else "none")
    defaults = ssl.get_default_verify_paths()
    # The compiled-in paths (openssl_cafile/openssl_capath), not .cafile/.capath, which come
    # from SSL_CERT_FILE/SSL_CERT_DIR when those are set (see the module docstring).
    cafile = defaults.openssl_cafile if os.path.isfile(defaults.openssl_cafile) else None
    capath = defaults.openssl_capath if os.path.isdir(defaults.openssl_capath) else None
    if cafile or (capath and _capath_contains_certs(capath)):
        return SystemStore(cafile, capath, "openssl-defaults")
    for candidate in _candidates():
        if os.path.isfile(candidate):
            return SystemStore(candidate, None, "candidate")
    return SystemStore(None, None, "none")


def native_context(
    verify: bool, *, store: SystemStore | None = None, paths: Sequence[str] | None = None,
) -> ssl.SSLContext:
    """A client context with truststore's Linux semantics and the system store loaded once.

    Args:
        verify: True for the verifying context (system store loaded, ``CERT_REQUIRED``,
            hostname checked); False for the insecure-host context (``CERT_NONE``, no hostname
            check, no store loaded: there is nothing to verify against).
        store: a store from :func:`find_system_store` (probed now when omitted).
        paths: passed to :func:`find_system_store` when ``store`` is omitted.

    Returns:
        A plain ``ssl.SSLContext(PROTOCOL_TLS_CLIENT)``, what ``truststore.SSLContext`` wraps.
        The caller adds TLS limits, custom certificates and the client certificate.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED + check_hostname, as truststore
    if not verify:
        ctx.check_hostname = False  # must come before CERT_NONE (ssl refuses the other order)
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    if store is None:
        store = find_system_store(paths)
    t0 = time.perf_counter()
    if store.cafile or store.capath:
        # Once per context; truststore repeats this on every wrap_socket()/wrap_bio().
        ctx.load_verify_locations(cafile=store.cafile, capath=store.capath)
    logger.debug(
        "native store: cafile=%s capath=%s (%s) loaded in %.1f ms",
        store.cafile, store.capath, store.how, (time.perf_counter() - t0) * 1000,
    )
    if store.how == "none":
        logger.warning(
            "no system CA certificates found (OpenSSL's default paths and the usual bundles are "
            "missing); only the custom certificates will be trusted"
        )
    return ctx
