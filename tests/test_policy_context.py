"""The rustls context's options, the DER reader, and the rustls-worded messages."""

from __future__ import annotations

import datetime
import ssl

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from tests import policy_scenarios as ps
from tests.pki import issue
from tlsback import policy
from tlsback import x509 as tx509
from tlsback._explain import explain_error, find_ssl_error


def test_context_options() -> None:
    """Every context-level rule is set on a new context.

    The rules: the context settings of docs/verification.md, "The `rustls` backend" (ALPN aside:
    ``TLSConfig`` sets it on the shared context).
    """
    ctx = policy.new_context()
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    assert ctx.maximum_version == ssl.TLSVersion.TLSv1_3
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    assert ctx.hostname_checks_common_name is False
    assert ctx.options & ssl.OP_NO_COMPRESSION
    assert ctx.options & ssl.OP_NO_RENEGOTIATION
    assert ctx.verify_flags & ssl.VERIFY_X509_PARTIAL_CHAIN
    assert not ctx.verify_flags & ssl.VERIFY_X509_STRICT
    assert ctx.sslsocket_class is policy.WebpkiSSLSocket
    assert ctx.sslobject_class is policy.WebpkiSSLObject
    tls12 = {c["name"] for c in ctx.get_ciphers() if c["protocol"] == "TLSv1.2"}
    assert tls12 == {
        "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
    }


def test_contexts_are_independent() -> None:
    """Each call builds a new context; the insecure one never shares state with the verifying."""
    a, b = policy.new_context(), policy.new_context(verify=False)
    assert a is not b and a.verify_mode == ssl.CERT_REQUIRED


def test_parse_certificate_agrees_with_cryptography() -> None:
    """The DER reader reads what cryptography reads, for EC, RSA and Ed25519 certificates."""
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    for kind in ("ec", "ec384", "rsa2048", "ed25519"):
        cert = issue("réseau ✓", key_kind=kind, san=["a.example", "10.0.0.1", "*.b.example"],
                     eku=[ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
                     not_before=now, not_after=now + datetime.timedelta(days=3650 * 5),
                     extra_extensions=ps._critical())
        info = tx509.parse_certificate(cert.der)
        assert info.subject == cert.cert.subject.rfc4514_string()
        assert info.not_before == cert.cert.not_valid_before_utc
        assert info.not_after == cert.cert.not_valid_after_utc
        assert info.signature_algorithm == cert.cert.signature_algorithm_oid.dotted_string
        assert info.version == 3 and not info.is_ca and info.self_issued
        assert info.extended_key_usage == ("1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2")
        assert info.subject_alt_names == [("DnsName", "a.example"), ("IpAddress", "10.0.0.1"),
                                          ("DnsName", "*.b.example")]
        assert [(e.oid, e.critical) for e in info.extensions] == [
            (e.oid.dotted_string, e.critical) for e in cert.cert.extensions]
        if kind == "rsa2048":
            assert info.rsa_bits == 2048
    ca = issue("ca", is_ca=True, key_usage=x509.KeyUsage(True, False, False, False, False,
                                                         False, True, False, False))
    info = tx509.parse_certificate(ca.der)
    assert info.is_ca and not info.key_cert_sign


@pytest.mark.parametrize("garbage", [b"", b"\x30", b"\x30\x03\x02\x01", b"\x04\x00",
                                     b"\x30\x80\x00\x00", b"\x30\x84\xff\xff\xff\xff"])
def test_parse_certificate_rejects_garbage(garbage: bytes) -> None:
    """Truncated or non-DER input is a DERError, never an IndexError or a hang."""
    with pytest.raises(tx509.DERError):
        tx509.parse_certificate(garbage)


def test_parse_truncations_never_crash() -> None:
    """Every prefix of a real certificate fails cleanly."""
    der = ps.base().leaf.der
    for n in range(0, len(der) - 1, 7):
        with pytest.raises((tx509.DERError, ValueError)):
            tx509.parse_certificate(der[:n])


def test_check_chain_rules_directly() -> None:
    """check_chain on DER alone: the anchor's own fields are not checked, the others are."""
    base = ps.base()
    policy.check_chain([base.leaf.der, base.intermediate.der, base.root.der])
    odd_root = issue("odd root", is_ca=True, extra_extensions=ps._critical())
    inter = issue("inter", issuer=odd_root, is_ca=True)
    leaf = issue("localhost", issuer=inter, san=["localhost"])
    policy.check_chain([leaf.der, inter.der, odd_root.der])  # anchor extension ignored
    with pytest.raises(policy.PolicyViolation, match="UnsupportedCriticalExtension"):
        policy.check_chain([leaf.der, inter.der, odd_root.der, base.root.der])
    with pytest.raises(policy.PolicyViolation, match="UnknownIssuer"):
        policy.check_chain([leaf.der])
    with pytest.raises(policy.PolicyViolation, match="UnknownIssuer"):
        policy.check_chain([leaf.der, inter.der], top_is_trusted=False)
    with pytest.raises(policy.PolicyViolation, match="CaUsedAsEndEntity"):
        policy.check_chain([inter.der, odd_root.der])


def test_path_length_counts_every_intermediate_below_but_not_the_anchor() -> None:
    """webpki's pathLenConstraint: every CA between an intermediate and the leaf counts, a
    self-issued one too; the trust anchor's own pathLen is not read."""
    root = issue("pl root", is_ca=True, path_length=0)
    limited = issue("pl limited", issuer=root, is_ca=True, path_length=1)
    mid = issue("pl mid", issuer=limited, is_ca=True)
    again = issue("pl mid", issuer=mid, is_ca=True)  # self-issued
    leaf = issue("localhost", issuer=again, san=["localhost"])
    assert tx509.parse_certificate(limited.der).path_length == 1
    assert tx509.parse_certificate(mid.der).path_length is None
    assert tx509.parse_certificate(leaf.der).path_length is None
    policy.check_chain([leaf.der, mid.der, limited.der, root.der])  # the anchor's 0 ignored
    with pytest.raises(policy.PolicyViolation, match="PathLenConstraintViolated") as info:
        policy.check_chain([leaf.der, again.der, mid.der, limited.der, root.der])
    assert info.value.certificate is not None and info.value.certificate.subject == "CN=pl limited"


def _verification_error(scenario_id: str) -> ssl.SSLCertVerificationError:
    from tests.tlsserver import HTTPSServer

    setup = ps.setup_for(scenario_id)
    ctx = policy.new_context()
    ctx.load_verify_locations(cadata=setup.anchors_pem)
    with HTTPSServer(setup.chain, **setup.server_kwargs) as srv:
        err = ps.handshake(ctx, srv.port, ps.BY_ID[scenario_id].host)
    assert isinstance(err, ssl.SSLCertVerificationError)
    return err


def test_messages_name_the_certificate_in_uvs_words() -> None:
    """Each message says what was wrong, about which certificate, close to uv's wording."""
    err = _verification_error("wrong_name")
    assert ('certificate not valid for name "localhost"; certificate is only valid for '
            'DnsName("wrong.example")') in str(err)
    assert err.verify_code == 62
    err = _verification_error("ip_san_for_dns_name")
    assert "certificate is only valid for IpAddress(127.0.0.1)" in str(err)
    err = _verification_error("cn_only")
    assert "certificate is not valid for any names (according to its subjectAltName" in str(err)
    err = _verification_error("leaf_expired")
    text = str(err)
    assert "certificate expired: verification time" in text and "is not valid after" in text
    assert "[server certificate: CN=localhost]" in text and "day ago" in text
    err = _verification_error("intermediate_not_yet_valid")
    assert "certificate not valid yet" in str(err) and "CN=policy odd intermediate" in str(err)
    err = _verification_error("untrusted_root")
    assert "UnknownIssuer" in str(err) and "policy other" in str(err)
    err = _verification_error("leaf_only")
    assert "the server sent no intermediate certificates" in str(err)
    err = _verification_error("leaf_eku_client_only")
    assert ("certificate does not allow extended key usage for server authentication, "
            "allows clientAuth") in str(err)


def test_explain_error_for_fetch() -> None:
    """explain_error: URL, reason, certificate with dates, backend and a hint."""
    url = "https://localhost:1/simple/"
    text = explain_error(_verification_error("leaf_expired"), url, "rustls")
    first, *rest = text.splitlines()
    assert first.startswith(f"{url}: invalid peer certificate: certificate expired")
    assert any(line.startswith("  certificate: CN=localhost, issued by CN=policy") and " to "
               in line for line in rest)
    assert "  backend: rustls" in rest
    assert any("clock" in line for line in rest)
    text = explain_error(_verification_error("leaf_is_ca"), url, "rustls")
    assert "CaUsedAsEndEntity" in text and "--native-tls" in text
    text = explain_error(_verification_error("untrusted_root"), url, "rustls")
    assert "SSL_CERT_FILE" in text and "--native-tls" in text


def test_explain_error_unwraps_clients_and_other_backends() -> None:
    """A wrapper around the ssl error, or an unannotated one from another backend, works."""
    raw = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify "
                                          "failed: unable to get local issuer certificate")
    raw.verify_code = 20
    raw.verify_message = "unable to get local issuer certificate"
    try:
        try:
            raise raw
        except ssl.SSLError as inner:
            raise ConnectionError("wrapped") from inner
    except ConnectionError as outer:
        assert find_ssl_error(outer) is raw
        text = explain_error(outer, "https://h/", "native")
    assert "UnknownIssuer (unable to get local issuer certificate)" in text
    assert "--no-native-tls" in text
    assert explain_error(ValueError("boom"), "https://h/", "rustls") == "https://h/: boom"
    proto = ssl.SSLError(1, "[SSL: TLSV1_ALERT_PROTOCOL_VERSION] tlsv1 alert protocol version")
    proto.reason = "TLSV1_ALERT_PROTOCOL_VERSION"  # type: ignore[misc]
    assert "ProtocolVersion" in explain_error(proto, "https://h/", "rustls")
