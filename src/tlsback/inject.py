"""``inject_into_ssl()``: every HTTP client in the process uses tlsback's configuration.

What it replaces, and why each (docs/inject.md has the full account):

* ``ssl.create_default_context`` and ``ssl._create_default_https_context`` (``http.client``,
  urllib's default opener, httpx, aiohttp, asyncio): a new context from the selected backend
  with tlsback's trust store, policy and client certificate. A context per call, never the
  shared one, because callers change what they get (ALPN, ``post_handshake_auth``, their own
  client certificate). The store itself is loaded once: a context costs a ``capath``
  registration (lazy store) and the client certificate's ``load_cert_chain``.
* the ``SSLContext`` class urllib3 and truststore build contexts from (and so requests and
  pip's vendored copies; ``ssl.SSLContext`` itself stays, see :class:`_ImportHook`): a subclass whose
  ``load_default_certs()`` / ``set_default_verify_paths()`` load tlsback's store, policy and
  client certificate instead of OpenSSL's default paths, and whose ``load_verify_locations``
  treats certifi's bundle (what requests, httpx and pip pass for "the default") and
  :func:`tlsback.where`'s bundles as that same request. Other CA files a caller names are loaded
  as asked (pip ``--cert``, requests ``verify=path``).
* Objects made at import: requests' ``_preloaded_ssl_context`` and aiohttp's default
  verified context, in their own and pip's vendored copies, whether imported before the call
  or after (an import hook patches them as they load); ``urllib.request``'s installed default
  opener is dropped so the next ``urlopen()`` builds a new one.

Per-host insecure rules (``allow-insecure-host``): a client's own per-host switch still works
(requests ``verify=False``, pip ``--trusted-host``). Contexts made by the injection decide per
connection, and a rule applies only where the connection shows what the rule names (it names
HTTPS URLs): the scheme (the connection offers HTTP, and nothing else, in ALPN), the host (the
name connected to) and, for a rule with a port, the port (the peer of a socket connected
straight to that host; unknown through a proxy or without a socket). Anything else stays
verified (:func:`_route`; docs/inject.md). tlsback's adapters decide on the full URL.

Thread-safe (one lock around the swap), idempotent (a second call only changes the
configuration), reversible (:func:`extract_from_ssl` restores every replaced object it still
finds in place).
"""

from __future__ import annotations

import os
import ssl
import sys
from _thread import RLock

from . import _log

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs milliseconds at start-up
if TYPE_CHECKING:
    from typing import Any

    from .config import TLSConfig

__all__ = ["extract_from_ssl", "inject_into_ssl", "injected"]

log = _log.getLogger(__name__)

# _thread, not threading, and tlsback's lazy logger, not logging: `tlsback run` injects at the
# start of every Python program, which pays for each import (docs/run.md).
_lock = RLock()
_original_SSLContext = ssl.SSLContext
_original_create_default_context = ssl.create_default_context
_original_https_context = ssl._create_default_https_context


class _State:
    cfg: TLSConfig | None = None
    client_file: str | None = None
    host_rules: Any = None
    port_rules = False  # whether a host rule names a port (only then is a socket's peer looked at)
    export_root: str | None | bool = False  # False: not looked up yet
    warned: set[str]  # hosts already looked at by _not_applied
    # (module, attribute, original value, our value): restored only if ours is still there.
    patches: list[tuple[Any, str, Any, Any]]

    def __init__(self) -> None:
        self.patches = []
        self.warned = set()


_state = _State()


def injected() -> TLSConfig | None:
    """The configuration currently injected, or None."""
    return _state.cfg


# A CA file's name -> (the identity of the file it led to, its real path). realpath costs an
# lstat per path component, in Python, on every load_verify_locations; one os.stat tells
# whether the name still leads to that same file. A replaced link or file changes the identity
# (a new file has a new inode or ctime), and the real path is then looked up again: the answer
# for a name is never one its file no longer has.
_real_paths: dict[str, tuple[tuple[int, ...], str]] = {}
_REAL_PATHS_MAX = 64  # callers that name many files (temporary ones) keep it small


def _identity(path: str) -> tuple[int, ...] | None:
    try:
        st = os.stat(path)
    except (OSError, ValueError):  # missing, unreadable: no identity to remember it by
        return None
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def _realpath(path: object) -> str | None:
    try:
        name = os.fsdecode(path)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    ident = _identity(name)
    known = _real_paths.get(name)
    if ident is not None and known is not None and known[0] == ident:
        return known[1]
    try:
        real = os.path.realpath(name)
    except ValueError:  # a NUL in the name
        return None
    # Remembered only when the real path is that same file (no link replaced meanwhile).
    if ident is not None and _identity(real) == ident:
        if len(_real_paths) >= _REAL_PATHS_MAX:
            _real_paths.clear()
        _real_paths[name] = (ident, real)
    return real


# Module name -> its bundle's real path, or None when it has none (not installed, broken):
# asked on every CA file an injected context is given, so each answer is found once.
_bundle_paths: dict[str, str | None] = {}


def _default_bundles() -> set[str]:
    """CA files that callers pass to mean "the default trust": certifi's, and pip's copy of it.

    Looked up when asked, since pip's copy is often imported after the injection.
    """
    found: set[str] = set()
    for name in ("certifi", "pip._vendor.certifi"):
        if name not in _bundle_paths:
            module = sys.modules.get(name)
            if module is None and name == "certifi":
                try:
                    import certifi as module
                except ImportError:  # not installed: a failed import searches sys.path each time
                    _bundle_paths[name] = None
                    continue
            if module is None:  # pip's copy, not imported yet: asked again next time
                continue
            try:
                _bundle_paths[name] = os.path.realpath(module.where())
            except (AttributeError, OSError, ValueError) as exc:  # a broken certifi: no default
                log.debug("%s names no bundle: %s", name, exc)
                _bundle_paths[name] = None
                continue
        path = _bundle_paths[name]
        if path is not None:
            found.add(path)
    return found


def _is_default_bundle(cafile: object) -> bool:
    path = _realpath(cafile) if cafile is not None else None
    if path is None:
        return False
    if path in _default_bundles():
        return True
    # tlsback.where()'s bundles (``run`` points SSL_CERT_FILE, REQUESTS_CA_BUNDLE, PIP_CERT there).
    name = os.path.basename(path)
    return name.startswith("bundle-") and name.endswith(".pem") and \
        os.path.dirname(path) == _export_root()


def _export_root() -> str | None:
    """Where where()'s bundles are, looked up once, when a CA file is first named."""
    cfg = _state.cfg
    if _state.export_root is False and cfg is not None:
        from ._export import _root
        from .errors import TlsbackError

        try:
            _state.export_root = os.path.realpath(_root(cfg))
        except (OSError, TlsbackError):  # no root: no bundle of ours can be there
            _state.export_root = None
    return _state.export_root if isinstance(_state.export_root, str) else None


def _apply_trust(ctx: ssl.SSLContext, cfg: TLSConfig) -> None:
    """Give ``ctx`` tlsback's trust anchors, verification policy and client certificate.

    The policy is read off the backend's own verifying context (``cfg.context``), so it is the
    same one wherever the context comes from: versions (raised, never lowered), ciphers, flags,
    the post-handshake checks (``sslsocket_class``/``sslobject_class``).
    """
    ref = cfg.context
    # Raised, never lowered (MINIMUM_SUPPORTED is -2: raised too).
    ctx.minimum_version = max(ctx.minimum_version, ref.minimum_version)
    ctx.options |= ref.options & (ssl.OP_NO_COMPRESSION | getattr(ssl, "OP_NO_RENEGOTIATION", 0))
    ctx.set_ciphers(":".join(c["name"] for c in ref.get_ciphers() if c.get("protocol") != "TLSv1.3"))
    ctx.verify_flags |= ref.verify_flags
    ctx.hostname_checks_common_name = ref.hostname_checks_common_name
    for attr in ("sslsocket_class", "sslobject_class"):
        if attr in vars(ref):
            setattr(ctx, attr, vars(ref)[attr])
    from .anchors import load_anchors

    if not cfg.backend.uses_platform_store:
        # The native backend's OS store, as its own contexts load it (once per context).
        _native_system_store(ctx, cfg)
    load_anchors(ctx, cfg.store)
    _load_client_cert(ctx, cfg)
    ctx._tlsback_route = True  # type: ignore[attr-defined]


def _load_client_cert(ctx: ssl.SSLContext, cfg: TLSConfig) -> None:
    """Present the client certificate from its private copy, written again if it was removed
    meanwhile (the cache root is a runtime directory; old copies are pruned)."""
    if _state.client_file is None:
        return
    from ._export import client_cert_file
    from .clientcert import _refuse_password

    try:
        ctx.load_cert_chain(_state.client_file, password=_refuse_password)
    except FileNotFoundError:
        _state.client_file = client_cert_file(cfg)
        if _state.client_file is not None:
            ctx.load_cert_chain(_state.client_file, password=_refuse_password)


def _rebuildable(cfg: TLSConfig) -> bool:
    """Whether :func:`_apply_trust` gives a context equivalent to the backend's own: rustls
    (policy copied from its context), native where its verifier is OpenSSL (Linux, BSD)."""
    if cfg.backend_name == "rustls":
        return True
    if cfg.backend_name == "native":
        from . import _truststore_linux

        return _truststore_linux.applies()
    return False


def _native_system_store(ctx: ssl.SSLContext, cfg: TLSConfig) -> None:
    from . import _truststore_linux

    if _truststore_linux.applies():
        store = _truststore_linux.find_system_store(None)
        if store.cafile or store.capath:
            ctx.load_verify_locations(cafile=store.cafile, capath=store.capath)
        return
    # macOS/Windows: the certificates the system lists (what `where()` exports); the OS
    # verifier itself is not reachable from a plain context (docs/inject.md).
    from ._export import bundle_store
    from .anchors import load_anchors

    load_anchors(ctx, bundle_store(cfg))


def _host_rules(cfg: TLSConfig) -> Any:
    """The rules a context decides on (:func:`_route`): all but ``http://`` ones (no TLS)."""
    from .insecure import InsecureHosts

    rules = tuple(r for r in cfg.insecure_hosts if r.scheme != "http")
    return InsecureHosts(rules) if rules else None


#: ALPN protocol ids of HTTP over TLS: a connection that offers only these is an https request.
_HTTP_ALPN = frozenset({"http/1.1", "h2", "http/1.0", "http/0.9"})


def _route(ctx: ssl.SSLContext, server_hostname: object, sock: Any = None) -> ssl.SSLContext | None:
    """The insecure context when a rule covers this connection, else None (verified).

    Rules name HTTPS URLs (docs/insecure-hosts.md); a context sees a TLS connection. So a rule
    applies only where the connection shows what the rule names (docs/inject.md, "Per-host
    insecure rules"):

    * the scheme: https only when the context offers HTTP, and nothing else, in ALPN (as
      http.client, urllib3 and httpx do; aiohttp's default context is marked): any other TLS
      (SMTP, IMAP, a database) to the same host stays verified, whatever the rule, ``*`` too;
    * the host: the name connected to (``server_hostname``, the SNI);
    * the port, for a rule that names one: the peer port of a socket connected straight to that
      host (:func:`_direct`); through a proxy, or with no socket (``wrap_bio``), the port is
      unknown and a rule with a port does not apply.
    """
    cfg, rules = _state.cfg, _state.host_rules
    if cfg is None or rules is None or not server_hostname or not getattr(ctx, "_tlsback_route", False):
        return None
    host = server_hostname.decode("ascii", "replace") if isinstance(server_hostname, bytes) \
        else str(server_hostname)
    try:
        if not getattr(ctx, "_tlsback_https", False):
            _not_applied(rules, host, "it does not offer HTTP alone in ALPN, so it may be another protocol")
            return None
        # The same matcher as the adapters, on the name the client connects to. Port None: rules
        # without a port (and `*`) match whatever the port is; a rule with one does not.
        if rules.matches_origin("https", host, None):
            return cfg.insecure_context
        if not _state.port_rules:  # no rule needs the port: nothing more to look at
            return None
        peer = _peer(sock)
        if peer is not None and rules.matches_origin("https", host, peer[1]):
            if _direct(peer, host):
                return cfg.insecure_context
            _not_applied(rules, host, "its port is not known: the socket is not connected straight to "
                                      "that host (a proxy?)")
        elif sock is None:
            _not_applied(rules, host, "its port is not known (no socket: wrap_bio)")
    except Exception:  # a matcher that cannot decide leaves the host verified (fail closed)
        log.debug("insecure-host matching failed for %s; verifying", host, exc_info=True)
    return None


def _not_applied(rules: Any, host: str, why: str) -> None:
    """Say once per host that a rule naming it was not applied to a connection, and why (for the
    first hosts only: a long-running client meets hosts without end)."""
    if host in _state.warned or len(_state.warned) >= _MAX_WARNED:
        return
    named = [r for r in rules if r.is_wildcard or type(rules)((r,)).matches_origin("https", host, r.port)]
    if named:
        _state.warned.add(host)
        log.warning("allow-insecure-host %s not applied to a TLS connection to %s made through "
                    "inject_into_ssl(): %s; verified (docs/inject.md)",
                    ", ".join(str(r) for r in named), host, why)


_MAX_WARNED = 256


def _peer(sock: Any) -> tuple[Any, int] | None:
    """The socket's peer ``(address, port)``, or None (not connected, not a socket)."""
    try:
        peer = sock.getpeername() if sock is not None else None
    except (OSError, AttributeError):
        return None
    if isinstance(peer, tuple) and len(peer) >= 2 and isinstance(peer[1], int):
        return peer[0], peer[1]
    return None


def _direct(peer: tuple[Any, int], host: str) -> bool:
    """Whether ``sock`` is connected to ``host`` itself, not to a proxy: the environment names
    no proxy for the host, and the peer address is one of the host's (the IP literal, or an
    address the name resolves to now, as the client just resolved it). Left open: a proxy a
    program configures in code, listening on one of the host's own addresses (docs/inject.md)."""
    import ipaddress
    import socket

    from ._fetch import proxy_for
    from .settings import environment

    name = host[1:-1] if host.startswith("[") else host
    if proxy_for(f"https://[{name}]/" if ":" in name else f"https://{name}/", environment()):
        return False

    def address(text: str) -> Any:
        ip = ipaddress.ip_address(text.split("%", 1)[0])  # an IPv6 zone is not the address
        return getattr(ip, "ipv4_mapped", None) or ip  # a dual-stack socket's IPv4 peer

    peer_host, peer_port = peer
    try:
        peer_ip = address(str(peer_host))
    except ValueError:  # a name (a SOCKS socket reports the name it was asked for): not direct
        return False
    try:
        return bool(address(name) == peer_ip)
    except ValueError:  # a name, not an address
        pass
    try:
        found = socket.getaddrinfo(name, peer_port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return False
    return any(address(str(sockaddr[0])) == peer_ip for *_, sockaddr in found)


class InjectedSSLContext(_original_SSLContext):
    """``ssl.SSLContext`` while tlsback is injected: "the default certificates" are tlsback's.

    Every other method is the stdlib's; after :func:`extract_from_ssl` it behaves exactly like
    ``ssl.SSLContext`` (modules that imported the name meanwhile keep this class).
    """

    def load_default_certs(self, purpose: ssl.Purpose = ssl.Purpose.SERVER_AUTH) -> None:
        cfg = _state.cfg
        if cfg is None or purpose != ssl.Purpose.SERVER_AUTH:
            return super().load_default_certs(purpose)
        _apply_trust(self, cfg)
        return None

    def set_default_verify_paths(self) -> None:
        cfg = _state.cfg
        if cfg is None:
            return super().set_default_verify_paths()
        _apply_trust(self, cfg)
        return None

    def load_verify_locations(self, cafile: Any = None, capath: Any = None, cadata: Any = None) -> None:
        cfg = _state.cfg
        if cfg is not None and capath is None and cadata is None and _is_default_bundle(cafile):
            if not getattr(self, "_tlsback_route", False):
                _apply_trust(self, cfg)
            return None
        return super().load_verify_locations(cafile, capath, cadata)

    def set_alpn_protocols(self, alpn_protocols: Any) -> None:
        protocols = list(alpn_protocols)  # an iterator is read once, here, for both uses
        super().set_alpn_protocols(protocols)
        # What the connection is for: only an offer of HTTP alone lets a rule apply (_route).
        self._tlsback_https = bool(protocols) and all(p in _HTTP_ALPN for p in protocols)

    # The stdlib's signatures, spelled out: clients pass server_hostname by position too (anyio
    # calls wrap_bio(incoming, outgoing, server_side, hostname)).
    def wrap_socket(self, sock: Any, server_side: bool = False, do_handshake_on_connect: bool = True,
                    suppress_ragged_eofs: bool = True, server_hostname: Any = None,
                    session: Any = None) -> Any:
        wrap = super().wrap_socket
        other = _route(self, server_hostname, sock)
        if other is not None:
            wrap = other.wrap_socket
        return wrap(sock, server_side=server_side, do_handshake_on_connect=do_handshake_on_connect,
                    suppress_ragged_eofs=suppress_ragged_eofs, server_hostname=server_hostname,
                    session=session)

    def wrap_bio(self, incoming: Any, outgoing: Any, server_side: bool = False,
                 server_hostname: Any = None, session: Any = None) -> Any:
        wrap = super().wrap_bio
        other = _route(self, server_hostname)
        if other is not None:
            wrap = other.wrap_bio
        return wrap(incoming, outgoing, server_side=server_side, server_hostname=server_hostname,
                    session=session)


def _create_default_context(purpose: ssl.Purpose = ssl.Purpose.SERVER_AUTH, *, cafile: Any = None,
                            capath: Any = None, cadata: Any = None) -> ssl.SSLContext:
    """``ssl.create_default_context`` while injected: a new context with tlsback's trust."""
    cfg = _state.cfg
    if cfg is None or purpose != ssl.Purpose.SERVER_AUTH:
        return _original_create_default_context(purpose, cafile=cafile, capath=capath, cadata=cadata)
    if _rebuildable(cfg):
        ctx: ssl.SSLContext = InjectedSSLContext(ssl.PROTOCOL_TLS_CLIENT)
        _apply_trust(ctx, cfg)
    else:
        # An OS verifier (truststore on macOS/Windows) or a plugin: only the backend can make
        # its contexts. Per-host rules are not decided there (docs/inject.md).
        ctx = cfg.backend.create_context(cfg.store, verify=True)
        _load_client_cert(ctx, cfg)
    # Named CA locations are added, as the stdlib would (a caller's own extra trust), except
    # the "default" bundles, which mean tlsback's store here.
    if capath is not None or cadata is not None or (cafile is not None and not _is_default_bundle(cafile)):
        _original_SSLContext.load_verify_locations(ctx, cafile, capath, cadata)
    return ctx


def _https_context() -> ssl.SSLContext:
    return _create_default_context()


def _patch(module: Any, attr: str, value: Any) -> None:
    if module is None or not hasattr(module, attr):
        return
    _state.patches.append((module, attr, getattr(module, attr), value))
    setattr(module, attr, value)


def _patch_module(name: str, module: Any) -> None:
    """Point one client module at tlsback: its context class, or a context it made at import."""
    base = name.removeprefix("pip._vendor.")
    if base == "urllib3.util.ssl_" and getattr(module, "SSLContext", None) is _original_SSLContext:
        _patch(module, "SSLContext", InjectedSSLContext)
    elif base == "truststore._api" and getattr(module, "_original_SSLContext", None) is _original_SSLContext:
        # truststore wraps a context of the class it found at import; on Linux it calls
        # set_default_verify_paths() on it, which is where tlsback's store comes in.
        _patch(module, "_original_SSLContext", InjectedSSLContext)
    elif base == "requests.adapters" and isinstance(getattr(module, "_preloaded_ssl_context", None),
                                                      _original_SSLContext):
        # Made at import with certifi's bundle (requests >= 2.32) and used for verify=True.
        _patch(module, "_preloaded_ssl_context", _create_default_context())
    elif base == "aiohttp.connector" and isinstance(getattr(module, "_SSL_CONTEXT_VERIFIED", None),
                                                    _original_SSLContext):
        ctx = _create_default_context()
        # aiohttp's own default, used for its HTTP and WebSocket requests only; it offers no
        # ALPN, so it is marked as HTTPS here, for the per-host rules (_route).
        ctx._tlsback_https = True  # type: ignore[attr-defined]
        _patch(module, "_SSL_CONTEXT_VERIFIED", ctx)
    elif base == "urllib.request" and getattr(module, "_opener", None) is not None:
        _patch(module, "_opener", None)  # urlopen() builds a new default opener, with our context


# The modules _patch_module knows, and their vendored copies in pip.
_CLIENT_MODULES = ("urllib3.util.ssl_", "truststore._api", "requests.adapters", "aiohttp.connector")
_HOOKED = frozenset(_CLIENT_MODULES + tuple(f"pip._vendor.{m}" for m in _CLIENT_MODULES))


class _PatchingLoader:
    """Runs a client module, then points it at tlsback (modules imported after the injection)."""

    def __init__(self, loader: Any) -> None:
        self._loader = loader

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)

    def create_module(self, spec: Any) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        self._loader.exec_module(module)
        with _lock:
            if _state.cfg is not None:
                _patch_module(module.__name__, module)


class _ImportHook:
    """A ``sys.meta_path`` finder that only wraps the loaders of the client modules above.

    ``ssl.SSLContext`` itself is never replaced: the standard library's own property setters
    call ``super(SSLContext, SSLContext)`` through the module global, which recurses forever
    for every context once that name is a subclass (requests#6667, truststore's RecursionError).
    Instead, each client's own reference to the class is replaced, now or when it is imported.
    """

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name not in _HOOKED:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    # Duck-typed loader: importlib.abc would be an import at every start.
                    spec.loader = _PatchingLoader(spec.loader)  # type: ignore[assignment]
                return spec
        return None


_hook = _ImportHook()


def inject_into_ssl(cfg: TLSConfig | None = None) -> None:
    """Make every TLS client in this process use tlsback's trust store, backend and client cert.

    Covers ``ssl.create_default_context`` (and with it urllib, ``http.client``, httpx,
    aiohttp), urllib3, requests, and pip's vendored urllib3/requests/truststore, whether they
    were imported before or after the call (docs/inject.md says how, and what happens to
    insecure-host rules). Calling it again only switches the configuration.

    Args:
        cfg: the configuration; None for :func:`tlsback.default_config`.

    Raises:
        ConfigError, BackendError, ClientCertError: the configuration cannot give a context
            (checked now, by building the verifying context, so nothing fails later in a client).
    """
    if cfg is None:
        from .config import default_config

        cfg = default_config()
    cfg.context  # noqa: B018 - built (and the client certificate checked) before anything changes
    # (insecure_hosts imports the matcher: only when there are rules)
    rules = _host_rules(cfg) if cfg.settings.insecure_hosts.value else None
    if rules is not None:
        cfg.insecure_context  # noqa: B018 - built now, not inside a client's wrap_socket
    client_file = None
    if cfg.settings.client_cert.value:
        from ._export import client_cert_file

        client_file = client_cert_file(cfg)
    with _lock:
        _state.cfg = cfg
        _state.client_file = client_file
        _state.host_rules = rules
        _state.port_rules = rules is not None and any(r.port is not None for r in rules)
        _state.export_root = False
        _state.warned = set()
        if _state.patches:
            return
        _patch(ssl, "create_default_context", _create_default_context)
        _patch(ssl, "_create_default_https_context", _https_context)
        for name in sorted(_HOOKED) + ["urllib.request"]:
            if name in sys.modules:
                _patch_module(name, sys.modules[name])
        if _hook not in sys.meta_path:
            sys.meta_path.insert(0, _hook)
    log.debug("injected into ssl: %r", cfg)


def extract_from_ssl() -> None:
    """Undo :func:`inject_into_ssl`: put back every object it replaced that is still in place.

    Contexts that clients made while injected keep working with tlsback's trust; new ones get
    the standard library's defaults again.
    """
    with _lock:
        for module, attr, original, ours in reversed(_state.patches):
            if getattr(module, attr, None) is ours:
                setattr(module, attr, original)
        _state.patches = []
        # Python 3.13's urlopen() opener keeps the context it made when it was built: one built
        # while injected is dropped, so the next urlopen() builds one with the stdlib's defaults.
        request = sys.modules.get("urllib.request")
        opener = getattr(request, "_opener", None)
        if opener is not None and any(isinstance(getattr(h, "_context", None), InjectedSSLContext)
                                      for h in getattr(opener, "handlers", ())):
            request._opener = None  # type: ignore[union-attr]
        if _hook in sys.meta_path:
            sys.meta_path.remove(_hook)
        _state.cfg = None
        _state.client_file = None
        _state.host_rules = None
        _state.export_root = False
