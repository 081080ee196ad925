"""Result types shared by the two scanner implementations (``_scan_c`` and ``_scan_py``).

The scanners are sans-IO: they take ``(path, bytes)`` pairs and return these values. ``path`` is
only a label used in messages; nothing here touches the file system.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["FileStats", "Problem", "ScanResult"]


@dataclass(frozen=True)
class Problem:
    """One problem with one trust source, turned into one warning.

    Attributes:
        path: the file or directory the problem is about.
        code: a stable machine-readable code (``bad-base64``, ``missing-end``, ``truncated-der``,
            ``trailing-data``, ``not-x509``, ``no-certificates``, ``missing``, ``not-a-file``,
            ``unreadable``, ``too-large``, ``symlink-loop``, ``bad-name``, ...).
        message: a sentence a person understands, without the path (``bad base64 in
            CERTIFICATE block at line 12``).
        line: the 1-based line the problem starts at, where that means something.
    """

    path: str
    code: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass
class FileStats:
    """How many certificates one file held, and how many of those were new."""

    found: int = 0
    unique: int = 0


@dataclass
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

    certs: list[bytes] = field(default_factory=list)
    origins: list[str] = field(default_factory=list)
    subject_hashes: list[int] = field(default_factory=list)
    per_file: dict[str, FileStats] = field(default_factory=dict)
    duplicates: int = 0
    problems: list[Problem] = field(default_factory=list)
