"""Loading trust sources into a :class:`TrustStore`.

Documented in docs/sources.md (the sources), docs/loader.md (this pipeline) and docs/cache.md
(the lazy store).

One pipeline for every source: list files (:mod:`tlsback.sources`), read them here, then scan,
decode, frame-check and deduplicate them with the chosen implementation (the C extension or
its pure-Python twin, :mod:`tlsback._scan`). Every problem becomes one warning that names the
source and the path and says what stays trusted; loading always goes on with the rest.

Large stores are handed to OpenSSL lazily (docs/cache.md, :mod:`tlsback.cache`): the listing is
done first and every listed file stat'ed, which is all a warm start does; the trust cache is asked
for an entry with that key before any file is read. On a hit, the per-source diagnostics (and
the warnings) come from the entry's metadata. On a miss the files are read and scanned, and the
store is either loaded eagerly (small stores, where that measures faster) or written as a
hashed directory into the cache.
"""

from __future__ import annotations

import errno
import os
import ssl
import stat
import sys
import time
from array import array

from . import _log
from ._scantypes import Problem, file_stats, shown
from .sources import certifi_source, custom_sources, list_source, platform_sources

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs milliseconds at start-up
if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence
    from typing import Any

    from ._scantypes import ScanResult
    from .cache import CacheRoot, Entry, EntryWriter, Lease
    from .sources import Listing, Source

__all__ = [
    "EAGER_MAX_CACHED",
    "EAGER_MAX_UNCACHED",
    "MAX_FILE_SIZE",
    "SourceReport",
    "StoreOptions",
    "TrustStore",
    "format_warning",
    "installed_scanner",
    "load_trust_store",
]

log = _log.getLogger(__name__)

# Larger files are skipped unread, with a warning (docs/sources.md, "Bad input").
MAX_FILE_SIZE = 10 * 1024 * 1024
# A file with thousands of broken blocks gives this many warnings and one summary, not thousands.
MAX_PROBLEMS_PER_FILE = 10

# Stores of at most this many certificates are loaded eagerly (``cadata``) in ``auto`` mode:
# below it, reading + scanning + an eager load costs less than a warm lazy start plus the first
# handshake's lookups, or (without the cache) less than building the hashed directory.
# Measured by ``python benchmarks/bench_startup.py --threshold`` (figures in docs/cache.md).
EAGER_MAX_CACHED = 0
EAGER_MAX_UNCACHED = 2

STORE_MODES = ("auto", "lazy", "eager")


class StoreOptions:
    """How the store is handed to OpenSSL and whether the trust cache is used.

    Attributes:
        store: ``auto`` (lazy above the measured threshold, else eager), ``lazy`` or ``eager``
            (``TLSBACK_STORE``).
        cache: whether the per-user cache may be used (``--no-cache``, ``TLSBACK_NO_CACHE``).
        cache_reason: why the cache is off, in words (shown by ``tlsback info``).
        cache_dir: ``TLSBACK_CACHE_DIR``, or None for the default location.
        lazy_ok: whether the backend can use a ``capath`` (contexts that verify with OpenSSL).
        cache_env: the variables that place the cache (``Settings.cache_env``).
    """

    __slots__ = ("cache", "cache_dir", "cache_env", "cache_reason", "lazy_ok", "store")

    def __init__(self, store: str = "auto", cache: bool = True, cache_reason: str = "",
                 cache_dir: str | None = None, lazy_ok: bool = True,
                 cache_env: Mapping[str, str] | None = None) -> None:
        self.store = store
        self.cache = cache
        self.cache_reason = cache_reason
        self.cache_dir = cache_dir
        self.lazy_ok = lazy_ok
        self.cache_env: Mapping[str, str] = cache_env if cache_env is not None else {}


class SourceReport:
    """What one source contributed, for diagnostics."""

    __slots__ = ("aliases", "certificates", "files", "problems", "skipped", "source", "unique")

    def __init__(self, source: Source, files: int = 0, certificates: int = 0, unique: int = 0,
                 aliases: int = 0, skipped: int = 0, problems: list[Problem] | None = None) -> None:
        self.source = source
        self.files = files
        self.certificates = certificates  # found, before deduplication
        self.unique = unique  # new to the store
        self.aliases = aliases  # files already read through an earlier path (hash links, repeated sources)
        self.skipped = skipped  # directory entries passed over silently (other names, subdirectories)
        self.problems: list[Problem] = problems if problems is not None else []

    def __repr__(self) -> str:
        return f"<SourceReport {self.source.kind} {self.source.path}: {self.certificates} certificates>"

    @property
    def duplicates(self) -> int:
        """Certificates this source held that the store already had."""
        return self.certificates - self.unique

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form, as ``tlsback info --json`` prints it."""
        return {
            "kind": self.source.kind,
            "path": self.source.path,
            "origin": self.source.origin,
            "files": self.files,
            "certificates": self.certificates,
            "unique": self.unique,
            "duplicates": self.duplicates,
            "aliases": self.aliases,
            "skipped": self.skipped,
            "problems": [
                {"path": p.path, "code": p.code, "message": p.message, "line": p.line}
                for p in self.problems
            ],
        }


class TrustStore:
    """The deduplicated trust anchors of a set of sources, with how they were loaded.

    An immutable value: built once by :func:`load_trust_store`, handed to OpenSSL by
    :mod:`tlsback.anchors`. Its attributes cannot be reassigned (nothing may change what a
    context built from it trusts).

    Attributes:
        certs: unique DER certificates in source order (first occurrence wins). On a warm cache
            hit they are read from the cache entry only when asked for.
        origins: the file each certificate was first found in.
        subject_hashes: OpenSSL's subject-name hash of each certificate.
        sources: one report per source, in loading order.
        implementation: ``c`` or ``python``: which scanner ran (or built the cache entry).
        implementation_reason: why that one.
        platform_fallback: True when no platform store was found and certifi's roots were used.
        mode: ``merge`` or ``only`` (docs/sources.md, "Merging, deduplication and
            `only` mode").
        timings: seconds spent listing, reading, scanning, building, and in all.
        lazy_dir: the hashed directory handed to OpenSSL as ``capath``, or None (eager).
        lease: what keeps ``lazy_dir`` in place while the store or a context uses it.
        cache: the cache state for diagnostics: ``state`` (``hit``, ``built``, ``eager``,
            ``disabled``), ``path``, ``reason``, ...
    """

    __slots__ = ("_certs", "_count", "_entry", "_hashes", "_load_args", "_origins", "_scan", "cache", "implementation",
                 "implementation_reason", "lazy_dir", "lease", "mode", "platform_fallback", "sources",
                 "timings")
    _certs: list[bytes]
    _origins: list[str]
    _hashes: list[int]
    _count: int | None
    _entry: Entry | None
    _scan: ScanResult | None
    _load_args: dict[str, Any]
    sources: list[SourceReport]
    implementation: str
    implementation_reason: str
    platform_fallback: bool
    mode: str
    timings: dict[str, float]
    lazy_dir: str | None
    cache: dict[str, Any]
    lease: Lease | None

    def __init__(
        self,
        certs: list[bytes] | None = None,
        origins: list[str] | None = None,
        subject_hashes: list[int] | None = None,
        sources: list[SourceReport] | None = None,
        implementation: str = "python",
        implementation_reason: str = "",
        platform_fallback: bool = False,
        mode: str = "merge",
        timings: dict[str, float] | None = None,
        *,
        lazy_dir: str | None = None,
        lease: Lease | None = None,
        entry: Entry | None = None,
        cache: dict[str, Any] | None = None,
        load_args: dict[str, Any] | None = None,
        scan: ScanResult | None = None,
    ) -> None:
        """A store from already scanned certificates, or from a cache ``entry`` (read lazily;
        ``load_args``: the :func:`load_trust_store` arguments that read its sources without
        the cache, should the entry's files be found damaged), or from a ``scan`` (its
        certificates made when first asked for; origins and hashes given)."""
        init = object.__setattr__
        init(self, "_scan", scan)
        init(self, "_load_args", load_args if load_args is not None else {})
        init(self, "_certs", certs if certs is not None else [])
        init(self, "_origins", origins if origins is not None else [])
        init(self, "_hashes", subject_hashes if subject_hashes is not None else [])
        init(self, "_entry", entry)
        init(self, "_count", entry.count if entry is not None else len(scan.origins) if scan is not None else None)
        init(self, "sources", sources if sources is not None else [])
        init(self, "implementation", implementation)
        init(self, "implementation_reason", implementation_reason)
        init(self, "platform_fallback", platform_fallback)
        init(self, "mode", mode)
        init(self, "timings", timings if timings is not None else {})
        init(self, "lazy_dir", entry.path if entry is not None else lazy_dir)
        init(self, "lease", entry.lease if entry is not None else lease)
        init(self, "cache", cache if cache is not None else {"state": "eager", "path": None, "reason": ""})

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("TrustStore is immutable; load the store again")

    __delattr__ = __setattr__  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (f"<TrustStore {self.count} certificates, {self.cache.get('state')}"
                f"{' ' + self.lazy_dir if self.lazy_dir else ''}>")

    def _materialize(self) -> None:
        # The one change after construction: a cache hit's certificates are read on first use
        # (the same certificates the entry was built from; the value does not change), and,
        # should the entry be damaged, the store turns eager (the same certificates again).
        if self._scan is not None:  # the scan's certificates, made from its store on first use
            object.__setattr__(self, "_certs", self._scan.certs)
            object.__setattr__(self, "_scan", None)
            object.__setattr__(self, "_count", None)
            return
        entry = self._entry
        if entry is None:
            return
        setattr_ = object.__setattr__
        try:
            certs, origins, hashes = _read_entry(entry, self._load_args.get("scanner", "auto"))
        except OSError as exc:
            if exc.errno in _TRANSIENT:  # the process, not the entry (no descriptor left): not damage
                raise
            self._discard(entry, exc)
        except ValueError as exc:
            self._discard(entry, exc)
        else:
            setattr_(self, "_certs", certs)
            setattr_(self, "_origins", origins)
            setattr_(self, "_hashes", hashes)
        setattr_(self, "_entry", None)
        setattr_(self, "_count", None)

    def _discard(self, entry: Entry, exc: OSError | ValueError) -> None:
        """``entry`` found damaged. A warm start checks only the entry's metadata and directory;
        damage inside a HASH.N file (its directory's mtime unchanged) shows here. Never trusted:
        the entry is discarded for every later start, and this store is read from its sources
        again and becomes eager, so no context built from now on uses the directory."""
        from . import cache

        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        log.warning("The trust cache entry %s is damaged (%s); it will not be used again. "
                    "Reading the certificates from their sources instead.", shown(entry.path), why)
        cache.discard(entry, why)
        fresh = load_trust_store(**self._load_args)
        setattr_ = object.__setattr__
        setattr_(self, "lazy_dir", None)
        setattr_(self, "lease", None)
        setattr_(self, "cache", dict(self.cache, state="eager", path=None,
                                     reason=f"the cache entry was damaged ({why}); loaded from the sources"))
        setattr_(self, "_certs", fresh.certs)
        setattr_(self, "_origins", fresh.origins)
        setattr_(self, "_hashes", fresh.subject_hashes)

    @property
    def certs(self) -> list[bytes]:
        """Unique DER certificates in source order."""
        self._materialize()
        return self._certs

    @property
    def origins(self) -> list[str]:
        """For each certificate, the file it was first found in."""
        self._materialize()
        return self._origins

    @property
    def subject_hashes(self) -> list[int]:
        """For each certificate, OpenSSL's ``X509_NAME_hash`` of its subject."""
        self._materialize()
        return self._hashes

    @property
    def count(self) -> int:
        """How many certificates the store holds (without reading a cached entry's files)."""
        return self._count if self._count is not None else len(self._certs)

    @property
    def problems(self) -> list[Problem]:
        """Every problem of every source, in order."""
        return [p for report in self.sources for p in report.problems]

    @property
    def duplicates(self) -> int:
        """Certificates dropped because an identical one came first."""
        return sum(r.duplicates for r in self.sources)

    def cadata(self) -> bytes:
        """All certificates as one concatenated DER blob (``load_verify_locations(cadata=...)``)."""
        scan = self._scan  # read once: a concurrent _materialize may drop it
        if scan is not None:  # the scan's store as it is: no bytes object per certificate
            der, ends = scan.der()
            return der[:ends[-1]] if ends else b""
        return b"".join(self.certs)


def _read_entry(entry: Entry, scanner: str) -> tuple[list[bytes], list[str], list[int]]:
    """A cache entry's certificates, read back and checked: DER, origins, subject hashes.

    Each ``HASH.N`` name must be a file holding only canonical PEM copies (byte for byte the
    scanner's ``pem_encode``; a file holds up to ``cache.BUCKET``, ``EntryWriter``) of the
    entry's certificates: at the place the index gives, one certificate whose subject hash is
    ``HASH``; no certificate under two names' places, none in a file that the index does not list.

    Raises:
        OSError, ValueError: the index or a file is missing, unreadable or damaged (the message
            names the first damaged name, in index order).
    """
    from . import _scan

    index = entry.read_index()
    paths = [os.path.join(entry.path, name) for name, _, _ in index]
    items, problems = _read_files_py(paths, transient_raises=True)
    for path in paths:  # the first problem, in index order
        if path in problems:
            raise ValueError(f"{os.path.basename(path)}: {problems[path].message}")
    end = b"-----END CERTIFICATE-----\n"
    why: dict[str, str] = {}  # path -> what is wrong with it
    placed: list[tuple[str, bytes]] = []
    blocks_of: dict[str, list[bytes]] = {}
    for (_, _, place), (path, data) in zip(index, items):
        parts = bytes(data).split(end)
        blocks = blocks_of[path] = [part + end for part in parts[:-1]]
        if parts[-1] or not 0 <= place < len(blocks):
            why[path] = "not the certificates tlsback wrote there"
        else:
            placed.append((path, blocks[place]))
    impl, _ = _scan.select(scanner)
    result = impl.scan_files(placed)
    for p in result.problems:
        why.setdefault(p.path, p.message)
    unique = dict(zip(result.origins, zip(result.certs, result.subject_hashes)))
    pems = dict(zip(result.origins, impl.pem_encode(result.certs)))
    for path, block in placed:
        stats = result.per_file[path]
        if (stats.found, stats.unique) != (1, 1) or pems.get(path) != block:
            why.setdefault(path, "not the one certificate tlsback wrote there")
        elif unique[path][1] != int(os.path.basename(path)[:8], 16):
            why.setdefault(path, "holds a certificate with another subject hash")
    listed = set(pems.values())
    for path in paths:
        if not listed.issuperset(blocks_of[path]):  # OpenSSL would load it with the others
            why.setdefault(path, "holds a certificate the index does not place there")
    for path in paths:  # the first damaged name, in index order
        if path in why:
            raise ValueError(f"{os.path.basename(path)}: {why[path]}")
    return ([unique[path][0] for path in paths], [origin for _, origin, _ in index],
            [unique[path][1] for path in paths])


# The C reader's codes for a file it did not read (certscan.h's TB_READ_*; besides errnos).
_READ_NOT_REGULAR, _READ_TOO_LARGE = -1, -2


def _read_files(paths: Sequence[str], bulk: tuple[list[Any], array[int], array[int]] | None = None, *,
                listed: array[int] | None = None, changed: list[str] | None = None,
                ) -> tuple[list[tuple[str, Any]], dict[str, Problem]]:
    """Read each file of ``paths``: ``(path, content)`` pairs in order, and a problem per file not read.

    ``bulk``: what ``_ext.read_files`` made of ``paths`` (the same opens and checks as the loop
    in ``_read_files_py``, in bulk); files it could not finish are read here. None: every
    file is read here. ``listed``, ``changed``: see ``_read_files_py``.
    """
    if bulk is None:
        return _read_files_py(paths, listed=listed, changed=changed)
    from . import _ext

    buffers, codes, ids = bulk
    data = _ext.views(buffers)
    items: list[tuple[str, Any]] = []
    problems: dict[str, Problem] = {}
    for i, (path, content, code) in enumerate(zip(paths, data, codes)):
        if code == 0:
            items.append((path, content))
            if listed is not None and changed is not None and ids[6 * i:6 * i + 6] != listed[6 * i:6 * i + 6]:
                changed.append(path)
        elif code == _ext.READ_RETRY:  # grew since its fstat: read again, to its end
            more, problem = _read_files_py(
                [path], listed=listed[6 * i:6 * i + 6] if listed is not None else None, changed=changed)
            items += more
            problems.update(problem)
        else:
            problems[path] = _read_problem(path, code, ids[6 * i])
            if code in _TRANSIENT and changed is not None:  # see _read_files_py
                changed.append(path)
    return items, problems


# The C scanner's files are read and scanned in chunks of about this many bytes (as listed): the
# memory of a cold build is the unique certificates plus a few chunks, whatever the store's size.
READ_CHUNK = 4 * 1024 * 1024
# From this many bytes to read (six chunks, about 16,000 certificate files) a worker thread
# reads the next chunks while this one is scanned: the C calls release the GIL, so reading and
# scanning can run on two cores. A wall-time gain only, where a core is free; the CPU time grows
# a little (the scan reads buffers another core wrote). Measured (docs/cache.md, in-process,
# medians of 10, one core busy elsewhere): 50,000 certificates (74 MiB) 387 -> 303 ms wall,
# 386 -> 411 ms CPU; 10,000 (15 MiB) 85 -> 87 ms wall, 83 -> 97 ms CPU: not worth a thread.
READ_AHEAD_MIN = 6 * READ_CHUNK
# How many chunks the worker may read ahead of the scan (each one is memory held).
READ_AHEAD_DEPTH = 2


def _spans(sizes: Sequence[int], chunk: int) -> list[tuple[int, int, int]]:
    """``sizes`` cut into consecutive ``(start, stop, bytes)`` spans of about ``chunk`` bytes
    (at least one file each), found without a Python loop per file."""
    from bisect import bisect_right
    from itertools import accumulate

    ends = list(accumulate(sizes))
    out: list[tuple[int, int, int]] = []
    start, base, n = 0, 0, len(ends)
    while start < n:
        stop = max(start + 1, bisect_right(ends, base + chunk, start, n))
        out.append((start, stop, ends[stop - 1] - base))
        start, base = stop, ends[stop - 1]
    return out


class _ReadAhead:
    """``read(span)`` for each span in order, in a worker thread that stays up to ``depth`` spans
    ahead of the caller's :meth:`next`. :meth:`close` (always, in a ``finally``) stops and joins
    the worker: it finishes the read it is in (one chunk), then ends. The worker takes no lock
    that other code takes, and runs no code but ``read``."""

    def __init__(self, read: Any, spans: Sequence[tuple[int, int, int]], depth: int) -> None:
        import threading
        from collections import deque

        self._done: deque[tuple[bool, Any]] = deque()  # append / popleft: atomic
        self._ready = threading.Semaphore(0)  # one release per item in _done
        self._room = threading.Semaphore(depth)  # one acquire per read, one release per next()
        self._stop = False
        # A daemon: should close() itself be interrupted, the worker still ends after its read
        # (it sees _stop), and never holds up the interpreter's exit.
        self._thread = threading.Thread(target=self._run, args=(read, spans), name="tlsback-read-ahead",
                                        daemon=True)
        self._thread.start()

    def _run(self, read: Any, spans: Sequence[tuple[int, int, int]]) -> None:
        try:
            for span in spans:
                self._room.acquire()
                if self._stop:
                    return
                self._done.append((True, read(span)))
                self._ready.release()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller, raised there
            self._done.append((False, exc))
            self._ready.release()

    def next(self) -> Any:
        """The next span's ``read`` result (or its exception, raised here)."""
        self._ready.acquire()
        ok, value = self._done.popleft()
        self._room.release()
        if not ok:
            raise value
        return value

    def close(self) -> None:
        self._stop = True
        self._room.release()  # a worker waiting for room wakes up, and sees _stop
        self._thread.join()


def _read_scan_c(impl: Any, system_items: list[tuple[str, bytes]], paths: Sequence[str],
                 listed: array[int], changed: list[str]) -> tuple[ScanResult, dict[str, Problem], float]:
    """``impl.scan_files(system_items + items)`` for ``items, problems = _read_files(paths)``,
    read and scanned chunk by chunk with the C extension (in place, as ``_ext.read_files``
    leaves the files), the reads of large stores in a worker thread ahead of the scan.

    Args:
        listed: six numbers per path as listed (``sources.Listing.ids``): the sizes cut the
            chunks (a file may have changed since).
        changed: receives the paths read whose file is not the one listed (``_read_files_py``).

    Returns:
        The scan's result, the problems of the files not read, and the seconds the scan waited
        for reads.
    """
    from . import _ext

    sizes: Sequence[int] = listed[0::6]
    if sizes and max(sizes) > MAX_FILE_SIZE:  # not read (a sparse 2 TB file): no room for it
        sizes = [min(size, MAX_FILE_SIZE) for size in sizes]
    spans = _spans(sizes, READ_CHUNK)
    total = sum(span[2] for span in spans)
    scan = impl.Scan(total + sum(len(data) for _, data in system_items))
    scan.items(system_items)
    problems: dict[str, Problem] = {}

    def read(span: tuple[int, int, int]) -> Any:
        start, stop, nbytes = span
        return _ext.read_files(list(paths[start:stop]), nbytes, MAX_FILE_SIZE)

    ahead = None
    if total >= READ_AHEAD_MIN:
        try:
            ahead = _ReadAhead(read, spans, READ_AHEAD_DEPTH)
        except RuntimeError:  # no thread to be had (at interpreter exit, a thread limit): read here
            ahead = None
    waited = 0.0
    try:
        for span in spans:
            t = time.perf_counter()
            bulk = ahead.next() if ahead is not None else read(span)
            waited += time.perf_counter() - t
            chunk = paths[span[0]:span[1]]
            chunk_ids = listed[6 * span[0]:6 * span[1]]
            if bulk is not None and bulk[1].count(0) == len(chunk):
                scan.read(chunk, bulk[0])  # the usual case: every file read, scanned where it lies
                changed += _differing(chunk, bulk[2], chunk_ids)
            else:  # some files not read (or no bulk read here): the careful path, for this chunk
                items, more = _read_files(chunk, bulk, listed=chunk_ids, changed=changed)
                problems.update(more)
                scan.items(items)
    finally:
        if ahead is not None:
            ahead.close()
    return scan.finish(), problems, waited


# Read errors that say something about the process, not the file (no descriptor or memory left,
# a signal): reading a cache entry back, they are raised, never taken for damage (_materialize).
_TRANSIENT = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.EINTR, errno.EAGAIN, errno.ENOBUFS})


def _read_problem(path: str, code: int, size: int) -> Problem:
    """The problem of a file that was not read: ``code`` an errno, or a ``_ext.READ_*`` code."""
    if code == _READ_NOT_REGULAR:
        return Problem(path, "not-a-file", "file is no longer a regular file; skipped")
    if code == _READ_TOO_LARGE:
        return Problem(path, "too-large",
                       f"file is {size / 1048576:.1f} MiB, over the {MAX_FILE_SIZE // 1048576} MiB limit; skipped")
    reason = "permission denied" if code in (errno.EACCES, errno.EPERM) else os.strerror(code)
    return Problem(path, "unreadable", f"file cannot be read: {reason}")


def _differing(paths: Sequence[str], got: array[int], want: array[int]) -> list[str]:
    """The paths whose six numbers (``sources.Listing.ids``) differ between ``got`` (as read)
    and ``want`` (as listed): one array compare, and a look at each path only when it fails."""
    if got == want:
        return []
    return [p for k, p in enumerate(paths) if got[6 * k:6 * k + 6] != want[6 * k:6 * k + 6]]


def _rows(ids: array[int], indexes: Sequence[int]) -> array[int]:
    """The six numbers per file of ``ids`` (``sources.Listing.ids``) of the files at ``indexes``,
    gathered as bytes: one slice per file, not six values."""
    from itertools import repeat
    from operator import mul

    raw = ids.tobytes()
    starts = list(map(mul, indexes, repeat(48)))
    out = array("q")
    out.frombytes(b"".join(map(raw.__getitem__, map(slice, starts, map((48).__add__, starts)))))
    return out


def _read_files_py(paths: Sequence[str], *, transient_raises: bool = False, listed: array[int] | None = None,
                   changed: list[str] | None = None) -> tuple[list[tuple[str, Any]], dict[str, Problem]]:
    # transient_raises: an OSError of _TRANSIENT is raised, not reported as the file's problem.
    # listed: six numbers per path as listed (sources.Listing.ids); changed receives each path
    # read whose file, as opened (its fstat), is not that one: replaced or rewritten since the
    # listing (a symlink switched to another directory, say), so what was read is not what the
    # cache key identifies, and the store must not be cached under it. It also receives each
    # path not read for a reason of the process, not of the file (_TRANSIENT: no descriptor or
    # memory left): a store without it must not be cached under a key that says it is there.
    read_stats: list[os.stat_result] = []
    read_at: list[int] = []
    # os.open/os.read: half the cost of open() + BufferedReader per file, which counts at 50,000.
    # A file that grew since the fstat is still read to its end.
    items: list[tuple[str, Any]] = []
    problems: dict[str, Problem] = {}
    # O_NONBLOCK: a FIFO or device swapped in for a listed file since the listing's stat must
    # not block the open; the fstat below then refuses anything but a regular file. (For a
    # regular file O_NONBLOCK changes nothing.)
    flags = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0)
    fstat, is_reg = os.fstat, stat.S_ISREG
    for i, path in enumerate(paths):
        try:
            fd = os.open(path, flags)
            try:
                st = fstat(fd)
                if not is_reg(st.st_mode):
                    problems[path] = _read_problem(path, _READ_NOT_REGULAR, 0)
                    continue
                size = st.st_size
                if size > MAX_FILE_SIZE:
                    problems[path] = _read_problem(path, _READ_TOO_LARGE, size)
                    continue
                data = os.read(fd, size + 1)
                if len(data) > size:  # the file grew since fstat: read the rest
                    chunks = [data]
                    while chunks[-1] and len(data) <= MAX_FILE_SIZE:
                        chunks.append(os.read(fd, 65536))
                        data = b"".join(chunks)
                    if len(data) > MAX_FILE_SIZE:
                        problems[path] = Problem(
                            path, "too-large", f"file is over the {MAX_FILE_SIZE // 1048576} MiB limit; skipped")
                        continue
                items.append((path, data))
                if listed is not None:
                    read_stats.append(st)
                    read_at.append(i)
            finally:
                os.close(fd)
        except OSError as exc:
            if transient_raises and exc.errno in _TRANSIENT:
                raise
            problems[path] = _read_problem(path, exc.errno or errno.EIO, 0)
            if exc.errno in _TRANSIENT and changed is not None:
                changed.append(path)
    if listed is not None and changed is not None and read_stats:
        from .sources import identities

        got = identities(read_stats)
        want = listed if len(read_at) == len(paths) else _rows(listed, read_at)
        if got != want:
            changed += _differing([paths[i] for i in read_at], got, want)
    return items, problems


def _system_items(source: Source) -> list[tuple[str, bytes]]:
    """The certificates of a Windows or macOS system store, as scanner items."""
    if sys.platform == "win32":
        items = []
        for store in ("ROOT", "CA"):
            for der, encoding, _trust in ssl.enum_certificates(store):  # type: ignore[attr-defined]
                if encoding == "x509_asn":
                    items.append((f"Windows {store} store", der))
        return items
    keychains = [
        "/System/Library/Keychains/SystemRootCertificates.keychain",
        "/Library/Keychains/System.keychain",
    ]
    import subprocess  # only here: the import costs start-up time everywhere else

    try:
        out = subprocess.run(
            ["/usr/bin/security", "find-certificate", "-a", "-p", *keychains],
            capture_output=True, timeout=30, check=True,
        ).stdout
    except subprocess.SubprocessError as exc:
        raise OSError(f"`security find-certificate` failed: {exc}") from exc
    return [("macOS system keychains", out)]


def installed_scanner(scanner: str) -> dict[str, str]:
    """Which scanner a cold load would run now, and why (``tlsback info``).

    Apart from ``TrustStore.implementation``: on a warm cache hit no scanner ran, and the entry
    may have been built by another one (before a reinstall without the C extension, say).
    """
    from . import _scan
    from .errors import TlsbackError

    try:
        impl, reason = _scan.select(scanner)
    except TlsbackError as exc:
        return {"implementation": "none", "reason": str(exc)}
    return {"implementation": impl.IMPLEMENTATION, "reason": reason}


def _consequence(report: SourceReport, *, store_empty: bool, mode: str, include_platform: bool) -> str:
    """What stays trusted after a problem with one source."""
    if store_empty and (include_platform or mode == "only"):
        return "No default certificates will be trusted."
    if not report.source.custom:
        return "Continuing with the other certificates."
    if mode == "only":
        return "Continuing with the other custom certificates."
    # The native backend has no platform store of tlsback's: the OS verifier's store stays.
    return "Continuing with the platform store." if include_platform else "Continuing with the system store."


def format_warning(report: SourceReport, problem: Problem, consequence: str) -> str:
    """A problem as a one-line warning naming the source, the path and what stays trusted."""
    kind = report.source.kind
    label = f"`{kind}`" if report.source.custom else f"{kind} store"
    if problem.code == "bad-name":  # the file is loaded: nothing is ignored, trust is unchanged
        return f"Loading {shown(problem.path)} in {label} anyway: its file name is not valid UTF-8 (shown escaped)."
    if problem.path == report.source.path:
        return f"Invalid {label}. {problem.message}: {shown(problem.path)}. {consequence}"
    return f"Ignoring {shown(problem.path)} in {label}: {problem.message}. {consequence}"


def load_trust_store(
    *,
    cert_file: str | None,
    cert_dirs: Sequence[str],
    include_platform: bool,
    mode: str = "merge",
    platform_paths: Sequence[str] | None = None,
    scanner: str = "auto",
    options: StoreOptions | None = None,
) -> TrustStore:
    """Load the trust anchors of the platform store and the custom sources.

    Args:
        cert_file: ``SSL_CERT_FILE``.
        cert_dirs: the directories of ``SSL_CERT_DIR``.
        include_platform: whether the platform store belongs in the result (the ``rustls``
            backend); the ``native`` backend consults the OS store itself.
        mode: ``merge`` adds the custom certificates to the platform store; ``only`` uses them
            alone when any custom source is configured.
        platform_paths: an override of the platform probe list.
        scanner: ``Settings.scanner``: ``auto``, ``python`` or ``c`` (required).
        options: how to hand the store to OpenSSL (lazy or eager) and whether to use the
            trust cache. None (the default) loads eagerly and touches no cache.

    Returns:
        The store, with a report per source. Problems were logged as warnings (on a warm
        cache hit too).

    Raises:
        tlsback.errors.ExtensionError: the C extension was required and cannot be used.
    """
    t0 = time.perf_counter()
    custom = custom_sources(cert_file, cert_dirs)
    sources: list[Source] = []
    platform_fallback = False
    if include_platform and not (mode == "only" and custom):
        sources = platform_sources(platform_paths)
        if not sources:
            sources = [certifi_source()]
            platform_fallback = True
            log.info("no platform certificate store found; using certifi's bundled roots")
    sources += custom

    # The listing stat'ed each file once: that tells aliases apart (the same file through two
    # paths) and is the file's identity in the cache key.
    listings = [list_source(s, native=scanner != "python") for s in sources]
    t_list = time.perf_counter()

    ctx = _Plan(options, listings, mode=mode, include_platform=include_platform,
                platform_fallback=platform_fallback)
    if ctx.key is not None:
        hit = ctx.lookup()
        if hit is not None:
            hit_reports = _reports_from_meta(listings, hit.meta)
            _log_reports(hit_reports, hit.count, mode=mode, include_platform=include_platform,
                         custom=bool(custom))
            t_end = time.perf_counter()
            log.debug("trust cache hit: %d certificates in %s", hit.count, hit.path)
            return TrustStore(
                sources=hit_reports, mode=mode, platform_fallback=platform_fallback,
                implementation=str(hit.meta.get("implementation", "")),
                implementation_reason=f"not run: warm cache (the entry was built by the "
                                      f"{hit.meta.get('implementation')} scanner)",
                timings={"list_s": t_list - t0, "lookup_s": t_end - t_list, "total_s": t_end - t0},
                entry=hit,
                cache=ctx.info("hit", hit.path, "entry found for these sources (they were only stat'ed)"),
                load_args={"cert_file": cert_file, "cert_dirs": cert_dirs, "include_platform": include_platform,
                           "mode": mode, "platform_paths": platform_paths, "scanner": scanner},
            )
    t_lookup = time.perf_counter()

    from bisect import bisect_left
    from itertools import repeat
    from operator import add, attrgetter, lshift

    from . import _scan

    impl, reason = _scan.select(scanner)
    reports: list[SourceReport] = []

    owner: dict[str, SourceReport] = {}
    owned: list[tuple[SourceReport, list[str]]] = []  # what each report's counts come from
    owned_files: list[tuple[SourceReport, int, int]] = []  # a file source's span of to_read
    paths: list[str] = []
    keys: list[int] = []  # each path's file identity, (device, inode) as one int
    spans: list[tuple[SourceReport, int, int]] = []
    listed = array("q")  # each path's six numbers as listed (sources.Listing.ids)
    system_items: list[tuple[str, bytes]] = []
    # A directory listed twice (SSL_CERT_DIR=d:d/) meets its listing problems twice: one warning each.
    listed_problems: set[tuple[str, str, int | None]] = set()
    for listing in listings:
        report = SourceReport(listing.source, skipped=listing.skipped,
                              problems=_first_seen(listing.problems, listed_problems))
        reports.append(report)
        if listing.source.shape == "system":
            try:
                items = _system_items(listing.source)
            except OSError as exc:
                report.problems.append(Problem(listing.source.path, "unreadable", f"system store cannot be read: {exc}"))
                items = []
            labels = list(dict.fromkeys(label for label, _ in items))
            owner.update(zip(labels, repeat(report)))
            owned.append((report, labels))
            system_items += items
            continue
        ids = listing.ids
        listed += ids
        spans.append((report, len(paths), len(paths) + len(listing.files)))
        paths += listing.files
        # device * 2**64 + inode (each a signed 64-bit number): one int per file, not a tuple
        # (50,000 tuples set off garbage collections that cost more than the rest of this).
        keys += map(add, map(lshift, ids[2::6], repeat(64)), ids[1::6])
    # Read each file once, however many paths lead to it (Debian's hash links, a bundle that is
    # also SSL_CERT_FILE): the first path is read, the others are counted as aliases. (Each
    # key's first index, without a Python loop per file: later items of the dict overwrite
    # earlier ones, so the keys go in from the last path to the first.)
    first = sorted(dict(zip(reversed(keys), range(len(keys) - 1, -1, -1))).values())
    to_read = paths if len(first) == len(paths) else [paths[i] for i in first]
    done = 0
    for report, start, stop in spans:
        kept = bisect_left(first, stop) - bisect_left(first, start)
        report.aliases = stop - start - kept
        owned_files.append((report, done, done + kept))
        owner.update(zip(to_read[done:done + kept], repeat(report)))
        done += kept
    to_ids = listed if len(first) == len(paths) else _rows(listed, first)
    changed: list[str] = []  # files read that are not the ones listed: see _read_files_py
    if impl.IMPLEMENTATION == "c":
        result, read_problems, waited = _read_scan_c(impl, system_items, to_read, to_ids, changed)
        t_read = t_lookup + waited  # read_s: what reading cost beyond the scan it overlapped
    else:
        items, read_problems = _read_files(to_read, listed=to_ids, changed=changed)
        t_read = time.perf_counter()
        result = impl.scan_files(system_items + items)
    t_scan = time.perf_counter()

    refused = _refused_by_openssl(result)
    for path, problem in read_problems.items():
        owner[path].problems.append(problem)
    # The per-file counts summed without a Python loop per file: when the scanner gives them in
    # scan order and every file was read (the usual case: the files after the system store's
    # items, in to_read's order), as slices; else through the per-file dict.
    counts = result.file_counts()
    head = len(counts[0]) - len(to_read) if counts is not None else -1
    if counts is not None and head >= 0 and counts[0][head:] == to_read:  # a pointer compare each
        scanned, found, unique = counts
        for report, start, stop in owned_files:
            report.files += stop - start
            report.certificates += sum(found[head + start:head + stop])
            report.unique += sum(unique[head + start:head + stop])
        stats = file_stats(scanned[:head], found[:head], unique[:head])  # the items before the files
    else:
        owned += ((report, to_read[start:stop]) for report, start, stop in owned_files)
        stats = result.per_file
    for report, names in owned:  # system stores' items (and files, when not all were read)
        counted = list(filter(None, map(stats.get, names)))
        report.files += len(counted)
        report.certificates += sum(map(attrgetter("found"), counted))
        report.unique += sum(map(attrgetter("unique"), counted))
    per_file: dict[str, int] = {}
    for problem in result.problems:
        if problem.path in owner:
            seen_here = per_file[problem.path] = per_file.get(problem.path, 0) + 1
            if seen_here <= MAX_PROBLEMS_PER_FILE:
                owner[problem.path].problems.append(problem)
    for problem in refused:
        owner[problem.path].unique -= 1
        owner[problem.path].problems.append(problem)
    for path, count in per_file.items():
        if count > MAX_PROBLEMS_PER_FILE:
            owner[path].problems.append(Problem(
                path, "more-problems", f"{count - MAX_PROBLEMS_PER_FILE} more problems in this file are not "
                                       f"shown (only the first {MAX_PROBLEMS_PER_FILE} are)"))
    _log_reports(reports, len(result.origins), mode=mode, include_platform=include_platform, custom=bool(custom))

    entry, cache_info = ctx.place(reports, impl, result, changed=changed)
    t_end = time.perf_counter()
    timings = {
        "list_s": t_list - t0,
        **({"lookup_s": t_lookup - t_list} if ctx.key is not None else {}),
        "read_s": t_read - t_lookup,
        "scan_s": t_scan - t_read,
        **({"build_s": t_end - t_scan} if entry is not None else {}),
        "total_s": t_end - t0,
    }
    log.debug("loaded %d certificates with the %s scanner (%s); store %s", len(result.origins),
              impl.IMPLEMENTATION, reason, cache_info.get("state"))
    return TrustStore(
        None, result.origins, result.subject_hashes, reports, scan=result,
        implementation=impl.IMPLEMENTATION, implementation_reason=reason, mode=mode,
        platform_fallback=platform_fallback, timings=timings,
        lazy_dir=entry.path if entry is not None else None,
        lease=entry.lease if entry is not None else None, cache=cache_info,
    )


def _first_seen(problems: Sequence[Problem], seen: set[tuple[str, str, int | None]]) -> list[Problem]:
    """The problems of ``problems`` not in ``seen`` (by path, code and line), which gets them."""
    out = []
    for p in problems:
        if (p.path, p.code, p.line) not in seen:
            seen.add((p.path, p.code, p.line))
            out.append(p)
    return out


def _refused_by_openssl(result: ScanResult) -> list[Problem]:
    """Drop from ``result`` the certificates of a subject-hash collision that OpenSSL refuses.

    The scanners accept only what OpenSSL's ``d2i_X509`` accepts (tests/test_store_integrity.py
    holds them to that on the fuzz corpus): that equivalence is the defence. A lazy entry puts
    up to ``cache.BUCKET`` certificates in one file, and OpenSSL's directory lookup fails a whole
    file on one certificate it cannot load, so a certificate the scanners wrongly accepted would
    hide the others of its file. Where a subject hash is shared (the lookup also stops at the
    first unloadable ``HASH.N``), these few are loaded by OpenSSL itself as well, in both stores
    alike (each load costs about a millisecond; collisions are rare); the rest are not, which
    would cost an eager load of the whole store. Returns the problems to report.
    """
    hashes = result.subject_hashes
    if len(set(hashes)) == len(hashes):  # the usual case, at C speed
        return []
    from collections import Counter
    from itertools import compress

    # The shared hashes counted at C speed (Counter), then every member of those few, in store
    # order, without a Python loop per certificate.
    shared_hashes = {h for h, k in Counter(hashes).items() if k > 1}
    shared = list(compress(range(len(hashes)), map(shared_hashes.__contains__, hashes)))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    bad: dict[int, str] = {}
    for i in shared:
        try:
            ctx.load_verify_locations(cadata=result.cert(i))
        except ssl.SSLError as exc:
            bad[i] = str(exc.reason or exc)
    if not bad:
        return []
    problems = [Problem(result.origins[i], "openssl-refused",
                        f"a certificate OpenSSL cannot load ({reason}); skipped") for i, reason in bad.items()]
    keep = [i for i in range(len(result.certs)) if i not in bad]
    result.certs = [result.certs[i] for i in keep]
    result.origins = [result.origins[i] for i in keep]
    result.subject_hashes = [result.subject_hashes[i] for i in keep]
    return problems


def _log_reports(reports: Sequence[SourceReport], count: int, *, mode: str, include_platform: bool,
                 custom: bool) -> None:
    empty = count == 0
    for report in reports:
        consequence = _consequence(report, store_empty=empty, mode=mode, include_platform=include_platform)
        for problem in report.problems:
            log.warning("%s", format_warning(report, problem, consequence))
        log.debug(
            "%s %s: %d files, %d certificates, %d new, %d duplicates, %d aliases",
            report.source.kind, report.source.path, report.files, report.certificates,
            report.unique, report.duplicates, report.aliases,
        )
    if empty and custom and mode == "only" and not any(r.problems for r in reports):
        log.warning("The custom certificate sources yielded no certificate. No default certificates will be trusted.")


def _report_meta(report: SourceReport) -> dict[str, Any]:
    return {
        "files": report.files, "certificates": report.certificates, "unique": report.unique,
        "aliases": report.aliases, "skipped": report.skipped,
        "problems": [[p.path, p.code, p.message, p.line] for p in report.problems],
    }


def _reports_from_meta(listings: Sequence[Listing], meta: Mapping[str, Any]) -> list[SourceReport]:
    reports = []
    for listing, m in zip(listings, meta["reports"]):
        reports.append(SourceReport(
            listing.source, files=m["files"], certificates=m["certificates"], unique=m["unique"],
            aliases=m["aliases"], skipped=m["skipped"],
            problems=[Problem(p, c, msg, line) for p, c, msg, line in m["problems"]],
        ))
    return reports


def _credentials() -> tuple[int, list[int]] | None:
    """What reading a source file depends on besides the file: the process's groups.

    A file readable through a group (0640, root:corp) is read by a process of the user in that
    group and refused to one that is not (a service started with other groups, ``sg``): an
    entry built by one must not be a hit for the other, whose eager store would trust (or
    refuse) otherwise (docs/cache.md, "Key, hit, miss"). Two system calls, no import.
    """
    getgroups = getattr(os, "getgroups", None)
    if getgroups is None:  # pragma: no cover - Windows: no POSIX groups
        return None
    return os.getegid(), sorted(getgroups())


class _Plan:
    """The lazy/eager decision and the trust cache, for one load."""

    def __init__(self, options: StoreOptions | None, listings: Sequence[Listing], *, mode: str,
                 include_platform: bool, platform_fallback: bool) -> None:
        self.options = options
        self.key: str | None = None
        self.root: Any = None
        self.root_reason = ""
        self.miss_reason = ""
        self.skipped: list[str] = []
        self.roots: Iterator[CacheRoot] = iter(())
        if options is None or options.store == "eager" or not options.lazy_ok or not options.cache:
            return
        if any(listing.source.shape == "system" for listing in listings):
            self.root_reason = "the platform store is the system's, not files: nothing to key a cache entry on"
            return
        from . import cache

        header: list[object] = [mode, include_platform, platform_fallback, _credentials()]
        for listing in listings:
            s = listing.source
            header.append((s.kind, s.path, s.shape, s.origin, listing.skipped,
                           [(p.path, p.code, p.line) for p in listing.problems]))
        ids = sum((lst.ids for lst in listings), array("q"))
        self.key = cache.entry_key(header, [f for lst in listings for f in lst.files], ids)
        self.roots = cache.candidate_roots(options.cache_dir, options.cache_env, self.skipped)
        self.root = next(self.roots, None)
        if self.root is None:
            self.root_reason = "no usable cache directory (" + "; ".join(self.skipped or ["none found"]) + ")"
            log.warning("The trust cache is off: %s. The store is built for this process only.", self.root_reason)
        elif self.skipped:
            # Refused for safety (or not writable): a user must see it, not only `info --json`.
            log.warning("Trust cache location not used: %s. Using %s instead.", "; ".join(self.skipped),
                        shown(self.root.path))

    def info(self, state: str, path: str | None, reason: str) -> dict[str, Any]:
        d: dict[str, Any] = {"state": state, "path": path, "reason": reason}
        if self.key is not None:
            d["key"] = self.key
        if self.root is not None:
            d["root"] = self.root.path
            d["root_origin"] = self.root.origin
            if self.root.skipped:
                d["root_skipped"] = list(self.root.skipped)
        return d

    def lookup(self) -> Entry | None:
        if self.root is None or self.key is None:
            return None
        from . import cache

        entry, self.miss_reason = cache.lookup(self.root, self.key)
        return entry

    def place(self, reports: Sequence[SourceReport], impl: Any, result: ScanResult, *,
              changed: Sequence[str] = ()) -> tuple[Entry | None, dict[str, Any]]:
        """Decide eager or lazy for a freshly scanned store, and build the directory if lazy.

        ``changed``: source files that were replaced or rewritten between their listing and
        their reading, or not read for a reason of the process (no descriptor left): the store
        holds what was read, which the key (made from the listing) does not identify, so it is
        built for this process only, never put in the cache.

        Returns:
            The directory's entry (None for an eager store) and the cache state for diagnostics.
        """
        opts = self.options
        n = len(result.origins)
        if opts is None:
            return None, self.info("eager", None, "loaded eagerly (no store options: direct use of the loader)")
        if opts.store == "eager":
            return None, self.info("eager", None, "TLSBACK_STORE=eager")
        if not opts.lazy_ok:
            return None, self.info("eager", None, "the backend verifies without OpenSSL's directory lookup")
        cacheable = opts.cache and self.root is not None and not changed
        threshold = EAGER_MAX_CACHED if cacheable else EAGER_MAX_UNCACHED
        if opts.store == "auto" and n <= threshold:
            return None, self.info("eager", None, f"{n} certificates: stores of at most {threshold} "
                                                  "load faster eagerly (measured)")
        from . import cache

        pems: list[bytes] = []

        def fill(writer: EntryWriter) -> None:
            if impl.IMPLEMENTATION == "c" and writer.add_der(*result.der(), result.subject_hashes, result.origins):
                return
            if not pems:  # encoded once, whichever place is written to first
                pems.extend(impl.pem_encode(result.certs))
            writer.add(pems, result.subject_hashes, result.origins)

        meta = {
            "key": self.key,
            "implementation": impl.IMPLEMENTATION,
            "reports": [_report_meta(r) for r in reports],
            "sources": [r.source.path for r in reports],
        }
        why = "TLSBACK_STORE=lazy" if opts.store == "lazy" else f"{n} certificates (eager only up to {threshold})"
        # Any OSError while writing (no space, read-only, permission) moves on: the next cache
        # location, then a private directory, then the eager store; one warning says so.
        failures: list[str] = []
        entry = None
        root = self.root if cacheable and self.key is not None else None
        while root is not None:
            try:
                if root is not self.root:
                    entry, _ = cache.lookup(root, self.key)  # type: ignore[arg-type]
                entry = entry or cache.build_entry(root, self.key, fill, meta)  # type: ignore[arg-type]
            except OSError as exc:
                failures.append(f"{shown(root.path)}: {exc.strerror or exc}")
                root = next(self.roots, None)
                continue
            state, reason = "built", f"{self.miss_reason or 'no entry yet'}; lazy: {why}"
            self.root = root
            try:
                cache.prune(root, keep=os.path.basename(entry.path))
            except OSError:  # pruning is housekeeping: the store is in place
                pass
            break
        if entry is None:
            entry = cache.build_private(fill, meta, opts.cache_env, failures)
            state = "disabled"
            reason = (opts.cache_reason if not opts.cache else self.root_reason) or "cache unavailable"
            if changed and opts.cache and self.root is not None:
                reason = (f"{shown(changed[0])} changed while the store was read (or could not be read for "
                          "a passing reason): not cached under the listing's key")
                log.info("%s was replaced or rewritten between its listing and its reading, or could not be "
                         "read for a passing reason: the store is built for this process only, not cached",
                         shown(changed[0]))
            if failures:
                reason = "cache cannot be written: " + "; ".join(failures)
            reason = f"{reason}; lazy store in a private directory removed at exit ({why})"
        if entry is None:
            log.warning("The lazy trust store cannot be written anywhere (%s). Loading its %d certificates "
                        "eagerly instead.", "; ".join(failures), n)
            return None, self.info("eager", None, "no place to write the lazy store: " + "; ".join(failures))
        if failures:
            log.warning("The trust cache cannot be written (%s). Using %s instead.", "; ".join(failures),
                        shown(entry.path))
        return entry, self.info(state, entry.path, reason)
