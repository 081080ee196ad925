"""Trust sources: which files to read (docs/sources.md).

This module lists files; it reads none. Every problem met while listing (missing path, a
directory that cannot be read, a symlink loop, a file name that is not UTF-8) becomes a
:class:`~tlsback._scantypes.Problem` for the loader to report.
"""

from __future__ import annotations

import errno
import os
import stat
import sys
from array import array
from collections import namedtuple
from itertools import chain
from operator import attrgetter

from ._scantypes import Problem

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs milliseconds at start-up
if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "PLATFORM_BUNDLES",
    "PLATFORM_DIRS",
    "Listing",
    "Source",
    "custom_sources",
    "identities",
    "list_source",
    "platform_sources",
]

# The first existing bundle is the platform store (the list rustls-native-certs/openssl-probe
# walk), plus the certificate files of every existing directory below.
PLATFORM_BUNDLES: tuple[str, ...] = (
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/pki/tls/cacert.pem",
    "/etc/ssl/cert.pem",
    "/opt/etc/ssl/certs/ca-certificates.crt",
    "/etc/ssl/certs/cacert.pem",
)
PLATFORM_DIRS: tuple[str, ...] = (
    "/etc/ssl/certs",
    "/etc/pki/tls/certs",
    "/etc/security/certificates",
)

_CERT_SUFFIXES = (".pem", ".crt", ".cer")
_STAT_DIR_FD = os.stat in os.supports_dir_fd and os.listdir in os.supports_fd
_OPEN_DIR_FLAGS = (os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0)) if hasattr(os, "O_DIRECTORY") else None
_HEX = frozenset("0123456789abcdef")
# From this many names on, a directory is stat'ed by the C extension in one call (measured: at
# 10,000 names ~1 µs per name against ~3 µs for os.stat and its result object; below this the
# extension's import, ~1 ms, costs more than it saves).
BULK_STAT_MIN = 1000
# From this directory size (bytes: about 1,000 entries on ext4 or tmpfs) on, it is listed by
# the C extension (names, filter, sort and stat in one call), before os.listdir is ever called.
BULK_LIST_MIN_BYTES = 24576
_IDS = attrgetter("st_size", "st_ino", "st_dev", "st_mode", "st_mtime_ns", "st_ctime_ns")
_WRAP, _HALF = 2**64, 2**63


class Source(namedtuple("Source", "kind path shape origin")):
    """One place certificates come from; an immutable value.

    Attributes:
        kind: ``platform``, ``certifi``, ``SSL_CERT_FILE`` or ``SSL_CERT_DIR``.
        path: a file (``file``) or directory (``dir``) path.
        shape: ``file`` or ``dir``.
        origin: where the path was configured (``env:SSL_CERT_FILE``, ``probe``, ...).
    """

    __slots__ = ()
    if TYPE_CHECKING:
        kind: str
        path: str
        shape: str
        origin: str

    @property
    def custom(self) -> bool:
        """Whether this is one of the user's custom certificate sources."""
        return self.kind in ("SSL_CERT_FILE", "SSL_CERT_DIR")


class Listing:
    """The files of one source, in reading order, with the problems met while listing."""

    __slots__ = ("files", "ids", "problems", "skipped", "source")

    def __init__(self, source: Source) -> None:
        self.source = source
        self.files: list[str] = []
        # Six numbers per file, from its stat (links followed): size, inode, device, mode,
        # mtime_ns, ctime_ns (see identities). Packed: the cache key hashes them as they are.
        self.ids: array[int] = array("q")
        self.problems: list[Problem] = []
        self.skipped = 0  # entries passed over silently: other names, subdirectories, dangling links

    def __repr__(self) -> str:
        return f"<Listing {self.source.path}: {len(self.files)} files, {len(self.problems)} problems>"


def platform_sources(paths: Sequence[str] | None = None) -> list[Source]:
    """The platform store's sources on this system.

    Args:
        paths: an override of the probe list (``TLSBACK_PLATFORM_STORE``): each existing file is
            a bundle, each existing directory a certificate directory. None uses the built-in list.

    Returns:
        The sources found; empty when the system has no store tlsback can read (the caller
        then falls back to certifi).
    """
    if paths is not None:
        found = []
        for p in paths:
            if os.path.isdir(p):
                found.append(Source("platform", p, "dir", "env:TLSBACK_PLATFORM_STORE"))
            elif os.path.isfile(p):
                found.append(Source("platform", p, "file", "env:TLSBACK_PLATFORM_STORE"))
        return found
    if sys.platform == "win32" or sys.platform == "darwin":
        return [Source("platform", sys.platform, "system", "probe")]
    sources = []
    bundle = next((b for b in PLATFORM_BUNDLES if os.path.isfile(b)), None)
    if bundle is not None:
        sources.append(Source("platform", bundle, "file", "probe"))
    sources.extend(Source("platform", d, "dir", "probe") for d in PLATFORM_DIRS if os.path.isdir(d))
    return sources


def certifi_source() -> Source:
    """certifi's bundled Mozilla roots, the fallback when no platform store is found."""
    import certifi

    return Source("certifi", certifi.where(), "file", "fallback")


def custom_sources(cert_file: str | None, cert_dirs: Sequence[str]) -> list[Source]:
    """The user's ``SSL_CERT_FILE`` and ``SSL_CERT_DIR`` sources, in that order."""
    sources = []
    if cert_file:
        sources.append(Source("SSL_CERT_FILE", cert_file, "file", "env:SSL_CERT_FILE"))
    sources.extend(Source("SSL_CERT_DIR", d, "dir", "env:SSL_CERT_DIR") for d in cert_dirs)
    return sources


def is_certificate_name(name: str) -> bool:
    """Whether a directory entry's name is one tlsback loads.

    The names: docs/sources.md, "`SSL_CERT_DIR`".
    """
    return name[-4:].lower() in _CERT_SUFFIXES or is_hash_name(name)


def is_hash_name(name: str) -> bool:
    """Whether ``name`` is an OpenSSL hash name, ``[0-9a-f]{8}\\.[0-9]+`` (``HASH.N``).

    Checked without a regular expression: its compilation alone costs a warm start more than
    all the names of /etc/ssl/certs.
    """
    tail = name[9:]
    return (len(name) > 9 and name[8] == "." and _HEX.issuperset(name[:8])
            and tail.isascii() and tail.isdigit())


def identities(stats: Sequence[os.stat_result]) -> array[int]:
    """The six numbers per file that :attr:`Listing.ids` holds, from ``os.stat`` results.

    Each is reduced modulo 2**64 to a signed 64-bit integer, as the C extension's bulk stat
    does (an inode or device number above 2**63, a time beyond the year 2262): both listings
    give the same numbers, hence the same cache key.
    """
    values = list(chain.from_iterable(map(_IDS, stats)))
    try:
        return array("q", values)
    except OverflowError:
        return array("q", [(v + _HALF) % _WRAP - _HALF for v in values])


def _has_surrogates(name: str) -> bool:
    # os.fsdecode turns undecodable bytes into lone surrogates (surrogateescape)
    return not name.isascii() and any("\udc80" <= ch <= "\udcff" for ch in name)


def _encodable(names: str) -> bool:
    """Whether no name holds an undecodable byte: the fast paths skip the bad-name warning.

    Non-ASCII names are common (Debian's store has ``NetLock_Arany_=Class_Gold=_Főtanúsítvány.pem``),
    so this is a strict encode, not ``isascii()``: with ``isascii()`` every Debian system store
    took the careful per-name loop.
    """
    try:
        names.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _stat_problem(path: str, exc: OSError, *, what: str) -> Problem:
    if exc.errno == errno.ELOOP:
        return Problem(path, "symlink-loop", f"{what} is a symlink loop")
    if exc.errno == errno.ENOENT:
        return Problem(path, "missing", "Path does not exist")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return Problem(path, "unreadable", f"{what} cannot be read: permission denied")
    return Problem(path, "unreadable", f"{what} cannot be read: {exc.strerror or exc}")


def _list_file(listing: Listing) -> None:
    path = listing.source.path
    try:
        st = os.stat(path)
    except OSError as exc:
        listing.problems.append(_stat_problem(path, exc, what="file"))
        return
    if not stat.S_ISREG(st.st_mode):
        kind = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file"
        listing.problems.append(Problem(path, "not-a-file", f"Path is {kind}, expected a certificate file"))
        return
    listing.files.append(path)
    listing.ids.extend(identities([st]))


def _bulk_stat(fd: int, names: list[str]) -> tuple[array[int], array[int]] | None:
    try:
        from . import _ext
    except ImportError:  # not built or stale: the scanner's selection says so; os.stat does the job
        return None
    return _ext.stat_at(fd, names)


def _bulk_list(fd: int, size: int
               ) -> tuple[list[str], int, array[int], array[int]] | tuple[list[str], int, None, None] | None:
    try:
        from . import _ext
    except ImportError:  # not built or stale: the scanner's selection says so; Python lists it
        return None
    return _ext.list_dir(fd, size // 16)  # ~16 bytes per entry or more (ext4, tmpfs, btrfs)


def _add_regular(listing: Listing, prefix: str, names: list[str], ids: array[int]) -> None:
    """The regular files of ``names`` (not subdirectories etc.), ``ids`` six numbers per name."""
    regular = list(map(stat.S_ISREG, ids[3::6]))
    if all(regular):
        listing.files.extend(map(prefix.__add__, names))
        listing.ids.extend(ids)
        return
    for i, (name, ok) in enumerate(zip(names, regular)):
        if ok:
            listing.files.append(prefix + name)
            listing.ids.extend(ids[6 * i:6 * i + 6])
    listing.skipped += regular.count(False)


def _list_dir(listing: Listing, native: bool) -> None:
    path = listing.source.path
    try:
        st = os.stat(path)
    except OSError as exc:
        listing.problems.append(_stat_problem(path, exc, what="directory"))
        return
    if not stat.S_ISDIR(st.st_mode):
        listing.problems.append(Problem(path, "not-a-directory", "Path is not a directory"))
        return
    # Names are stat'ed relative to an open directory (fstatat) where the platform allows it:
    # no path resolution of the directory per file, which matters at 50,000 files.
    use_fd = _STAT_DIR_FD and _OPEN_DIR_FLAGS is not None
    try:
        fd = os.open(path, _OPEN_DIR_FLAGS) if use_fd else None  # type: ignore[arg-type]
    except OSError as exc:
        listing.problems.append(_stat_problem(path, exc, what="directory"))
        return
    try:
        prefix = path if path.endswith(os.sep) else path + os.sep
        # A directory this large (in bytes: its entry count is not known before listing) is
        # listed, filtered, sorted and stat'ed in one C call, with the same result.
        listed = _bulk_list(fd, st.st_size) if native and fd is not None and st.st_size >= BULK_LIST_MIN_BYTES \
            else None
        got: tuple[array[int], array[int]] | None = None
        if listed is not None:
            wanted, others, errs, ids = listed
            listing.skipped += others
            if errs is not None and ids is not None:  # else a name to report: the careful loop
                got = errs, ids
        else:
            try:
                names = sorted(os.listdir(fd if fd is not None else path))
            except OSError as exc:
                listing.problems.append(_stat_problem(path, exc, what="directory"))
                return
            wanted = [n for n in names if is_certificate_name(n)]
            listing.skipped += len(names) - len(wanted)
        # Fast paths: every name stat'ed in one C call, or in one comprehension. A name that is
        # not valid UTF-8 (to report), or any error (a dangling link, a loop), falls back to the
        # careful loop. (The C listing's stat results come with valid UTF-8 names only.)
        if fd is not None and (got is not None or _encodable("".join(wanted))):
            if got is None and native and len(wanted) >= BULK_STAT_MIN:
                got = _bulk_stat(fd, wanted)
            found: array[int] | None = None
            if got is None:
                try:
                    found = identities([os.stat(n, dir_fd=fd) for n in wanted])
                except OSError:
                    pass
            elif got[0].count(0) == len(wanted):
                found = got[1]
            if found is not None:
                _add_regular(listing, prefix, wanted, found)
                return
        files, is_reg, os_stat = listing.files, stat.S_ISREG, os.stat
        stats: list[os.stat_result] = []
        for name in wanted:
            try:
                # One stat per entry, links followed: it tells files from the rest, and the
                # loader reuses it (alias detection, the cache key) instead of stating again.
                st = os_stat(name, dir_fd=fd) if fd is not None else os_stat(prefix + name)
            except OSError as exc:
                # A dangling link: passed over, no warning (docs/sources.md, "`SSL_CERT_DIR`").
                if exc.errno == errno.ENOENT:
                    listing.skipped += 1
                else:  # a symlink loop, a permission problem
                    listing.problems.append(_stat_problem(prefix + name, exc, what="file"))
                continue
            if not is_reg(st.st_mode):  # subdirectories, devices, sockets
                listing.skipped += 1
                continue
            if _has_surrogates(name):
                shown = name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
                listing.problems.append(Problem(
                    prefix + shown, "bad-name", "file name is not valid UTF-8; loaded anyway",
                ))
            files.append(prefix + name)
            stats.append(st)
        listing.ids.extend(identities(stats))
    finally:
        if fd is not None:
            os.close(fd)


def list_source(source: Source, *, native: bool = False) -> Listing:
    """List the files of one source.

    Directories are not searched recursively. Entries are taken in name order so that the
    result (and which duplicate is kept) does not depend on the file system.

    Args:
        source: what to list.
        native: whether a large directory may be stat'ed by the C extension (not when the
            settings ask for the pure-Python scanner); the result is the same either way.

    Returns:
        The listing, with a problem for each path that could not be used.
    """
    listing = Listing(source)
    if source.shape == "file":
        _list_file(listing)
    elif source.shape == "dir":
        _list_dir(listing, native)
    return listing
