"""``tlsback bench``: loader timings, C scanner against Python, on real or generated trees.

For each implementation: the median over ``--runs`` of the scan alone (``scan_files`` on files
already read) and of the whole load (``loader.load_trust_store``: list, read, scan, dedupe,
hash), beside the floor: listing and reading every file without parsing. The figures are the
ones the benchmarks under ``benchmarks/`` record; ``--json`` prints them for tracking::

    {"floor_s": F, "results": [{"implementation": "c" | "python", "scan_s": S, "load_s": L,
      "unique": U, "duplicates": D, "skipped": K}, ...]}

``skipped`` counts the problems met (files or blocks skipped with a warning).

Without a directory, a tree of ``--certs`` generated certificates is used (built once and cached
under ``$XDG_CACHE_HOME/tlsback-bench``): mixed PEM files, DER files, bundles, about 20 %
duplicates, a few broken files and hash-named symlinks. Generation needs nothing but the
standard library: certificates are assembled in DER around one fixed RSA public key, with
distinct subjects and serials (their signatures are not valid; loaders do not verify them).
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

__all__ = ["TreeInfo", "configure_parser", "ensure_tree", "make_cert", "measure", "run"]

# --- generated trees ---------------------------------------------------------------------

TREE_VERSION = 2

# One RSA-2048 SubjectPublicKeyInfo shared by every generated certificate (generation speed).
_SPKI = bytes.fromhex(
    "30820122300d06092a864886f70d01010105000382010f003082010a0282010100b3f4fe669365371"
    "38a397c5146153d879b97d49b34f0f66a6061cfe83ecbfbf0c2d27f6bba0caeb5c339c5528c197b89e4"
    "40a76addc645b8b93e71b64b7a4ea336e5f7eac54952a51f9e289fac5962b75685fc51745fb1677c674"
    "45378dc6f35841958208bfbae64037f8fdf9600ad2b363468a569678662ca25675d1e930e3a7d182a8d"
    "ef240e83f14681704c90db2f3803784896b00c18c81d5733ae12550954cdf4deb3284435cbd86a3d4c6"
    "9b3867890979993b5128d6f37f4d9a958291dd9af797c5134193f549806941b90471caaa6bed8157fda"
    "5accb5045886539f29f5734fff26f3c7c1bf9459ceff5d255573cc5dd5ea0fa7c81fd5e58f89f2ef550"
    "203010001"
)
_SHA256_RSA = bytes.fromhex("300d06092a864886f70d01010b0500")
_VALIDITY = bytes.fromhex("301e170d3234303130313030303030305a170d3434303130313030303030305a")


def _tlv(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        return bytes((tag, n)) + content
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(body))) + body + content


def _name(cn: str, org: str) -> bytes:
    def rdn(oid: bytes, tag: int, value: str) -> bytes:
        return _tlv(0x31, _tlv(0x30, _tlv(0x06, oid) + _tlv(tag, value.encode())))

    return _tlv(
        0x30,
        rdn(b"\x55\x04\x06", 0x13, "US")
        + rdn(b"\x55\x04\x0a", 0x0C, org)
        + rdn(b"\x55\x04\x03", 0x0C, cn),
    )


def make_cert(i: int) -> bytes:
    """The i-th generated CA certificate (DER, about 1.1 kB, like a real root)."""
    subject = _name(f"Bench Root CA {i:06d}", f"Bench Org {i % 97}")
    issuer = _name(f"Bench Issuing CA {i % 13}", f"Bench Org {i % 97}")
    ski = i.to_bytes(20, "big")
    exts = (
        _tlv(0x30, _tlv(0x06, b"\x55\x1d\x13") + _tlv(0x01, b"\xff")
             + _tlv(0x04, _tlv(0x30, _tlv(0x01, b"\xff"))))
        + _tlv(0x30, _tlv(0x06, b"\x55\x1d\x0f") + _tlv(0x01, b"\xff")
               + _tlv(0x04, _tlv(0x03, b"\x01\x06")))
        + _tlv(0x30, _tlv(0x06, b"\x55\x1d\x0e") + _tlv(0x04, _tlv(0x04, ski)))
        + _tlv(0x30, _tlv(0x06, b"\x55\x1d\x1f") + _tlv(0x04, _tlv(0x30, _tlv(0x30, _tlv(
            0xA0, _tlv(0xA0, _tlv(0x86, f"http://crl.example.com/bench/{i}.crl".encode())))))))
    )  # fmt: skip
    tbs = _tlv(
        0x30,
        _tlv(0xA0, _tlv(0x02, b"\x02"))
        + _tlv(0x02, (i + 1).to_bytes(((i + 1).bit_length() + 8) // 8, "big"))
        + _SHA256_RSA
        + issuer
        + _VALIDITY
        + subject
        + _SPKI
        + _tlv(0xA3, _tlv(0x30, exts)),
    )
    sig = (i * 0x9E3779B97F4A7C15 % (1 << 64)).to_bytes(8, "big") * 32
    return _tlv(0x30, tbs + _SHA256_RSA + _tlv(0x03, b"\x00" + sig))


def _pem(der: bytes) -> bytes:
    b64 = base64.encodebytes(der).replace(b"\n", b"")
    lines = b"\n".join(b64[i : i + 64] for i in range(0, len(b64), 64))
    return b"-----BEGIN CERTIFICATE-----\n" + lines + b"\n-----END CERTIFICATE-----\n"


@dataclass(frozen=True)
class TreeInfo:
    """A generated tree and what loading it must give."""

    path: str
    certs: int  # distinct certificates
    duplicates: int  # extra copies
    broken: int  # files that each yield exactly one problem
    files: int  # entries a loader reads (symlinks included)


BROKEN_FILES: dict[str, Callable[[], bytes]] = {
    "broken-truncated.pem": lambda: _pem(make_cert(0))[:-40],  # missing END
    "broken-base64.pem": lambda: _pem(make_cert(0)).replace(b"M", b"!", 1),
    "broken-truncated.cer": lambda: make_cert(0)[:-100],  # truncated DER
    "broken-text.crt": lambda: b"this is not a certificate\n",
    "broken-empty.pem": lambda: b"",
}


def cache_root() -> str:
    """Where generated trees are kept: ``$XDG_CACHE_HOME/tlsback-bench``."""
    from .settings import location_env

    env = location_env()
    base = env.get("XDG_CACHE_HOME") or os.path.join(env.get("HOME") or os.path.expanduser("~"), ".cache")
    return os.path.join(base, "tlsback-bench")


def ensure_tree(n: int, root: str | None = None) -> TreeInfo:
    """Build (once, atomically) and return the generated tree of ``n`` distinct certificates.

    Layout: 60 % single PEM files (``.pem``), 20 % DER files (``.cer``), 20 % in bundles of
    100 (``.crt``); about 20 % duplicates (10 % as copies in PEM files, 10 % in duplicate
    bundles); hash-named symlinks (``xxxxxxxx.0``) to one PEM file in ten; five broken files.
    """
    root = root or cache_root()
    path = os.path.join(root, f"tree-{n}-v{TREE_VERSION}")
    meta_path = os.path.join(path, "tree.json")
    if os.path.exists(meta_path):
        with open(meta_path, encoding="utf-8") as f:
            return TreeInfo(**json.load(f))
    os.makedirs(root, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f"tree-{n}-", dir=root)
    from . import _scan_py

    ders = [make_cert(i) for i in range(1, n + 1)]
    n_pem, n_der = n * 6 // 10, n * 2 // 10
    files = 0
    duplicates = 0

    def write(name: str, data: bytes) -> None:
        nonlocal files
        with open(os.path.join(tmp, name), "wb") as f:
            f.write(data)
        files += 1

    for i in range(n_pem):
        write(f"cert-{i:06d}.pem", _pem(ders[i]))
        if i % 10 == 0:
            h = _scan_py.subject_hash(ders[i])
            k = 0
            while os.path.lexists(os.path.join(tmp, f"{h:08x}.{k}")):
                k += 1
            os.symlink(f"cert-{i:06d}.pem", os.path.join(tmp, f"{h:08x}.{k}"))
            files += 1
    for i in range(n_pem, n_pem + n_der):
        write(f"cert-{i:06d}.cer", ders[i])
    rest = list(range(n_pem + n_der, n))
    for b in range(0, len(rest), 100):
        write(f"bundle-{b // 100:04d}.crt", b"".join(_pem(ders[i]) for i in rest[b : b + 100]))
    # duplicates: names sort after the originals, so the originals win
    for i in range(0, n, 10):
        write(f"zz-copy-{i:06d}.pem", b"# a copy\n" + _pem(ders[i]))
        duplicates += 1
    dup = list(range(5, n, 10))
    for b in range(0, len(dup), 100):
        write(f"zz-dups-{b // 100:04d}.pem", b"".join(_pem(ders[i]) for i in dup[b : b + 100]))
        duplicates += len(dup[b : b + 100])
    for name, make in BROKEN_FILES.items():
        write(name, make())
    info = TreeInfo(path, n, duplicates, len(BROKEN_FILES), files)
    with open(os.path.join(tmp, "tree.json"), "w", encoding="utf-8") as f:
        json.dump(info.__dict__, f)
    try:
        os.rename(tmp, path)
    except OSError:  # built concurrently by someone else: use theirs
        shutil.rmtree(tmp, ignore_errors=True)
    with open(meta_path, encoding="utf-8") as f:
        return TreeInfo(**json.load(f))


# --- measuring ---------------------------------------------------------------------------


def _platform_sources(paths: Sequence[str]) -> list[Any]:
    from .sources import Source

    return [
        Source("platform", p, "dir" if os.path.isdir(p) else "file", "bench") for p in paths
    ]


def list_and_read(paths: Sequence[str]) -> list[tuple[str, bytes]]:
    """The floor: list the sources and read each file once (what the loader does but scanning).

    Uses ``tlsback.sources.list_source`` for listing; files reached twice (hash-named links)
    are read once, as the loader does.
    """
    from .sources import list_source

    items = []
    seen = set()
    for source in _platform_sources(paths):
        for path in list_source(source).files:
            try:
                st = os.stat(path)
                key = (st.st_dev, st.st_ino)
                if key in seen:
                    continue
                seen.add(key)
                with open(path, "rb") as f:
                    items.append((path, f.read()))
            except OSError:
                continue
    return items


def _load(paths: Sequence[str], scanner: str) -> Any:
    from .loader import load_trust_store

    return load_trust_store(
        cert_file=None,
        cert_dirs=[],
        include_platform=True,
        platform_paths=list(paths),
        scanner=scanner,
    )


def _implementations() -> list[tuple[str, Any, str]]:
    """(name, scanner module, ``Settings.scanner`` value selecting it)."""
    from . import _scan_py

    out: list[tuple[str, Any, str]] = []
    try:
        from . import _scan_c

        out.append(("c", _scan_c, "c"))
    except ImportError:
        pass
    out.append(("python", _scan_py, "python"))
    return out


def measure(
    paths: Sequence[str], runs: int = 5, progress: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Time the floor, and scan and whole load per implementation (medians over ``runs``).

    The loader's warnings (broken files are expected in benchmark trees) are silenced while
    measuring; their number is reported as ``skipped``.

    Returns:
        The ``--json`` document (see the module docstring).
    """
    logger = logging.getLogger("tlsback")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        return _measure(paths, runs, progress)
    finally:
        logger.setLevel(level)


def _measure(
    paths: Sequence[str], runs: int, progress: Callable[[str], None] | None
) -> dict[str, Any]:
    step = progress or (lambda _what: None)
    floor = []
    items: list[tuple[str, bytes]] = []
    for _ in range(runs):
        t = time.perf_counter()
        items = list_and_read(paths)
        floor.append(time.perf_counter() - t)
        step("floor")
    results = []
    for name, impl, scanner in _implementations():
        scan, load = [], []
        result = store = None
        for _ in range(runs):
            t = time.perf_counter()
            result = impl.scan_files(items)
            scan.append(time.perf_counter() - t)
            step(f"scan {name}")
        for _ in range(runs):
            t = time.perf_counter()
            store = _load(paths, scanner)
            load.append(time.perf_counter() - t)
            step(f"load {name}")
        assert result is not None and store is not None
        assert store.implementation == name
        results.append(
            {
                "implementation": name,
                "scan_s": statistics.median(scan),
                "load_s": statistics.median(load),
                "unique": len(store.certs),
                "duplicates": store.duplicates,
                "skipped": len(store.problems),
            }
        )
    return {"floor_s": statistics.median(floor), "results": results}


# --- the command -------------------------------------------------------------------------


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the ``bench`` arguments to its sub-parser."""
    parser.add_argument(
        "dirs", nargs="*", metavar="DIR",
        help="certificate directories or bundle files to load (default: a generated tree)",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--runs", type=int, default=5, help="runs per measurement (median)")
    parser.add_argument(
        "--certs", type=int, default=10_000,
        help="distinct certificates in the generated tree (default 10000)",
    )  # fmt: skip


class _Progress:
    """A progress bar on stderr: drawn in place on a terminal, as plain lines on long runs."""

    def __init__(self, total: int, stream: TextIO) -> None:
        self.total, self.done, self.stream = total, 0, stream
        self.tty = stream.isatty()
        self.start = time.monotonic()
        self.last_line = 0.0

    def __call__(self, what: str) -> None:
        self.done += 1
        width = 30
        filled = width * self.done // self.total
        bar = f"[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} {what}"
        now = time.monotonic()
        if self.tty:
            self.stream.write(f"\r{bar:<70}")
            if self.done == self.total:
                self.stream.write("\r" + " " * 70 + "\r")
            self.stream.flush()
        elif now - self.start > 2 and (now - self.last_line > 2 or self.done == self.total):
            self.stream.write(bar + "\n")
            self.stream.flush()
            self.last_line = now


def run(args: argparse.Namespace, out: TextIO) -> int:
    """Run ``tlsback bench``; returns the exit status (2 for a usage error)."""
    runs = args.runs
    if runs < 1:
        print("tlsback bench: --runs must be at least 1", file=sys.stderr)
        return 2
    from ._scantypes import shown

    paths = list(args.dirs)
    label = ", ".join(map(shown, paths))
    if not paths:
        certs = getattr(args, "certs", 10_000)
        print(f"generating (or reusing) a tree of {certs} certificates...", file=sys.stderr)
        tree = ensure_tree(certs)
        paths = [tree.path]
        label = f"generated tree of {certs} certificates ({tree.path})"
    missing = [p for p in paths if not os.path.exists(p)]
    if missing:
        print(f"tlsback bench: no such file or directory: {', '.join(map(shown, missing))}", file=sys.stderr)
        return 2
    n_impl = len(_implementations())
    progress = _Progress(runs * (1 + 2 * n_impl), sys.stderr)
    doc = measure(paths, runs, progress)
    if args.json:
        out.write(json.dumps(doc) + "\n")
        return 0
    out.write(f"{label}: medians of {runs} runs\n")
    out.write(f"floor (list + read, no parsing): {doc['floor_s'] * 1000:9.1f} ms\n")
    out.write(f"{'implementation':<15}{'scan ms':>10}{'load ms':>10}{'unique':>9}"
              f"{'duplicates':>12}{'skipped':>9}\n")  # fmt: skip
    out.writelines(f"{r['implementation']:<15}{r['scan_s'] * 1000:>10.1f}{r['load_s'] * 1000:>10.1f}"
            f"{r['unique']:>9}{r['duplicates']:>12}{r['skipped']:>9}\n" for r in doc["results"])
    by = {r["implementation"]: r for r in doc["results"]}
    if "c" in by:
        c, py = by["c"], by["python"]
        ratio = py["scan_s"] / c["scan_s"]
        versus = f"{ratio:.1f}x faster than" if ratio >= 1 else f"{1 / ratio:.1f}x slower than"
        out.write(
            f"scan: C is {versus} Python; "
            f"whole load: C {c['load_s'] / doc['floor_s']:.2f}x the floor, "
            f"Python {py['load_s'] / doc['floor_s']:.2f}x\n"
        )
    else:
        out.write("the C extension is not built: Python only\n")
    return 0
