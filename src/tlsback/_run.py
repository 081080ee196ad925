"""``tlsback run`` and ``tlsback env``: the configuration for programs tlsback did not write.

Two routes, both documented in docs/run.md:

* **Variables** that programs read for their CA bundle and client certificate, pointing at
  :func:`tlsback.where`'s bundle and a private copy of the client certificate (both in the
  private cache root, 0600 files in a 0700 directory). Every program: curl, git, node, pip,
  requests, uv.
* **Injection at interpreter start** for Python programs under ``run``: a private directory
  holding a ``sitecustomize.py`` goes first on ``PYTHONPATH``; it calls
  :func:`tlsback.inject_into_ssl` and then runs the ``sitecustomize`` that was there before.
  A Python program gets tlsback's policy, backend and per-host insecure rules, not only its
  certificates, from its own tlsback if it has one of the same version; one that imports
  another version, or in which the injection fails, stops before it runs (exit status 1, one line
  naming the cause and ``TLSBACK_RUN_ALLOW_UNINJECTED=1``, the opt-out).
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .config import TLSConfig

__all__ = ["BUNDLE_VARIABLES", "format_env", "run", "variables"]

#: Variables that name a CA bundle, and who reads them.
BUNDLE_VARIABLES = {
    "SSL_CERT_FILE": "OpenSSL-based programs, Python's ssl, uv, httpx, tlsback itself",
    "REQUESTS_CA_BUNDLE": "requests (and pip's vendored requests)",
    "CURL_CA_BUNDLE": "curl, requests",
    "PIP_CERT": "pip (--cert)",
    "NODE_EXTRA_CA_CERTS": "Node.js (added to its own roots)",
    "GIT_SSL_CAINFO": "git over https",
    "AWS_CA_BUNDLE": "the AWS CLI and SDKs",
    "CARGO_HTTP_CAINFO": "cargo",
    "HTTPLIB2_CA_CERTS": "httplib2",
}
#: Variables that name a client certificate (with its key in the same file).
CLIENT_VARIABLES = {
    "SSL_CLIENT_CERT": "uv, tlsback itself",
    "PIP_CLIENT_CERT": "pip (--client-cert)",
    "GIT_SSL_CERT": "git over https",
    "GIT_SSL_KEY": "git over https",
}

_SITECUSTOMIZE = '''\
# Written by `tlsback run`: tlsback's TLS configuration for this interpreter, then the
# sitecustomize that was on the path before this one (if any). See tlsback's docs/run.md.
import os as _os
import sys as _sys


def _tlsback_stop(why):
    # Fail closed: without the injection this program would trust the exported bundle with
    # none of tlsback's policy or insecure-host rules. os._exit, because SystemExit raised while
    # `site` runs is a fatal interpreter error with a traceback, and at the program's first
    # `import ssl` it would only end the thread importing it (or be caught). What the program
    # printed by then is still in its buffers: written out first.
    try:
        for stream in (_sys.stdout, _sys.stderr):
            try:
                stream.flush()
            except Exception:  # closed, None (no console): nothing to keep
                pass
        _sys.stderr.write("tlsback run: %s\\n" % (why,))
        _sys.stderr.flush()
    finally:  # whatever the streams do, the program does not go on
        _os._exit(1)


def _tlsback_allow_uninjected(cause):
    # Read here, not through tlsback's settings: tlsback itself may be what cannot be imported.
    # The same booleans as every tlsback and uv variable.
    name = "TLSBACK_RUN_ALLOW_UNINJECTED"
    value = _os.environ.get(name)
    if value is None or value.lower() in ("n", "no", "f", "false", "off", "0"):
        return False
    if value.lower() in ("y", "yes", "t", "true", "on", "1"):
        return True
    _tlsback_stop("%s=%r is not a boolean (1 or 0); and this Python cannot be given tlsback's TLS "
                  "configuration (%s)" % (name, value, cause))


def _tlsback_failed(cause, stopped):
    if not _tlsback_allow_uninjected(cause):
        _tlsback_stop("cannot give this Python tlsback's TLS configuration (%s); stopped %s. Fix the "
                      "cause, or set TLSBACK_RUN_ALLOW_UNINJECTED=1 to run it with the CA bundle "
                      "variables only (no tlsback policy or insecure-host rules)" % (cause, stopped))
    _sys.stderr.write("tlsback run: this Python is not injected (%s); the CA bundle variables "
                      "still apply (TLSBACK_RUN_ALLOW_UNINJECTED)\\n" % (cause,))


def _tlsback_site():
    # The tlsback this Python imports, if it is the version `tlsback run` is: another version
    # would read the same variables with its own parser and rules (docs/run.md). None when it
    # is not, after the failure handler has let the program go on uninjected.
    try:
        import tlsback
    except ImportError as exc:
        if exc.name != "tlsback":
            raise
        # An interpreter without tlsback (a fresh venv): import the package `run` came from,
        # and only it: the directory leaves sys.path again before the program starts.
        _sys.path.insert(0, {parent!r})
        try:
            import tlsback
        finally:
            _sys.path.remove({parent!r})
    version = getattr(tlsback, "__version__", None)
    if version != {version!r}:
        _tlsback_failed("this Python imports tlsback %s from %s, but `tlsback run` is tlsback %s "
                        "from %s, and another version may read the same settings otherwise; "
                        "install tlsback %s in it, or use the `tlsback run` of its own environment"
                        % (version, _os.path.dirname(getattr(tlsback, "__file__", None) or "")
                           or list(tlsback.__path__),
                           {version!r}, {origin!r}, {version!r}), "before the program ran")
        return None
    import tlsback._site as site
    return site


def _tlsback_run():
    here = _os.path.dirname(_os.path.abspath(__file__))
    try:
        site = _tlsback_site()
        # The settings now; the injection at the program's first `import ssl` (docs/run.md).
        if site is not None:
            site.install(lambda cause: _tlsback_failed(
                cause, "when it first imported ssl, before any TLS connection"))
    except Exception as exc:
        # One line, whatever the message holds.
        _tlsback_failed("%s: %s" % (type(exc).__name__, " ".join(str(exc).splitlines())),
                        "before the program ran")
    _sys.path[:] = [p for p in _sys.path if _os.path.abspath(p or _os.curdir) != here]
    this = _sys.modules.pop("sitecustomize", None)
    try:
        import sitecustomize  # noqa: F401 - the one that was here before
    except ImportError as exc:
        # None: the import system expects to find this module again when it is done with it.
        _sys.modules["sitecustomize"] = this
        if exc.name != "sitecustomize":
            raise


_tlsback_run()
'''


def _private_file(root: str, name: str, fname: str, data: bytes) -> str:
    """A directory ``root/name`` (0700) holding ``fname`` with ``data`` (0600); return the directory."""
    from . import cache
    from ._export import write_private

    path = cache._private_dir(os.path.join(root, name))
    write_private(path, fname, data)
    return path


def _pip_host(rule: object) -> str | None:
    host, port = getattr(rule, "host", ""), getattr(rule, "port", None)
    if host == "*":
        return None  # pip has no wildcard
    if getattr(rule, "scheme", None) == "http":
        # An http:// rule concerns no TLS (docs/inject.md); as a pip trusted host it would
        # turn off certificate checks for https:// on that host too.
        return None
    if ":" in host:
        host = f"[{host}]"
    return host if port is None else f"{host}:{port}"


def _curl_home(root: str, client_file: str, bundle: str, env: Mapping[str, str]) -> str:
    """A private ``CURL_HOME`` whose ``.curlrc`` is the user's own plus the client certificate.

    curl has no variable for a client certificate; its config file is the only way without
    arguments. The user's ``.curlrc`` (from ``CURL_HOME`` or ``HOME``) is copied first, so
    their settings stay; the certificate lines come last and win.
    """
    own = b""
    # curl's own search order: CURL_HOME, XDG_CONFIG_HOME, HOME.
    for base in (env.get("CURL_HOME"), env.get("XDG_CONFIG_HOME"), env.get("HOME")):
        if base:
            try:
                with open(os.path.join(base, ".curlrc"), "rb") as f:
                    own = f.read()
                break
            except OSError:
                continue

    def quoted(path: str) -> str:  # a curl config string: backslash escapes inside quotes
        return '"' + path.replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines = own + (b"\n" if own and not own.endswith(b"\n") else b"")
    lines += f"cert = {quoted(client_file)}\ncacert = {quoted(bundle)}\n".encode()
    name = "curl-" + hashlib.sha256(lines).hexdigest()[:16]
    return _private_file(root, name, ".curlrc", lines)


def variables(cfg: TLSConfig, *, python: bool = False) -> dict[str, str]:
    """The environment that gives other programs ``cfg``'s trust and client certificate.

    Args:
        cfg: the configuration.
        python: also inject tlsback into Python programs (``PYTHONPATH`` with the private
            ``sitecustomize``), as ``run`` does.

    Returns:
        Variables to set (``run`` sets them for the child, ``env`` prints them).

    Raises:
        TlsbackError: no private directory for the files; a client certificate whose key does
            not match (ClientCertError).
    """
    from ._export import _root, client_cert_file, where
    from .settings import environment

    bundle = where(cfg)
    root = os.path.dirname(bundle)
    out = {name: bundle for name in BUNDLE_VARIABLES}
    client = client_cert_file(cfg)
    if client is not None:
        out.update({name: client for name in CLIENT_VARIABLES})
        out["CURL_HOME"] = _curl_home(root, client, bundle, environment())
    hosts = [h for h in (_pip_host(r) for r in cfg.insecure_hosts) if h]
    if hosts:
        out["PIP_TRUSTED_HOST"] = " ".join(dict.fromkeys(hosts))
    s = cfg.settings
    # The command line's rules (which replace UV_INSECURE_HOST, as in uv) reach the programs as
    # UV_INSECURE_HOST; config-file rules are not copied: each program finds its own files.
    given = [r for r in cfg.insecure_hosts if r.origin == "cli" or r.origin.startswith("argument:")]
    # uv has no spelling of an IPv6 address there: `[::1]` makes it stop at start with a usage
    # error, whatever it was run for. Left out, those hosts are verified in the programs (a
    # Python one that `run` injects too; pip still gets PIP_TRUSTED_HOST), which is said once.
    spelled = [str(r) for r in given if r.is_wildcard or ":" not in r.host]
    if spelled:
        out["UV_INSECURE_HOST"] = " ".join(spelled)
    if len(spelled) < len(given):
        from . import _log

        left_out = " ".join(str(r) for r in given if not r.is_wildcard and ":" in r.host)
        _log.getLogger(__name__).warning(
            "allow-insecure-host %s: not passed on in UV_INSECURE_HOST (uv refuses an IPv6 address "
            "there and would not start); programs started with these variables verify it", left_out)
    if s.backend.origin == "cli" or s.backend.origin.startswith("argument:"):
        # The first variable tlsback (and uv, for the built-in names) reads wins in the child too.
        if s.backend.value in ("native", "rustls"):
            out["UV_SYSTEM_CERTS"] = "true" if s.backend.value == "native" else "false"
        else:
            out["TLSBACK_BACKEND"] = s.backend.value
    if not s.cache.value and s.cache.origin in ("cli", "argument:no_cache"):
        out["TLSBACK_NO_CACHE"] = "1"
    if python:
        import tlsback

        package = os.path.dirname(os.path.abspath(tlsback.__file__))
        code = _SITECUSTOMIZE.format(parent=os.path.dirname(package), version=tlsback.__version__,
                                     origin=package).encode()
        site_dir = _private_file(_root(cfg), "run-" + hashlib.sha256(code).hexdigest()[:16],
                                 "sitecustomize.py", code)
        existing = environment().get("PYTHONPATH")
        out["PYTHONPATH"] = site_dir + (os.pathsep + existing if existing else "")
    return out


def format_env(values: Mapping[str, str], shell: str) -> str:
    """``values`` as commands for ``shell`` (``sh``, ``fish``, ``powershell``) or as JSON."""
    if shell == "json":
        return json.dumps(dict(values), indent=2) + "\n"
    lines = []
    for name, value in values.items():
        if shell == "fish":
            quoted = "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
            lines.append(f"set -gx {name} {quoted};")
        elif shell == "powershell":
            lines.append(f"$env:{name} = '" + value.replace("'", "''") + "'")
        else:
            lines.append(f"export {name}={shlex.quote(value)}")
    return "\n".join(lines) + "\n"


class _Forwarder:
    """Forwards SIGTERM/SIGHUP (and SIGINT not already sent to the child) to the program.

    Installed before the program is started, so that no signal falls between its start and the
    forwarding (the default SIGTERM would end tlsback and orphan the program; a Ctrl-C would
    leave it running). A signal that comes before the program exists is kept: it is forwarded
    once the program is started, or, if it came before the start began, the program is not
    started at all.
    """

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.pending: list[int] = []
        self.previous: dict[int, object] = {}
        for name in ("SIGINT", "SIGTERM", "SIGHUP"):
            signum = getattr(signal, name, None)
            if signum is not None:
                self.previous[signum] = signal.signal(signum, self._handler)

    def _handler(self, signum: int, frame: object) -> None:
        if self.proc is None:
            self.pending.append(signum)
            return
        if signum == signal.SIGINT and _terminal_sent_it():
            return  # the terminal sent it to the whole foreground group: the child has it
        self._send(signum)

    def _send(self, signum: int) -> None:
        try:
            self.proc.send_signal(signum)  # type: ignore[union-attr]
        except OSError:
            pass

    def started(self, proc: subprocess.Popen[bytes]) -> None:
        """The program runs: forward what came while it was being started (a Ctrl-C from the
        terminal too, which may have come before the program was in the foreground group)."""
        self.proc = proc
        for signum in self.pending:
            self._send(signum)
        self.pending.clear()

    def restore(self) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]


def _terminal_sent_it() -> bool:
    """Whether this process is in its controlling terminal's foreground group: then Ctrl-C went
    to the child too (same group), whatever stdin is redirected from."""
    try:
        fd = os.open("/dev/tty", os.O_RDONLY | getattr(os, "O_NOCTTY", 0))
    except OSError:  # no controlling terminal: the signal was sent to us alone
        return False
    try:
        return os.tcgetpgrp(fd) == os.getpgrp()
    except OSError:
        return False
    finally:
        os.close(fd)


def run(cfg: TLSConfig, command: Sequence[str]) -> int:
    """Run ``command`` with ``cfg``'s variables and injection; return its exit status.

    A child ended by signal N gives 128+N, as a shell reports it. A command that cannot be
    started gives 127 (not found) or 126 (not executable), with a message.
    """
    from .settings import environment

    env = environment()
    env.update(variables(cfg, python=True))
    forwarder = _Forwarder()
    try:
        if forwarder.pending:  # a signal before the program was started: it is not started
            return 128 + forwarder.pending[0]
        try:
            proc = subprocess.Popen(list(command), env=env)
        except FileNotFoundError:
            print(f"error: {command[0]}: command not found", file=sys.stderr)
            return 127
        except PermissionError:
            print(f"error: {command[0]}: permission denied", file=sys.stderr)
            return 126
        except OSError as exc:
            print(f"error: cannot run {command[0]}: {exc.strerror or exc}", file=sys.stderr)
            return 126
        forwarder.started(proc)
        code = proc.wait()
    finally:
        forwarder.restore()
    return 128 - code if code < 0 else code
