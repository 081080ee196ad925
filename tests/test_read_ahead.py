"""The C scanner's cold path reads and scans in chunks, a worker thread reading ahead for large
stores (``loader._read_scan_c``, ``loader._ReadAhead``; docs/loader.md).

The threaded pipeline must load exactly what the sequential one loads, and what the Python
scanner loads: the same certificates in the same order, origins, subject hashes, problems and
per-source reports, whatever the chunk size, with files that fail to be read among the others.
A read that raises, or an interrupt during the scan, stops the load and leaves no thread behind.

Needs the extension: skipped when it is not built, failed when ``TLSBACK_REQUIRE_EXTENSIONS=1``.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any

import pytest

if sys.platform == "win32":  # pragma: no cover - no bulk I/O there
    pytest.skip("the bulk reads are POSIX only", allow_module_level=True)

from tests.conftest import import_extension_module  # noqa: E402

_ext = import_extension_module("_ext")

from tlsback import _scan_c, _scan_py, loader  # noqa: E402
from tlsback.bench import make_cert  # noqa: E402

THREAD = "tlsback-read-ahead"


def _tree(d: Path) -> Path:
    """60 files: PEM singles and bundles with duplicates across files, DER files, an empty
    file, broken blocks, files over the size limit the tests set (one in every 20)."""
    d.mkdir()
    ders = [make_cert(3000 + i) for i in range(50)]
    for i in range(60):
        name = d / f"f{i:02d}.{'cer' if i % 7 == 3 else 'pem'}"
        if i % 7 == 3:
            name.write_bytes(ders[i % 50])
        elif i == 11:
            name.write_bytes(b"")
        elif i % 20 == 5:
            name.write_bytes(b"".join(_scan_py.pem_encode(ders[:8])))  # over the limit below
        else:
            pems = _scan_py.pem_encode([ders[i % 50], ders[(i * 7) % 50]])
            broken = b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n" if i % 9 == 4 else b""
            name.write_bytes(b"".join(pems) + broken)
    return d


def _load(d: Path, scanner: str) -> loader.TrustStore:
    return loader.load_trust_store(cert_file=None, cert_dirs=[str(d)], include_platform=False, scanner=scanner)


def _view(store: loader.TrustStore) -> tuple[Any, ...]:
    return (store.certs, store.origins, store.subject_hashes, store.problems, store.duplicates,
            [(r.files, r.certificates, r.unique, r.aliases, r.skipped) for r in store.sources])


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loader, "MAX_FILE_SIZE", 6000)  # the 8-certificate bundles are over it
    monkeypatch.setattr(loader, "READ_CHUNK", 5000)  # a few files per chunk: a dozen chunks


def _threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name == THREAD]


@pytest.mark.usefixtures("small_chunks")
@pytest.mark.parametrize("scan_chunk", [1, 3000, 4 * 1024 * 1024])
def test_the_read_ahead_loads_what_the_sequential_reads_and_the_python_scanner_load(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scan_chunk: int) -> None:
    d = _tree(tmp_path / "certs")
    monkeypatch.setattr(_scan_c, "CHUNK", scan_chunk)
    started: list[int] = []
    real_init = loader._ReadAhead.__init__
    monkeypatch.setattr(loader._ReadAhead, "__init__",
                        lambda self, *a: started.append(1) or real_init(self, *a))

    monkeypatch.setattr(loader, "READ_AHEAD_MIN", 10**12)
    sequential = _load(d, "c")
    assert not started
    monkeypatch.setattr(loader, "READ_AHEAD_MIN", 0)
    ahead = _load(d, "c")
    assert started == [1] and not _threads()
    python = _load(d, "python")
    assert _view(ahead) == _view(sequential) == _view(python)
    assert {p.code for p in ahead.problems} == {"too-large", "bad-base64", "no-certificates"}
    assert (ahead.count, ahead.sources[0].files) == (49, 58)  # 2 over the limit; f11 empty


@pytest.mark.usefixtures("small_chunks")
@pytest.mark.parametrize("threshold", [0, 10**12])
def test_a_file_gone_between_the_listing_and_its_read_is_reported_and_the_rest_loaded(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, threshold: int) -> None:
    """The C reader fails the file (ENOENT) in the middle of a chunk: that chunk is read again
    file by file, the others in place, and the store is the Python scanner's over the same
    race (the file taken away at the same point)."""
    d = _tree(tmp_path / "certs")
    gone = d / "f30.pem"
    content = gone.read_bytes()
    monkeypatch.setattr(loader, "READ_AHEAD_MIN", threshold)

    real_read, real_py = _ext.read_files, loader._read_files_py

    def read_files(paths: list[str], *a: Any) -> Any:  # the listing is done: the file goes
        if str(gone) in paths and gone.exists():
            gone.unlink()
        return real_read(paths, *a)

    def read_files_py(paths: Any, **kwargs: Any) -> Any:
        if str(gone) in paths and gone.exists():
            gone.unlink()
        return real_py(paths, **kwargs)

    monkeypatch.setattr(_ext, "read_files", read_files)
    monkeypatch.setattr(loader, "_read_files_py", read_files_py)
    c = _load(d, "c")
    gone.write_bytes(content)
    python = _load(d, "python")
    assert not gone.exists()
    assert _view(c) == _view(python)
    assert [(p.path, p.code) for p in c.problems if p.code == "unreadable"] == [(str(gone), "unreadable")]
    assert not _threads()


@pytest.mark.usefixtures("small_chunks")
def test_a_read_that_raises_stops_the_load_and_leaves_no_thread(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    d = _tree(tmp_path / "certs")
    monkeypatch.setattr(loader, "READ_AHEAD_MIN", 0)
    calls: list[int] = []
    real_read = _ext.read_files

    def read_files(*a: Any) -> Any:
        calls.append(1)
        if len(calls) == 3:
            raise MemoryError("the third chunk")
        return real_read(*a)

    monkeypatch.setattr(_ext, "read_files", read_files)
    with pytest.raises(MemoryError, match="the third chunk"):
        _load(d, "c")
    assert len(calls) == 3 and not _threads()  # nothing read after the failure


@pytest.mark.usefixtures("small_chunks")
def test_an_interrupt_during_the_scan_leaves_no_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d = _tree(tmp_path / "certs")
    monkeypatch.setattr(loader, "READ_AHEAD_MIN", 0)
    reads: list[int] = []
    real_read = _ext.read_files
    monkeypatch.setattr(_ext, "read_files", lambda *a: reads.append(1) or real_read(*a))
    scans: list[int] = []
    real_scan = _scan_c.Scan.read

    def scan_read(self: Any, *a: Any) -> None:
        scans.append(1)
        if len(scans) == 2:
            raise KeyboardInterrupt
        real_scan(self, *a)

    monkeypatch.setattr(_scan_c.Scan, "read", scan_read)
    with pytest.raises(KeyboardInterrupt):
        _load(d, "c")
    assert not _threads()
    # The worker stopped: at most the chunks it was allowed ahead of the scan were read.
    assert len(reads) <= len(scans) + loader.READ_AHEAD_DEPTH + 1 < len(loader._spans(
        [p.stat().st_size for p in sorted(d.iterdir())], loader.READ_CHUNK))


@pytest.mark.parametrize("threshold", [0, 10**12])
def test_a_system_stores_items_before_the_files_are_counted_per_source(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, threshold: int) -> None:
    """Windows' and macOS' stores come as items scanned before the files, under a few labels met
    many times: each source's counts come out as the Python scanner's (their sums and the files'
    slices, without a dict per file)."""
    from tlsback.sources import Source

    d = _tree(tmp_path / "certs")
    monkeypatch.setattr(loader, "READ_AHEAD_MIN", threshold)
    monkeypatch.setattr(loader, "READ_CHUNK", 5000)
    ders = [make_cert(3000 + i) for i in (0, 1, 2, 60, 61)]
    items = [("Windows ROOT store", ders[0]), ("Windows ROOT store", ders[3]), ("Windows CA store", ders[1]),
             ("Windows ROOT store", ders[3]), ("Windows CA store", ders[4])]
    monkeypatch.setattr(loader, "platform_sources", lambda paths=None: [Source("platform", "win32", "system", "probe")])
    monkeypatch.setattr(loader, "_system_items", lambda source: list(items))

    def load(scanner: str) -> loader.TrustStore:
        return loader.load_trust_store(cert_file=None, cert_dirs=[str(d)], include_platform=True, scanner=scanner)

    c, python = load("c"), load("python")
    assert _view(c) == _view(python)
    assert [(r.files, r.certificates, r.unique) for r in c.sources][0] == (2, 5, 4)


@pytest.mark.usefixtures("small_chunks")
def test_without_a_thread_to_be_had_the_files_are_read_in_line(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """At interpreter exit (3.12+) or at a thread limit, ``Thread.start`` raises RuntimeError:
    the load reads the chunks itself, with the same result."""
    d = _tree(tmp_path / "certs")
    monkeypatch.setattr(loader, "READ_AHEAD_MIN", 0)
    expected = _view(_load(d, "python"))

    def start(self: threading.Thread) -> None:
        raise RuntimeError("can't create new thread at interpreter shutdown")

    monkeypatch.setattr(threading.Thread, "start", start)
    assert _view(_load(d, "c")) == expected
    assert not _threads()
