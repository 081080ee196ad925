"""``tlsback bundle``: the effective deduplicated store, frozen into one file.

What it should do: the ``bundle`` rows of docs/cli.md, "`tlsback` (also `python -m tlsback`)".
"""

from __future__ import annotations

import os
import ssl
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.pki import PKI, issue
from tests.tlsserver import HTTPSServer, handshake

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def sources(tmp_path: Path, pki: PKI) -> dict[str, str]:
    d = tmp_path / "certs"
    d.mkdir()
    pki.root.write_pem(d / "root.pem")
    pki.root.write_pem(d / "root-again.crt")  # a duplicate: bundled once
    for i in range(3):
        issue(f"bundle CA {i}", is_ca=True).write_pem(d / f"ca{i}.pem")
    return {"SSL_CERT_DIR": str(d), "TLSBACK_CUSTOM_CERTS": "only"}


def pem_blocks(data: bytes) -> list[bytes]:
    text = data.decode("ascii")
    parts = text.split("-----END CERTIFICATE-----")
    return [ssl.PEM_cert_to_DER_cert(p.strip() + "\n-----END CERTIFICATE-----") for p in parts if "BEGIN" in p]


def test_pem_bundle_is_the_deduplicated_store_in_order(run_cli: Run, sources: dict[str, str], tmp_path: Path,
                                                       pki: PKI) -> None:
    """`bundle -o FILE`: every unique certificate once, in store order, as PEM."""
    out = tmp_path / "frozen.pem"
    r = run_cli("bundle", "-o", out, env=sources)
    assert r.returncode == 0, r.stderr
    assert "wrote 4 certificates" in r.stderr
    ders = pem_blocks(out.read_bytes())
    assert len(ders) == 4 and len(set(ders)) == 4 and pki.root.der in ders
    assert (out.stat().st_mode & 0o777) == 0o644
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tlsback-bundle-")]


def test_der_bundle_is_the_concatenation(run_cli: Run, sources: dict[str, str], tmp_path: Path) -> None:
    """`--format der`: the certificates' DER, concatenated, equal to the PEM bundle's."""
    pem, der = tmp_path / "b.pem", tmp_path / "b.der"
    assert run_cli("bundle", "-o", pem, env=sources).returncode == 0
    assert run_cli("bundle", "-o", der, "--format", "der", env=sources).returncode == 0
    assert der.read_bytes() == b"".join(pem_blocks(pem.read_bytes()))


def test_bundle_to_stdout(run_cli: Run, sources: dict[str, str]) -> None:
    """`-o -` writes the bundle to standard output."""
    r = run_cli("bundle", "-o", "-", env=sources)
    assert r.returncode == 0 and r.stdout.count("BEGIN CERTIFICATE") == 4


@pytest.mark.parametrize("fmt", ["pem", "der"])
def test_check_says_whether_the_bundle_still_matches(fmt: str, run_cli: Run, sources: dict[str, str],
                                                     tmp_path: Path, other_pki: PKI) -> None:
    """--check: 0 while the sources are unchanged, 1 with the differences once they change."""
    out = tmp_path / f"frozen.{fmt}"
    assert run_cli("bundle", "-o", out, "--format", fmt, env=sources).returncode == 0
    ok = run_cli("bundle", "--check", out, env=sources)
    assert ok.returncode == 0 and "matches the current sources (4 certificates)" in ok.stdout
    other_pki.root.write_pem(Path(sources["SSL_CERT_DIR"]) / "new.pem")
    os.unlink(Path(sources["SSL_CERT_DIR"]) / "ca0.pem")
    changed = run_cli("bundle", "--check", out, env=sources)
    assert changed.returncode == 1
    assert "1 certificates missing from the bundle, 1 no longer in the sources" in changed.stdout


def test_check_of_a_damaged_or_missing_bundle(run_cli: Run, sources: dict[str, str], tmp_path: Path) -> None:
    """A bundle with a broken block differs (and says why); a missing file is an error (2)."""
    out = tmp_path / "frozen.pem"
    assert run_cli("bundle", "-o", out, env=sources).returncode == 0
    damaged = tmp_path / "damaged.pem"
    damaged.write_bytes(out.read_bytes() + b"-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n")
    r = run_cli("bundle", "--check", damaged, env=sources)
    assert r.returncode == 1 and "bundle problem: bad base64" in r.stdout
    missing = run_cli("bundle", "--check", tmp_path / "nope.pem", env=sources)
    assert missing.returncode == 2 and "cannot read" in missing.stderr


@pytest.mark.parametrize("store", ["lazy", "eager"])
def test_bundle_from_a_warm_cache_equals_the_cold_one(store: str, run_cli: Run, sources: dict[str, str],
                                                      tmp_path: Path) -> None:
    """On a cache hit the certificates are read back from the entry: same bundle, same order."""
    env = {**sources, "TLSBACK_STORE": store}
    cold, warm = tmp_path / "cold.pem", tmp_path / "warm.pem"
    assert run_cli("bundle", "-o", cold, env=env).returncode == 0
    assert run_cli("bundle", "-o", warm, env=env).returncode == 0
    assert cold.read_bytes() == warm.read_bytes()
    if store == "lazy":
        info = run_cli("info", env=env).stdout
        assert "cache        hit" in info


def test_a_frozen_bundle_works_as_ssl_cert_file(run_cli: Run, sources: dict[str, str], tmp_path: Path,
                                                pki: PKI, https_server: Callable[..., HTTPSServer]) -> None:
    """What `bundle` writes is a store a program can ship: it verifies the same server."""
    import tlsback

    out = tmp_path / "frozen.pem"
    assert run_cli("bundle", "-o", out, env=sources).returncode == 0
    cfg = tlsback.load(env={"SSL_CERT_FILE": str(out), "TLSBACK_CUSTOM_CERTS": "only", "UV_NO_CONFIG": "1"},
                       cwd=tmp_path)
    assert cfg.store.count == 4
    assert handshake(https_server(pki).port, cfg.context)[0]


def test_unwritable_output_is_an_error(run_cli: Run, sources: dict[str, str], tmp_path: Path) -> None:
    """A directory that does not exist: exit 2 with the reason, nothing half-written."""
    r = run_cli("bundle", "-o", tmp_path / "no" / "such" / "dir.pem", env=sources)
    assert r.returncode == 2 and "cannot write" in r.stderr


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_check_of_a_fifo_or_device_never_hangs(kind: str, run_cli: Run, sources: dict[str, str],
                                               tmp_path: Path) -> None:
    """A FIFO without a writer would block the read for ever, /dev/zero would fill the memory:
    both are refused as not a regular file (exit 2)."""
    if kind == "fifo":
        path = tmp_path / "bundle.pem"
        os.mkfifo(path)
    else:
        path = Path("/dev/zero")
    r = run_cli("bundle", "--check", path, env=sources, timeout=30)
    assert r.returncode == 2, r.stderr
    assert "not a regular file" in r.stderr and "Traceback" not in r.stderr
