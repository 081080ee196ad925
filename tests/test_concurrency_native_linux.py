"""The native backend's Linux path (``tlsback._truststore_linux``): truststore's semantics, with
the system store loaded once per context instead of once per connection."""

from __future__ import annotations

import os
import ssl
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.pki import PKI, write_bundle, write_hashed_dir
from tests.tlsserver import HTTPSServer, handshake
from tlsback import _truststore_linux as tl

pytestmark = pytest.mark.skipif(not tl.applies(), reason="OpenSSL is not the OS verifier here")


class LoadCounter:
    """Counts every way a context can be handed CA certificates."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self._lock = threading.Lock()

    def record(self, what: str) -> None:
        with self._lock:
            self.calls.append(what)


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> Iterator[LoadCounter]:
    counter = LoadCounter()
    real_lvl = ssl.SSLContext.load_verify_locations
    real_sdvp = ssl.SSLContext.set_default_verify_paths
    real_ldc = ssl.SSLContext.load_default_certs

    def lvl(self: ssl.SSLContext, *a: object, **k: object) -> None:
        counter.record("load_verify_locations")
        real_lvl(self, *a, **k)  # type: ignore[arg-type]

    def sdvp(self: ssl.SSLContext) -> None:
        counter.record("set_default_verify_paths")
        real_sdvp(self)

    def ldc(self: ssl.SSLContext, *a: object, **k: object) -> None:
        counter.record("load_default_certs")
        real_ldc(self, *a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", lvl)
    monkeypatch.setattr(ssl.SSLContext, "set_default_verify_paths", sdvp)
    monkeypatch.setattr(ssl.SSLContext, "load_default_certs", ldc)
    yield counter


@pytest.fixture
def store_with_test_root(pki: PKI, tmp_path: Path) -> tl.SystemStore:
    """A 'system store' that holds the test PKI's root (bundle) and another CA (hashed dir)."""
    bundle = write_bundle(tmp_path / "ca-bundle.crt", [pki.root])
    hashed = write_hashed_dir(tmp_path / "system-certs", [PKI.create(name_prefix="dir").root])
    return tl.find_system_store([str(bundle), str(hashed), str(tmp_path / "missing")])


def test_find_system_store_explicit_paths(pki: PKI, tmp_path: Path) -> None:
    """Explicit paths: first existing file is the bundle, first hashed directory the capath."""
    (tmp_path / "empty").mkdir()
    bundle = write_bundle(tmp_path / "b.pem", [pki.root])
    hashed = write_hashed_dir(tmp_path / "h", [pki.root])
    store = tl.find_system_store([str(tmp_path / "nope"), str(tmp_path / "empty"), str(hashed), str(bundle)])
    assert store == tl.SystemStore(str(bundle), str(hashed), "explicit")
    assert tl.find_system_store([str(tmp_path / "nope")]).how == "none"
    assert store.describe() == {"cafile": str(bundle), "capath": str(hashed), "how": "explicit"}


def test_find_system_store_ignores_ssl_cert_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SSL_CERT_FILE/SSL_CERT_DIR are tlsback's custom sources, never read behind its back."""
    bogus = tmp_path / "bogus.pem"
    bogus.write_text("x")
    monkeypatch.setenv("SSL_CERT_FILE", str(bogus))
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))
    store = tl.find_system_store()
    assert store.cafile != str(bogus)
    assert store.capath != str(tmp_path)


def test_same_store_as_truststore_would_load() -> None:
    """With no SSL_CERT_* set, the store equals what set_default_verify_paths() loads."""
    assert "SSL_CERT_FILE" not in os.environ and "SSL_CERT_DIR" not in os.environ
    store = tl.find_system_store()
    ours = tl.native_context(True, store=store)
    theirs = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if store.how == "openssl-defaults":
        theirs.set_default_verify_paths()  # exactly truststore's _configure_context
    elif store.how == "candidate":
        assert store.cafile is not None
        theirs.load_verify_locations(cafile=store.cafile)
    assert ours.get_ca_certs(binary_form=True) == theirs.get_ca_certs(binary_form=True)
    assert ours.cert_store_stats() == theirs.cert_store_stats()


def test_context_defaults_match_truststore() -> None:
    """Same context type and defaults as the one truststore.SSLContext wraps."""
    import truststore

    ours = tl.native_context(True, store=tl.SystemStore(None, None, "none"))
    theirs = truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    assert type(ours) is ssl.SSLContext
    for attr in ("verify_mode", "check_hostname", "minimum_version", "maximum_version",
                 "options", "verify_flags", "hostname_checks_common_name", "protocol"):
        assert getattr(ours, attr) == getattr(theirs, attr), attr
    insecure = tl.native_context(False)
    assert (insecure.verify_mode, insecure.check_hostname) == (ssl.CERT_NONE, False)
    assert insecure.get_ca_certs() == []


def test_verifies_names_and_issuers(
    pki: PKI, other_pki: PKI, https_server: Callable[..., HTTPSServer], store_with_test_root: tl.SystemStore,
) -> None:
    """Trusted chain verifies; wrong host name and unknown issuer fail as SSLCertVerificationError."""
    ctx = tl.native_context(True, store=store_with_test_root)
    good = https_server(pki)
    assert handshake(good.port, ctx)[0] in ("TLSv1.2", "TLSv1.3")
    with pytest.raises(ssl.SSLCertVerificationError, match="Hostname mismatch|doesn't match"):
        handshake(good.port, ctx, server_hostname="example.com")
    with pytest.raises(ValueError, match="check_hostname requires server_hostname"):
        handshake(good.port, ctx, server_hostname=None)
    bad = https_server(other_pki)
    with pytest.raises(ssl.SSLCertVerificationError, match="unable to get local issuer"):
        handshake(bad.port, ctx)
    # The insecure twin accepts both, with no store at all.
    insecure = tl.native_context(False)
    assert handshake(bad.port, insecure, server_hostname="example.com")[0]


def test_hashed_directory_is_read_lazily(
    https_server: Callable[..., HTTPSServer], tmp_path: Path,
) -> None:
    """A CA found only in the hash-named directory verifies (capath, as set_default_verify_paths)."""
    dir_pki = PKI.create(name_prefix="capath")
    hashed = write_hashed_dir(tmp_path / "h", [dir_pki.root])
    ctx = tl.native_context(True, paths=[str(hashed)])
    assert ctx.get_ca_certs() == []  # nothing loaded eagerly
    srv = https_server(dir_pki)
    assert handshake(srv.port, ctx)[0]


def test_store_loaded_once_not_per_connection(
    pki: PKI, https_server: Callable[..., HTTPSServer], store_with_test_root: tl.SystemStore,
    loads: LoadCounter,
) -> None:
    """One load when the context is built; none for 20 connections (truststore: one each)."""
    ctx = tl.native_context(True, store=store_with_test_root)
    assert loads.calls == ["load_verify_locations"]
    srv = https_server(pki)
    for _ in range(20):
        handshake(srv.port, ctx)
    assert loads.calls == ["load_verify_locations"]


def test_truststore_reloads_per_connection_for_comparison(
    pki: PKI, https_server: Callable[..., HTTPSServer], loads: LoadCounter,
) -> None:
    """Why this module exists: truststore 0.10 reloads the system store on every connection."""
    import truststore

    ctx = truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cadata=pki.root.pem.decode())
    loads.calls.clear()
    srv = https_server(pki)
    for _ in range(5):
        handshake(srv.port, ctx)
    if tl.find_system_store().how == "none":
        pytest.skip("no system store on this machine: truststore loads nothing either")
    assert len(loads.calls) >= 5


def test_32_threads_share_one_native_context(
    pki: PKI, https_server: Callable[..., HTTPSServer], store_with_test_root: tl.SystemStore,
    loads: LoadCounter,
) -> None:
    """32 threads handshake concurrently on one context: all verified, no error, one load."""
    ctx = tl.native_context(True, store=store_with_test_root)
    srv = https_server(pki)
    barrier = threading.Barrier(32)

    def one(_: int) -> str | None:
        barrier.wait(timeout=30)
        return handshake(srv.port, ctx)[0]

    with ThreadPoolExecutor(32) as pool:
        versions = list(pool.map(one, range(32)))
    assert all(v in ("TLSv1.2", "TLSv1.3") for v in versions)
    assert loads.calls == ["load_verify_locations"]
    assert not [c for c in srv.connections if c.error]
