"""The lazy trust store (docs/cache.md): a hashed directory handed to OpenSSL as ``capath``.

Every verification here runs with the lazy store and with the eager one, and must give the
same verdict: OpenSSL looks trust anchors up by subject hash during the handshake, and the
partial-chain flag and the post-handshake policy (``tlsback.policy``) must not notice the difference.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable
from pathlib import Path

import pytest

import tlsback
from tests.pki import PKI, Cert, issue, name
from tests.tlsserver import HTTPSServer, handshake
from tlsback import cache, loader

MODES = ("lazy", "eager")


def load(mode: str, tmp_path: Path, **env: str) -> tlsback.TLSConfig:
    base = {"UV_NO_CONFIG": "1", "TLSBACK_STORE": mode, "TLSBACK_CACHE_DIR": str(tmp_path / "cache"),
            "TLSBACK_CUSTOM_CERTS": "only"}
    return tlsback.load(env={**base, **env}, cwd=tmp_path)


def verdict(cfg: tlsback.TLSConfig, port: int, hostname: str = "localhost") -> str:
    try:
        handshake(port, cfg.context, server_hostname=hostname)
    except ssl.SSLCertVerificationError as exc:
        return f"fail:{getattr(exc, 'rustls_reason', None) or exc.verify_message}"
    return "ok"


@pytest.mark.parametrize("mode", MODES)
def test_store_is_handed_over_the_requested_way(mode: str, pki: PKI, tmp_path: Path,
                                                https_server: Callable[..., HTTPSServer]) -> None:
    """Lazy: capath, nothing loaded before the handshake, only the needed anchor's file after it."""
    d = tmp_path / "dir"
    d.mkdir()
    fillers = cache.BUCKET + 4
    for i in range(fillers):
        issue(f"lazy filler {i}", is_ca=True).write_pem(d / f"filler{i}.pem")
    pki.root.write_pem(d / "root.pem")
    cfg = load(mode, tmp_path, SSL_CERT_DIR=str(d))
    ctx = cfg.context
    store = cfg.store
    assert store.count == fillers + 1
    if mode == "lazy":
        assert store.lazy_dir is not None and store.cache["state"] == "built"
        assert ctx.cert_store_stats()["x509"] == 0
    else:
        assert store.lazy_dir is None and store.cache["state"] == "eager"
        assert ctx.cert_store_stats()["x509"] == fillers + 1
    srv = https_server(pki)
    assert verdict(cfg, srv.port) == "ok"
    if mode == "lazy":
        # The root, found by its subject hash, and the anchors sharing its file (EntryWriter).
        root_file = Path(store.lazy_dir or "") / pki.root.hash_name()
        assert 1 <= ctx.cert_store_stats()["x509"] == len(entry_pems(root_file)) <= cache.BUCKET
        assert pki.root.der in ctx.get_ca_certs(binary_form=True)


def test_directory_layout_hash_names_and_collisions(pki: PKI, tmp_path: Path) -> None:
    """HASH.N PEM files, numbered from 0 without gaps per subject hash, as by_dir.c expects."""
    same = name("lazy same subject")
    a, b = issue(subject=same, is_ca=True), issue(subject=same, is_ca=True)
    assert a.subject_hash == b.subject_hash and a.der != b.der
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(a.pem + b.pem + pki.root.pem)
    cfg = load("lazy", tmp_path, SSL_CERT_FILE=str(bundle))
    lazy = Path(cfg.store.lazy_dir or "")
    names = sorted(p.name for p in lazy.iterdir() if not p.name.startswith("tlsback-"))
    assert names == sorted([a.hash_name(0), a.hash_name(1), pki.root.hash_name(0)])
    # One file of tlsback's own holds the whole hash group, in order (HASH.1 a hard link to it;
    # EntryWriter: up to BUCKET certificates per file, whole groups).
    assert entry_pems(lazy / a.hash_name(0))[:2] == [ssl.DER_cert_to_PEM_cert(c.der).encode() for c in (a, b)]
    assert os.path.samefile(lazy / a.hash_name(0), lazy / a.hash_name(1))
    assert cfg.store.certs == [a.der, b.der, pki.root.der]  # the index finds each in its file
    # A bundle is never linked to.
    assert not any((lazy / n).is_symlink() for n in names)


@pytest.mark.parametrize("mode", MODES)
def test_second_certificate_of_a_hash_collision_is_found(mode: str, tmp_path: Path,
                                                         https_server: Callable[..., HTTPSServer]) -> None:
    """Two CAs with one subject name: a chain from the one stored as HASH.1 still verifies."""
    same = name("lazy collision CA")
    decoy = issue(subject=same, is_ca=True)
    real = issue(subject=same, is_ca=True)
    leaf = issue("localhost", issuer=real, san=["localhost"])
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(decoy.pem + real.pem)
    cfg = load(mode, tmp_path, SSL_CERT_FILE=str(bundle))
    srv = https_server([leaf])
    assert verdict(cfg, srv.port) == "ok"


def _scenarios(pki: PKI, other: PKI, tmp: Path) -> dict[str, tuple[list[Cert], list[Cert], str]]:
    """name -> (trusted certificates, chain the server sends, hostname)."""
    import datetime

    past = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=2)
    expired = pki.issue_leaf(not_before=past - datetime.timedelta(days=1), not_after=past)
    sha1 = pki.issue_leaf(hash_alg="sha1", key_kind="rsa2048")
    ca_leaf = issue("localhost", issuer=pki.intermediate, san=["localhost"], is_ca=True)
    return {
        "root trusted": ([pki.root], [pki.leaf, pki.intermediate], "localhost"),
        "intermediate trusted (partial chain)": ([pki.intermediate], [pki.leaf, pki.intermediate], "localhost"),
        "intermediate trusted, not sent": ([pki.intermediate], [pki.leaf], "localhost"),
        "leaf itself trusted": ([pki.leaf], [pki.leaf, pki.intermediate], "localhost"),
        "other root only": ([other.root], [pki.leaf, pki.intermediate], "localhost"),
        "root trusted, intermediate missing": ([pki.root], [pki.leaf], "localhost"),
        "wrong name": ([pki.root], [pki.leaf, pki.intermediate], "example.com"),
        "expired leaf": ([pki.root], [expired, pki.intermediate], "localhost"),
        "sha1 leaf": ([pki.root], [sha1, pki.intermediate], "localhost"),
        "CA as leaf": ([pki.root], [ca_leaf, pki.intermediate], "localhost"),
    }


def test_every_verdict_is_the_same_lazy_and_eager(pki: PKI, other_pki: PKI, tmp_path: Path,
                                                  https_server: Callable[..., HTTPSServer]) -> None:
    """Chains, partial chains and policy failures: the lazy store changes no verdict."""
    results: dict[str, dict[str, str]] = {}
    for label, (trusted, chain, host) in _scenarios(pki, other_pki, tmp_path).items():
        d = tmp_path / label.replace(" ", "_").replace(",", "").replace("(", "").replace(")", "")
        d.mkdir()
        for i, c in enumerate(trusted):
            c.write_pem(d / f"t{i}.pem")
        issue("lazy unrelated CA", is_ca=True).write_pem(d / "unrelated.pem")
        srv = https_server(chain, chain[0].key)
        for mode in MODES:
            cfg = load(mode, d, SSL_CERT_DIR=str(d))
            assert (cfg.store.lazy_dir is not None) == (mode == "lazy")
            results.setdefault(label, {})[mode] = verdict(cfg, srv.port, host)
    for label, by_mode in results.items():
        assert by_mode["lazy"] == by_mode["eager"], (label, by_mode)
    assert results["root trusted"]["lazy"] == "ok"
    assert results["intermediate trusted (partial chain)"]["lazy"] == "ok"
    assert results["other root only"]["lazy"].startswith("fail:UnknownIssuer")
    assert results["wrong name"]["lazy"].startswith("fail:NotValidForName")
    assert results["expired leaf"]["lazy"].startswith("fail:Expired")


@pytest.mark.parametrize("mode", MODES)
def test_a_context_keeps_verifying_after_many_handshakes_and_threads(
        mode: str, pki: PKI, tmp_path: Path, https_server: Callable[..., HTTPSServer]) -> None:
    """The lazily loaded anchors stay cached in the context; threads share it safely."""
    from concurrent.futures import ThreadPoolExecutor

    cfg = load(mode, tmp_path, SSL_CERT_FILE=str(pki.root.write_pem(tmp_path / "root.pem")))
    srv = https_server(pki)
    with ThreadPoolExecutor(8) as ex:
        verdicts = list(ex.map(lambda _: verdict(cfg, srv.port), range(40)))
    assert set(verdicts) == {"ok"}


def entry_pems(path: Path) -> list[bytes]:
    """The PEM blocks of a file of a lazy entry, checked canonical (as ``pem_encode`` writes them)."""
    end = b"-----END CERTIFICATE-----\n"
    data = path.read_bytes()
    blocks = [b + end for b in data.split(end)[:-1]]
    assert b"".join(blocks) == data
    assert all(ssl.DER_cert_to_PEM_cert(ssl.PEM_cert_to_DER_cert(b.decode())).encode() == b for b in blocks)
    return blocks


def test_every_file_is_a_canonical_copy_never_a_link(pki: PKI, tmp_path: Path) -> None:
    """Single PEM files, commented ones, bundles and DER all become tlsback's own PEM copies;
    a file's hard links are all names in the entry."""
    d = tmp_path / "dir"
    d.mkdir()
    pki.root.write_pem(d / "single.pem")
    der = pki.intermediate.write_der(d / "inter.der.crt")
    other = issue("lazy extra", is_ca=True)
    (d / "commented.pem").write_bytes(b"# a comment\n" + other.pem)
    cfg = load("lazy", tmp_path, SSL_CERT_DIR=str(d))
    lazy = Path(cfg.store.lazy_dir or "")
    for cert in (pki.root, pki.intermediate, other):
        copy = lazy / cert.hash_name()
        same_file = [p for p in lazy.iterdir() if os.path.samefile(p, copy)]
        assert not copy.is_symlink() and copy.stat().st_nlink == len(same_file)
        assert ssl.DER_cert_to_PEM_cert(cert.der).encode() in entry_pems(copy)
    assert ssl.DER_cert_to_PEM_cert(der.read_bytes()).encode() in entry_pems(lazy / pki.intermediate.hash_name())


def test_trusted_certificate_blocks_stay_untrusted_with_the_lazy_store(
        pki: PKI, other_pki: PKI, tmp_path: Path, https_server: Callable[..., HTTPSServer]) -> None:
    """OpenSSL's directory lookup reads TRUSTED CERTIFICATE blocks; tlsback never links such a file."""
    d = tmp_path / "dir"
    d.mkdir()
    trusted_block = other_pki.root.pem.replace(b"CERTIFICATE-----", b"TRUSTED CERTIFICATE-----")
    (d / "mixed.pem").write_bytes(pki.root.pem + trusted_block)
    cfg = load("lazy", tmp_path, SSL_CERT_DIR=str(d))
    assert cfg.store.count == 1
    assert not any(p.is_symlink() for p in Path(cfg.store.lazy_dir or "").iterdir())
    srv = https_server(other_pki)
    assert verdict(cfg, srv.port).startswith("fail:UnknownIssuer")
    srv2 = https_server(pki)
    assert verdict(cfg, srv2.port) == "ok"


def test_auto_mode_loads_small_stores_eagerly_and_large_ones_lazily(pki: PKI, tmp_path: Path) -> None:
    """``auto`` uses the measured threshold: at most EAGER_MAX_CACHED certificates are eager."""
    d = tmp_path / "dir"
    d.mkdir()
    n = loader.EAGER_MAX_CACHED
    for i in range(n):
        issue(f"auto small {i}", is_ca=True).write_pem(d / f"c{i}.pem")
    if n:
        small = load("auto", tmp_path, SSL_CERT_DIR=str(d))
        assert small.store.cache["state"] == "eager" and small.store.lazy_dir is None
        assert "measured" in small.store.cache["reason"]
    pki.root.write_pem(d / "one-more.pem")
    large = load("auto", tmp_path, SSL_CERT_DIR=str(d))
    assert large.store.cache["state"] == "built" and large.store.lazy_dir is not None


def test_native_backend_keeps_its_custom_certificates_eager(pki: PKI, tmp_path: Path) -> None:
    """truststore's macOS/Windows verifiers only see loaded certificates: no capath there."""
    cfg = load("lazy", tmp_path, SSL_CERT_FILE=str(pki.root.write_pem(tmp_path / "root.pem")),
               UV_NATIVE_TLS="1", TLSBACK_CUSTOM_CERTS="merge")
    assert cfg.backend_name == "native"
    assert cfg.store.lazy_dir is None and cfg.store.cache["state"] == "eager"
    assert "backend" in cfg.store.cache["reason"]


def test_eager_mode_never_touches_the_cache(pki: PKI, tmp_path: Path) -> None:
    """TLSBACK_STORE=eager: no entry written, state 'eager' with the reason."""
    cfg = load("eager", tmp_path, SSL_CERT_FILE=str(pki.root.write_pem(tmp_path / "root.pem")))
    assert cfg.diagnostics()["cache"]["state"] == "eager"
    assert cfg.diagnostics()["cache"]["reason"] == "TLSBACK_STORE=eager"
    assert not (tmp_path / "cache").exists()


def test_direct_loader_use_stays_eager(pki: PKI, tmp_path: Path) -> None:
    """load_trust_store() without options: the old eager behaviour, no cache."""
    store = loader.load_trust_store(cert_file=str(pki.root.write_pem(tmp_path / "r.pem")), cert_dirs=[],
                                    include_platform=False)
    assert store.lazy_dir is None and store.certs == [pki.root.der]
