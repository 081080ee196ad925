"""The ``tlsback`` command: ``info``, ``fetch``, ``bundle``, ``backends``, ``bench``.

Exit status: 0 on success, 1 when a fetch fails (TLS or HTTP) or a bundle no longer matches,
2 on a usage or configuration error.
"""

from __future__ import annotations

import argparse
import json
import logging
import ssl
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from . import registry
from ._version import __version__
from .config import TLSConfig, load
from .errors import TlsbackError
from .settings import add_arguments

__all__ = ["build_parser", "main"]

log = logging.getLogger("tlsback")


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"{record.levelname.lower()}: {record.getMessage()}"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``tlsback`` command."""
    common = argparse.ArgumentParser(add_help=False)
    add_arguments(common, suppress_defaults=True)
    verbosity = common.add_argument_group("output")
    verbosity.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS,
                           help="say more (repeat for debug output)")
    verbosity.add_argument("-q", "--quiet", action="count", default=argparse.SUPPRESS,
                           help="say less (no warnings)")

    parser = argparse.ArgumentParser(
        prog="tlsback", parents=[common],
        description="uv-style TLS trust configuration: see what is trusted and why, and use it.",
    )
    parser.add_argument("--version", action="version", version=f"tlsback {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("info", parents=[common], help="explain the TLS configuration and trust store")
    p.add_argument("--json", action="store_true", help="print the diagnostics as JSON")

    p = sub.add_parser("fetch", parents=[common], help="GET a URL with the resolved configuration")
    p.add_argument("url")
    p.add_argument("-o", "--output", metavar="FILE", help="write the body to FILE (default: stdout)")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per connection (default 30)")

    p = sub.add_parser("bundle", parents=[common], help="write or check the effective deduplicated store")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("-o", "--output", metavar="FILE", help="write the store to FILE")
    what.add_argument("--check", metavar="FILE", help="say whether FILE still matches the sources")
    p.add_argument("--format", choices=("pem", "der"), default="pem", help="output format (default pem)")

    p = sub.add_parser("backends", parents=[common], help="list registered backends")
    p.add_argument("--json", action="store_true", help="print as JSON")

    from . import bench

    p = sub.add_parser("bench", parents=[common], help="time the certificate loaders (C against Python)")
    bench.configure_parser(p)
    return parser


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
        w(f"cache        {c.get('state')}  {c.get('path') or ''}  {c.get('reason') or ''}".rstrip() + "\n")
    w("sources\n")
    for s in d["sources"]:
        w(f"  {s['kind']:<14} {s['path']}  ({s['origin']})\n")
        extra = f", {s['aliases']} aliases" if s["aliases"] else ""
        extra += f", {s['skipped']} other entries skipped" if s["skipped"] else ""
        w(f"  {'':<14} {s['files']} files, {s['certificates']} certificates, {s['unique']} new, "
          f"{s['duplicates']} duplicates{extra}\n")
        for p in s["problems"]:
            w(f"  {'':<14} ! {p['path']}: {p['message']}\n")
    if d["insecure_warning"]:
        w(f"insecure     {d['insecure_warning']}\n")
        for h in d["insecure_hosts"]:
            if "note" in h:
                w(f"             ! {h['rule']}: {h['note']}\n")
    else:
        w("insecure     none (every HTTPS host is verified)\n")
    cc = d["client_cert"]
    w(f"client cert  {cc if cc is None else ', '.join(f'{k}={v}' for k, v in cc.items())}\n")
    if d["config_files"]:
        w("config       " + ", ".join(d["config_files"]) + "\n")
    # Every other switch that is not at its default, with where it came from (--json: all).
    for name, setting in d["settings"].items():
        if setting["origin"] != "default" and name not in ("backend", "insecure_hosts"):
            w(f"setting      {name} = {setting['value']!r}  ({setting['origin']})\n")
    t = d["timings"]
    w("timings      " + ", ".join(f"{k.removesuffix('_s')} {_fmt_seconds(v)}" for k, v in t.items()) + "\n")
    if d["warnings"]:
        w(f"warnings     {len(d['warnings'])} (shown above)\n")


def _cmd_info(cfg: TLSConfig, args: argparse.Namespace) -> int:
    d = cfg.diagnostics()
    if args.json:
        json.dump(d, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        _print_info(d, sys.stdout)
    return 0


def _cmd_fetch(cfg: TLSConfig, args: argparse.Namespace) -> int:
    from ._fetch import FetchError, fetch

    try:
        body = fetch(cfg, args.url, timeout=args.timeout)
    except FetchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.output:
        with open(args.output, "wb") as f:
            f.write(body)
    else:
        sys.stdout.buffer.write(body)
        sys.stdout.flush()
    return 0


def _write_atomically(path: str, data: bytes) -> None:
    """Write ``path`` through a temporary file in the same directory and a rename, so a
    program reading the bundle never sees half of it."""
    import os
    import tempfile

    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tlsback-bundle-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)  # a bundle holds public certificates only
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _cmd_bundle(cfg: TLSConfig, args: argparse.Namespace) -> int:
    """``bundle -o FILE [--format pem|der]`` and ``bundle --check FILE`` (SPEC §8)."""
    store = cfg.store
    certs = store.certs  # on a warm cache hit, read back from the entry
    if args.output:
        if args.format == "der":
            data = b"".join(certs)
        else:
            data = "".join(ssl.DER_cert_to_PEM_cert(der) for der in certs).encode("ascii")
        try:
            if args.output == "-":
                sys.stdout.buffer.write(data)
                sys.stdout.flush()
            else:
                _write_atomically(args.output, data)
        except OSError as exc:
            print(f"error: cannot write {args.output}: {exc.strerror or exc}", file=sys.stderr)
            return 2
        where = "standard output" if args.output == "-" else args.output
        print(f"wrote {len(certs)} certificates to {where} ({args.format})", file=sys.stderr)
        return 0
    from . import _scan
    from .x509 import split_concatenated

    impl, _ = _scan.select(cfg.settings.scanner.value)
    try:
        with open(args.check, "rb") as f:
            data = f.read()
    except OSError as exc:
        print(f"error: cannot read {args.check}: {exc.strerror or exc}", file=sys.stderr)
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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``tlsback`` command.

    Args:
        argv: the arguments (default ``sys.argv[1:]``).

    Returns:
        The exit status.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
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
        return _cmd_bundle(cfg, args)
    except TlsbackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
