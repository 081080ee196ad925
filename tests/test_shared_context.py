"""The verifying context is shared: a client that is handed it cannot make it check less.

urllib3 changes the ``ssl_context`` it is given (``check_hostname`` off for
``assert_hostname``/``assert_fingerprint``, ``ca_certs`` loaded on every connection, which
requests always sets to certifi's bundle). On a context shared by every client of a
configuration (``cfg.context``, ``tlsback.create_default_context()``), that would switch host
name checks off, or add trust, for all of them (docs/verification.md, "One context, shared").
"""

from __future__ import annotations

import os
import ssl
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest

import tlsback
from tests import policy_scenarios as ps
from tests.pki import PKI
from tests.tlsserver import HTTPSServer
from tlsback import policy


def _cfg(tmp_path: Path, pki: PKI) -> tlsback.TLSConfig:
    cafile = pki.write_root(tmp_path / "root.pem")
    return tlsback.load(env={**os.environ, "SSL_CERT_FILE": str(cafile), "UV_NO_CONFIG": "1",
                             "TLSBACK_NO_CACHE": "1", "TLSBACK_CUSTOM_CERTS": "only"},
                        cwd=tmp_path)


def test_urllib3_assert_hostname_cannot_turn_name_checks_off_for_everyone(
        tmp_path: Path, pki: PKI, https_server: Callable[..., HTTPSServer]) -> None:
    """``PoolManager(ssl_context=cfg.context, assert_hostname=False)`` is refused with a
    message saying what to use; the context still checks names for every other client."""
    import urllib3

    cfg = _cfg(tmp_path, pki)
    srv = https_server(pki)
    pool = urllib3.PoolManager(ssl_context=cfg.context, assert_hostname=False, retries=False)
    with pytest.raises(Exception, match="cannot be made to check less .check_hostname") as info:
        pool.request("GET", f"{srv.ip_url}/")
    assert "insecure_context" in str(info.value)
    assert cfg.context.check_hostname
    err = ps.handshake(cfg.context, srv.port, "wrong.example")
    assert isinstance(err, ssl.SSLCertVerificationError)
    assert ps.handshake(cfg.context, srv.port, "localhost") is None


def test_urllib3_ca_certs_certifi_adds_no_trust(tmp_path: Path, pki: PKI,
                                                https_server: Callable[..., HTTPSServer]) -> None:
    """requests' ``ca_certs=certifi.where()`` through urllib3 means "the default trust": the
    shared context keeps exactly its own store (here ``only`` mode: the one test root)."""
    import certifi
    import urllib3

    cfg = _cfg(tmp_path, pki)
    srv = https_server(pki)
    before = cfg.context.cert_store_stats()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pool = urllib3.PoolManager(ssl_context=cfg.context, ca_certs=certifi.where())
        assert pool.request("GET", f"{srv.url}/").status == 200
    cfg.context.load_default_certs()
    cfg.context.set_default_verify_paths()
    assert cfg.context.cert_store_stats() == before


def test_changes_that_check_less_are_refused_and_stricter_ones_applied(pki: PKI) -> None:
    """Every setting that would check less raises ValueError; stricter settings, and a CA file a
    caller names explicitly, are applied as the stdlib applies them."""
    ctx = policy.new_context()
    weaker: list[tuple[str, object]] = [
        ("check_hostname", False), ("verify_mode", ssl.CERT_NONE),
        ("hostname_checks_common_name", True),
        ("verify_flags", ctx.verify_flags | 0x200000),  # X509_V_FLAG_NO_CHECK_TIME
        ("minimum_version", ssl.TLSVersion.TLSv1), ("sslsocket_class", ssl.SSLSocket),
        ("sslobject_class", ssl.SSLObject),
        ("options", ctx.options & ~ssl.OP_NO_RENEGOTIATION),
        ("options", ctx.options & ~ssl.OP_NO_COMPRESSION),
    ]
    for name, value in weaker:
        before = getattr(ctx, name)
        with pytest.raises(ValueError, match="cannot be made to check less"):
            setattr(ctx, name, value)
        assert getattr(ctx, name) == before, name
    suites = ctx.get_ciphers()
    for weaker_ciphers in ("DEFAULT", "ALL:@SECLEVEL=0", "ECDHE+AESGCM:@SECLEVEL=1", "AES128-SHA"):
        with pytest.raises(ValueError, match="cannot be made to check less"):
            ctx.set_ciphers(weaker_ciphers)
        assert ctx.get_ciphers() == suites
    ctx.set_ciphers("ECDHE+AESGCM:!aNULL:@SECLEVEL=3")  # fewer suites, a higher level: taken
    assert len(ctx.get_ciphers()) < len(suites)
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.options |= ssl.OP_NO_TICKET
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.verify_flags |= ssl.VERIFY_X509_STRICT
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_3
    assert ctx.verify_flags & ssl.VERIFY_X509_STRICT
    ctx.load_verify_locations(cadata=pki.root.pem.decode())
    assert ctx.cert_store_stats()["x509_ca"] == 1
    # The insecure context stays an ordinary one (it verifies nothing by design).
    insecure = policy.new_context(verify=False)
    assert type(insecure) is ssl.SSLContext
