"""The ``tlsback`` command: ``info``, ``fetch``, ``bundle``, ``backends``, ``bench``, ``run``, ``env``.

Exit status: 0 on success, 1 when a fetch fails (TLS or HTTP) or a bundle no longer matches,
2 on a usage or configuration error, 130 when interrupted (Ctrl-C); ``run`` passes the
program's own status through (128+N for a program ended by signal N). No Python traceback is
shown for anything a user can do: errors are one ``error:`` line (and hints).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from ._interrupt import exit_interrupted, is_interruption
from ._scantypes import shown
from ._version import __version__
from .config import TLSConfig, load
from .errors import TlsbackError
from .settings import add_arguments

__all__ = ["build_parser", "main"]

log = logging.getLogger("tlsback")


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"{record.levelname.lower()}: {record.getMessage()}"


#: The longest ``--timeout``: socket timeouts overflow at some point (inf, 1e309), and a day
#: is longer than any connection attempt worth waiting for.
MAX_TIMEOUT = 86400.0


def _seconds(text: str) -> float:
    """``--timeout``: seconds greater than 0, at most a day (0 would make sockets non-blocking;
    NaN, negative or infinite values are refused by ``socket.settimeout`` with a traceback)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value <= MAX_TIMEOUT:  # False for NaN too
        raise argparse.ArgumentTypeError(
            f"invalid value {text!r}: give seconds, more than 0 and at most {MAX_TIMEOUT:.0f}")
    return value


#: Where a subcommand's ``--allow-insecure-host`` values go (joined with the top-level ones).
_SUB_HOSTS = "tlsback_insecure_hosts_after_command"


def _common_options(*, subcommand: bool) -> argparse.ArgumentParser:
    """The global options, for the top-level parser or (``subcommand``) for each subcommand's."""
    common = argparse.ArgumentParser(add_help=False)
    add_arguments(common, suppress_defaults=True)
    if subcommand:
        # argparse copies a subcommand's values over the top-level ones: `tlsback
        # --allow-insecure-host a info --allow-insecure-host b` would lose `a`. The subcommand's
        # go to a destination of their own; _main joins the two.
        for action in common._actions:
            if action.dest == "tlsback_insecure_hosts":
                action.dest = _SUB_HOSTS
    verbosity = common.add_argument_group("output")
    verbosity.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS,
                           help="say more (repeat for debug output)")
    verbosity.add_argument("-q", "--quiet", action="count", default=argparse.SUPPRESS,
                           help="say less (no warnings)")
    return common


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``tlsback`` command."""
    common = _common_options(subcommand=True)
    parser = argparse.ArgumentParser(
        prog="tlsback", parents=[_common_options(subcommand=False)],
        description="uv-style TLS trust configuration: see what is trusted and why, and use it.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"tlsback {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("info", parents=[common], help="explain the TLS configuration and trust store")
    p.add_argument("--json", action="store_true", help="print the diagnostics as JSON")

    p = sub.add_parser("fetch", parents=[common], help="GET a URL with the resolved configuration")
    p.add_argument("url")
    p.add_argument("-o", "--output", metavar="FILE", help="write the body to FILE (default: stdout)")
    p.add_argument("--timeout", type=_seconds, default=30.0, help="seconds per connection (default 30)")

    p = sub.add_parser("bundle", parents=[common], help="write or check the effective deduplicated store")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("-o", "--output", metavar="FILE", help="write the store to FILE")
    what.add_argument("--check", metavar="FILE", help="say whether FILE still matches the sources")
    p.add_argument("--format", choices=("pem", "der"), default="pem", help="output format (default pem)")

    p = sub.add_parser("backends", parents=[common], help="list registered backends")
    p.add_argument("--json", action="store_true", help="print as JSON")

    p = sub.add_parser("run", parents=[common], help="run a program with this configuration",
                       description="Run CMD with the effective CA bundle and client certificate in the "
                       "variables programs read (SSL_CERT_FILE, REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE, "
                       "PIP_CERT, PIP_CLIENT_CERT, PIP_TRUSTED_HOST, NODE_EXTRA_CA_CERTS, "
                       "GIT_SSL_CAINFO, GIT_SSL_CERT, ...); Python programs also get tlsback "
                       "injected at start (policy, backend, insecure hosts). The exit status is "
                       "CMD's.")
    p.add_argument("argv", nargs=argparse.REMAINDER, metavar="-- CMD [ARGS]")

    p = sub.add_parser("env", parents=[common], help="print the variables `run` sets, to source",
                       description="Print the variables `tlsback run` sets for every program "
                       "(not the Python injection), e.g. eval \"$(tlsback env)\".")
    p.add_argument("--shell", choices=("sh", "fish", "powershell", "json"), default="sh",
                   help="output syntax (default sh: bash, zsh, dash)")

    from . import bench

    p = sub.add_parser("bench", parents=[common], help="time the certificate loaders (C against Python)")
    bench.configure_parser(p)
    return parser


_EPILOG = """\
environment variables:
  SSL_CERT_FILE          a PEM bundle or DER certificate, added to the store
  SSL_CERT_DIR           directories of .pem/.crt/.cer and hash-named files (os.pathsep-separated)
  SSL_CLIENT_CERT        a PEM file with the client certificate (chain) and its private key
  UV_NATIVE_TLS, UV_SYSTEM_CERTS
                         true selects the native backend, false rustls
  TLSBACK_BACKEND        a backend by name (see `tlsback backends`)
  UV_INSECURE_HOST       hosts not verified, space-separated (host, host:port, https://host:port)
  UV_CONFIG_FILE         read this uv.toml instead of looking for configuration files
  UV_NO_CONFIG           do not look for uv.toml / pyproject.toml (UV_CONFIG_FILE is still read)
  TLSBACK_CUSTOM_CERTS   merge (default) or only: custom certificates replace the platform store
  TLSBACK_NO_CACHE       do not use the on-disk trust cache; TLSBACK_CACHE_DIR: where it is
  TLSBACK_STORE          auto, lazy or eager: how the store is handed to OpenSSL
  TLSBACK_NO_EXTENSIONS  use the pure-Python scanner; TLSBACK_REQUIRE_EXTENSIONS: require the C one
  HTTPS_PROXY, NO_PROXY  proxies, for fetch

exit status:
  0    success
  1    a fetch failed (TLS, connection or HTTP), or `bundle --check` found a difference
  2    usage or configuration error (bad flag, variable, config value, URL or output path)
  130  interrupted (Ctrl-C)
  run  the program's own status; 128+N when it was ended by signal N; 127 not found
"""


def _setup_logging(args: argparse.Namespace) -> None:
    level = logging.WARNING
    verbose, quiet = getattr(args, "verbose", 0), getattr(args, "quiet", 0)
    if quiet:
        level = logging.ERROR
    elif verbose == 1:
        level = logging.INFO
    elif verbose and verbose > 1:
        level = logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter())
    log.handlers[:] = [handler]
    log.setLevel(level)
    log.propagate = False


def _fmt_seconds(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _print_info(d: dict[str, Any], out: TextIO) -> None:
    w = out.write
    b = d["backend"]
    w(f"tlsback {d['tlsback']} · Python {d['python']} · {d['openssl']}\n")
    w(f"backend      {b['name']}  (chosen by {b['origin']})\n")
    w(f"             {b['description']}\n")
    loader = d["loader"]
    w(f"loader       {loader['implementation']}  ({loader['reason']})\n")
    w(f"installed    {loader['installed']['implementation']} scanner  ({loader['installed']['reason']})\n")
    st = d["store"]
    line = f"store        {st['certificates']} certificates, {st['duplicates']} duplicates dropped, mode {st['mode']}"
    if not st["platform_store"]:
        line += "; the OS store is consulted by the backend itself"
    w(line + "\n")
    if st["platform_fallback"]:
        w("             no platform store found: using certifi's bundled Mozilla roots\n")
    if "cache" in d:
        c = d["cache"]
        w(f"cache        {c.get('state')}  {shown(c.get('path') or '')}  {c.get('reason') or ''}".rstrip() + "\n")
    w("sources\n")
    any_aliases = False
    for s in d["sources"]:
        w(f"  {s['kind']:<14} {shown(s['path'])}  ({s['origin']})\n")
        extra = f", {s['aliases']} aliases" if s["aliases"] else ""
        any_aliases = any_aliases or bool(s["aliases"])
        extra += f", {s['skipped']} other entries skipped" if s["skipped"] else ""
        w(f"  {'':<14} {s['files']} files, {s['certificates']} certificates, {s['unique']} new, "
          f"{s['duplicates']} duplicates{extra}\n")
        for p in s["problems"]:
            w(f"  {'':<14} ! {shown(p['path'])}: {p['message']}\n")
        for name, why in s.get("skipped_entries", ()):
            w(f"  {'':<14} - skipped {name}: {why}\n")
    if any_aliases:
        w("             (aliases: files already read through another path, such as the hash-named\n"
          "              links beside each certificate in /etc/ssl/certs; counted, not read again)\n")
    if d["insecure_warning"]:
        w(f"insecure     {d['insecure_warning']}\n")
        for h in d["insecure_hosts"]:
            written = f", written `{shown(h['value'])}`" if h["value"] != h["rule"] else ""
            w(f"             {h['rule']} ({h['origin']}{written}): {h['meaning']}\n")
            if "note" in h:
                w(f"             ! {h['rule']}: {h['note']}\n")
    else:
        w("insecure     none (every HTTPS host is verified)\n")
    cc = d["client_cert"]
    w(f"client cert  {cc if cc is None else ', '.join(f'{k}={shown(str(v))}' for k, v in cc.items())}\n")
    if d["config_files"]:
        w("config       " + ", ".join(map(shown, d["config_files"])) + "\n")
    # Every other switch that is not at its default, with where it came from (--json: all).
    for name, setting in d["settings"].items():
        if setting["origin"] != "default" and name not in ("backend", "insecure_hosts"):
            w(f"setting      {name} = {setting['value']!r}  ({setting['origin']})\n")
    t = d["timings"]
    w("timings      " + ", ".join(f"{k.removesuffix('_s')} {_fmt_seconds(v)}" for k, v in t.items()) + "\n")
    if d["warnings"]:
        w(f"warnings     {len(d['warnings'])} (shown above)\n")


def _skipped_entries(path: str) -> list[tuple[str, str]]:
    """The entries of a certificate directory that are not loaded, each with the reason (-v)."""
    import os
    import stat

    from .sources import is_certificate_name

    out: list[tuple[str, str]] = []
    try:
        names = sorted(os.listdir(path))
    except OSError:
        return out
    for name in names:
        shown = name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        full = os.path.join(path, name)
        if not is_certificate_name(name):
            why = "not a certificate name (.pem, .crt, .cer or a HASH.N link)"
            if _looks_like_certificate(full):
                why += "; it holds a certificate: rename it to load it"
            out.append((shown, why))
            continue
        try:
            st = os.stat(full)
        except OSError as exc:
            out.append((shown, f"cannot be read ({exc.strerror or exc}: a dangling link or a loop?)"))
            continue
        if not stat.S_ISREG(st.st_mode):
            out.append((shown, "not a regular file"))
    return out


def _looks_like_certificate(path: str) -> bool:
    """A PEM certificate block, or DER framing (a SEQUENCE), at the start of a regular file."""
    try:
        with open(path, "rb") as f:
            head = f.read(64 * 1024)
    except OSError:
        return False
    return b"-----BEGIN CERTIFICATE-----" in head or head[:2] in (b"\x30\x82", b"\x30\x81")


def _cmd_info(cfg: TLSConfig, args: argparse.Namespace) -> int:
    d = cfg.diagnostics()
    if getattr(args, "verbose", 0):
        for s in d["sources"]:
            if s["skipped"] and s["kind"] != "platform":
                s["skipped_entries"] = _skipped_entries(s["path"])
    if args.json:
        json.dump(d, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        _print_info(d, sys.stdout)
    return 0


class _DownloadProgress:
    """A one-line download progress bar on standard error, drawn only when that is a terminal."""

    def __init__(self) -> None:
        self.last = 0.0

    def __call__(self, done: int, total: int | None) -> None:
        import time

        now = time.monotonic()
        if now - self.last < 0.1 and done != total:
            return
        self.last = now
        if total:
            width = 30
            filled = width * done // total
            sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done / 2**20:.1f}/{total / 2**20:.1f} MiB")
        else:
            sys.stderr.write(f"\r{done / 2**20:.1f} MiB")
        sys.stderr.flush()

    def close(self) -> None:
        if self.last:
            sys.stderr.write("\n")
            sys.stderr.flush()


def _open_output(path: str) -> tuple[Any, str | None, str]:
    """Open ``-o FILE`` before anything is written to it: a bad path is a usage error (exit 2).

    A regular file (or a new one) is written to a temporary file beside it, renamed into place
    when complete, so a failure never leaves half a file under the final name; through a
    symlink, the file it points to is replaced, not the link. A device or a FIFO (``/dev/null``,
    ``/dev/stdout``, a named pipe) is written into: renaming over it would replace the node
    itself (for root, ``/dev/null`` with a regular file).

    Returns:
        The file to write, the temporary file's path (None when writing into the target), and
        the path to rename it to.
    """
    import os
    import stat
    import tempfile

    try:
        st = os.stat(path)  # the kernel follows the links, /proc's magic ones included
    except FileNotFoundError:
        st = None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(21, "Is a directory")
    if st is not None and not stat.S_ISREG(st.st_mode):
        return open(path, "wb"), None, path  # noqa: SIM115 - closed by the caller
    final = os.path.realpath(path)
    fd, tmp = tempfile.mkstemp(prefix=".tlsback-", dir=os.path.dirname(final))
    return os.fdopen(fd, "wb"), tmp, final


def _finish_output(out: Any, tmp: str | None, final: str) -> None:
    """Close ``-o FILE`` after a complete write: the temporary file renamed into place, with the
    mode open() would have given a new file."""
    import os

    out.close()
    if tmp is not None:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, final)


def _abandon_output(out: Any, tmp: str | None) -> None:
    import os

    out.close()
    if tmp is not None:
        os.unlink(tmp)


def _cmd_fetch(cfg: TLSConfig, args: argparse.Namespace) -> int:
    from ._fetch import FetchError, UsageError, check_url, fetch

    try:
        check_url(args.url)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out: Any = None
    tmp: str | None = None
    final = ""
    if args.output and args.output != "-":
        try:
            out, tmp, final = _open_output(args.output)
        except OSError as exc:
            print(f"error: cannot write {args.output}: {exc.strerror or exc}", file=sys.stderr)
            return 2
    progress = _DownloadProgress() if out is not None and sys.stderr.isatty() else None
    try:
        try:
            if out is not None:
                fetch(cfg, args.url, out.write, timeout=args.timeout, progress=progress)
                _finish_output(out, tmp, final)
                out = None
            else:
                fetch(cfg, args.url, sys.stdout.buffer.write, timeout=args.timeout)
                sys.stdout.flush()
        finally:
            if progress is not None:
                progress.close()
            if out is not None:
                _abandon_output(out, tmp)
    except FetchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        if isinstance(exc, BrokenPipeError):
            raise
        print(f"error: cannot write {args.output or 'standard output'}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0


def _write_output(path: str, data: bytes) -> None:
    """Write ``data`` to ``-o FILE`` whole (:func:`_open_output`): a program reading the bundle
    never sees half of it."""
    out, tmp, final = _open_output(path)
    try:
        out.write(data)
        _finish_output(out, tmp, final)
    except BaseException:
        try:
            _abandon_output(out, tmp)
        except OSError:
            pass
        raise


def _read_regular_file(path: str) -> bytes:
    """The bytes of ``path``, which must be a regular file: a FIFO without a writer would block
    the read for ever and a device (``/dev/zero``) never end it (O_NONBLOCK, then fstat)."""
    import os
    import stat

    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(0, "not a regular file")
        os.set_blocking(fd, True)
        with os.fdopen(os.dup(fd), "rb") as f:
            return f.read()
    finally:
        os.close(fd)


def _cmd_bundle(cfg: TLSConfig, args: argparse.Namespace) -> int:
    """``bundle -o FILE [--format pem|der]`` and ``bundle --check FILE``.

    What they do: the ``bundle`` rows of docs/cli.md, "`tlsback` (also `python -m tlsback`)".
    """
    from ._export import bundle_store, export_note, pem_bytes, where

    note = export_note(cfg)
    if args.output and args.format == "pem":
        # The file where() keeps current, copied: one encoder, one place for the store.
        with open(where(cfg), "rb") as f:
            data = f.read()
        certs = bundle_store(cfg).certs
    else:
        certs = bundle_store(cfg).certs  # on a warm cache hit, read back from the entry
        data = b"".join(certs) if args.format == "der" else pem_bytes(certs)
    if note:
        print(f"note: {note}", file=sys.stderr)
    if args.output:
        try:
            if args.output == "-":
                sys.stdout.buffer.write(data)
                sys.stdout.flush()
            else:
                _write_output(args.output, data)
        except OSError as exc:
            print(f"error: cannot write {args.output}: {exc.strerror or exc}", file=sys.stderr)
            return 2
        target = "standard output" if args.output == "-" else args.output
        print(f"wrote {len(certs)} certificates to {target} ({args.format})", file=sys.stderr)
        if not certs:
            print("error: the store is empty: nothing a program could trust was exported", file=sys.stderr)
            return 1
        return 0
    from . import _scan
    from .x509 import split_concatenated

    impl, _ = _scan.select(cfg.settings.scanner.value)
    try:
        data = _read_regular_file(args.check)
    except OSError as exc:
        print(f"error: cannot read {shown(args.check)}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    # A PEM bundle goes through the scanner (the rules of SSL_CERT_FILE); a DER one is the
    # concatenation `--format der` writes, which no scanner reads as a single certificate.
    split = None if b"-----BEGIN" in data else split_concatenated(data)
    problems: list[str] = []
    if split is not None:
        bundled = split
    else:
        result = impl.scan_files([(args.check, data)])
        bundled = result.certs
        problems = [p.message for p in result.problems]
    have, want = set(bundled), set(certs)
    if have == want and not problems:
        print(f"{args.check} matches the current sources ({len(want)} certificates)")
        return 0
    detail = [f"{len(want - have)} certificates missing from the bundle",
              f"{len(have - want)} no longer in the sources"]
    detail += [f"bundle problem: {p}" for p in problems]
    print(f"{args.check} differs from the current sources: " + ", ".join(detail))
    return 1


def _cmd_backends(args: argparse.Namespace) -> int:
    rows = []
    from . import registry  # the entry-point scan: only this command needs it

    for key, entry in registry.discover().items():
        try:
            backend = entry.load()
            rows.append({"name": key, "available": True, "distribution": entry.distribution,
                         "target": entry.target, "description": backend.description, "reason": None})
        except TlsbackError as exc:
            rows.append({"name": key, "available": False, "distribution": entry.distribution,
                         "target": entry.target, "description": None, "reason": str(exc)})
    if args.json:
        json.dump(rows, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    for r in rows:
        state = "available" if r["available"] else "unavailable"
        print(f"{r['name']:<10} {state:<12} {r['distribution']}  {r['description'] or r['reason']}")
    return 0


def _cmd_run(cfg: TLSConfig, args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from ._run import run

    command = list(args.argv)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        parser.error("run: give the program to run: tlsback run -- CMD [ARGS]")
    return run(cfg, command)


def _cmd_env(cfg: TLSConfig, args: argparse.Namespace) -> int:
    from ._run import format_env, variables

    sys.stdout.write(format_env(variables(cfg), args.shell))
    sys.stdout.flush()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``tlsback`` command.

    Never shows a traceback for anything a user can do: a closed pipe ends quietly, Ctrl-C
    exits 130 with one line, errors are ``error:`` lines.

    Args:
        argv: the arguments (default ``sys.argv[1:]``).

    Returns:
        The exit status.
    """
    try:
        return _main(argv)
    except KeyboardInterrupt:
        return exit_interrupted()
    except BrokenPipeError:
        # The reader went away (`tlsback info --json | head -3`). Python would complain again
        # when flushing stdout at exit: point it at /dev/null first.
        import os

        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 141  # 128 + SIGPIPE, what a program killed by the closed pipe reports
    except Exception as exc:
        # Ctrl-C while a module was being imported can reach here wrapped (is_interruption).
        if not is_interruption(exc):
            raise
        return exit_interrupted()


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    after = getattr(args, _SUB_HOSTS, None)
    if after:
        args.tlsback_insecure_hosts = [*(getattr(args, "tlsback_insecure_hosts", None) or ()), *after]
    _setup_logging(args)
    try:
        if args.command == "backends":
            return _cmd_backends(args)
        if args.command == "bench":
            from . import bench

            return bench.run(args, sys.stdout)
        cfg = load(args)
        if args.command == "info":
            return _cmd_info(cfg, args)
        if args.command == "fetch":
            return _cmd_fetch(cfg, args)
        if args.command == "run":
            return _cmd_run(cfg, args, parser)
        if args.command == "env":
            return _cmd_env(cfg, args)
        return _cmd_bundle(cfg, args)
    except TlsbackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
