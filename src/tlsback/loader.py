"""Loading trust sources into a :class:`TrustStore` (SPEC §2, §6).

One pipeline for every source: list files (:mod:`tlsback.sources`), read them here, then scan,
decode, frame-check and deduplicate them with the chosen implementation (the C extension or
its pure-Python twin, :mod:`tlsback._scan`). Every problem becomes one warning that names the
source and the path and says what stays trusted; loading always goes on with the rest.
"""

from __future__ import annotations

import logging
import os
import ssl
import stat
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import _scan
from ._scantypes import Problem, ScanResult
from .sources import Listing, Source, certifi_source, custom_sources, list_source, platform_sources

__all__ = ["MAX_FILE_SIZE", "SourceReport", "TrustStore", "load_trust_store"]

log = logging.getLogger(__name__)

MAX_FILE_SIZE = 10 * 1024 * 1024  # larger files are skipped with a warning (SPEC §2.4)


@dataclass
class SourceReport:
    """What one source contributed, for diagnostics."""

    source: Source
    files: int = 0
    certificates: int = 0  # found, before deduplication
    unique: int = 0  # new to the store
    aliases: int = 0  # files already read through an earlier path (hash links, repeated sources)
    skipped: int = 0  # directory entries passed over silently (other names, subdirectories)
    problems: list[Problem] = field(default_factory=list)

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


@dataclass
class TrustStore:
    """The deduplicated trust anchors of a set of sources, with how they were loaded.

    Attributes:
        certs: unique DER certificates in source order (first occurrence wins).
        origins: the file each certificate was first found in.
        subject_hashes: OpenSSL's subject-name hash of each certificate.
        sources: one report per source, in loading order.
        implementation: ``c`` or ``python``: which scanner ran.
        implementation_reason: why that one.
        platform_fallback: True when no platform store was found and certifi's roots were used.
        mode: ``merge`` or ``only`` (SPEC §2.4).
        timings: seconds spent listing, reading, scanning, and in all.
    """

    certs: list[bytes] = field(default_factory=list)
    origins: list[str] = field(default_factory=list)
    subject_hashes: list[int] = field(default_factory=list)
    sources: list[SourceReport] = field(default_factory=list)
    implementation: str = "python"
    implementation_reason: str = ""
    platform_fallback: bool = False
    mode: str = "merge"
    timings: dict[str, float] = field(default_factory=dict)

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
        return b"".join(self.certs)

    def load_into(self, ctx: ssl.SSLContext) -> None:
        """Add every certificate to ``ctx`` as a trust anchor.

        OpenSSL parses certificates more strictly than the scanners' framing check. If it
        refuses one, the certificates are loaded one at a time (OpenSSL ignores those it already
        has), the refused ones are reported, and the rest are still trusted: one bad
        certificate never removes the others' trust. That path is slow, but only bad input takes it.
        """
        try:
            ctx.load_verify_locations(cadata=self.cadata())
            return
        except ssl.SSLError:
            pass
        for der, origin in zip(self.certs, self.origins):
            try:
                ctx.load_verify_locations(cadata=der)
            except ssl.SSLError as exc:
                log.warning("Ignoring a certificate in %s that OpenSSL cannot load (%s). "
                            "Continuing with the other certificates.", origin, exc.reason or exc)


def _read_files(paths: Sequence[str]) -> tuple[list[tuple[str, bytes]], dict[str, Problem]]:
    items: list[tuple[str, bytes]] = []
    problems: dict[str, Problem] = {}
    for path in paths:
        try:
            with open(path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                if size > MAX_FILE_SIZE:
                    problems[path] = Problem(
                        path, "too-large",
                        f"file is {size / 1048576:.1f} MiB, over the {MAX_FILE_SIZE // 1048576} MiB limit; skipped",
                    )
                    continue
                items.append((path, f.read()))
        except OSError as exc:
            reason = "permission denied" if isinstance(exc, PermissionError) else (exc.strerror or str(exc))
            problems[path] = Problem(path, "unreadable", f"file cannot be read: {reason}")
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
    out = subprocess.run(
        ["/usr/bin/security", "find-certificate", "-a", "-p", *keychains],
        capture_output=True, timeout=30, check=True,
    ).stdout
    return [("macOS system keychains", out)]


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
    if problem.path == report.source.path:
        return f"Invalid {label}. {problem.message}: {problem.path}. {consequence}"
    return f"Ignoring {problem.path} in {label}: {problem.message}. {consequence}"


def load_trust_store(
    *,
    cert_file: str | None,
    cert_dirs: Sequence[str],
    include_platform: bool,
    mode: str = "merge",
    platform_paths: Sequence[str] | None = None,
    env: Mapping[str, str] | None = None,
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
        env: the environment, for the implementation switch (``TLSBACK_NO_EXTENSIONS``).

    Returns:
        The store, with a report per source. Problems were logged as warnings.

    Raises:
        tlsback.errors.ExtensionError: the C extension was required and cannot be used.
    """
    t0 = time.perf_counter()
    impl, reason = _scan.select(env)
    store = TrustStore(implementation=impl.IMPLEMENTATION, implementation_reason=reason, mode=mode)

    custom = custom_sources(cert_file, cert_dirs)
    sources: list[Source] = []
    if include_platform and not (mode == "only" and custom):
        sources = platform_sources(platform_paths)
        if not sources:
            sources = [certifi_source()]
            store.platform_fallback = True
            log.info("no platform certificate store found; using certifi's bundled roots")
    sources += custom

    listings: list[Listing] = [list_source(s) for s in sources]
    t_list = time.perf_counter()

    # Read each file once, however many paths lead to it (Debian's hash links, a bundle that is
    # also SSL_CERT_FILE): aliases are counted, not read again.
    seen: set[tuple[int, int]] = set()
    owner: dict[str, SourceReport] = {}
    to_read: list[str] = []
    system_items: list[tuple[str, bytes]] = []
    for listing in listings:
        report = SourceReport(listing.source, skipped=listing.skipped, problems=list(listing.problems))
        store.sources.append(report)
        if listing.source.shape == "system":
            try:
                items = _system_items(listing.source)
            except (OSError, subprocess.SubprocessError) as exc:
                report.problems.append(Problem(listing.source.path, "unreadable", f"system store cannot be read: {exc}"))
                items = []
            for label, _ in items:
                owner[label] = report
            system_items += items
            continue
        for path in listing.files:
            try:
                st = os.stat(path)
                key = (st.st_dev, st.st_ino)
            except OSError:
                key = None  # reading will report it
            if key is not None and stat.S_ISREG(st.st_mode) and key in seen:
                report.aliases += 1
                continue
            if key is not None:
                seen.add(key)
            owner[path] = report
            to_read.append(path)
    items, read_problems = _read_files(to_read)
    t_read = time.perf_counter()

    result: ScanResult = impl.scan_files(system_items + items)
    t_scan = time.perf_counter()

    store.certs, store.origins, store.subject_hashes = result.certs, result.origins, result.subject_hashes
    for path, report in owner.items():
        stats = result.per_file.get(path)
        if path in read_problems:
            report.problems.append(read_problems[path])
        if stats is not None:
            report.files += 1
            report.certificates += stats.found
            report.unique += stats.unique
    for problem in result.problems:
        if problem.path in owner:
            owner[problem.path].problems.append(problem)

    for report in store.sources:
        consequence = _consequence(report, store_empty=not store.certs, mode=mode, include_platform=include_platform)
        for problem in report.problems:
            log.warning("%s", format_warning(report, problem, consequence))
        log.debug(
            "%s %s: %d files, %d certificates, %d new, %d duplicates, %d aliases",
            report.source.kind, report.source.path, report.files, report.certificates,
            report.unique, report.duplicates, report.aliases,
        )
    if not store.certs and custom and mode == "only" and not store.problems:
        log.warning("The custom certificate sources yielded no certificate. No default certificates will be trusted.")
    store.timings = {
        "list_s": t_list - t0,
        "read_s": t_read - t_list,
        "scan_s": t_scan - t_read,
        "total_s": time.perf_counter() - t0,
    }
    log.debug("loaded %d certificates with the %s scanner (%s)", len(store.certs), store.implementation, reason)
    return store
