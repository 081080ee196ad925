"""The C scanner: a thin wrapper around ``tlsback._certscan`` (built from ``src/_native``).

Same names, signatures and results as ``_scan_py`` (the readable reference). Importing this
module raises ImportError when the extension is missing or stale (ABI number mismatch), with a
message saying how to rebuild; ``_scan.select`` turns that into the Python fallback or an error.

The C side allocates nothing: this module sizes every buffer from the bounds the C side
publishes (``tb_scratch_size``, ``tb_max_certs``, ``tb_max_findings``) and grows the
deduplicated store between calls. Files are handed over in chunks of about ``CHUNK`` bytes, so
memory is the unique certificates plus one chunk, whatever the number of bytes read.
"""

from __future__ import annotations

import bisect
import itertools
import operator
from array import array
from collections.abc import Iterable, Sequence
from typing import Any

from ._ext import ABI, ffi, lib
from ._ext import new_raw as _new_raw
from ._scantypes import SCAN_CODES, Problem, ScanResult, scan_problem

__all__ = ["ABI", "IMPLEMENTATION", "Scan", "pem_encode", "scan_bytes", "scan_files", "scan_read", "subject_hash"]

IMPLEMENTATION = "c"

CHUNK = 4 * 1024 * 1024


def _problem(path: str, code: int, line: int) -> Problem:
    return scan_problem(path, SCAN_CODES[code], line or None)


def _check(status: int, what: str) -> None:
    if status != lib.TB_OK:
        # Buffers are sized from the C side's own bounds: this is a bug, never bad input.
        raise RuntimeError(f"tlsback._certscan: {what} failed with status {status}")


class _Scratch:
    """Reusable scratch memory for the C functions."""

    def __init__(self) -> None:
        self.size = 0
        self.buf: Any = None

    def get(self, max_len: int) -> tuple[Any, int]:
        need = lib.tb_scratch_size(max_len)
        if need > self.size:
            self.size = max(need, 2 * self.size)
            self.buf = _new_raw("unsigned char[]", self.size)
        return self.buf, self.size


def scan_bytes(path: str, data: bytes) -> tuple[list[bytes], list[Problem]]:
    """Scan one file's content.

    Args:
        path: the file's path, used only to label problems.
        data: the file's content.

    Returns:
        The DER certificates found, in file order (not deduplicated), and the file's problems.
    """
    data = bytes(data)
    n = len(data)
    scratch, scratch_size = _Scratch().get(n)
    ncap = lib.tb_max_certs(n, 1)
    pcap = lib.tb_max_findings(n, 1)
    offs = _new_raw("uint64_t[]", ncap)
    lens = _new_raw("uint32_t[]", ncap)
    hashes = _new_raw("uint32_t[]", ncap)
    problems = _new_raw("tb_problem[]", pcap)
    n_certs = ffi.new("size_t *")
    n_problems = ffi.new("size_t *")
    status = lib.tb_scan_one(
        data, n, scratch, scratch_size, offs, lens, hashes, ncap, n_certs,
        problems, pcap, n_problems,
    )  # fmt: skip
    _check(status, "tb_scan_one")
    decoded = ffi.buffer(scratch, n + 8)
    certs = [
        decoded[o : o + ln]
        for o, ln in zip(ffi.unpack(offs, n_certs[0]), ffi.unpack(lens, n_certs[0]))
    ]
    found = [_problem(path, p.code, p.line) for p in problems[0 : n_problems[0]]]
    return certs, found


class _Store:
    """The caller-owned memory behind a ``tb_store``, grown between ``tb_scan_files`` calls."""

    def __init__(self, arena: int = 1 << 20) -> None:
        self.st = ffi.new("tb_store *")
        self._keep: dict[str, Any] = {}
        self._table(1024)
        self._arrays(1024)
        # Not cleared: pages never written cost no memory, so a generous arena is free.
        self._arena(max(arena, 1 << 16))

    def _table(self, cap: int) -> None:
        fp = ffi.new("uint64_t[]", cap)
        idx = ffi.new("uint32_t[]", cap)  # zeroed: 0 is the empty slot
        if self.st.slot_idx == ffi.NULL:
            self.st.slot_fp, self.st.slot_idx, self.st.table_cap = fp, idx, cap
        else:
            _check(lib.tb_store_rehash(self.st, fp, idx, cap), "tb_store_rehash")
        self._keep["fp"], self._keep["idx"] = fp, idx

    def _arrays(self, cap: int) -> None:
        st, used = self.st, self.st.n_unique
        for name, ctype, size in (
            ("u_off", "uint64_t[]", 8),
            ("u_len", "uint32_t[]", 4),
            ("u_hash", "uint32_t[]", 4),
            ("u_file", "uint32_t[]", 4),
        ):
            new = _new_raw(ctype, cap)
            old = getattr(st, name)
            if used:
                ffi.memmove(new, old, used * size)
            setattr(st, name, new)
            self._keep[name] = new
        st.u_cap = cap

    def _arena(self, cap: int) -> None:
        st = self.st
        new = _new_raw("unsigned char[]", cap)
        if st.arena_len:
            ffi.memmove(new, st.arena, st.arena_len)
        st.arena, st.arena_cap = new, cap
        self.arena = new  # owns the memory

    def reserve(self, nbytes: int, ncerts: int) -> None:
        """Make room for ``ncerts`` more certificates totalling at most ``nbytes`` bytes."""
        st = self.st
        want = st.n_unique + ncerts
        if 2 * want > st.table_cap:
            cap = st.table_cap
            while 2 * want > cap:
                cap *= 2
            self._table(cap)
        if want > st.u_cap:
            self._arrays(max(want, 2 * st.u_cap))
        if st.arena_len + nbytes > st.arena_cap:
            self._arena(max(st.arena_len + nbytes, 2 * st.arena_cap))


class Scan:
    """One deduplicated scan, fed in order: files as ``(path, bytes)`` items, or as
    ``_ext.read_files`` laid them out back to back in its buffers (no copy, no object per file).
    ``scan_files`` and ``scan_read`` in steps; ``finish`` gives their result."""

    def __init__(self, arena: int) -> None:
        self.result = ScanResult()
        # Sized once (an upper bound: unique DER is never longer than what was read); only the
        # pages that unique certificates fill are ever touched.
        self.store = _Store(arena)
        self.scratch = _Scratch()
        self.paths: list[str] = []
        # Per path of self.paths: certificates found, and how many were new (no object per file).
        self.found = array("I")
        self.unique = array("I")
        self.n_problems = ffi.new("size_t *")

    def items(self, items: Iterable[tuple[str, bytes]]) -> None:
        chunk_paths: list[str] = []
        chunk_data: list[bytes] = []
        total = 0
        for path, data in items:
            if total and total + len(data) > CHUNK:
                self._chunk(chunk_paths, b"".join(chunk_data), list(itertools.accumulate(map(len, chunk_data))))
                chunk_paths, chunk_data, total = [], [], 0
            chunk_paths.append(path)
            chunk_data.append(data)
            total += len(data)
        if chunk_data:
            self._chunk(chunk_paths, b"".join(chunk_data), list(itertools.accumulate(map(len, chunk_data))))

    def read(self, paths: Sequence[str], buffers: Sequence[tuple[Any, Sequence[int]]]) -> None:
        """The files of ``paths`` as ``_ext.read_files`` left them in ``buffers`` (see ``scan_read``)."""
        if sum(len(ends) for _buf, ends in buffers) != len(paths):
            raise ValueError("Scan.read: the buffers do not hold one file per path")
        first = 0
        for buf, ends in buffers:
            if ends:
                self._buffer(paths[first:first + len(ends)], buf, ends)
                first += len(ends)

    def _buffer(self, paths: Sequence[str], buf: Any, ends: Sequence[int]) -> None:
        """Files laid back to back in ``buf`` (a cffi buffer): file i ends at ``ends[i]``."""
        n = len(paths)
        if ends[-1] <= CHUNK:  # the loader's chunks: one call, the ends as they are
            self._chunk(paths, buf, ends)
            return
        first = start = 0
        while first < n:
            # As many files as fit in a chunk (at least one), found without a loop per file.
            stop = max(first + 1, bisect.bisect_right(ends, start + CHUNK, first, n))
            self._chunk(paths[first:stop], buf + start, [e - start for e in ends[first:stop]])
            first, start = stop, ends[stop - 1]

    def _chunk(self, chunk_paths: Sequence[str], data: Any, ends: Sequence[int]) -> None:
        nfiles = len(chunk_paths)
        total = ends[-1]
        store, result = self.store, self.result
        first = len(self.paths)
        self.paths.extend(chunk_paths)
        store.reserve(total, lib.tb_max_certs(total, nfiles))
        found = _new_raw("uint32_t[]", nfiles)
        unique = _new_raw("uint32_t[]", nfiles)
        pcap = lib.tb_max_findings(total, nfiles)
        problems = _new_raw("tb_problem[]", pcap)
        longest = max(map(operator.sub, ends, [0, *ends[:-1]]))
        buf, size = self.scratch.get(longest)
        # _ext.read_files' ends (an array of uint64) as they are; a list is copied.
        c_ends = ffi.from_buffer("uint64_t[]", ends) if isinstance(ends, array) else ffi.new("uint64_t[]", ends)
        status = lib.tb_scan_files(
            store.st, data, c_ends, nfiles, first, found, unique, problems, pcap,
            self.n_problems, buf, size,
        )  # fmt: skip
        _check(status, "tb_scan_files")
        self.found.frombytes(ffi.buffer(found, 4 * nfiles))
        self.unique.frombytes(ffi.buffer(unique, 4 * nfiles))
        paths = self.paths
        for p in problems[0 : self.n_problems[0]]:
            result.problems.append(_problem(paths[p.file], p.code, p.line))

    def finish(self) -> ScanResult:
        result, st = self.result, self.store.st
        n = st.n_unique
        # The unique certificates lie back to back in the arena, in store order: it is handed on
        # as it is (an entry is written from it), the bytes objects made only if asked for.
        offs, lens = array("Q"), array("I")
        offs.frombytes(ffi.buffer(st.u_off, 8 * n))
        lens.frombytes(ffi.buffer(st.u_len, 4 * n))
        ends = array("Q", map(operator.add, offs, lens))
        # What the readers of der() assume (certificate i from ends[i - 1] to ends[i]): a store
        # laid out otherwise is a bug in the extension, never to be read across.
        if n and (offs[0] != 0 or offs[1:] != ends[:-1]):
            raise RuntimeError("tlsback._certscan: the unique certificates are not back to back")
        # (The buffer of the owning cdata, which it keeps alive: st.arena does not own it.)
        result.set_der(ffi.buffer(self.store.arena, st.arena_len), ends)
        result.origins = list(map(self.paths.__getitem__, ffi.unpack(st.u_file, n)))
        result.subject_hashes = ffi.unpack(st.u_hash, n)
        result.duplicates = st.n_duplicates
        result.set_files(self.paths, self.found, self.unique)
        return result


def scan_files(items: Iterable[tuple[str, bytes]]) -> ScanResult:
    """Scan many files and deduplicate their certificates on exact DER bytes.

    Args:
        items: ``(path, content)`` pairs, in priority order.

    Returns:
        A ScanResult: unique certificates (first occurrence wins, order kept) with their origin
        and subject hash, per-file counts, the number of duplicates and every problem.
    """
    if isinstance(items, (list, tuple)):
        scan = Scan(sum(len(d) for _p, d in items))
    else:
        scan = Scan(0)
    scan.items(items)
    return scan.finish()


def scan_read(items: Sequence[tuple[str, bytes]], paths: Sequence[str],
              buffers: Sequence[tuple[Any, Sequence[int]]]) -> ScanResult:
    """``scan_files(items + files)``, the files as ``_ext.read_files`` left them in its buffers.

    Args:
        items: scanned first (a system store's certificates).
        paths: the files in ``buffers``, in order.
        buffers: ``(buf, ends)`` pairs: a cffi buffer holding files back to back (its file
            ``i`` ends at ``ends[i]``); the first buffer holds the first ``len(ends)`` paths, the
            next one the following paths, and so on.

    Returns:
        What ``scan_files`` returns for the same items and files.
    """
    scan = Scan(sum(len(d) for _p, d in items) + sum(ends[-1] for _buf, ends in buffers if ends))
    scan.items(items)
    scan.read(paths, buffers)
    return scan.finish()


def subject_hash(der: bytes) -> int:
    """OpenSSL's ``X509_NAME_hash`` of a certificate's subject.

    Args:
        der: one DER certificate.

    Returns:
        The hash ``openssl x509 -subject_hash`` prints, as an int.

    Raises:
        ValueError: ``der`` is not an X.509 certificate.
    """
    der = bytes(der)
    buf, size = _Scratch().get(len(der))
    out = ffi.new("uint32_t *")
    r = lib.tb_subject_hash(der, len(der), buf, size, out)
    if r == lib.TB_VALID:
        return int(out[0])
    if r < 0:
        _check(r, "tb_subject_hash")
    message = _problem("", r, 0).message
    raise ValueError(f"cannot compute the subject hash: {message}")


def pem_encode(ders: Sequence[bytes]) -> list[bytes]:
    """Each certificate as PEM (RFC 7468 §2, 64-character lines), in one C call for all.

    Args:
        ders: DER certificates.

    Returns:
        Their PEM encodings, in order (byte for byte ``ssl.DER_cert_to_PEM_cert``).
    """
    k = len(ders)
    if not k:
        return []
    ends = array("Q", itertools.accumulate(map(len, ders)))
    # A bound from the C side's sizes without a call per certificate: each one's base64 rounds
    # up by at most 4 bytes and adds at most one line break more than the total would, and
    # tb_pem_size(6) (63) covers its armour (55) and those. Pages never written cost nothing.
    cap = lib.tb_pem_size(ends[-1]) + k * lib.tb_pem_size(6)
    out = _new_raw("unsigned char[]", cap)
    out_ends = _new_raw("uint64_t[]", k)
    _check(lib.tb_pem_encode(b"".join(ders), ffi.from_buffer("uint64_t[]", ends), k, out, cap, out_ends),
           "tb_pem_encode")
    stops = ffi.unpack(out_ends, k)
    data = ffi.buffer(out, stops[-1])[:]
    return [data[a:b] for a, b in zip([0, *stops[:-1]], stops)]
