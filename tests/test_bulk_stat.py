"""The C extension's bulk stat (``_ext.stat_at``) against ``os.stat`` (``sources.identities``),
its bulk listing (``_ext.list_dir``: names, filter, sort and stat in one call) against
``os.listdir``, ``is_certificate_name`` and ``sorted``, and a large directory listed every way
(``list_source(native=...)``): same files, same numbers, same problems.

Needs the extension: skipped when it is not built, failed when ``TLSBACK_REQUIRE_EXTENSIONS=1``.
"""

from __future__ import annotations

import errno
import os
import sys
from array import array

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

if sys.platform == "win32":  # pragma: no cover - no fstatat there
    pytest.skip("no fstatat on Windows", allow_module_level=True)

from tests.conftest import import_extension_module  # noqa: E402

_ext = import_extension_module("_ext")

from tlsback import sources


def _tree(d, n: int) -> None:
    for i in range(n):
        (d / f"c{i:05d}.pem").write_bytes(b"x" * (i % 7))
    os.symlink("c00001.pem", d / "0123abcd.0")  # a hash link: followed
    (d / "sub.pem").mkdir()  # not a regular file: skipped
    os.mkfifo(d / "fifo.crt")  # neither
    # Times beyond the year 2262 do not fit mtime_ns in 64 bits: both sides wrap them alike.
    far = (2**63 // 10**9 + 1000) * 10**9 + 123
    try:
        os.utime(d / "c00002.pem", ns=(far, far))
    except (OSError, OverflowError):  # the file system cannot store it
        pass


def test_stat_at_matches_os_stat(tmp_path) -> None:
    tmp_path = tmp_path / "d"  # tmp_path itself holds the hermetic fixture's directories
    tmp_path.mkdir()
    _tree(tmp_path, 5)
    os.symlink("missing.pem", tmp_path / "dangling.pem")
    names = sorted(os.listdir(tmp_path))
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        got = _ext.stat_at(fd, names)
    finally:
        os.close(fd)
    assert got is not None
    errs, ids = got
    assert len(errs) == len(names) and len(ids) == 6 * len(names)
    for i, name in enumerate(names):
        try:
            st = os.stat(tmp_path / name)
        except FileNotFoundError:
            assert errs[i] == errno.ENOENT, name
            assert list(ids[6 * i:6 * i + 6]) == [0] * 6
            continue
        assert errs[i] == 0, name
        assert ids[6 * i:6 * i + 6] == sources.identities([st]), name


def test_stat_at_refuses_malformed_names() -> None:
    fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY)
    try:
        # More names than the buffer holds: refused, nothing read past its end.
        errs = array("i", bytes(8))
        ids = array("q", bytes(96))
        rc = _ext.lib.tb_stat_at(fd, b"a\0", 2, 2, _ext.ffi.from_buffer("int32_t[]", errs),
                                 _ext.ffi.from_buffer("int64_t[]", ids))
        assert rc != 0
        assert _ext.lib.tb_stat_at(fd, b"a", 1, 1, _ext.ffi.from_buffer("int32_t[]", errs),
                                   _ext.ffi.from_buffer("int64_t[]", ids)) != 0  # no terminator
    finally:
        os.close(fd)


# Names besides ASCII: UTF-8 (Debian's store has some), and bytes that are not UTF-8 (listed,
# reported as bad names). b"\x80" sorts before "\u00e9" as bytes, after it as decoded (U+DC80).
_UTF8_NAMES = ["\u00e9t\u00e9.pem", "NetLock_Arany_=Class_Gold=_F\u0151tan\u00fas\u00edtv\u00e1ny.pem", "\u4e2d.crt"]
_UNDECODABLE_NAMES = [b"\x80.pem", b"\xff\xfe.crt", b"a\xc3.pem"]


@pytest.mark.parametrize("way", ["list_dir", "stat_at"])
@pytest.mark.parametrize("names", ["ascii", "utf8", "undecodable"])
@pytest.mark.parametrize("broken", [False, True], ids=["clean", "dangling-link"])
def test_large_directory_listed_alike(tmp_path, broken: bool, names: str, way: str,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # list_dir: the C call lists the directory (whatever its size in bytes); stat_at: Python
    # lists, the C call stats.
    monkeypatch.setattr(sources, "BULK_LIST_MIN_BYTES", 0 if way == "list_dir" else 2**62)
    tmp_path = tmp_path / "d"
    tmp_path.mkdir()
    _tree(tmp_path, sources.BULK_STAT_MIN + 5)
    extra = {"ascii": [], "utf8": _UTF8_NAMES, "undecodable": _UTF8_NAMES + _UNDECODABLE_NAMES}[names]
    for name in extra:
        with open(os.path.join(os.fsencode(tmp_path), os.fsencode(name)), "wb") as f:
            f.write(b"x")
    if broken:  # an error in the bulk call: the careful loop lists the directory
        os.symlink("missing.pem", tmp_path / "dangling.pem")
    src = sources.Source("SSL_CERT_DIR", str(tmp_path), "dir", "env:SSL_CERT_DIR")
    calls: list[object] = []  # what the C call returned: the native listing must have used it
    real = getattr(_ext, way)
    monkeypatch.setattr(_ext, way, lambda *a: calls.append(real(*a)) or calls[-1])
    native = sources.list_source(src, native=True)
    # The C call was used, except stat_at over names to report (the careful loop stats those).
    if way == "list_dir" or names != "undecodable":
        assert calls and calls[0] is not None
    if broken and way == "stat_at" and calls:  # the dangling link made the careful loop take over
        assert any(calls[0][0])  # type: ignore[index]
    python = sources.list_source(src, native=False)
    assert native.files == python.files
    assert native.ids == python.ids
    assert (native.skipped, native.problems) == (python.skipped, python.problems)
    assert len(native.files) == sources.BULK_STAT_MIN + 6 + len(extra)  # the files and the hash link
    assert native.skipped == 2 + broken  # the subdirectory, the FIFO, the dangling link
    assert native.files == sorted(native.files)
    assert sorted(p.path for p in native.problems) == sorted(  # each undecodable name, reported once
        str(tmp_path / os.fsencode(n).decode("utf-8", "backslashreplace"))
        for n in extra if isinstance(n, bytes))


_NAME_PARTS = [b"a", b"Z", b"0", b"9", b"f", b"g", b".", b"pem", b"PEM", b"Crt", b"cer", b"crt~", b"0123abcd",
               "\u00e9".encode(), "\u0130".encode(), "\u212a".encode(), "\u4e2d".encode(), b"\x80", b"\xc3",
               b"\xff", b" ", b"-"]


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(names=st.lists(st.lists(st.sampled_from(_NAME_PARTS), min_size=1, max_size=5).map(b"".join),
                      min_size=1, max_size=30, unique=True))
def test_list_dir_keeps_and_orders_names_as_python_does(tmp_path_factory: pytest.TempPathFactory,
                                                        names: list[bytes]) -> None:
    # Names as bytes: valid UTF-8, and not (decoded as os.listdir does, with lone surrogates).
    d = os.fsencode(tmp_path_factory.mktemp("names"))
    for n in names:
        if n in (b".", b".."):
            continue
        try:
            with open(os.path.join(d, n), "wb"):
                pass
        except OSError:  # a name the file system refuses
            continue
    fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    try:
        got = _ext.list_dir(fd, 0)  # a hint too small: the call is made again with the sizes needed
    finally:
        os.close(fd)
    listed_all = os.listdir(os.fsdecode(d))
    wanted = sorted(n for n in listed_all if sources.is_certificate_name(n))
    assert got is not None
    listed, others, errs, ids = got
    assert listed == wanted
    assert others == len(listed_all) - len(wanted)
    if not sources._encodable("".join(wanted)):  # names to report: stat'ed one by one by the caller
        assert errs is None and ids is None
        return
    assert errs is not None and ids is not None
    assert list(errs) == [0] * len(wanted) and len(ids) == 6 * len(wanted)
    for i, name in enumerate(listed):  # each name's numbers
        assert ids[6 * i:6 * i + 6] == sources.identities([os.stat(os.path.join(os.fsdecode(d), name))]), name
