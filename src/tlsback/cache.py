"""The on-disk trust cache: lazy, subject-hash-named certificate directories (docs/cache.md).

OpenSSL can look trust anchors up lazily in a directory of ``HASH.N`` PEM files (``capath``):
``HASH`` is the subject name's ``X509_NAME_hash`` in 8 lowercase hex digits and ``N`` counts
certificates whose subjects share it, from 0 and without gaps, because OpenSSL's directory
lookup (``crypto/x509/by_dir.c``) stops at the first missing number. Only the few certificates
a chain needs are ever parsed, so a 50,000-certificate store costs a handshake a few stat calls
instead of minutes of ``load_verify_locations``.

Such a directory (an *entry*) is built once per set of sources and kept per user:

- **where**: ``TLSBACK_CACHE_DIR`` if set, else ``$XDG_RUNTIME_DIR/tlsback``, else
  ``/dev/shm/tlsback-<uid>``, else the user cache directory. tmpfs first: creating a file there
  costs about 10 µs, on a disk-backed directory hundreds. The root is checked before every
  use: a real directory (not a symlink), owned by the user, mode 0700 (``/dev/shm`` is shared
  and sticky: someone else may have created the name first); every directory above it must be
  owned by root or the user and not writable by others unless sticky, so no other user can
  redirect the path (docs/security.md). A location that cannot be written falls back to the
  next one.
- **entries**: canonical PEM copies written here, never links to the sources.
- **key**: every source file's path, size, mtime_ns, ctime_ns, inode (and device and mode), every
  listing's shape and problems, the tlsback version and this module's format number. A warm
  start only lists and stats the sources; any change gives another key.
- **writing**: into ``.tmp-*`` beside the final name, holding an exclusive ``flock``; the entry's
  metadata is written last; the lock is then made shared and ``rename`` puts the directory in
  place atomically. A builder that loses the race to another uses the winner's entry.
- **reading**: an entry is used only if it is a directory owned by the user, writable by nobody
  else, with complete metadata for this key and a directory mtime equal to the one recorded when
  it was built (a file added or removed since changes it). Anything else is ignored and rebuilt;
  it is never trusted.
- **leases**: a process using an entry holds a shared ``flock`` on it for as long as a store or
  context refers to it (the lease is attached to the contexts), since OpenSSL reads ``capath``
  lazily for the whole life of a context.
- **pruning**: after a build, entries nobody holds a lease on are removed when unused for a day
  or beyond the ``MAX_ENTRIES`` most recently used; so are leftovers of crashed builders.

``--no-cache`` / ``TLSBACK_NO_CACHE=1`` build the same directory privately in a temporary
directory that is removed at exit (or as soon as nothing refers to it).
"""

from __future__ import annotations

import errno
import os
import stat
import sys
import time

from . import _log
from ._version import __version__

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs milliseconds at start-up
if TYPE_CHECKING:
    # array too: a Python that `tlsback run` starts reads its config cache through this module
    # before anything has imported array (and with it collections).
    from array import array
    from collections.abc import Iterator, Mapping, Sequence
    from hashlib import blake2b
    from typing import Any

__all__ = [
    "FORMAT",
    "MAX_ENTRIES",
    "META_NAME",
    "PRUNE_AGE_S",
    "CacheRoot",
    "Entry",
    "EntryWriter",
    "Lease",
    "build_entry",
    "build_private",
    "candidate_roots",
    "discard",
    "entry_key",
    "json_name",
    "lookup",
    "prune",
    "read_json",
    "resolve_root",
    "write_json",
]

log = _log.getLogger(__name__)

#: Layout version of an entry; part of the key and of the entry's directory name.
FORMAT = 4
META_NAME = "tlsback-entry.json"
INDEX_NAME = "tlsback-index.txt"
# The index: one JSON object of three strings, each a list joined by its separator (a
# certificate's name, origin and place at the same position in each; docs/cache.md). A name
# holds no space and a path no NUL; one string is written and read faster than 50,000.
_INDEX_COLUMNS = (("names", " "), ("origins", "\0"), ("places", " "))
MAX_ENTRIES = 8
#: Certificates per file of an entry (whole groups of equal subject hash, see EntryWriter).
#: Measured (docs/cache.md): 2 per file cut the writing of 10,000 certificates by a third
#: (hard links instead of files), 4 or 8 no further; while each certificate more in a file
#: costs an OpenSSL lookup one more parse (~0.1 ms), which a first handshake pays.
BUCKET = 2
PRUNE_AGE_S = 24 * 3600.0
_USE_MARK_S = PRUNE_AGE_S / 8  # a use is recorded when the last one recorded is older (mark_used)
_TMP_GRACE_S = 600.0  # a builder's temporary directory younger than this is left alone
_PREFIX = f"e{FORMAT}-"
_DISCARDED = "discarded"  # the metadata key discard() leaves, with what was found wrong
_JSON_PREFIX = "j1-"  # json_name: values derived from a file's content, pruned like entries
#: The shared tmpfs tried after XDG_RUNTIME_DIR (a module attribute so tests can move it).
SHM_DIR = "/dev/shm"

try:  # POSIX only; elsewhere entries are used without leases and never pruned while in use
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # a FIFO in place of a file never hangs a read
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_CLOEXEC | getattr(os, "O_BINARY", 0)
_OPEN_AT = os.open in os.supports_dir_fd and bool(_O_DIRECTORY)


def _euid() -> int | None:
    geteuid = getattr(os, "geteuid", None)
    return geteuid() if geteuid is not None else None


class UnsafeDirectory(OSError):
    """A cache directory that must not be used (wrong owner, mode, or a symlink)."""


def _check_private(path: str, st: os.stat_result | None = None) -> None:
    """Raise UnsafeDirectory unless ``path`` is a real directory, ours, closed to others."""
    if st is None:
        st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        raise UnsafeDirectory(f"{_shown(path)} is a symlink")
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafeDirectory(f"{_shown(path)} is not a directory")
    uid = _euid()
    if uid is not None and st.st_uid != uid:
        raise UnsafeDirectory(f"{_shown(path)} is owned by uid {st.st_uid}, not by this user (uid {uid})")
    if os.name == "posix" and st.st_mode & 0o077:
        raise UnsafeDirectory(f"{_shown(path)} has mode {stat.S_IMODE(st.st_mode):04o}, expected 0700")


def _check_ancestors(path: str) -> None:
    """Raise UnsafeDirectory unless no other user can rename or replace ``path`` or anything above it.

    ``path`` must be absolute and free of symlinks (``os.path.realpath``). Each directory from
    ``path`` up to ``/`` must be owned by root or this user and writable by nobody else, unless
    it is sticky (``/tmp``, ``/dev/shm``: others may create names there but not rename ours),
    the rule of ssh's StrictModes. Renaming or replacing a directory needs write access to its
    parent, so once every directory on the chain passes, the path names the same directories for
    as long as the process runs: what OpenSSL reads by path at each handshake cannot be
    redirected by another user (docs/security.md).
    """
    uid = _euid()
    if uid is None or os.name != "posix":  # pragma: no cover - Windows: per-user profile ACLs
        return
    current = path
    while True:
        st = os.lstat(current)
        if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
            raise UnsafeDirectory(f"{_shown(current)} is not a directory (it was replaced while checked)")
        if st.st_uid not in (0, uid):
            raise UnsafeDirectory(f"{_shown(current)} (above the cache) is owned by uid {st.st_uid}, "
                                  "not by root or this user")
        if st.st_mode & 0o022 and not st.st_mode & stat.S_ISVTX:
            raise UnsafeDirectory(f"{_shown(current)} (above the cache) has mode "
                                  f"{stat.S_IMODE(st.st_mode):04o}: others may write to it and could "
                                  "rename the cache away")
        parent = os.path.dirname(current)
        if parent == current:
            return
        current = parent


def _private_dir(path: str, *, parents: bool = False) -> str:
    """Create ``path`` with mode 0700 unless it exists, check it and every directory above it.

    An existing directory of ours that others may only read (0755, say) is closed to 0700;
    one that others may write to is refused: its content cannot be trusted.

    Returns:
        The path to use: its parent resolved (no symlink above it), see _check_ancestors.
    """
    path = os.path.abspath(path)
    if parents:
        os.makedirs(os.path.dirname(path), exist_ok=True)
    path = os.path.join(os.path.realpath(os.path.dirname(path)), os.path.basename(path))
    _check_ancestors(os.path.dirname(path))
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    st = os.lstat(path)
    if os.name == "posix" and stat.S_ISDIR(st.st_mode) and st.st_mode & 0o077 and not st.st_mode & 0o022 \
            and st.st_uid == _euid():
        os.chmod(path, 0o700, follow_symlinks=False)
        st = os.lstat(path)
    _check_private(path, st)
    return path


def _shown(path: str) -> str:
    from ._scantypes import shown

    return shown(path)


class CacheRoot:
    """Where entries are kept, and how that place was chosen.

    Attributes:
        path: the directory holding the entries (checked private).
        origin: ``env:TLSBACK_CACHE_DIR``, ``XDG_RUNTIME_DIR``, ``/dev/shm`` or ``user cache dir``.
        skipped: why earlier candidates were not used, in order.
    """

    __slots__ = ("origin", "path", "skipped")

    def __init__(self, path: str, origin: str, skipped: tuple[str, ...] = ()) -> None:
        self.path = path
        self.origin = origin
        self.skipped = skipped

    def __repr__(self) -> str:
        return f"CacheRoot(path={self.path!r}, origin={self.origin!r}, skipped={self.skipped!r})"


def _user_cache_dir(env: Mapping[str, str]) -> str | None:
    if sys.platform == "win32":
        base = env.get("LOCALAPPDATA")
        return os.path.join(base, "tlsback", "Cache") if base else None
    if sys.platform == "darwin":
        home = env.get("HOME") or os.path.expanduser("~")
        return os.path.join(home, "Library", "Caches", "tlsback")
    xdg = env.get("XDG_CACHE_HOME")
    if xdg and os.path.isabs(xdg):
        return os.path.join(xdg, "tlsback")
    home = env.get("HOME") or os.path.expanduser("~")
    return os.path.join(home, ".cache", "tlsback") if home and home != "~" else None


def candidate_roots(override: str | None, env: Mapping[str, str], skipped: list[str]) -> Iterator[CacheRoot]:
    """The usable cache directories, best first, each created and checked when reached.

    Args:
        override: ``TLSBACK_CACHE_DIR``; when set it is the only candidate.
        env: the environment (``XDG_RUNTIME_DIR``, ``XDG_CACHE_HOME``, ``HOME``).
        skipped: receives why each candidate passed over could not be used (in order).

    Yields:
        Each candidate that is, or could be made, a private directory on a safe path; the
        caller takes the next one when it cannot write to the previous (no space, read-only).
    """
    if override:
        try:
            yield CacheRoot(_private_dir(override, parents=True), "env:TLSBACK_CACHE_DIR")
        except OSError as exc:
            skipped.append(f"TLSBACK_CACHE_DIR cannot be used: {_why(exc)}")
        return
    runtime = env.get("XDG_RUNTIME_DIR")
    if runtime:
        try:
            if not os.path.isabs(runtime):
                raise UnsafeDirectory(f"{_shown(runtime)} is not an absolute path")
            # The runtime directory itself must be private (the XDG spec requires 0700).
            _check_private(runtime)
            path = _private_dir(os.path.join(runtime, "tlsback"))
        except OSError as exc:
            skipped.append(f"XDG_RUNTIME_DIR: {_why(exc)}")
        else:
            yield CacheRoot(path, "XDG_RUNTIME_DIR", tuple(skipped))
    uid = _euid()
    if uid is not None and os.path.isdir(SHM_DIR):
        try:
            path = _private_dir(os.path.join(SHM_DIR, f"tlsback-{uid}"))
        except OSError as exc:
            skipped.append(f"/dev/shm: {_why(exc)}")
        else:
            yield CacheRoot(path, "/dev/shm", tuple(skipped))
    user = _user_cache_dir(env)
    if user:
        try:
            path = _private_dir(user, parents=True)
        except OSError as exc:
            skipped.append(f"user cache dir: {_why(exc)}")
        else:
            yield CacheRoot(path, "user cache dir", tuple(skipped))


def resolve_root(override: str | None, env: Mapping[str, str]) -> CacheRoot:
    """The first usable cache directory (see :func:`candidate_roots`).

    Raises:
        UnsafeDirectory: no candidate can be used; the message gives each one's reason.
    """
    skipped: list[str] = []
    for root in candidate_roots(override, env, skipped):
        return root
    raise UnsafeDirectory("no usable cache directory (" + "; ".join(skipped or ["none found"]) + ")")


def _why(exc: OSError) -> str:
    if isinstance(exc, UnsafeDirectory):
        return str(exc)
    where = _shown(os.fsdecode(exc.filename)) if exc.filename else ""
    return f"{where}: {exc.strerror or exc}".lstrip(": ")


# --- keys -----------------------------------------------------------------------------------


def _new_hash(data: bytes) -> blake2b:
    """A BLAKE2b hash (128-bit digest) of ``data``, to be updated with more.

    From ``_blake2``, hashlib's own implementation module, when it is there: ``import hashlib``
    also loads OpenSSL's ``_hashlib``, which costs a warm start about as much as all its stats.
    """
    try:
        from _blake2 import blake2b
    except ImportError:  # pragma: no cover - an interpreter built without it
        from hashlib import blake2b
    return blake2b(data, digest_size=16)


def entry_key(header: Sequence[object], paths: Sequence[str], ids: array[int]) -> str:
    """The cache key of a source set.

    Args:
        header: everything about the sources that is not a file: mode, which sources, their
            shapes and origins, listing problems, counts of skipped entries.
        paths: every listed file.
        ids: six numbers per file from its stat (``sources.Listing.ids``): size, inode, device,
            mode, mtime_ns, ctime_ns.

    Returns:
        A 32-hex-digit key (BLAKE2b with a 128-bit digest).
    """
    h = _new_hash(f"tlsback {__version__} cache {FORMAT}\n{tuple(header)!r}\n".encode(
        "utf-8", "surrogateescape"))
    h.update("\0".join(paths).encode("utf-8", "surrogateescape"))
    # The identities packed as the listing gathered them: no work per file here. ctime_ns is
    # there beside mtime_ns: mtime can be set back (os.utime, cp -p, tar), ctime cannot by any
    # user tool, and an in-place rewrite or a replaced file always changes it.
    h.update(ids.tobytes())
    return h.hexdigest()[:32]


# --- leases ---------------------------------------------------------------------------------


class Lease:
    """Keeps an entry (or a private directory) alive while a store or context uses it.

    Holds the directory open with a shared ``flock``, so :func:`prune` in another process skips
    it. A private directory is removed when the last holder goes away, or at exit.
    """

    def __init__(self, path: str, fd: int | None, *, private: bool = False) -> None:
        self.path = path
        self._fd = fd
        self._finalizer: Any = None
        if private:
            # A finalizer also runs at exit, which removes the directory; a shared entry only
            # needs its descriptor closed, which __del__ (or the exit) does without importing
            # weakref on a warm start.
            import weakref

            self._finalizer = weakref.finalize(self, _release, fd, path)

    def release(self) -> None:
        """Give the lease up now (and remove the directory, if private)."""
        if self._finalizer is not None:
            self._finalizer()
            return
        fd, self._fd = self._fd, None
        _release(fd, None)

    def __del__(self, _close: Any = os.close) -> None:
        # Also runs during interpreter shutdown, when this module's globals may already be
        # gone (contexts made by inject_into_ssl() can live that long): os.close is bound here.
        if self._finalizer is None:
            fd, self._fd = self._fd, None
            if fd is not None:
                try:
                    _close(fd)
                except OSError:
                    pass


def _release(fd: int | None, remove: str | None) -> None:
    if fd is not None:
        try:
            os.close(fd)
        except OSError:
            pass
    if remove is not None:
        _remove_dir(remove)


def _flock(fd: int, exclusive: bool) -> bool:
    if fcntl is None:  # pragma: no cover - Windows
        return True
    try:
        fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        return True
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
        raise


def _open_dir(path: str) -> int:
    return os.open(path, os.O_RDONLY | _O_DIRECTORY | _O_NOFOLLOW | _O_CLOEXEC)


# --- reading --------------------------------------------------------------------------------


class Entry:
    """A usable entry: its directory (the ``capath``), metadata and lease."""

    __slots__ = ("lease", "meta", "path")

    def __init__(self, path: str, meta: dict[str, Any], lease: Lease) -> None:
        self.path = path
        self.meta = meta
        self.lease = lease

    def __repr__(self) -> str:
        return f"<Entry {self.path}>"

    @property
    def count(self) -> int:
        """How many certificates the entry holds."""
        return int(self.meta["count"])

    def read_index(self) -> list[tuple[str, str, int]]:
        """The entry's ``(HASH.N name, origin, place in its file)`` triples, in store order.

        Only the index is read and checked here (names, count); the certificate files are read
        back and checked against it by the loader (``TrustStore``), with the scanner.

        Raises:
            OSError: the index cannot be read.
            ValueError: the index is damaged or does not match the metadata.
        """
        from .sources import is_hash_name

        # The metadata's checks (a regular file of ours, not a link, nobody else can write it),
        # with room for a large store's origins.
        index, _ = _load_json(os.path.join(self.path, INDEX_NAME), None, INDEX_NAME, _INDEX_MAX)
        if not (len(index) == len(_INDEX_COLUMNS)
                and all(isinstance(index.get(k), str) for k, _ in _INDEX_COLUMNS)):
            raise ValueError(f"{INDEX_NAME} is not the index tlsback writes")
        columns = [index[k].split(sep) if index[k] else [] for k, sep in _INDEX_COLUMNS]
        if not all(len(c) == self.count for c in columns):
            raise ValueError(f"{INDEX_NAME} does not list the {self.count} certificates of the metadata")
        triples: list[tuple[str, str, int]] = []
        for name, origin, place in zip(*columns):
            if not is_hash_name(name):  # never a path out of the entry
                raise ValueError(f"{INDEX_NAME} names {name!r}, not a HASH.N file")
            if not (place.isdigit() and place.isascii() and len(place) < 10):
                raise ValueError(f"{INDEX_NAME} places {name!r} at {place!r}, not a position")
            triples.append((name, origin, int(place)))
        return triples


def discard(entry: Entry, why: str) -> None:
    """Make ``entry`` unusable for every later lookup (its certificate files were found damaged).

    Its metadata is replaced by one that says only ``why`` (what was found wrong): :func:`lookup`
    refuses the entry, and says why, and the next build moves it aside. Where that cannot be
    written, the metadata is removed (lookup refuses an entry without one). The files stay until
    then, for processes whose contexts still hold the directory (OpenSSL reads it by path).
    """
    if _write_json_file(entry.path, META_NAME, {_DISCARDED: why}):
        return
    try:
        os.unlink(os.path.join(entry.path, META_NAME))
    except FileNotFoundError:  # another thread or process found it first
        pass
    except OSError as exc:  # read-only, permissions: this process still reads the sources instead
        log.warning("The damaged trust cache entry %s cannot be discarded (%s); it is checked and "
                    "refused again at each read-back.", _shown(entry.path), exc.strerror or exc)


_META_MAX = 16 * 1024 * 1024
_INDEX_MAX = 256 * 1024 * 1024  # the index: a name, an origin path and a place per certificate


class _JSONContext:
    """What ``_json.make_scanner`` reads from ``json.JSONDecoder``: json.loads' defaults."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int

    @staticmethod
    def parse_constant(name: str) -> float:
        raise ValueError(f"metadata holds {name}")  # never written by tlsback


def _json_loads(data: bytes) -> Any:
    """``json.loads`` for the entry's metadata, through json's own C scanner when it is there.

    ``import json`` compiles the regular expressions of its pure-Python fallbacks, which cost a
    warm start more than reading and checking the entry. The C scanner (``_json``) is the parser
    ``json.loads`` itself runs; a document that is not exactly one JSON value (leading or
    trailing bytes included) is an error, and the entry is rebuilt.
    """
    try:
        from _json import make_scanner
    except ImportError:  # pragma: no cover - an interpreter without json's accelerator
        import json

        return json.loads(data)
    text = data.decode("utf-8")
    try:
        # the context is duck-typed: the attributes json.JSONDecoder gives the scanner
        value, end = make_scanner(_JSONContext())(text, 0)  # type: ignore[arg-type]
    except StopIteration:
        raise ValueError("metadata is not JSON") from None
    if end != len(text):
        raise ValueError("metadata has trailing data")
    return value


def _load_json(name: str, dir_fd: int | None, what: str, limit: int = _META_MAX) -> tuple[dict[str, Any], float]:
    """A JSON object tlsback wrote: a regular file of ours that nobody else can write, read whole.

    Returns:
        The object, and the file's mtime (its last use, see :func:`mark_used`).

    Raises:
        OSError: it cannot be opened (missing, a symlink: O_NOFOLLOW).
        ValueError: it is not to be trusted, or not a JSON object.
    """
    fd = os.open(name, os.O_RDONLY | _O_NOFOLLOW | _O_CLOEXEC | _O_NONBLOCK, dir_fd=dir_fd)
    try:
        st = os.fstat(fd)
        uid = _euid()
        if not stat.S_ISREG(st.st_mode):
            raise ValueError(f"{what} is not a regular file")
        if uid is not None and st.st_uid != uid:
            raise ValueError(f"{what} is owned by uid {st.st_uid}")
        if st.st_mode & 0o022:
            raise ValueError(f"{what} is writable by others")
        if st.st_size > limit:
            raise ValueError(f"{what} is too large")
        # os.read of the size fstat gave: a buffered read(16 MiB) allocates (and faults in) the
        # whole 16 MiB first, which cost a warm start more than everything else it does.
        chunks = [os.read(fd, st.st_size + 1)]
        while chunks[-1] and sum(map(len, chunks)) <= limit:
            chunks.append(os.read(fd, 65536))
        data = b"".join(chunks)
        if len(data) > limit:
            raise ValueError(f"{what} is too large")
    finally:
        os.close(fd)
    value = _json_loads(data)
    if not isinstance(value, dict):
        raise ValueError(f"{what} is not an object")  # noqa: TRY004 - corrupt data, not a caller's type
    return value, st.st_mtime


def _load_meta(dir_fd: int) -> tuple[dict[str, Any], float]:
    return _load_json(META_NAME, dir_fd, "metadata")


def mark_used(path: str, mtime: float) -> None:
    """Record a use of ``path`` for :func:`prune` (its mtime; ``mtime``: the one it has), only when
    the last one recorded is old enough to matter: a warm start does not write to the cache every
    time it reads it. (Every touch also changes the file's ctime, which is part of its identity:
    an exported bundle touched on each use would be a new file to every process it is given to.)

    A file used at least once per ``PRUNE_AGE_S - _USE_MARK_S`` is never older than
    ``PRUNE_AGE_S`` when pruned. An mtime in the future (a clock set back) is set to now."""
    if abs(time.time() - mtime) > _USE_MARK_S:
        try:
            os.utime(path, follow_symlinks=False)
        except OSError:
            pass


def json_name(what: str, content: bytes) -> str:
    """The cache root's name for a value derived from ``content`` (say, a config file's parsed
    tables): a hash of the content itself, so a changed file never finds the old value."""
    h = _new_hash(f"tlsback {__version__} {what}\n".encode("utf-8", "surrogateescape"))
    h.update(content)
    return f"{_JSON_PREFIX}{h.hexdigest()[:32]}.json"


def read_json(root: CacheRoot, name: str) -> dict[str, Any] | None:
    """A JSON object :func:`write_json` put in the cache root, or None (missing, damaged, not
    ours: the caller computes the value again). Reading it counts as a use (pruning)."""
    path = os.path.join(root.path, name)
    try:
        value, mtime = _load_json(path, None, name)
    except (OSError, ValueError):
        return None
    mark_used(path, mtime)
    return value


def write_json(root: CacheRoot, name: str, value: dict[str, Any]) -> bool:
    """Write ``value`` as ``name`` in the cache root, atomically (a private temporary file, then
    a rename). Best effort: False when the value is not JSON (a TOML date, a NaN) or the root
    cannot be written."""
    return _write_json_file(root.path, name, value)


def _create(path: str, data: bytes) -> None:
    """A new file ``path`` (mode 0600 whatever the umask; O_EXCL: nothing there is followed or
    reused) holding ``data``, written whole."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def _write_json_file(directory: str, name: str, value: dict[str, Any]) -> bool:
    import json

    try:
        data = json.dumps(value, allow_nan=False, separators=(",", ":")).encode("utf-8")
    except (TypeError, ValueError):
        return False
    tmp = os.path.join(directory, f".tmp-{_token()}-{name}")
    try:
        _create(tmp, data)
        os.replace(tmp, os.path.join(directory, name))
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        return False
    return True


_REPORT_COUNTS = ("files", "certificates", "unique", "aliases", "skipped")


def _reports_ok(reports: object) -> bool:
    """The per-source reports a hit hands to the loader have the shape it reads (else: rebuild)."""
    return isinstance(reports, list) and all(
        isinstance(r, dict)
        and all(isinstance(r.get(k), int) for k in _REPORT_COUNTS)
        and isinstance(r.get("problems"), list)
        and all(isinstance(p, list) and len(p) == 4 for p in r["problems"])
        for r in reports)


def _validate(path: str, key: str | None) -> tuple[int, dict[str, Any], float]:
    """Open, lease (shared flock) and check one entry; raise ValueError/OSError if unusable.

    Returns:
        The entry's descriptor (its lease), its metadata and the metadata file's mtime."""
    fd = _open_dir(path)  # O_NOFOLLOW: a symlink in place of an entry fails here (ELOOP)
    try:
        if not _flock(fd, exclusive=False):
            raise ValueError("entry is being replaced or removed")
        st = os.fstat(fd)
        try:
            _check_private(path, st)
        except UnsafeDirectory as exc:
            raise ValueError(str(exc).replace(path, "entry")) from None
        try:
            meta, used = _load_meta(fd)
        except FileNotFoundError:
            raise ValueError("entry has no metadata (half-written)") from None
        # What discard() leaves (never usable either way: it says nothing else, "complete" included).
        why = meta.get(_DISCARDED)
        if why is not None:
            raise ValueError(f"entry was found damaged and discarded: {str(why)[:300]}")
        if meta.get("format") != FORMAT or meta.get("tlsback") != __version__:
            raise ValueError("entry was written by another tlsback version")
        if key is not None and meta.get("key") != key:
            raise ValueError("entry metadata is for another key")
        if meta.get("complete") is not True or not isinstance(meta.get("count"), int) \
                or not _reports_ok(meta.get("reports")):
            raise ValueError("entry metadata is incomplete")
        if meta.get("dir_mtime_ns") != st.st_mtime_ns:
            raise ValueError("entry was modified after it was built")
        # Still the directory that the name refers to (not renamed away by a pruner meanwhile).
        now = os.lstat(path)
        if (now.st_ino, now.st_dev) != (st.st_ino, st.st_dev):
            raise ValueError("entry was replaced while being opened")
    except BaseException:
        os.close(fd)
        raise
    return fd, meta, used


def lookup(root: CacheRoot, key: str) -> tuple[Entry | None, str]:
    """Find a usable entry for ``key``.

    Returns:
        ``(entry, "")`` on a hit; ``(None, reason)`` on a miss, the reason in words (``"no entry
        yet"``, or why an existing entry was not trusted).
    """
    path = os.path.join(root.path, _PREFIX + key)
    try:
        _check_private(root.path)
        fd, meta, used = _validate(path, key)
    except FileNotFoundError:
        return None, "no entry for these sources yet"
    except UnsafeDirectory as exc:
        return None, str(exc)
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        if isinstance(exc, OSError) and exc.errno == errno.ELOOP:
            reason = "entry is a symlink"
        log.info("trust cache entry %s not used: %s; rebuilding it", _shown(path), reason)
        return None, f"existing entry not trusted ({reason}); rebuilt"
    mark_used(os.path.join(path, META_NAME), used)
    return Entry(path, meta, Lease(path, fd)), ""


# --- writing --------------------------------------------------------------------------------


class EntryWriter:
    """Writes the ``HASH.N`` names of a store into a new directory.

    Every file is a canonical PEM copy written here, never a link to a source file: OpenSSL's
    PEM reader is stricter than the scanner (blank lines, VT or FF inside a body), a link
    would lead outside the checked directory, and a source edited later would change what
    the entry trusts behind the key's back (docs/security.md).

    One file holds up to ``BUCKET`` certificates, whole groups of equal subject hash (groups
    in order of first appearance, members in ``N`` order); each of their ``HASH.N`` names is
    that file, the first one written, the others hard links to it within the entry. OpenSSL's
    directory lookup loads every certificate of a file it opens, so a lookup of one hash loads
    its whole group at once, as before (a subject's other certificates cannot be missing from
    the store once one of them is in it), and a few unrelated anchors of the same store with it.

    Args:
        directory: an empty directory the caller created (mode 0700).
    """

    def __init__(self, directory: str) -> None:
        self.directory = directory
        # The index as columns: no tuple per certificate (50,000 of them, and the garbage
        # collections they set off, cost a cold build more than writing the index).
        self._names: list[str] = []
        self._origins: Sequence[str] = []
        self._places: Sequence[int] = []
        # Files are created relative to the open directory where the platform allows it: no
        # path walk per file.
        self._fd = _open_dir(directory) if _OPEN_AT else -1

    def add(self, pems: Sequence[bytes], subject_hashes: Sequence[int], origins: Sequence[str]) -> None:
        """Add the store's certificates: the files and names of the class description.

        One call for the whole store, into an empty writer (the groups span the store). The
        C extension does the same in one call (``add_der``).

        Args:
            pems: the certificates as canonical PEM (the scanner's ``pem_encode``; OpenSSL must
                be able to load each: a certificate it cannot load hides the ones after it in
                its file; the loader checks that before).
            subject_hashes: their subjects' ``X509_NAME_hash``.
            origins: the files they came from (recorded in the index).
        """
        if self._names:
            raise RuntimeError("EntryWriter.add: the writer already holds a store")
        groups: dict[int, list[int]] = {}
        for i, subject_hash in enumerate(subject_hashes):
            groups.setdefault(subject_hash, []).append(i)
        names = [""] * len(pems)
        for subject_hash, members in groups.items():
            for n, i in enumerate(members):
                names[i] = f"{subject_hash:08x}.{n}"
        positions = [0] * len(pems)
        files: list[list[int]] = []
        for members in groups.values():
            if files and len(files[-1]) + len(members) <= BUCKET:
                files[-1] += members
            else:
                files.append(list(members))
        dir_fd, join = self._fd, os.path.join
        for members in files:
            lead = names[members[0]]
            data = b"".join(pems[i] for i in members)
            if dir_fd >= 0:
                fd = os.open(lead, _CREATE, 0o600, dir_fd=dir_fd)
            else:  # pragma: no cover - Windows
                fd = os.open(join(self.directory, lead), _CREATE, 0o600)
            try:
                if os.write(fd, data) != len(data):  # a short write: the file system is full
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), lead)
            finally:
                os.close(fd)
            for place, i in enumerate(members):
                positions[i] = place
                if place:
                    if dir_fd >= 0:
                        os.link(lead, names[i], src_dir_fd=dir_fd, dst_dir_fd=dir_fd, follow_symlinks=False)
                    else:  # pragma: no cover - Windows
                        os.link(join(self.directory, lead), join(self.directory, names[i]))
        self._names, self._origins, self._places = names, origins, positions

    def add_der(self, der: Any, ends: Sequence[int], subject_hashes: Sequence[int], origins: Sequence[str]) -> bool:
        """``add`` of the certificates' canonical PEM, encoded and written by the C extension.

        Args:
            der, ends: the DER certificates back to back, and where each ends
                (``ScanResult.der``: the C scanner's store as it is, not copied).

        Returns:
            False, having written nothing, when the extension cannot do it (not built, stale,
            Windows, or a writer not empty): the caller then uses ``add``.
        """
        if self._fd < 0 or self._names:
            return False
        try:
            from . import _ext
        except ImportError:
            return False
        names, positions = _ext.write_certs(self._fd, der, ends, subject_hashes, BUCKET)
        self._names, self._origins, self._places = names, origins, positions.tolist()
        return True

    def index(self) -> list[tuple[str, str, int]]:
        """What the index says: ``(HASH.N name, origin, place in its file)`` per certificate."""
        return list(zip(self._names, self._origins, self._places))

    def close(self) -> None:
        """Close the directory (after ``finish``, or when the build failed)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def finish(self, meta: dict[str, Any]) -> dict[str, Any]:
        """Write the index, then the metadata (last: its presence marks a complete entry)."""
        # One JSON document, ASCII: any byte of a file name (a newline, a tab, an undecodable
        # byte, kept as a surrogate and written as a \udcXX escape) stays a string in it.
        import json  # a cold build only: its import compiles regular expressions

        # json.dumps, not json.dump: dump streams through json's pure-Python encoder, about ten
        # times slower (~25 ms of a cold 10,000-certificate build); dumps runs the C one.
        columns = {key: sep.join(column) for (key, sep), column in
                   zip(_INDEX_COLUMNS, (self._names, self._origins, map(str, self._places)))}
        # 0600 whatever the umask, never through a link: what Entry.read_index accepts.
        _create(os.path.join(self.directory, INDEX_NAME), json.dumps(columns, separators=(",", ":")).encode("ascii"))
        meta_path = os.path.join(self.directory, META_NAME)
        fd = os.open(meta_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_CLOEXEC, 0o600)
        try:
            # Creating the file was the directory's last change: its mtime now identifies the
            # finished content; writing into the file does not change it again.
            meta = dict(meta, format=FORMAT, tlsback=__version__, count=len(self._names),
                        dir_mtime_ns=os.stat(self.directory).st_mtime_ns, complete=True)
            data = json.dumps(meta, separators=(",", ":")).encode("ascii")  # names escaped
            if os.write(fd, data) != len(data):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), META_NAME)
        finally:
            os.close(fd)
        return meta


def _write_entry(directory: str, fill: Any, meta: dict[str, Any]) -> dict[str, Any]:
    """Fill ``directory`` through an :class:`EntryWriter`; return the metadata written last."""
    writer = EntryWriter(directory)
    try:
        fill(writer)
        return writer.finish(meta)
    finally:
        writer.close()


def _remove_dir(path: str) -> None:
    import shutil  # here, not at the top: a warm start never removes anything (import cost)

    shutil.rmtree(path, ignore_errors=True)


def _token() -> str:
    return os.urandom(6).hex()


def _move_aside(root: str, path: str) -> bool:
    """Rename an unusable entry out of the way (exclusive lock first); False if in use."""
    try:
        fd = _open_dir(path)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return True
        # A symlink or something else that is not a directory: just move the name.
        fd = None
    try:
        if fd is not None and not _flock(fd, exclusive=True):
            return False
        old = os.path.join(root, f".old-{_token()}")
        try:
            os.rename(path, old)
        except FileNotFoundError:
            return True
        if os.path.islink(old) or not os.path.isdir(old):
            os.unlink(old)
        else:
            _remove_dir(old)
        return True
    finally:
        if fd is not None:
            os.close(fd)


def build_entry(root: CacheRoot, key: str, fill: Any, meta: dict[str, Any]) -> Entry:
    """Build the entry for ``key`` and put it in place atomically.

    Args:
        root: the cache directory.
        key: the source set's key.
        fill: ``fill(writer)`` adds the certificates to an :class:`EntryWriter`.
        meta: what to remember besides the certificates (per-source reports, ...).

    Returns:
        The entry now in place: ours, or an equal one another process put there first.

    Raises:
        OSError: the entry could not be written (the caller falls back to a private directory).
    """
    final = os.path.join(root.path, _PREFIX + key)
    tmp = os.path.join(root.path, f".tmp-{key[:12]}-{os.getpid()}-{_token()}")
    os.mkdir(tmp, 0o700)
    fd = _open_dir(tmp)
    try:
        _flock(fd, exclusive=True)  # tells pruners this directory is being written
        meta = _write_entry(tmp, fill, meta)
        # Complete: a shared lease from here on (pruners still cannot take it). Held exclusive
        # through the rename, the entry refused the shared lease of a builder that lost the
        # race and looked at it just then; that builder took it for a broken entry and used
        # its own copy privately, leaving it behind.
        _flock(fd, exclusive=False)
        for attempt in range(3):
            try:
                os.rename(tmp, final)
                break
            except OSError as exc:
                if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY, errno.EISDIR, errno.ENOTDIR):
                    raise
            # Someone else's entry is there: another builder won the race, or it is the
            # unusable one the lookup refused. Use it if it is good, else move it aside.
            try:
                ofd, ometa, _ = _validate(final, key)
            except (OSError, ValueError):
                if not _move_aside(root.path, final):
                    break
                continue
            _remove_dir(tmp)
            os.close(fd)
            log.debug("trust cache entry %s was built by another process meanwhile", final)
            return Entry(final, ometa, Lease(final, ofd))
        if os.path.isdir(tmp):
            # Could not take the final name (someone holds a broken entry there): use ours
            # privately for this process; prune removes it once nobody holds it.
            return Entry(tmp, meta, Lease(tmp, fd))
    except BaseException:
        os.close(fd)
        _remove_dir(tmp)
        raise
    return Entry(final, meta, Lease(final, fd))  # the same directory, now the entry: its lease


def build_private(fill: Any, meta: dict[str, Any], env: Mapping[str, str], failures: list[str]) -> Entry | None:
    """Build the directory privately (``--no-cache``): removed at exit or when unused.

    Placed on tmpfs when one is available (``XDG_RUNTIME_DIR``, ``/dev/shm``), else in the
    system's temporary directory, each tried in turn when the one before cannot be written to
    (no space, read-only); ``mkdtemp`` creates it 0700 with an unpredictable name, in a
    directory checked like the cache's (see _check_ancestors).

    Args:
        failures: receives why each place could not be used.

    Returns:
        The entry, or None when no place could be written to (the caller loads eagerly).
    """
    import tempfile

    bases: list[str] = []
    for candidate in (env.get("XDG_RUNTIME_DIR"), SHM_DIR, tempfile.gettempdir()):
        if candidate and os.path.isabs(candidate) and os.path.isdir(candidate):
            real = os.path.realpath(candidate)
            if real not in bases:
                bases.append(real)
    for base in bases:
        path = None
        try:
            _check_ancestors(base)
            path = tempfile.mkdtemp(prefix="tlsback-store-", dir=base)
            meta = _write_entry(path, fill, meta)
        except OSError as exc:
            failures.append(f"private directory in {_shown(base)}: {_why(exc)}")
            if path is not None:
                _remove_dir(path)
            continue
        except BaseException:
            if path is not None:
                _remove_dir(path)
            raise
        return Entry(path, meta, Lease(path, None, private=True))
    return None


# --- pruning --------------------------------------------------------------------------------


def prune(root: CacheRoot, keep: str | None = None, *, now: float | None = None,
          max_entries: int = MAX_ENTRIES, max_age_s: float = PRUNE_AGE_S) -> list[str]:
    """Remove entries nobody uses that are old or too many, and leftovers of crashed builders.

    An entry with a lease (shared flock) in any process is never removed.

    Args:
        root: the cache directory.
        keep: an entry name never to remove (the one just built).
        now: the current time (tests).
        max_entries: how many unused entries to keep at most (most recently used first).
        max_age_s: entries unused for longer are removed.

    Returns:
        The names removed.
    """
    now = time.time() if now is None else now
    removed: list[str] = []
    try:
        names = os.listdir(root.path)
    except OSError:
        return removed
    entries: list[tuple[float, str]] = []
    for name in names:
        path = os.path.join(root.path, name)
        if name == keep:
            continue
        try:
            st = os.lstat(path)
        except OSError:
            continue
        if name.startswith((".tmp-", ".old-")):
            stale = now - st.st_mtime > _TMP_GRACE_S or name.startswith(".old-")
            if stale and _remove_unused(root.path, name):
                removed.append(name)
            continue
        if name.startswith(_JSON_PREFIX) and name.endswith(".json"):
            if now - st.st_mtime > max_age_s and _remove_file(root.path, name):
                removed.append(name)
            continue
        if name.startswith("e") and "-" in name:
            if not name.startswith(_PREFIX):  # another format
                if _remove_unused(root.path, name):
                    removed.append(name)
                continue
            try:
                used = os.lstat(os.path.join(path, META_NAME)).st_mtime
            except OSError:
                used = st.st_mtime
            entries.append((used, name))
    entries.sort(reverse=True)
    for i, (used, name) in enumerate(entries):
        if (i >= max_entries or now - used > max_age_s) and _remove_unused(root.path, name):
            removed.append(name)
    if removed:
        log.debug("trust cache: pruned %s", ", ".join(removed))
    return removed


def _remove_file(root: str, name: str) -> bool:
    try:
        os.unlink(os.path.join(root, name))
    except OSError:
        return False
    return True


def _remove_unused(root: str, name: str) -> bool:
    try:
        return _move_aside(root, os.path.join(root, name))
    except OSError:
        return False
