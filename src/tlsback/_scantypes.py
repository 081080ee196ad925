"""Result types shared by the two scanner implementations (``_scan_c`` and ``_scan_py``).

The scanners are sans-IO: they take ``(path, bytes)`` pairs and return these values. ``path`` is
only a label used in messages; nothing here touches the file system.
"""

from __future__ import annotations

from collections import namedtuple

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs milliseconds at start-up
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

__all__ = ["SCAN_CODES", "FileStats", "Problem", "ScanResult", "file_stats", "printable", "scan_problem",
           "shown"]


def shown(path: str) -> str:
    """A path as it may appear in a message: unchanged when printable, else escaped like repr.

    A file name may hold any byte but ``/`` and NUL: a newline in a warning would forge a log
    line, an escape sequence would drive the terminal. Such names are shown quoted, with
    ``\\n``, ``\\x1b`` and (for bytes that are not UTF-8) ``\\udcXX`` escapes.
    """
    return path if path.isprintable() else repr(path)


def printable(text: str) -> str:
    """``text`` with every character that is not printable escaped (``\\x1b``, ``\\n``).

    What a server sends (a certificate's names, an HTTP reason phrase, a redirect's URL) ends
    up in messages: a newline there would forge a line, an escape sequence drive the terminal.
    """
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


# Plain classes, not dataclasses: a warm start builds Problems from the cache entry's metadata,
# and importing dataclasses (with inspect) costs more than the whole warm start (docs/cache.md).


class Problem(namedtuple("Problem", "path code message line", defaults=(None,))):
    """One problem with one trust source, turned into one warning; an immutable value.

    Attributes:
        path: the file or directory the problem is about.
        code: a stable machine-readable code (``bad-base64``, ``missing-end``, ``truncated-der``,
            ``trailing-data``, ``not-x509``, ``no-certificates``, ``missing``, ``not-a-file``,
            ``unreadable``, ``too-large``, ``symlink-loop``, ``bad-name``, ...).
        message: a sentence a person understands, without the path (``bad base64 in
            CERTIFICATE block at line 12``).
        line: the 1-based line the problem starts at, where that means something.
    """

    __slots__ = ()
    if TYPE_CHECKING:
        path: str
        code: str
        message: str
        line: int | None

    def __str__(self) -> str:
        return f"{shown(self.path)}: {self.message}"


class FileStats:
    """How many certificates one file held, and how many of those were new."""

    __slots__ = ("found", "unique")

    def __init__(self, found: int = 0, unique: int = 0) -> None:
        self.found = found
        self.unique = unique

    def __repr__(self) -> str:
        return f"FileStats(found={self.found}, unique={self.unique})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FileStats):
            return NotImplemented
        return (self.found, self.unique) == (other.found, other.unique)

    __hash__ = None  # type: ignore[assignment]  # mutable


def file_stats(paths: Sequence[str], found: Sequence[int], unique: Sequence[int]) -> dict[str, FileStats]:
    """Per path, its counts (``ScanResult.set_files``); a path met again (a system store's items
    share one label) adds up."""
    if len(set(paths)) == len(paths):  # the usual case: each path once
        return dict(zip(paths, map(FileStats, found, unique)))
    out: dict[str, FileStats] = {}
    for path, f, u in zip(paths, found, unique):
        stats = out.setdefault(path, FileStats())
        stats.found += f
        stats.unique += u
    return out


class ScanResult:
    """The deduplicated certificates of a set of files, with what went wrong.

    Attributes:
        certs: unique DER certificates, first occurrence wins, in input order.
        origins: for each certificate in ``certs``, the path it was first found in.
        subject_hashes: for each certificate in ``certs``, OpenSSL's ``X509_NAME_hash`` of its
            subject (what ``openssl x509 -subject_hash`` prints).
        per_file: per input path, certificates found and how many of them were new.
        duplicates: certificates dropped because an identical one came earlier.
        problems: per-file problems, in input order.
    """

    __slots__ = ("_certs", "_der", "_files", "_per_file", "duplicates", "origins", "problems", "subject_hashes")
    _FIELDS = ("certs", "duplicates", "origins", "per_file", "problems", "subject_hashes")

    def __init__(self) -> None:
        self._certs: list[bytes] | None = []
        self._der: tuple[Any, Sequence[int]] | None = None
        self.origins: list[str] = []
        self.subject_hashes: list[int] = []
        self._per_file: dict[str, FileStats] | None = {}
        self._files: tuple[list[str], Sequence[int], Sequence[int]] | None = None
        self.duplicates = 0
        self.problems: list[Problem] = []

    @property
    def certs(self) -> list[bytes]:
        if self._certs is None:  # made from der on first use (a lazy store may never need them)
            der, ends = self._der  # type: ignore[misc]
            # From then on the list is the one copy (der() joins it again): a change made to it
            # in place is what every later reader sees.
            self._certs, self._der = list(map(der.__getitem__, map(slice, [0, *ends[:-1]], ends))), None
        return self._certs

    @certs.setter
    def certs(self, certs: list[bytes]) -> None:
        self._certs, self._der = certs, None

    def set_der(self, der: Any, ends: Sequence[int]) -> None:
        """The certificates as they lie back to back in ``der`` (bytes or a buffer whose slices
        are bytes), certificate ``i`` ending at ``ends[i]``: ``certs`` is made from it when asked."""
        self._certs, self._der = None, (der, ends)

    @property
    def per_file(self) -> dict[str, FileStats]:
        if self._per_file is None:  # made from the counts on first use (the loader sums those)
            self._per_file = file_stats(*self._files)  # type: ignore[misc]
        return self._per_file

    def set_files(self, paths: list[str], found: Sequence[int], unique: Sequence[int]) -> None:
        """The per-file counts as arrays: each file (or item label, as often as it came) in scan
        order, the certificates found in it and how many were new; ``per_file`` is made from them
        when asked (a dict of 50,000 objects costs a cold build more than its sums)."""
        self._files, self._per_file = (paths, found, unique), None

    def file_counts(self) -> tuple[list[str], Sequence[int], Sequence[int]] | None:
        """What ``set_files`` was given, or None (then only ``per_file`` holds the counts)."""
        return self._files

    def cert(self, i: int) -> bytes:
        """``certs[i]``, without making the others."""
        if self._certs is not None:
            return self._certs[i]
        der, ends = self._der  # type: ignore[misc]
        return der[ends[i - 1] if i else 0:ends[i]]  # type: ignore[no-any-return]

    def der(self) -> tuple[Any, Sequence[int]]:
        """The certificates back to back, and where each ends (not copied when the scanner
        left them so: the C scanner's store)."""
        if self._der is not None:
            return self._der
        from itertools import accumulate

        return b"".join(self.certs), list(accumulate(map(len, self.certs)))

    def __repr__(self) -> str:
        return (f"ScanResult({len(self.origins)} certificates, {self.duplicates} duplicates, "
                f"{len(self.problems)} problems)")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ScanResult):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in self._FIELDS)

    __hash__ = None  # type: ignore[assignment]  # mutable


# --- Problem codes and messages of the scanners --------------------------------------------------
# Both implementations report problems as (code, line) and build the Problem through
# ``scan_problem`` below, so the C and Python paths cannot drift apart in wording. The numeric
# values are the ``TB_P_*`` codes of ``src/_native/certscan.h``: keep the two in sync.

SCAN_CODES: tuple[str, ...] = (
    "missing-end",  # 0  TB_P_MISSING_END
    "bad-base64",  # 1  TB_P_BAD_BASE64
    "truncated-der",  # 2  TB_P_TRUNCATED
    "trailing-data",  # 3  TB_P_TRAILING
    "not-x509",  # 4  TB_P_NOT_X509
    "no-certificates",  # 5  TB_P_NO_CERTS
)

_PEM_MESSAGES = {
    "missing-end": "CERTIFICATE block at line {line} has no END CERTIFICATE line",
    "bad-base64": "bad base64 in CERTIFICATE block at line {line}",
    "truncated-der": "truncated DER in CERTIFICATE block at line {line}",
    "trailing-data": "trailing data after the DER certificate in CERTIFICATE block at line {line}",
    "not-x509": "CERTIFICATE block at line {line} does not hold an X.509 certificate",
}
_FILE_MESSAGES = {
    "truncated-der": "truncated DER certificate",
    "trailing-data": "trailing data after the DER certificate",
    "not-x509": "not an X.509 certificate (DER data that does not parse as one)",
    "no-certificates": "no certificates found (no PEM CERTIFICATE block and not a DER certificate)",
}


def scan_problem(path: str, code: str, line: int | None) -> Problem:
    """Build the Problem for a scanner finding.

    Args:
        path: the file the finding is about.
        code: one of ``SCAN_CODES``.
        line: the 1-based line of the PEM ``BEGIN CERTIFICATE`` line, or ``None`` for findings
            about the whole file (DER files, ``no-certificates``).

    Returns:
        The Problem, with the message both implementations share.
    """
    if line is None:
        message = _FILE_MESSAGES[code]
    else:
        message = _PEM_MESSAGES[code].format(line=line)
    return Problem(path, code, message, line)
