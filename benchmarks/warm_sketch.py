"""The least work a warm start keyed by the files on disk can do: a yardstick, not a trust store.

``bench_startup.py --system-store-only`` times it beside ``tlsback.create_default_context()``
and ``ssl.create_default_context()``, each in fresh processes, to show how far above the
machine's floor tlsback's warm path is, and what ratio no implementation could beat here.

One module of plain Python, doing only what every warm start of the system store must do:
read the settings' variables, look for the config files (the working directory and its
parents, the user's and the system's), stat the platform bundle and every name in the
platform directories (the key the store is never stale by), hash those stats, read the entry
the key names, and hand its directory to a context with the rustls policy options.

It leaves out everything that makes a store trustworthy: no ownership or mode checks of the
cache root and the entry, no check that the entry is whole, no lease, no error handling, no
diagnostics. Never use it for anything but this comparison.
"""

import os
import ssl
from _blake2 import blake2b

_VARS = ("SSL_CERT_FILE", "SSL_CERT_DIR", "SSL_CLIENT_CERT", "UV_NATIVE_TLS", "UV_SYSTEM_CERTS",
         "UV_NO_CONFIG", "UV_CONFIG_FILE", "UV_INSECURE_HOST", "TLSBACK_BACKEND", "TLSBACK_CACHE_DIR",
         "TLSBACK_NO_CACHE", "TLSBACK_STORE", "TLSBACK_CUSTOM_CERTS", "TLSBACK_PLATFORM_STORE",
         "TLSBACK_NO_EXTENSIONS", "XDG_RUNTIME_DIR", "XDG_CONFIG_HOME", "XDG_CONFIG_DIRS", "HOME")


class _Socket(ssl.SSLSocket):
    pass


class _Object(ssl.SSLObject):
    pass


def _exists(path: str) -> bool:
    try:
        os.stat(path)
    except OSError:
        return False
    return True


def _key(bundles: "tuple[str, ...]", dirs: "tuple[str, ...]") -> str:
    env = os.environ
    h = blake2b(repr([env.get(k) for k in _VARS]).encode(), digest_size=16)
    d = os.getcwd()
    while True:
        _exists(os.path.join(d, "uv.toml"))
        _exists(os.path.join(d, "pyproject.toml"))
        parent = os.path.dirname(d)
        if parent == d:
            break
        d = parent
    _exists(os.path.join(env.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config"), "uv", "uv.toml"))
    _exists("/etc/uv/uv.toml")
    rows = []
    for b in bundles:
        try:
            s = os.stat(b)
        except OSError:
            continue
        rows.append(b"%s %d %d %d %d %d" % (os.fsencode(b), s.st_size, s.st_mtime_ns, s.st_ctime_ns,
                                             s.st_ino, s.st_dev))
        break
    for d in dirs:
        try:
            fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            continue
        for name in sorted(os.listdir(fd)):
            try:
                s = os.stat(name, dir_fd=fd)
            except OSError:
                continue
            rows.append(b"%s %d %d %d %d %d" % (os.fsencode(name), s.st_size, s.st_mtime_ns, s.st_ctime_ns,
                                                 s.st_ino, s.st_dev))
        os.close(fd)
    h.update(b"\n".join(rows))
    return h.hexdigest()


def remember(bundles: "tuple[str, ...]", dirs: "tuple[str, ...]", root: str, capath: str) -> None:
    """Write the marker a warm start reads: the entry directory, under the key's name."""
    with open(os.path.join(root, "sketch-" + _key(bundles, dirs)), "w") as f:
        f.write(capath)


def context(bundles: "tuple[str, ...]", dirs: "tuple[str, ...]", root: str) -> ssl.SSLContext:
    with open(os.path.join(root, "sketch-" + _key(bundles, dirs))) as f:
        capath = f.read()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.maximum_version = ssl.TLSVersion.TLSv1_3
    ctx.set_ciphers("ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!eNULL:@SECLEVEL=2")
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    ctx.post_handshake_auth = False
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.check_hostname = True
    ctx.hostname_checks_common_name = False
    ctx.verify_flags |= 0x80000  # X509_V_FLAG_PARTIAL_CHAIN
    ctx.sslsocket_class = _Socket
    ctx.sslobject_class = _Object
    ctx.load_verify_locations(capath=capath)
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx
