"""The effective trust store as files other programs read: ``where()`` and the client certificate.

``tlsback.where()`` is ``certifi.where()`` for tlsback's configuration: the path of a PEM bundle
holding exactly the certificates the verifying context trusts. It lives in the private trust
cache root (``docs/cache.md``: 0700, owned by the user, checked before every use), is named after
the store's cache key (every source file's identity) or, when the store has no key, after the
SHA-256 of its certificates, and is written atomically. Each call re-lists the sources (a warm
call only stats them), so an edit of ``SSL_CERT_DIR`` gives a new file on the next call: the
path is never stale. Bundles unused for a week are removed.

What can be exported depends on the backend (docs/run.md):

* ``rustls`` and plugins that use the platform store: everything they trust.
* ``native``: the OS verifier is not a list of certificates. The bundle holds what tlsback
  reads of the platform store (on Linux/BSD the system bundle and certificate directories, the
  files OpenSSL's default paths name; on Windows the ``ROOT``/``CA`` stores; on macOS the
  system keychain export) plus the custom certificates. On macOS and Windows the OS verifier can
  decide otherwise (per-certificate trust settings, policies, intermediates fetched on demand):
  :func:`export_note` says so.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import ssl
import stat
import sys
import tempfile
import time
from typing import TYPE_CHECKING

from .errors import TlsbackError

if TYPE_CHECKING:
    from .config import TLSConfig
    from .loader import TrustStore

__all__ = ["bundle_store", "client_cert_file", "export_note", "pem_bytes", "where", "write_private"]

log = logging.getLogger(__name__)

# Files unused (no where() call for the same store) this long are removed. The cache root is
# usually the runtime directory, emptied at logout anyway (docs/run.md).
_MAX_AGE_S = 7 * 24 * 3600.0


def bundle_store(cfg: TLSConfig) -> TrustStore:
    """The store to export for ``cfg``, re-read from the sources now (a warm read only stats).

    For a backend that consults the OS store itself (``native``), the platform store as tlsback
    reads it is included, so the bundle is what a program without that verifier needs.
    """
    from .config import TLSConfig
    from .settings import Setting, replaced

    settings = cfg.settings
    if not cfg.backend.uses_platform_store:
        settings = replaced(settings, backend=Setting("rustls", f"export of {cfg.backend_name}"))
    return TLSConfig(settings).store


def export_note(cfg: TLSConfig) -> str | None:
    """What the exported bundle cannot capture for ``cfg``'s backend, in words; None if nothing."""
    if cfg.backend.uses_platform_store:
        return None
    if sys.platform in ("win32", "darwin"):
        return (f"the {cfg.backend_name} backend verifies with the operating system, whose decisions "
                "(trust settings, policies, intermediates fetched on demand) no bundle can hold; the "
                "bundle holds the roots the system lists plus the custom certificates")
    return (f"the {cfg.backend_name} backend verifies with the system store; the bundle holds that "
            "store as read from its files plus the custom certificates")


def pem_bytes(certs: list[bytes]) -> bytes:
    """Certificates as one PEM bundle (RFC 7468 text, the stdlib encoder)."""
    return "".join(ssl.DER_cert_to_PEM_cert(der) for der in certs).encode("ascii")


def _root(cfg: TLSConfig) -> str:
    from . import cache

    try:
        return cache.resolve_root(cfg.settings.cache_dir.value, cfg.settings.cache_env.value).path
    except OSError as exc:
        raise TlsbackError(f"no private directory for the exported bundle: {exc}; set "
                           "TLSBACK_CACHE_DIR to a directory of yours") from None


def _usable(path: str) -> bool:
    """An existing file of ours that nobody else can have written (the root is private too);
    its use recorded for pruning (``cache.mark_used``: not on every call, which would change its
    identity, and with it the cache key of every process it is exported to)."""
    from .cache import mark_used

    try:
        st = os.lstat(path)
    except OSError:
        return False
    uid = os.geteuid() if hasattr(os, "geteuid") else None
    if not (stat.S_ISREG(st.st_mode) and (uid is None or st.st_uid == uid) and not st.st_mode & 0o022):
        return False
    mark_used(path, st.st_mtime)
    return True


def _holds(path: str, data: bytes) -> bool:
    """Whether the file at ``path`` (not a link) holds exactly ``data``."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return False
    with os.fdopen(fd, "rb") as f:
        return os.fstat(fd).st_size == len(data) and f.read(len(data) + 1) == data


def write_private(directory: str, name: str, data: bytes) -> str:
    """``directory/name`` holding ``data`` (mode 0600), kept if it already does; return its path.

    ``directory`` is private (0700, the user's). A new file is written under an unpredictable
    temporary name (``mkstemp``: ``O_EXCL``, mode 0600, so nothing planted ahead can be
    followed or reused) and renamed into place atomically: a reader sees the old file or the
    new one, never half of one. Other files of ours named like the bundles, unused for a
    week, are pruned after a write.
    """
    path = os.path.join(directory, name)
    if _usable(path) and _holds(path, data):
        return path
    fd, tmp = tempfile.mkstemp(prefix=".tmp-export-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _prune(directory, name)
    return path


def _prune(root: str, keep: str) -> None:
    now = time.time()
    try:
        names = os.listdir(root)
    except OSError:
        return
    for name in names:
        if name == keep or not name.startswith(("bundle-", "client-")) or not name.endswith(".pem"):
            continue
        path = os.path.join(root, name)
        with contextlib.suppress(OSError):
            if now - os.lstat(path).st_mtime > _MAX_AGE_S:
                os.unlink(path)


def where(cfg: TLSConfig | None = None) -> str:
    """The path of a PEM file holding the effective trust store, like ``certifi.where()``.

    The sources are re-listed on every call, so the file always matches them: a changed
    ``SSL_CERT_DIR`` gives a new path. With ``cfg=None`` the configuration is resolved from
    the environment now (not the process-wide default, which is resolved once).

    Args:
        cfg: the configuration; None resolves it from ``os.environ`` and the working directory.

    Returns:
        An absolute path in the private trust cache root.

    Raises:
        ConfigError: a bad flag, variable or config value.
        TlsbackError: no private directory can be used for the file.
    """
    if cfg is None:
        from .config import load

        cfg = load()
    store = bundle_store(cfg)
    root = _root(cfg)
    key = store.cache.get("key")
    if key:
        # The key names every source file's identity: an existing file is current, and a warm
        # call reads no certificate.
        path = os.path.join(root, f"bundle-{key}.pem")
        if _usable(path):
            return path
    data = pem_bytes(store.certs)
    tag = key if key else hashlib.sha256(data).hexdigest()[:32]
    path = write_private(root, f"bundle-{tag}.pem", data)
    log.debug("where(): %d certificates in %s", store.count, path)
    return path


def client_cert_file(cfg: TLSConfig) -> str | None:
    """A private copy of the client certificate in the form every TLS library reads, or None.

    ``SSL_CLIENT_CERT`` may hold its key before the certificate, several keys (the last one
    wins) or a chain in any order; pip, curl and git read the first key and the first
    certificate of a file. The copy holds the chain (leaf first) then the selected key, mode
    0600 in the private cache root. None when no usable client certificate is configured (the
    warning was logged).

    Raises:
        ClientCertError: the key does not match the certificate.
    """
    client = cfg._client()
    if client is None:
        return None
    # Applying it to a scratch context checks that the key matches (without loading the store).
    client.apply(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))
    data = client.pem()
    return write_private(_root(cfg), f"client-{hashlib.sha256(data).hexdigest()[:32]}.pem", data)
