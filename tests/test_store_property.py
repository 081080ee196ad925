"""Property: the lazy store trusts exactly what the eager store trusts, and says the same.

Hypothesis builds random certificate stores from hostile pieces: PEM with odd whitespace (CRLF,
trailing blanks, blank lines, VT and FF inside the body), comments between blocks, bundles, DER
files, ``TRUSTED CERTIFICATE`` blocks, bad base64, certificates OpenSSL refuses, subject-hash
collisions and odd file names. Each store is loaded eagerly, lazily (cold) and lazily again
(warm cache hit), with both scanners; the verdicts against local servers and the warnings must
be identical, and must be what the pieces say they should be.
"""

from __future__ import annotations

import logging
import os
import shutil
import ssl
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tlsback
from tests.pki import PKI, Cert, issue, name
from tests.test_store_integrity import refused_by_openssl
from tests.tlsserver import HTTPSServer, handshake


@dataclass(frozen=True)
class Piece:
    """One part of a file: its bytes, and the anchor it makes trusted (if any)."""

    data: bytes
    trusts: str | None = None  # "pki", "other", "collision"


class Pool:
    """The certificates the pieces are made of, and which server each one should open."""

    def __init__(self, pki: PKI, other: PKI) -> None:
        same = name("property collision CA")
        self.decoy, self.real = issue(subject=same, is_ca=True), issue(subject=same, is_ca=True)
        self.collision_leaf = issue("localhost", issuer=self.real, san=["localhost"])
        self.anchors: dict[str, list[Cert]] = {
            "pki": [pki.root, pki.intermediate], "other": [other.root], "collision": [self.real]}
        self.refused = refused_by_openssl(self.decoy)


def _pem_variants(der: bytes) -> st.SearchStrategy[bytes]:
    lines = ssl.DER_cert_to_PEM_cert(der).encode().splitlines()

    def build(eol: bytes, trailing: bytes, inside: bytes) -> bytes:
        body = [ln + (trailing if ln.startswith(b"-----") else b"") for ln in lines]
        if inside:
            body.insert(2, inside.rstrip(b"\n"))
        return eol.join(body) + eol

    return st.builds(build, st.sampled_from([b"\n", b"\r\n"]), st.sampled_from([b"", b" ", b"\t "]),
                     st.sampled_from([b"", b"\n", b"\x0b", b"\x0c", b"  "]))


def pieces(pool: Pool) -> st.SearchStrategy[Piece]:
    good = [(label, cert) for label, certs in pool.anchors.items() for cert in certs]
    cert_pem = st.sampled_from(good).flatmap(
        lambda lc: _pem_variants(lc[1].der).map(lambda data, label=lc[0]: Piece(data, label)))
    return st.one_of(
        cert_pem,
        _pem_variants(pool.decoy.der).map(Piece),  # a collision partner that opens nothing
        _pem_variants(pool.refused).map(Piece),  # OpenSSL refuses it; it shares real's subject hash
        st.sampled_from([b"# a comment\n", b"Subject: CN=x\n\n", b"\n"]).map(Piece),
        st.sampled_from(good).map(lambda lc: Piece(  # not a trust anchor for tlsback
            ssl.DER_cert_to_PEM_cert(lc[1].der).replace("CERTIFICATE-----", "TRUSTED CERTIFICATE-----").encode())),
        st.just(Piece(b"-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n")),
        st.just(Piece(b"-----BEGIN CERTIFICATE-----\nMIIB\n")),  # no END line
    )


def files(pool: Pool) -> st.SearchStrategy[list[tuple[str, list[Piece]]]]:
    names = st.sampled_from(["a.pem", "b.crt", "C.CER", "d\nnewline.pem", "e\x1b.pem", "f g.pem"])
    pem_file = st.tuples(names, st.lists(pieces(pool), min_size=1, max_size=4))
    good = [(label, cert) for label, certs in pool.anchors.items() for cert in certs]
    der_file = st.tuples(st.just("der.crt"), st.one_of(
        st.sampled_from(good).map(lambda lc: [Piece(lc[1].der, lc[0])]),
        st.just([Piece(pool.refused)])))
    return st.lists(st.one_of(pem_file, der_file), min_size=1, max_size=5, unique_by=lambda f: f[0])


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _outcome(env: dict[str, str], servers: dict[str, HTTPSServer], base: Path) -> tuple[dict[str, str], list[str], str]:
    capture = _Capture()
    logger = logging.getLogger("tlsback")
    logger.addHandler(capture)
    try:
        cfg = tlsback.load(env=env, cwd=base)
        ctx = cfg.context
    finally:
        logger.removeHandler(capture)
    verdicts = {}
    for label, srv in servers.items():
        try:
            handshake(srv.port, ctx)
            verdicts[label] = "ok"
        except ssl.SSLCertVerificationError as exc:
            verdicts[label] = f"fail:{getattr(exc, 'rustls_reason', None) or exc.verify_message}"
    return verdicts, capture.messages, cfg.store.cache["state"]


def test_lazy_and_eager_give_the_same_verdicts_and_warnings(
        loader_env: dict[str, str], pki: PKI, other_pki: PKI, https_server: Callable[..., HTTPSServer]) -> None:
    pool = Pool(pki, other_pki)
    servers = {"pki": https_server(pki), "other": https_server(other_pki),
               "collision": https_server([pool.collision_leaf])}

    @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
    @given(store=files(pool), as_cert_file=st.booleans())
    def check(store: list[tuple[str, list[Piece]]], as_cert_file: bool) -> None:
        base = Path(tempfile.mkdtemp(prefix="tlsback-prop-"))
        try:
            d = base / "certs"
            d.mkdir()
            for fname, parts in store:
                (d / fname).write_bytes(b"".join(p.data for p in parts))
            env = {"UV_NO_CONFIG": "1", "TLSBACK_CUSTOM_CERTS": "only", **loader_env,
                   "TLSBACK_CACHE_DIR": str(base / "cache")}
            if as_cert_file and len(store) == 1:
                env["SSL_CERT_FILE"] = str(d / store[0][0])
            else:
                env["SSL_CERT_DIR"] = str(d)
            eager = _outcome({**env, "TLSBACK_STORE": "eager"}, servers, base)
            cold = _outcome({**env, "TLSBACK_STORE": "lazy"}, servers, base)
            warm = _outcome({**env, "TLSBACK_STORE": "lazy"}, servers, base)
            assert (eager[2], cold[2], warm[2]) == ("eager", "built", "hit")
            assert cold[:2] == eager[:2]
            assert warm[:2] == eager[:2]
            # And the verdicts are the ones the pieces call for (DER files hold one certificate).
            trusted = {p.trusts for _n, parts in store for p in parts if p.trusts}
            for label, verdict in eager[0].items():
                assert (verdict == "ok") == (label in trusted), (label, verdict, trusted)
        finally:
            shutil.rmtree(base, ignore_errors=True)

    check()
