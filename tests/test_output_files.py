"""``-o FILE`` of ``tlsback fetch`` and ``tlsback bundle``: a regular file is replaced whole (a
temporary file renamed into place, through a symlink the file it points to); a FIFO or a device
is written into, never replaced by a regular file."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.pki import PKI
from tests.tlsserver import HTTPSServer

Run = Callable[..., subprocess.CompletedProcess[str]]

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="FIFOs and /proc")


def _command(kind: str, pki: PKI, tmp_path: Path, server: HTTPSServer) -> tuple[list[str], dict[str, str]]:
    env = {"SSL_CERT_FILE": str(pki.write_root(tmp_path / "r.pem")), "TLSBACK_CUSTOM_CERTS": "only"}
    if kind == "fetch":
        return ["fetch", server.url + "/hello"], env
    return ["bundle"], env


def _expected(run_cli: Run, args: list[str], env: dict[str, str]) -> bytes:
    """What the command writes, taken from its standard output."""
    result = run_cli(*args, *(["-o", "-"] if args[0] == "bundle" else []), env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout.encode()


@pytest.mark.parametrize("kind", ["fetch", "bundle"])
def test_a_fifo_is_written_into_and_stays_a_fifo(kind: str, run_cli: Run, pki: PKI, tmp_path: Path,
                                                  https_server: Callable[..., HTTPSServer]) -> None:
    args, env = _command(kind, pki, tmp_path, https_server(pki))
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    result = run_cli(*args, "-o", fifo, env=env)
    reader.join(30)
    assert result.returncode == 0, result.stderr
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert got and got[0] == _expected(run_cli, args, env) and got[0]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".tlsback-")] == []


@pytest.mark.parametrize("kind", ["fetch", "bundle"])
def test_standard_output_by_its_proc_path(kind: str, run_cli: Run, pki: PKI, tmp_path: Path,
                                          https_server: Callable[..., HTTPSServer]) -> None:
    """``-o /proc/self/fd/1`` (what /dev/stdout links to) writes to standard output."""
    if not os.path.exists("/proc/self/fd/1"):
        pytest.skip("no /proc")
    args, env = _command(kind, pki, tmp_path, https_server(pki))
    result = run_cli(*args, "-o", "/proc/self/fd/1", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.encode() == _expected(run_cli, args, env) and result.stdout


@pytest.mark.parametrize("kind", ["fetch", "bundle"])
def test_a_symlink_keeps_pointing_at_the_replaced_file(kind: str, run_cli: Run, pki: PKI, tmp_path: Path,
                                                       https_server: Callable[..., HTTPSServer]) -> None:
    args, env = _command(kind, pki, tmp_path, https_server(pki))
    real_dir = tmp_path / "real"
    real_dir.mkdir()
    target = real_dir / "out"
    target.write_bytes(b"old")
    link = tmp_path / "link"
    link.symlink_to(target)
    result = run_cli(*args, "-o", link, env=env)
    assert result.returncode == 0, result.stderr
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_bytes() == _expected(run_cli, args, env)
    assert [p.name for p in real_dir.iterdir()] == ["out"]  # no temporary file left


@pytest.mark.parametrize("kind", ["fetch", "bundle"])
def test_the_null_device_is_written_into(kind: str, run_cli: Run, pki: PKI, tmp_path: Path,
                                         https_server: Callable[..., HTTPSServer]) -> None:
    """``-o /dev/null`` (the differential tests use it): a success, and the device stays a
    device (run as root, a rename over it used to replace it with a regular file)."""
    args, env = _command(kind, pki, tmp_path, https_server(pki))
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)
    result = run_cli(*args, "-o", os.devnull, env=env)
    assert result.returncode == 0, result.stderr
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)
