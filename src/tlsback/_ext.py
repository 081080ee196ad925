"""The C extension ``tlsback._certscan``, loaded and checked once, and its bulk file I/O.

Apart from ``_scan_c`` (the scanner's wrapper, which imports ``typing``) so that the listing of a
large directory on a warm start can use the extension for little more than the extension's own
import. Importing this module raises ImportError when the extension is missing or stale.

The bulk functions do in one C call the system calls that Python makes one call at a time:
the bulk stat of a listing (``stat_at``), a cold build's reads (``read_files``) and the entry's
``HASH.N`` files (``write_certs``). Their Python twins are ``sources._list_dir``,
``loader._read_files`` and ``cache.EntryWriter.add``; tests/test_bulk_io.py and
tests/test_bulk_stat.py hold each pair to the same results.
"""

from __future__ import annotations

import os
import sys
from array import array
from operator import sub

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs milliseconds at start-up
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

__all__ = ["ABI", "READ_NOT_REGULAR", "READ_RETRY", "READ_TOO_LARGE", "ffi", "lib", "list_dir",
           "read_files", "stat_at", "views", "write_certs"]

#: The ABI number the wrappers were written for; must equal certscan.h's TB_ABI_VERSION.
ABI = 6

try:
    from ._certscan import ffi, lib  # type: ignore[import-not-found]
except ImportError as exc:
    raise ImportError(f"tlsback._certscan is not built ({exc})") from exc

if lib.tb_abi_version() != ABI:
    # (What to do about it, _scan.REBUILD_HINT, is added where the error reaches a user.)
    raise ImportError(f"tlsback._certscan is stale: it has ABI {lib.tb_abi_version()}, this tlsback needs ABI {ABI}")

READ_NOT_REGULAR, READ_TOO_LARGE, READ_RETRY = lib.TB_READ_NOT_REGULAR, lib.TB_READ_TOO_LARGE, lib.TB_READ_RETRY
# Buffers the C code fills before anything reads them: not cleared (a fresh process touches only
# what is filled). The scanner's wrapper uses the same allocator.
new_raw = ffi.new_allocator(should_clear_after_alloc=False)
# The bulk listing's names are decoded as os.listdir decodes them only where that is UTF-8 with
# surrogateescape (Linux, macOS): its C filter and sort equal Python's there (statat.c).
_UTF8_NAMES = (sys.getfilesystemencoding(), sys.getfilesystemencodeerrors()) == ("utf-8", "surrogateescape")


def stat_at(dir_fd: int, names: list[str]) -> tuple[array[int], array[int]] | None:
    """``os.stat(name, dir_fd=dir_fd)`` (links followed) for every name, in one C call.

    Returns:
        ``(errs, ids)``: ``errs[i]`` is 0 or the errno of name ``i``; ``ids[6*i:6*i+6]`` its
        size, inode, device, mode, mtime_ns and ctime_ns, each reduced modulo 2**64 to a signed
        64-bit integer (``sources.identities`` gives the same numbers from ``os.stat``). None
        when the platform has no ``fstatat``.
    """
    n = len(names)
    blob = os.fsencode("\0".join(names) + "\0")
    errs = array("i", bytes(4 * n))
    ids = array("q", bytes(48 * n))
    rc = lib.tb_stat_at(dir_fd, blob, len(blob), n, ffi.from_buffer("int32_t[]", errs),
                        ffi.from_buffer("int64_t[]", ids))
    return (errs, ids) if rc == 0 else None


def list_dir(dir_fd: int, size_hint: int
             ) -> tuple[list[str], int, array[int], array[int]] | tuple[list[str], int, None, None] | None:
    """The certificate files of a directory, sorted and stat'ed as ``sources._list_dir`` does.

    Args:
        dir_fd: the open directory.
        size_hint: how many names to make room for at first (more are made room for if needed).

    Returns:
        ``(names, others, errs, ids)``: the names ``sources.is_certificate_name`` accepts, in
        ``sorted`` order; how many other entries there are; ``errs`` / ``ids`` as from
        :func:`stat_at`. Names are decoded as ``os.listdir`` decodes them (``os.fsdecode``);
        when one is not valid UTF-8 (an undecodable byte becomes a lone surrogate, which the
        caller reports), they are sorted again here and ``errs`` / ``ids`` are None: the caller
        stats them one by one. None when this cannot be done here: readdir failed (the careful
        listing says why), a kept name is not ASCII and the file system encoding is not UTF-8
        (the C filter and sort are Python's only on UTF-8), or the platform has no ``fstatat``.
    """
    slots = max(size_hint, 64)
    room = 32 * slots
    counts = ffi.new("size_t[3]")
    for _ in range(3):  # the directory may grow between two calls
        # Not cleared: of the room the size hint gives, only what the names fill is touched.
        out = new_raw("char[]", room)
        errs = new_raw("int32_t[]", slots)
        ids = new_raw("int64_t[]", 6 * slots)
        rc = lib.tb_list_dir(dir_fd, new_raw("char[]", room), out, room, new_raw("uint32_t[]", slots),
                             new_raw("uint32_t[]", slots), slots, errs, ids, counts, counts + 1, counts + 2)
        if rc == lib.TB_OK:
            n = counts[0]
            raw = ffi.buffer(out, counts[1])[:-1]
            if not _UTF8_NAMES and not raw.isascii():
                return None  # os.listdir decodes otherwise: the careful listing
            try:
                # Valid UTF-8 (ASCII included): byte order is code point order, sorted() as is.
                names = raw.decode("utf-8").split("\0") if n else []
            except UnicodeDecodeError:
                # An undecodable byte decodes to U+DC80..U+DCFF, which sorts after characters
                # whose UTF-8 first byte is larger (b"\x80" before "é" by bytes, after it as str).
                return sorted(os.fsdecode(raw).split("\0")), counts[2], None, None
            return (names, counts[2], array("i", ffi.buffer(errs, 4 * n)[:]),
                    array("q", ffi.buffer(ids, 48 * n)[:]))
        if rc != lib.TB_ENOSPC:
            return None
        slots, room = counts[0] + 64, counts[1] + 4096
    return None


_BUFFER_MAX = 64 * 1024 * 1024


def read_files(paths: list[str], size_hint: int, max_size: int
               ) -> tuple[list[tuple[Any, array[int]]], array[int], array[int]] | None:
    """Open, check and read every file of ``paths`` as ``loader._read_files`` does, in C calls.

    Args:
        paths: the files, absolute paths.
        size_hint: their total size as listed: the buffer holds that much (files that grew
            since go into another one).
        max_size: larger files are not read (``READ_TOO_LARGE``).

    Returns:
        ``(buffers, status, ids)``: the files' bytes, back to back in one buffer or (files
        having grown since the listing) a few: ``(buf, ends)``, a cffi buffer and the end of
        each of its files (an unread file ends where the one before it does); per path its
        status: 0 (read), an errno (open, fstat or read failed), ``READ_NOT_REGULAR``,
        ``READ_TOO_LARGE`` or ``READ_RETRY`` (it grew since its fstat, or is larger than the
        buffer: the caller reads it itself); and six numbers per path from the fstat of the
        file opened, as ``sources.Listing.ids`` holds them (size first; zeros when it could not
        be fstat'ed). None when the platform has no bulk read (Windows).
    """
    n = len(paths)
    blob = os.fsencode("\0".join(paths) + "\0")
    ends = array("Q", bytes(8 * n))
    status = array("i", bytes(4 * n))
    ids = array("q", bytes(48 * n))
    at_ends, at_status, at_ids = (ffi.from_buffer("uint64_t[]", ends), ffi.from_buffer("int32_t[]", status),
                                  ffi.from_buffer("int64_t[]", ids))
    done = ffi.new("size_t *")
    # Each read asks for one byte beyond the file's size. The hint is what the listing saw, which
    # may be any size (a sparse 2 TB file among the sources): one buffer is at most _BUFFER_MAX,
    # and what does not fit goes into the next one, or (a single file larger than that) is
    # READ_RETRY for the caller, whose own read refuses it as too large.
    cap = min(size_hint, _BUFFER_MAX) + n + 4096
    buffers: list[tuple[Any, array[int]]] = []
    first = pos = 0
    while first < n:
        buf = new_raw("unsigned char[]", cap)
        if lib.tb_read_files(-1, ffi.from_buffer(blob) + pos, len(blob) - pos, n - first, max_size, buf, cap,
                             at_ends + first, at_status + first, at_ids + 6 * first, done) != lib.TB_OK:
            return None
        stop = first + done[0]
        buffers.append((buf, ends[first:stop]))
        # The buffer is full (files grew since the listing): the rest go into a new one.
        for _ in range(stop - first if stop < n else 0):
            pos = blob.index(b"\0", pos) + 1
        first = stop
    return buffers, status, ids


def views(buffers: list[tuple[Any, array[int]]]) -> list[Any]:
    """Each file of :func:`read_files`' buffers as a memoryview (empty for a file not read)."""
    out: list[Any] = []
    for buf, ends in buffers:
        view = memoryview(ffi.buffer(buf, ends[-1] if ends else 0))
        # One view per file without a Python loop per file.
        out += map(view.__getitem__, map(slice, [0, *ends[:-1]], ends))
    return out


def write_certs(dir_fd: int, der: Any, ends: Sequence[int], hashes: Sequence[int], bucket: int
                ) -> tuple[list[str], array[int]]:
    """Write the certificates as PEM into new files of ``dir_fd``, in one C call.

    What ``cache.EntryWriter.add`` does with ``pem_encode``'s output: the same names, files,
    hard links, bytes, flags and mode (``bucket``: at most that many certificates per file,
    but whole groups of equal subject hash).

    Args:
        der: the DER certificates back to back (bytes, or a buffer: ``ScanResult.der``).
        ends: where each certificate ends in ``der``.

    Returns:
        Each certificate's name ``HASH.N`` and its place in its file.

    Raises:
        OSError: a file or link could not be made or written (a short write is ENOSPC), with
            its name; the files made before it stay.
    """
    n = len(ends)
    if not n:
        return [], array("I")
    if not isinstance(ends, array) or ends.typecode != "Q":
        ends = array("Q", ends)
    if n != len(hashes) or ends[-1] > len(der):
        raise ValueError("write_certs: the certificates, their ends and their hashes do not match")
    size = lib.TB_NAME_SIZE
    names = ffi.new("char[]", size * n)  # zeroed: each name is followed by NULs to its slot's end
    positions = array("I", bytes(4 * n))
    work = lib.tb_write_work(n)
    scratch_size = bucket * lib.tb_pem_size(max(map(sub, ends, [0, *ends[:-1]])))
    failed = ffi.new("size_t *")
    err = ffi.new("int32_t *")
    rc = lib.tb_write_certs(dir_fd, ffi.from_buffer("unsigned char[]", der), ffi.from_buffer("uint64_t[]", ends),
                            ffi.from_buffer("uint32_t[]", array("I", hashes)), n, bucket, names,
                            ffi.from_buffer("uint32_t[]", positions), new_raw("uint32_t[]", work), work,
                            new_raw("unsigned char[]", scratch_size), scratch_size, failed, err)
    if rc == lib.TB_EIO:
        raise OSError(err[0], os.strerror(err[0]), ffi.string(names + size * failed[0]).decode("ascii"))
    if rc != lib.TB_OK:  # buffers are sized here from the C side's bounds: a bug, never bad input
        raise RuntimeError(f"tlsback._certscan: tb_write_certs failed with status {rc}")
    # The slots' NUL padding dropped, without a loop per name.
    return list(filter(None, ffi.buffer(names)[:].decode("ascii").split("\0"))), positions
