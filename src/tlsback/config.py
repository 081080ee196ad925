"""``TLSConfig``: resolved settings turned into shared ``ssl.SSLContext`` objects."""

from __future__ import annotations

import os
import ssl
import sys
import time
from _thread import RLock  # not threading: its import costs start-up time (docs/cache.md)
from _thread import allocate_lock as Lock

from . import _log
from ._scantypes import shown
from ._version import __version__
from .errors import ConfigError
from .settings import Settings, resolve, with_paths

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs milliseconds at start-up
if TYPE_CHECKING:
    import argparse
    from collections.abc import Iterable, Mapping
    from typing import Any

    from .clientcert import ClientCert
    from .insecure import InsecureHosts
    from .loader import StoreOptions, TrustStore
    from .registry import Backend

__all__ = ["TLSConfig", "default_config", "load"]

log = _log.getLogger(__name__)


class TLSConfig:
    """The TLS configuration of a program: settings, trust store and contexts, each built once.

    Everything expensive (loading the store, building contexts) happens on first use and is
    shared afterwards, by every thread. The verifying context is never changed after it is
    built; insecure hosts get a separate context.
    """

    def __init__(self, settings: Settings) -> None:
        """Wrap resolved settings; use :func:`load` rather than calling this directly."""
        self.settings = settings
        self._lock = RLock()
        self._backend: Backend | None = None
        self._store: TrustStore | None = None
        self._context: ssl.SSLContext | None = None
        self._insecure_context: ssl.SSLContext | None = None
        self._client_cert: tuple[ClientCert | None, list[Any]] | None = None
        self._insecure_hosts: InsecureHosts | None = None
        self._timings: dict[str, float] = {}

    @property
    def insecure_hosts(self) -> InsecureHosts:
        """The allowed insecure hosts (docs/insecure-hosts.md), matched as the clients match."""
        if self._insecure_hosts is None:
            from .insecure import InsecureHosts  # only when asked: most programs have none

            self._insecure_hosts = InsecureHosts(self.settings.insecure_hosts.value)
        return self._insecure_hosts

    def __repr__(self) -> str:
        return f"<TLSConfig backend={self.backend_name!r} ({self.settings.backend.origin})>"

    @property
    def backend_name(self) -> str:
        """The selected backend's name."""
        return self.settings.backend.value

    @property
    def backend(self) -> Backend:
        """The selected backend, loaded on first use.

        Raises:
            BackendError: the backend is unknown or cannot be loaded.
        """
        with self._lock:
            if self._backend is None:
                from .backends import BUILTINS, load_builtin

                if self.backend_name in BUILTINS:
                    # A plugin can never take a built-in's name: no entry-point scan.
                    self._backend = load_builtin(self.backend_name)
                else:
                    from . import registry

                    self._backend = registry.get_backend(self.backend_name)
                log.debug("backend %s chosen (%s)", self.backend_name, self.settings.backend.origin)
            return self._backend

    @property
    def store(self) -> TrustStore:
        """The trust anchors tlsback loads for the backend, loaded once."""
        with self._lock:
            if self._store is None:
                s = self.settings
                custom = bool(s.cert_file.value or s.cert_dirs.value)
                if s.custom_certs.value == "only" and custom and not self.backend.uses_platform_store:
                    raise ConfigError(
                        f"custom-certs = only ({s.custom_certs.origin}) cannot be honoured by the "
                        f"{self.backend_name!r} backend, which always trusts the operating system's "
                        "store; use the rustls backend or the merge mode"
                    )
                from .loader import load_trust_store

                t0 = time.perf_counter()
                self._store = load_trust_store(
                    cert_file=s.cert_file.value,
                    cert_dirs=s.cert_dirs.value,
                    include_platform=self.backend.uses_platform_store,
                    mode=s.custom_certs.value,
                    platform_paths=s.platform_paths.value,
                    scanner=s.scanner.value,
                    options=self._store_options(),
                )
                self._timings["store_s"] = time.perf_counter() - t0
            return self._store

    def _store_options(self) -> StoreOptions:
        """Lazy store and trust cache settings (docs/cache.md)."""
        from .loader import StoreOptions

        s = self.settings
        # A capath is read only by OpenSSL's own verifier. The rustls backend verifies with it
        # (plugins that use the platform store get what it gets). The native backend's custom
        # certificates stay eager: truststore's macOS/Windows verifiers see only certificates
        # already in the context (get_ca_certs), and custom stores are usually small.
        lazy_ok = self.backend.uses_platform_store
        cache_reason = "" if s.cache.value else (
            "--no-cache" if s.cache.origin == "cli" else f"cache off ({s.cache.origin})")
        return StoreOptions(store=s.store.value, cache=s.cache.value, cache_reason=cache_reason,
                            cache_dir=s.cache_dir.value, lazy_ok=lazy_ok, cache_env=s.cache_env.value)

    def _client(self) -> ClientCert | None:
        path = self.settings.client_cert.value
        if path is None:
            return None
        if self._client_cert is None:
            from .clientcert import load_client_cert

            cert, problems = load_client_cert(path, self.settings.cache_env.value.get("XDG_RUNTIME_DIR"))
            for problem in problems:
                log.warning("Invalid `SSL_CLIENT_CERT`. %s: %s. Continuing without a client certificate.",
                            problem.message, shown(problem.path))
            self._client_cert = (cert, problems)
        return self._client_cert[0]

    def _build(self, verify: bool) -> ssl.SSLContext:
        t0 = time.perf_counter()
        # The insecure context verifies nothing: it gets an empty store, and the real one is
        # not loaded for it (a program that only talks to insecure hosts never loads it).
        if verify:
            store = self.store
        else:
            from .loader import TrustStore

            store = TrustStore(cache={"state": "eager", "path": None, "reason": "insecure context"})
        ctx = self.backend.create_context(store, verify=verify)
        # Offer HTTP/1.1 by ALPN: rustls clients always offer ALPN (docs/verification.md, "The
        # `rustls` backend"). Set here, once, on the shared context: clients that want h2 set their
        # own list per connection.
        ctx.set_alpn_protocols(["http/1.1"])
        client = self._client()
        if client is not None:
            client.apply(ctx)
        self._timings["context_s" if verify else "insecure_context_s"] = time.perf_counter() - t0
        return ctx

    @property
    def context(self) -> ssl.SSLContext:
        """The verifying context, built once and shared."""
        with self._lock:
            if self._context is None:
                self._context = self._build(verify=True)
            return self._context

    @property
    def insecure_context(self) -> ssl.SSLContext:
        """The context for allowed insecure hosts: no certificate or hostname checks.

        TLS versions, ciphers, SNI and the client certificate are the same as the verifying
        context's. It is a separate object; the verifying context is never changed.
        """
        with self._lock:
            if self._insecure_context is None:
                self._insecure_context = self._build(verify=False)
            return self._insecure_context

    def is_insecure(self, url: str) -> bool:
        """Whether ``url`` matches an allowed insecure host (docs/insecure-hosts.md).

        The host is the one every URL parser agrees on (:func:`tlsback.insecure.url_origin`);
        a URL read differently by RFC 3986 and by the WHATWG URL standard never matches.
        """
        # No rules: decided without importing the matcher (the warm path).
        return bool(self.settings.insecure_hosts.value) and self.insecure_hosts.matches(url)

    def context_for(self, url: str) -> ssl.SSLContext:
        """The context to use for ``url``: the insecure one for allowed hosts, else :attr:`context`.

        The decision is made on the host the HTTP client will connect to, read from ``url`` by
        both RFC 3986 (``urllib.parse``) and the WHATWG URL standard (urllib3, httpx, yarl), in
        the form the clients send it (lower case, IDNA). Wherever those readings differ (a
        backslash or whitespace in the authority, several ``@``, a percent-encoded host, an
        IPv4 address written as ``127.1`` or ``0x7f.1``, an IPv6 zone, a name the clients
        encode differently), or ``url`` cannot be parsed, the verifying context is returned.

        Args:
            url: the absolute URL of the request (or redirect hop).

        Returns:
            :attr:`insecure_context` when an ``allow-insecure-host`` rule matches, else
            :attr:`context`.
        """
        return self.insecure_context if self.is_insecure(url) else self.context

    def _source_dict(self, report: Any) -> dict[str, Any]:
        # The custom sources' origin is the setting's: a path given to load() is not env:...
        d: dict[str, Any] = report.as_dict()
        if d["kind"] == "SSL_CERT_FILE":
            d["origin"] = self.settings.cert_file.origin
        elif d["kind"] == "SSL_CERT_DIR":
            d["origin"] = self.settings.cert_dirs.origin
        return d

    def context_for_origin(self, scheme: str, host: str, port: int | None) -> ssl.SSLContext:
        """Like :meth:`context_for`, for an origin an HTTP client has already parsed.

        Adapters call this with the scheme, host and port the client connects to, so the
        decision is made on exactly that host, by the same matcher as :meth:`context_for`.

        Args:
            scheme: ``https`` (or ``wss``, ...).
            host: the host the client connects to, as it will send it: ASCII (IDNA-encoded;
                a non-ASCII host is never insecure), IPv6 with or without brackets.
            port: the port, or None for the scheme's default.

        Returns:
            :attr:`insecure_context` when a rule matches, else :attr:`context`.
        """
        if self.settings.insecure_hosts.value and self.insecure_hosts.matches_origin(
                scheme, host, port):
            return self.insecure_context
        return self.context

    def diagnostics(self) -> dict[str, Any]:
        """Everything ``tlsback info --json`` prints: what is trusted, and why.

        Builds the verifying context if it was not built yet, so its cost is measured.
        """
        from . import registry
        from .loader import installed_scanner

        entries = registry.discover()
        entry = entries.get(self.backend_name)
        store = self.store
        self.context  # noqa: B018 - built for its timing
        client = self._client()
        client_problems = self._client_cert[1] if self._client_cert else []
        warnings = [str(p) for p in store.problems] + [f"SSL_CLIENT_CERT {p}" for p in client_problems]
        return {
            "tlsback": __version__,
            "python": sys.version.split()[0],
            "openssl": ssl.OPENSSL_VERSION,
            "backend": {
                "name": self.backend_name,
                "origin": self.settings.backend.origin,
                "description": self.backend.description,
                "distribution": entry.distribution if entry else None,
            },
            "settings": self.settings.as_dict(),
            "config_files": list(self.settings.config_files),
            "loader": {
                "implementation": store.implementation,
                "reason": store.implementation_reason,
                "installed": installed_scanner(self.settings.scanner.value),
            },
            "store": {
                "certificates": store.count,
                "duplicates": store.duplicates,
                "mode": store.mode,
                "platform_store": self.backend.uses_platform_store,
                "platform_fallback": store.platform_fallback,
            },
            "cache": dict(store.cache, store=self.settings.store.value,
                          store_origin=self.settings.store.origin),
            "sources": [self._source_dict(r) for r in store.sources],
            "insecure_hosts": self.insecure_hosts.describe(),
            "insecure_warning": self.insecure_hosts.warning(),
            "client_cert": client.describe() if client is not None else None,
            "timings": {**store.timings, **self._timings},
            "warnings": warnings,
        }


def load(
    args: argparse.Namespace | None = None,
    *,
    native_tls: bool | None = None,
    backend: str | None = None,
    allow_insecure_host: Iterable[object] = (),
    no_cache: bool | None = None,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    cert_file: str | os.PathLike[str] | None = None,
    cert_dirs: Iterable[str | os.PathLike[str]] | None = None,
    client_cert: str | os.PathLike[str] | None = None,
) -> TLSConfig:
    """Resolve the TLS configuration once, from flags, environment and config files.

    Args:
        args: a namespace from a parser given :func:`tlsback.add_arguments`.
        native_tls: True for the ``native`` backend, False for ``rustls``.
        backend: a backend name; overrides ``native_tls``.
        allow_insecure_host: hosts to connect to without verification (the spellings of
            docs/insecure-hosts.md, "Spellings").
        no_cache: True disables the on-disk trust cache.
        env: the environment; defaults to ``os.environ``.
        cwd: where config files are searched from; defaults to the working directory.
        cert_file: a CA file, in place of ``SSL_CERT_FILE`` (a host program's ``--cert``);
            origin ``argument:cert_file``.
        cert_dirs: CA directories, in place of ``SSL_CERT_DIR``; origin ``argument:cert_dirs``.
        client_cert: a client certificate file, in place of ``SSL_CLIENT_CERT`` (a host
            program's ``--client-cert``); origin ``argument:client_cert``.

    Returns:
        A :class:`TLSConfig`; contexts are built on first use.

    Raises:
        ConfigError: a bad flag, variable or config value.
    """
    settings = resolve(
        args, native_tls=native_tls, backend=backend, allow_insecure_host=allow_insecure_host,
        no_cache=no_cache, env=env, cwd=cwd,
    )
    settings = with_paths(settings, cert_file=cert_file, cert_dirs=cert_dirs, client_cert=client_cert)
    return TLSConfig(settings)


_default_lock = Lock()
_default: list[TLSConfig] = []


def default_config() -> TLSConfig:
    """The process-wide configuration from ``os.environ``, resolved on first use.

    Adapters called without ``cfg`` share it, so the store is loaded once per process.
    """
    with _default_lock:
        if not _default:
            _default.append(load())
        return _default[0]
