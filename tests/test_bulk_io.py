"""The C extension's bulk reads and writes against their Python twins: same results, same files.

``_ext.read_files`` (through ``loader._read_files``) against the Python loop, on directories of
regular files, FIFOs, subdirectories, dangling links, files over the size limit and buffers too
small for what was listed; ``_scan_c.scan_read`` (the scan of the files as read, in place)
against ``scan_files`` of the same items, in both scanners; ``_ext.write_certs`` (``EntryWriter.add_der``)
against ``EntryWriter.add`` of ``pem_encode``'s output: the same names, bytes, modes and index,
and the same refusal of a name that exists (O_EXCL: no link is followed, nothing overwritten).

Needs the extension: skipped when it is not built, failed when ``TLSBACK_REQUIRE_EXTENSIONS=1``.
"""

from __future__ import annotations

import errno
import os
import stat
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

if sys.platform == "win32":  # pragma: no cover - no bulk I/O there
    pytest.skip("the bulk reads and writes are POSIX only", allow_module_level=True)

from tests.conftest import import_extension_module  # noqa: E402

_ext = import_extension_module("_ext")

from tlsback import _scan_c, _scan_py, cache, loader
from tlsback._scantypes import ScanResult
from tlsback.bench import make_cert


def _both(paths: list[str], size_hint: int) -> tuple[object, object, int]:
    """The C read's and the Python read's results, and how many files the C read did itself."""
    bulk = _ext.read_files(paths, size_hint, loader.MAX_FILE_SIZE)
    assert bulk is not None  # else both sides below would be the Python reader
    c_items, c_problems = loader._read_files(paths, bulk)
    py_items, py_problems = loader._read_files(paths)
    c = ([(p, bytes(d)) for p, d in c_items], c_problems)
    return c, (py_items, py_problems), bulk[1].count(0)


def test_read_codes_match_the_loaders() -> None:
    assert (_ext.READ_NOT_REGULAR, _ext.READ_TOO_LARGE) == (loader._READ_NOT_REGULAR, loader._READ_TOO_LARGE)


def test_read_files_matches_python_on_every_kind_of_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d = tmp_path / "d"
    d.mkdir()
    (d / "empty.pem").write_bytes(b"")
    (d / "small.pem").write_bytes(b"abc")
    (d / "big.pem").write_bytes(b"x" * 5000)
    (d / "over.pem").write_bytes(b"y" * 3 * 1024 * 1024)
    (d / "sub.pem").mkdir()
    os.mkfifo(d / "fifo.pem")  # O_NONBLOCK: the open does not hang, the fstat refuses it
    os.symlink("small.pem", d / "link.pem")
    os.symlink("missing.pem", d / "dangling.pem")
    (d / "locked.pem").write_bytes(b"secret")
    (d / "locked.pem").chmod(0)
    monkeypatch.setattr(loader, "MAX_FILE_SIZE", 2 * 1024 * 1024)  # both read it at call time
    paths = [str(d / n) for n in sorted(os.listdir(d))] + [str(d / "gone.pem")]
    listed = sum(os.stat(p).st_size for p in paths if os.path.isfile(p))
    c, py, _ = _both(paths, listed)
    assert c == py
    items, problems = py
    assert {Path(p).name: pr.code for p, pr in problems.items()} == {
        "over.pem": "too-large", "sub.pem": "not-a-file", "fifo.pem": "not-a-file", "dangling.pem": "unreadable",
        "gone.pem": "unreadable", **({} if os.geteuid() == 0 else {"locked.pem": "unreadable"})}
    assert "3.0 MiB, over the 2 MiB limit" in problems[str(d / "over.pem")].message
    assert dict(items)[str(d / "big.pem")] == b"x" * 5000


def test_read_files_gives_the_identity_of_each_file_it_opened(tmp_path: Path) -> None:
    """Six numbers per file from its fstat, as the listing's (zeros where it could not be
    opened): both readers name the same files as replaced or rewritten since the listing."""
    from tlsback.sources import identities

    names = ["same.pem", "replaced.pem", "rewritten.pem", "dir.pem", "gone.pem", "grown.pem"]
    for name in names:
        (tmp_path / name).write_bytes(b"x" * 100)
    paths = [str(tmp_path / n) for n in names]
    listed = identities([os.stat(p) for p in paths])
    (tmp_path / "new").write_bytes(b"y" * 100)
    os.replace(tmp_path / "new", tmp_path / "replaced.pem")  # another inode, same size
    with open(tmp_path / "rewritten.pem", "r+b") as f:
        f.write(b"z")  # same inode and size, a new ctime
    (tmp_path / "dir.pem").unlink()
    (tmp_path / "dir.pem").mkdir()
    (tmp_path / "gone.pem").unlink()
    (tmp_path / "grown.pem").write_bytes(b"x" * 200)
    bulk = _ext.read_files(paths, 600, loader.MAX_FILE_SIZE)
    assert bulk is not None
    ids = bulk[2]
    assert ids[6 * 4:6 * 5].tolist() == [0] * 6  # gone: not opened
    for i, p in enumerate(paths):
        if i != 4:
            assert ids[6 * i:6 * i + 6] == identities([os.stat(p)]), names[i]
    c_changed: list[str] = []
    py_changed: list[str] = []
    c = loader._read_files(paths, bulk, listed=listed, changed=c_changed)
    py = loader._read_files(paths, listed=listed, changed=py_changed)
    assert [(p, bytes(d)) for p, d in c[0]] == py[0] and c[1] == py[1]
    assert c_changed == py_changed == [paths[1], paths[2], paths[5]]  # dir and gone: not read


# Run in a child: with every descriptor taken, each open fails with EMFILE (the process's state,
# not the file's), and both readers must name the file as not read as listed.
_NO_DESCRIPTOR_LEFT = """
import json, os, resource, sys
from tlsback import _ext, loader
from tlsback.sources import identities
path = sys.argv[1]
listed = identities([os.stat(path)])
held = []
try:
    while True:
        held.append(os.open(path, os.O_RDONLY))
except OSError:
    pass
results = {}
for name, bulk in (("python", None), ("c", _ext.read_files([path], 100, loader.MAX_FILE_SIZE))):
    changed = []
    items, problems = loader._read_files([path], bulk, listed=listed, changed=changed)
    results[name] = [len(items), [p.message for p in problems.values()], changed]
for fd in held:
    os.close(fd)
print(json.dumps(results))
"""


def test_a_file_not_read_for_want_of_a_descriptor_is_named_as_not_read_as_listed(tmp_path: Path) -> None:
    """EMFILE, ENOMEM...: the process's passing state, not the file's. A store built without
    the file must not be cached under a key that says the file is there (the next process, with
    descriptors to spare, would get the store without it from a warm hit)."""
    import json
    import subprocess

    from tests.conftest import SRC

    source = tmp_path / "ca.pem"
    source.write_bytes(b"x" * 100)
    child = subprocess.run(
        [sys.executable, "-c", "import resource; resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))\n"
         + _NO_DESCRIPTOR_LEFT, str(source)],
        capture_output=True, text=True, timeout=60, env={"PYTHONPATH": str(SRC), "PATH": os.environ["PATH"]})
    assert child.returncode == 0, child.stderr
    results = json.loads(child.stdout)
    for name in ("python", "c"):
        read, messages, changed = results[name]
        assert read == 0 and messages == [f"file cannot be read: {os.strerror(errno.EMFILE)}"], name
        assert changed == [str(source)], name


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(sizes=st.lists(st.integers(0, 9000), min_size=1, max_size=12), hint=st.integers(0, 40000))
def test_read_files_matches_python_whatever_the_buffer(tmp_path_factory: pytest.TempPathFactory,
                                                        sizes: list[int], hint: int) -> None:
    """A listed size that is wrong (files grew, or a small hint): a new buffer, or the Python read."""
    d = tmp_path_factory.mktemp("r")
    paths = []
    for i, size in enumerate(sizes):
        p = d / f"f{i}.pem"
        p.write_bytes(bytes([65 + i]) * size)
        paths.append(str(p))
    c, py, read_in_c = _both(paths, hint)
    assert c == py
    assert [len(data) for _p, data in py[0]] == sizes
    if hint >= sum(sizes):  # room for every file: each one was read by the C call, none again
        assert read_in_c == len(paths)


def _entry(directory: Path) -> dict[str, tuple[int, bytes, list[str]]]:
    """Each name's mode, bytes, and the names of the same file (hard links)."""
    inodes: dict[int, list[str]] = {}
    for name in sorted(os.listdir(directory)):
        st = os.lstat(directory / name)
        assert stat.S_ISREG(st.st_mode)
        inodes.setdefault(st.st_ino, []).append(name)
    out = {}
    for names in inodes.values():
        for name in names:
            st = os.lstat(directory / name)
            assert st.st_nlink == len(names)  # every link to the file is in the entry
            out[name] = (stat.S_IMODE(st.st_mode), (directory / name).read_bytes(), names)
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(certs=st.lists(st.tuples(st.binary(min_size=1, max_size=700), st.sampled_from([0, 1, 0xABCDEF01, 0xFFFFFFFF])),
                      min_size=1, max_size=20),
       more=st.lists(st.integers(2, 2**32 - 1), max_size=20))
def test_write_certs_writes_what_the_python_writer_writes(tmp_path_factory: pytest.TempPathFactory,
                                                           certs: list[tuple[bytes, int]], more: list[int]) -> None:
    """The same names, files, hard links and bytes; whole hash groups share a file."""
    ders = [der for der, _h in certs] + [bytes([i % 256]) * 3 for i in range(len(more))]
    hashes = [h for _d, h in certs] + more
    origins = [f"/src/{i}\n.pem" for i in range(len(ders))]
    a, b = tmp_path_factory.mktemp("c"), tmp_path_factory.mktemp("py")
    wa, wb = cache.EntryWriter(str(a)), cache.EntryWriter(str(b))
    try:
        der = ScanResult()
        der.certs = ders
        assert wa.add_der(*der.der(), hashes, origins)
        wb.add(_scan_py.pem_encode(ders), hashes, origins)
        assert wa.index() == wb.index()
        assert not wa.add_der(*der.der(), hashes, origins)  # only into an empty writer
    finally:
        wa.close()
        wb.close()
    entry = _entry(a)
    assert entry == _entry(b)
    assert all(mode == 0o600 for mode, _data, _names in entry.values())
    pems = _scan_py.pem_encode(ders)
    for (name, _origin, position), pem, h in zip(wa.index(), pems, hashes):
        _mode, data, same_file = entry[name]
        assert data.split(b"-----END CERTIFICATE-----\n")[position] + b"-----END CERTIFICATE-----\n" == pem
        group = {n for n, _o, _p in wa.index() if n.startswith(f"{h:08x}.")}
        assert group <= set(same_file)  # a hash group is never split across files
        assert len(same_file) <= max(cache.BUCKET, len(group))


def test_write_certs_never_follows_or_overwrites_a_name_that_exists(tmp_path: Path) -> None:
    d = tmp_path / "entry"
    d.mkdir(mode=0o700)
    target = tmp_path / "outside.pem"
    target.write_bytes(b"untouched")
    os.symlink(target, d / "00000001.1")  # the second certificate's name (a hard link to the first)
    fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with pytest.raises(OSError) as info:
            _ext.write_certs(fd, b"\x30\x00\x30\x01", [2, 4], [1, 1], cache.BUCKET)
    finally:
        os.close(fd)
    assert info.value.errno == errno.EEXIST and info.value.filename == "00000001.1"
    assert target.read_bytes() == b"untouched"
    assert (d / "00000001.0").read_bytes() == b"".join(_scan_py.pem_encode([b"\x30\x00", b"\x30\x01"]))


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(files=st.lists(st.lists(st.integers(0, 30), max_size=4), min_size=1, max_size=12),
       system=st.lists(st.integers(0, 30), max_size=3), chunk=st.sampled_from([1, 2000, 4 * 1024 * 1024]))
def test_scan_read_scans_as_scan_files(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch,
                                       files: list[list[int]], system: list[int], chunk: int) -> None:
    """Duplicates across files and system items, empty files, chunk boundaries anywhere."""
    monkeypatch.setattr(_scan_c, "CHUNK", chunk)
    d = tmp_path_factory.mktemp("s")
    paths = []
    for i, certs in enumerate(files):
        p = d / f"f{i}.pem"
        p.write_bytes(b"".join(_scan_py.pem_encode([make_cert(1000 + c) for c in certs])) + b"junk\n" * (i % 2))
        paths.append(str(p))
    items = [("system store", make_cert(1000 + c)) for c in system]
    bulk = _ext.read_files(paths, sum(os.path.getsize(p) for p in paths), loader.MAX_FILE_SIZE)
    assert bulk is not None and len(bulk[0]) == 1 and bulk[1].count(0) == len(paths)
    got = _scan_c.scan_read(items, paths, bulk[0])
    read = [(p, (d / Path(p).name).read_bytes()) for p in paths]
    assert got == _scan_c.scan_files(items + read) == _scan_py.scan_files(items + read)


def test_files_over_one_buffer_are_read_into_several_and_scanned_as_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Files that grew since the listing go into more buffers than one; ``scan_read`` scans
    them all in place, as ``scan_files`` (either scanner) scans the same files."""
    ders = [make_cert(2000 + i) for i in range(40)]
    items = []
    for i, der in enumerate(ders):
        p = tmp_path / f"c{i:02d}.pem"
        p.write_bytes(b"".join(_scan_py.pem_encode([der, ders[i // 2]])))
        items.append((str(p), p.read_bytes()))
    paths = [p for p, _ in items]
    monkeypatch.setattr(_ext, "_BUFFER_MAX", 0)  # each buffer: the 4 KiB slack, a few files
    bulk = _ext.read_files(paths, sum(len(data) for _, data in items), loader.MAX_FILE_SIZE)
    assert bulk is not None and len(bulk[0]) > 3 and bulk[1].count(0) == len(paths)
    got = _scan_c.scan_read([], paths, bulk[0])
    assert got == _scan_c.scan_files(items) == _scan_py.scan_files(items)
    assert got.certs == ders and got.duplicates == 40


def test_a_scan_results_certificates_are_one_copy_once_made() -> None:
    """The C scan hands its store on as it lies (``der()``); once ``certs`` is made from it, the
    list is the one copy: a change to it is what ``der()`` and ``cert(i)`` give from then on."""
    ders = [make_cert(3000 + i) for i in range(3)]
    result = _scan_c.scan_files([("bundle", b"".join(_scan_py.pem_encode(ders)))])
    assert result.cert(1) == ders[1] and bytes(result.der()[0]) == b"".join(ders)
    result.certs.pop(0)
    assert result.cert(0) == ders[1]
    assert bytes(result.der()[0]) == b"".join(ders[1:])
