"""The verification-policy scenario matrix, shared by the policy tests and the uv differential.

Each :class:`Scenario` is one server whose certificate (or protocol setup) breaks exactly one
rule of the ``rustls`` policy (docs/verification.md, "The `rustls` backend"), or a control that
breaks none, with the verdict expected from

* ``rustls``: tlsback's default backend (stdlib ``ssl`` + :mod:`tlsback.policy`),
* ``native``: tlsback's ``native`` backend (truststore: OpenSSL + system paths on Linux),
* ``uv``: the released uv binary (0.13), with and without ``--native-tls`` (on Linux both
  verify with webpki; only the roots differ, and the tests trust their own root either way).

``"ok"`` means the connection succeeds; anything else is a rejection, and for ``rustls`` it is
rustls' reason, which the error must carry. Where tlsback cannot match uv the scenario says why
(``difference``); those rows are the README's "differences from uv" table.

Helpers here: :func:`setup_for` builds (and caches) a scenario's certificates,
:class:`AnyHostProxy` tunnels ``CONNECT`` for any host name to 127.0.0.1 (so uv and ``tlsback
fetch`` can ask for ``a.b.example.test``), :func:`find_uv` / :func:`run_uv` drive uv, and
:func:`handshake` connects a context to a server.
"""

from __future__ import annotations

import datetime
import os
import select
import shutil
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from tests.pki import PKI, Cert, issue

OK = "ok"
REJECT = "reject"

UNKNOWN_OID = x509.ObjectIdentifier("1.3.6.1.4.1.55555.1.1")


@dataclass(frozen=True)
class Setup:
    """What a scenario's server sends and what the client trusts."""

    chain: list[Cert]  # sent by the server, leaf first
    anchors: list[Cert]  # SSL_CERT_FILE / cadata
    server_kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def anchors_pem(self) -> str:
        return "".join(c.pem.decode("ascii") for c in self.anchors)


@dataclass(frozen=True)
class Scenario:
    """One row of the matrix (see the module docstring)."""

    id: str
    rule: str  # the policy rule it exercises (docs/verification.md), in words
    build: Callable[[], Setup]
    rustls: str  # OK or rustls' reason ("NotValidForName", ...)
    native: str  # OK or REJECT
    uv: str  # OK or REJECT: what uv 0.13 does, both TLS modes
    host: str = "localhost"
    uv_native: str | None = None  # when uv --native-tls differs from uv's default
    difference: str | None = None  # why tlsback's rustls backend differs from uv, when it does

    @property
    def uv_for(self) -> dict[str, str]:
        return {"rustls": self.uv, "native": self.uv_native or self.uv}


# --------------------------------------------------------------------------------------------
# certificate material, built once per process
# --------------------------------------------------------------------------------------------


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


_DAY = datetime.timedelta(days=1)


@cache
def base() -> PKI:
    """root -> intermediate -> localhost/127.0.0.1 leaf, EC keys."""
    return PKI.create(name_prefix="policy")


@cache
def rsa_base() -> PKI:
    """The same with RSA-2048 keys (for RSA key-exchange suites)."""
    return PKI.create(key_kind="rsa2048", name_prefix="policy rsa")


def _leaf(**kw: Any) -> Cert:
    kw.setdefault("san", ["localhost", "127.0.0.1"])
    san = kw.pop("san")
    cn = kw.pop("common_name", "localhost")
    return issue(cn, issuer=kw.pop("issuer", base().intermediate), san=san, **kw)


def _with_leaf(**kw: Any) -> Callable[[], Setup]:
    def build() -> Setup:
        return Setup([_leaf(**kw), base().intermediate], [base().root])

    return build


def _with_intermediate(**kw: Any) -> Callable[[], Setup]:
    def build() -> Setup:
        inter = issue("policy odd intermediate", issuer=base().root, is_ca=True, **kw)
        return Setup([_leaf(issuer=inter), inter], [base().root])

    return build


def _protocol(pki: Callable[[], PKI], **server_kwargs: Any) -> Callable[[], Setup]:
    def build() -> Setup:
        p = pki()
        return Setup(p.chain, [p.root], dict(server_kwargs))

    return build


def _critical(oid: x509.ObjectIdentifier = UNKNOWN_OID) -> list[tuple[x509.ExtensionType, bool]]:
    return [(x509.UnrecognizedExtension(oid, b"\x05\x00"), True)]


_POLICIES = [(x509.CertificatePolicies(
    [x509.PolicyInformation(x509.ObjectIdentifier("2.23.140.1.2.1"), None)]), True)]


def _build_control() -> Setup:
    return Setup(base().chain, [base().root])


def _build_partial_chain() -> Setup:
    return Setup(base().chain, [base().intermediate])


def _build_leaf_only() -> Setup:
    return Setup([base().leaf], [base().root])


def _build_leaf_only_intermediate_trusted() -> Setup:
    return Setup([base().leaf], [base().intermediate])


def _build_leaf_trusted() -> Setup:
    return Setup(base().chain, [base().leaf])


def _build_leaf_trusted_full_chain() -> Setup:
    # The server also sends its (untrusted) root: OpenSSL's last-resort partial-chain match on
    # the leaf then leaves a self-signed certificate at the top of the verified chain.
    return Setup([*base().chain, base().root], [base().leaf])


def _build_self_signed_leaf() -> Setup:
    leaf = issue("localhost", san=["localhost", "127.0.0.1"])
    return Setup([leaf], [leaf])


def _build_untrusted() -> Setup:
    other = PKI.create(name_prefix="policy other")
    return Setup(other.chain, [base().root])


def _build_wildcard(san: str) -> Callable[[], Setup]:
    return _with_leaf(san=[san], common_name=san)


def _build_expired_root() -> Setup:
    now = _now()
    root = issue("policy expired root", is_ca=True, not_before=now - 20 * _DAY,
                 not_after=now - _DAY)
    inter = issue("policy inter under expired root", issuer=root, is_ca=True)
    return Setup([_leaf(issuer=inter), inter], [root])


def _build_root(**kw: Any) -> Callable[[], Setup]:
    def build() -> Setup:
        root = issue("policy odd root", **kw)
        inter = issue("policy inter under odd root", issuer=root, is_ca=True)
        return Setup([_leaf(issuer=inter), inter], [root])

    return build


def _build_non_ca_anchor() -> Setup:
    # A certificate without cA=TRUE that issued the leaf, trusted directly.
    issuer = issue("policy non-CA issuer", issuer=base().root, is_ca=False, eku=None,
                   key_usage=x509.KeyUsage(True, False, False, False, False, True, True,
                                           False, False))
    return Setup([_leaf(issuer=issuer), issuer], [issuer])


def _build_non_ca_intermediate() -> Setup:
    issuer = issue("policy non-CA intermediate", issuer=base().root, is_ca=False, eku=None)
    return Setup([_leaf(issuer=issuer), issuer], [base().root])


def _build_rsa_sha224() -> Setup:
    rsa = rsa_base()
    leaf = _leaf(issuer=rsa.intermediate, key_kind="rsa2048", hash_alg="sha224")
    return Setup([leaf, rsa.intermediate], [rsa.root])


def _build_ed25519() -> Setup:
    inter = issue("policy ed25519 intermediate", issuer=base().root, is_ca=True,
                  key_kind="ed25519")
    return Setup([_leaf(issuer=inter, key_kind="ed25519"), inter], [base().root])


def _p521() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP521R1())


def _build_p521_leaf() -> Setup:
    return Setup([_leaf(key=_p521()), base().intermediate], [base().root])


def _build_name_constraints(permitted: str) -> Callable[[], Setup]:
    def build() -> Setup:
        nc = x509.NameConstraints(permitted_subtrees=[x509.DNSName(permitted)],
                                  excluded_subtrees=None)
        inter = issue(f"policy constrained to {permitted}", issuer=base().root, is_ca=True,
                      name_constraints=nc)
        return Setup([_leaf(issuer=inter, san=["localhost"]), inter], [base().root])

    return build


def _build_excluded_name() -> Setup:
    nc = x509.NameConstraints(permitted_subtrees=None,
                              excluded_subtrees=[x509.DNSName("localhost")])
    inter = issue("policy excluding localhost", issuer=base().root, is_ca=True,
                  name_constraints=nc)
    return Setup([_leaf(issuer=inter, san=["localhost"]), inter], [base().root])


def _general(entry: str) -> x509.GeneralName:
    """``dns:NAME``, ``ip:NET`` or ``dir:CN`` (a directoryName of that Common Name)."""
    import ipaddress

    kind, _, value = entry.partition(":")
    if kind == "ip":
        return x509.IPAddress(ipaddress.ip_network(value))
    if kind == "dir":
        return x509.DirectoryName(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, value)]))
    return x509.DNSName(value)


def _constrained(san: list[str], permitted: list[str] | None = None,
                 excluded: list[str] | None = None) -> Callable[[], Setup]:
    """An intermediate with these nameConstraints issuing a leaf with these SANs."""
    def build() -> Setup:
        nc = x509.NameConstraints(
            permitted_subtrees=[_general(e) for e in permitted] if permitted else None,
            excluded_subtrees=[_general(e) for e in excluded] if excluded else None)
        inter = issue(f"policy constrained {permitted} {excluded}", issuer=base().root,
                      is_ca=True, name_constraints=nc)
        return Setup([_leaf(issuer=inter, san=san), inter], [base().root])

    return build


def _build_path_length() -> Setup:
    # root -> inter1 (pathLen 0) -> inter2 -> leaf: inter2 may not exist below inter1.
    inter1 = issue("policy pathlen0", issuer=base().root, is_ca=True, path_length=0)
    inter2 = issue("policy below pathlen0", issuer=inter1, is_ca=True)
    return Setup([_leaf(issuer=inter2), inter2, inter1], [base().root])


def _build_path_length_self_issued() -> Setup:
    # root -> inter1 (pathLen 0) -> inter2 with inter1's own name (self-issued) -> leaf.
    # RFC 5280 and OpenSSL do not count a self-issued CA against pathLen; webpki counts every
    # CA below, so inter2 may not exist under inter1.
    inter1 = issue("policy pathlen0 self-issued", issuer=base().root, is_ca=True, path_length=0)
    inter2 = issue("policy pathlen0 self-issued", issuer=inter1, is_ca=True)
    return Setup([_leaf(issuer=inter2), inter2, inter1], [base().root])


def _build_root_path_length() -> Setup:
    # A trust anchor with pathLen 0 above one intermediate: webpki reads only the anchor's name,
    # key and name constraints.
    root = issue("policy root pathlen0", is_ca=True, path_length=0)
    inter = issue("policy inter under pathlen0 root", issuer=root, is_ca=True)
    return Setup([_leaf(issuer=inter), inter], [root])


def _build_rsa_pss(salt: int) -> Callable[[], Setup]:
    # RSASSA-PSS with SHA-256 and MGF1-SHA-256: webpki takes exactly the encodings with a salt
    # as long as the hash (RFC 8017 A.2.3 parameters it lists byte for byte).
    def build() -> Setup:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        rsa = rsa_base()
        leaf = _leaf(issuer=rsa.intermediate, key_kind="rsa2048")
        builder = (x509.CertificateBuilder().subject_name(leaf.cert.subject)
                   .issuer_name(rsa.intermediate.cert.subject).public_key(leaf.key.public_key())
                   .serial_number(leaf.cert.serial_number)
                   .not_valid_before(leaf.cert.not_valid_before_utc)
                   .not_valid_after(leaf.cert.not_valid_after_utc))
        for ext in leaf.cert.extensions:
            builder = builder.add_extension(ext.value, ext.critical)
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=salt)
        cert = builder.sign(rsa.intermediate.key, hashes.SHA256(),  # type: ignore[arg-type]
                            rsa_padding=pss)
        return Setup([Cert(cert, leaf.key), rsa.intermediate], [rsa.root])

    return build


def _long_form_length(fields: list[bytes]) -> None:
    # The validity's length in long form (81 NN) where DER requires the short form (X.690
    # §10.1).
    tag, length = fields[4][0], fields[4][1]
    assert length < 0x80
    fields[4] = bytes([tag, 0x81, length]) + fields[4][2:]


def _boolean_true_as_01(fields: list[bytes]) -> None:
    # basicConstraints' critical flag as BOOLEAN 01 where DER requires FF (X.690 §11.1).
    from tests.pki import _der_content, _der_tlv

    extensions = _der_content(_der_content(fields[-1]))
    flagged = bytes.fromhex("0603551d130101ff")
    assert flagged in extensions
    fields[-1] = _der_tlv(0xA3, _der_tlv(0x30, extensions.replace(
        flagged, bytes.fromhex("0603551d13010101"), 1)))


def _unique_ids(fields: list[bytes]) -> None:
    # issuerUniqueID [1] and subjectUniqueID [2] after the key: RFC 5280 §4.1.2.8 says CAs
    # MUST NOT use them; webpki's reader does not take them.
    fields[7:7] = [bytes.fromhex("81020001"), bytes.fromhex("82020001")]


def _build_ber_leaf(patch: Callable[[list[bytes]], None]) -> Callable[[], Setup]:
    # The leaf with its TBSCertificate fields patched into BER that is not DER, signed again:
    # OpenSSL's BER-tolerant reader takes it, webpki's DER reader does not (BadEncoding).
    def build() -> Setup:
        import base64

        from cryptography.hazmat.primitives import hashes

        from tests.pki import _der_content, _der_split, _der_tlv

        leaf = _leaf()
        fields = _der_split(_der_content(leaf.cert.tbs_certificate_bytes))
        patch(fields)
        tbs = _der_tlv(0x30, b"".join(fields))
        alg = bytes.fromhex("300a06082a8648ce3d040302")  # ecdsa-with-SHA256
        sig = base().intermediate.key.sign(tbs, ec.ECDSA(hashes.SHA256()))  # type: ignore[union-attr,call-arg]
        der = _der_tlv(0x30, tbs + alg + _der_tlv(0x03, b"\x00" + sig))
        pem = b"-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(der) + b"-----END CERTIFICATE-----\n"
        # cryptography refuses to load it: a stand-in with what the server needs.
        odd = type("OddCert", (), {"der": der, "pem": pem, "key_pem": leaf.key_pem,
                                   "cert": leaf.cert, "key": leaf.key})()
        return Setup([odd, base().intermediate], [base().root])  # type: ignore[list-item]

    return build


_TLS1_1 = ssl.TLSVersion.TLSv1_1
_TLS1_2 = ssl.TLSVersion.TLSv1_2
_TLS1_3 = ssl.TLSVersion.TLSv1_3

_OPENSSL_STRICTER = (
    "OpenSSL checks the trust anchor as a certificate too; webpki uses only its name and key. "
    "stdlib ssl has no verify callback to relax this, and relaxing it by disabling the check "
    "for every certificate would be worse. Stricter than uv, never laxer."
)

SCENARIOS: list[Scenario] = [
    # -- controls
    Scenario("control", "a valid chain to a trusted root", _build_control, OK, OK, OK),
    Scenario("control_ip", "an IP address SAN for an IP URL", _build_control, OK, OK, OK,
             host="127.0.0.1"),
    Scenario("untrusted_root", "the chain ends at a root nobody trusts", _build_untrusted,
             "UnknownIssuer", REJECT, REJECT),
    # -- names
    Scenario("cn_only", "names come from subjectAltName only, never the Common Name",
             _with_leaf(san=None), "NotValidForName", OK, REJECT),
    Scenario("wrong_name", "the SAN must name the host", _with_leaf(san=["wrong.example"]),
             "NotValidForName", REJECT, REJECT),
    Scenario("wildcard_match", "a wildcard matches one whole left-most label",
             _build_wildcard("*.example.test"), OK, OK, OK, host="a.example.test"),
    Scenario("wildcard_apex", "a wildcard never matches the apex",
             _build_wildcard("*.example.test"), "NotValidForName", REJECT, REJECT,
             host="example.test"),
    Scenario("wildcard_two_labels", "a wildcard matches exactly one label",
             _build_wildcard("*.example.test"), "NotValidForName", REJECT, REJECT,
             host="a.b.example.test"),
    Scenario("wildcard_partial", "partial-label wildcards (a*.example.test) never match",
             _build_wildcard("a*.example.test"), "NotValidForName", REJECT, REJECT,
             host="ab.example.test"),
    Scenario("wildcard_underscore_label", "a wildcard matches a left-most label with an "
             "underscore (webpki; OpenSSL's wildcard takes letters, digits and hyphens only)",
             _build_wildcard("*.example.test"), OK, REJECT, OK, host="a_b.example.test"),
    Scenario("ip_san_for_dns_name", "an IP SAN does not name a DNS host",
             _with_leaf(san=["127.0.0.1"]), "NotValidForName", OK, REJECT),
    Scenario("dns_san_for_ip", "a DNS SAN spelling an address does not name an IP host",
             _with_leaf(san=["dns:127.0.0.1"]), "NotValidForName", REJECT, REJECT,
             host="127.0.0.1"),
    # -- end entity and chain rules
    Scenario("leaf_is_ca", "a leaf with basicConstraints cA=TRUE",
             _with_leaf(is_ca=True), "CaUsedAsEndEntity", OK, REJECT),
    Scenario("leaf_eku_client_only", "the leaf's EKU must include serverAuth",
             _with_leaf(eku=[ExtendedKeyUsageOID.CLIENT_AUTH]), "InvalidPurpose", REJECT, REJECT),
    Scenario("intermediate_eku_client_only", "EKU anywhere in the path must include serverAuth",
             _with_intermediate(eku=[ExtendedKeyUsageOID.CLIENT_AUTH]), "InvalidPurpose",
             REJECT, REJECT),
    Scenario("leaf_unknown_critical", "unknown critical extension on the leaf",
             _with_leaf(extra_extensions=_critical()), "UnsupportedCriticalExtension",
             REJECT, REJECT),
    Scenario("intermediate_unknown_critical", "unknown critical extension on an intermediate",
             _with_intermediate(extra_extensions=_critical()), "UnsupportedCriticalExtension",
             REJECT, REJECT),
    Scenario("leaf_critical_policies", "critical certificatePolicies (OpenSSL knows it, webpki "
             "does not)", _with_leaf(extra_extensions=_POLICIES), "UnsupportedCriticalExtension",
             OK, REJECT),
    Scenario("intermediate_critical_policies", "critical certificatePolicies on an "
             "intermediate", _with_intermediate(extra_extensions=_POLICIES),
             "UnsupportedCriticalExtension", OK, REJECT),
    Scenario("leaf_sha1", "SHA-1 signatures are refused", _with_leaf(hash_alg="sha1",
             key_kind="rsa2048"), "UnsupportedSignatureAlgorithm", REJECT, REJECT),
    Scenario("intermediate_sha1", "SHA-1 signatures are refused on intermediates too",
             _with_intermediate(hash_alg="sha1"), "UnsupportedSignatureAlgorithm", REJECT, REJECT),
    Scenario("leaf_rsa1024", "RSA keys under 2048 bits are refused",
             _with_leaf(key_kind="rsa1024"), "BadSignature",
             REJECT, REJECT),
    Scenario("leaf_expired", "the leaf's validity is checked", _with_leaf(
             not_before=_now() - 30 * _DAY, not_after=_now() - _DAY), "Expired", REJECT, REJECT),
    Scenario("leaf_not_yet_valid", "the leaf's validity is checked", _with_leaf(
             not_before=_now() + _DAY, not_after=_now() + 30 * _DAY), "NotValidYet",
             REJECT, REJECT),
    Scenario("intermediate_expired", "intermediates' validity is checked", _with_intermediate(
             not_before=_now() - 30 * _DAY, not_after=_now() - _DAY), "Expired", REJECT, REJECT),
    Scenario("intermediate_not_yet_valid", "intermediates' validity is checked",
             _with_intermediate(not_before=_now() + _DAY, not_after=_now() + 30 * _DAY),
             "NotValidYet", REJECT, REJECT),
    Scenario("name_constraints_violated", "an intermediate's permitted subtrees are enforced",
             _build_name_constraints("example.test"), "NameConstraintViolation", REJECT, REJECT),
    Scenario("name_constraints_satisfied", "a name inside the permitted subtree is fine",
             _build_name_constraints("localhost"), OK, OK, OK),
    Scenario("name_constraints_excluded", "an intermediate's excluded subtrees are enforced",
             _build_excluded_name, "NameConstraintViolation", REJECT, REJECT),
    Scenario("path_length_exceeded", "pathLenConstraint is enforced", _build_path_length,
             "PathLenConstraintViolated", REJECT, REJECT),
    Scenario("path_length_self_issued", "pathLenConstraint counts self-issued intermediates "
             "too (webpki)", _build_path_length_self_issued, "PathLenConstraintViolated", OK,
             REJECT),
    Scenario("non_ca_intermediate", "an issuer without cA=TRUE is not a CA",
             _build_non_ca_intermediate, "EndEntityUsedAsCa", REJECT, REJECT),
    Scenario("partial_chain", "any trusted certificate is an anchor (only the intermediate "
             "trusted)", _build_partial_chain, OK, REJECT, OK),
    Scenario("leaf_only", "the server sends the leaf alone, the root is trusted",
             _build_leaf_only, "UnknownIssuer", REJECT, REJECT),
    Scenario("leaf_only_intermediate_trusted", "the server sends the leaf alone, its issuer "
             "is trusted", _build_leaf_only_intermediate_trusted, OK, REJECT, OK),
    Scenario("leaf_trusted_directly", "the leaf itself in the store is not an anchor for it",
             _build_leaf_trusted, "UnknownIssuer", REJECT, REJECT),
    Scenario("leaf_trusted_full_chain", "the leaf in the store is not an anchor for it, even "
             "when the server sends its whole chain up to a root", _build_leaf_trusted_full_chain,
             "UnknownIssuer", REJECT, REJECT),
    Scenario("self_signed_leaf_trusted", "a self-signed leaf in the store is its own anchor",
             _build_self_signed_leaf, OK, OK, OK),
    Scenario("leaf_p521", "P-521 keys are supported (uv's aws-lc-rs provider)",
             _build_p521_leaf, OK, OK, OK),
    Scenario("leaf_ed25519", "Ed25519 keys and signatures are supported",
             _build_ed25519, OK, OK, OK),
    Scenario("intermediate_ecdsa_sha512", "ECDSA with SHA-512 is supported by uv's webpki",
             _with_intermediate(hash_alg="sha512", key_kind="ec384"), OK, OK, OK),
    Scenario("leaf_rsa_sha224", "RSA with SHA-224 is not a webpki algorithm",
             _build_rsa_sha224,
             "UnsupportedSignatureAlgorithm", OK, REJECT),
    Scenario("leaf_rsa_pss_sha256", "RSASSA-PSS with SHA-256 and a 32-byte salt is supported",
             _build_rsa_pss(32), OK, OK, OK),
    Scenario("leaf_rsa_pss_salt_20", "RSASSA-PSS parameters other than webpki's (salt length "
             "= hash length) are not supported", _build_rsa_pss(20),
             "UnsupportedSignatureAlgorithm", OK, REJECT),
    Scenario("leaf_long_form_length", "DER only: a length in long form where the short "
             "form fits is refused (webpki's BadEncoding)", _build_ber_leaf(_long_form_length),
             "BadEncoding", OK, REJECT),
    Scenario("leaf_boolean_true_as_01", "DER only: BOOLEAN TRUE is FF; 01 is refused (webpki's "
             "BadEncoding)", _build_ber_leaf(_boolean_true_as_01), "BadEncoding", OK, REJECT),
    Scenario("leaf_unique_ids", "issuerUniqueID/subjectUniqueID in a leaf are refused "
             "(webpki's BadEncoding)", _build_ber_leaf(_unique_ids), "BadEncoding", OK, REJECT),
    Scenario("leaf_any_eku_only", "anyExtendedKeyUsage alone does not allow serverAuth",
             _with_leaf(eku=[ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE]), "InvalidPurpose",
             REJECT, REJECT),
    Scenario("intermediate_key_usage_no_cert_sign", "an intermediate whose keyUsage lacks "
             "keyCertSign", _with_intermediate(key_usage=x509.KeyUsage(
                 True, False, False, False, False, False, True, False, False)),
             "EndEntityUsedAsCa", REJECT, OK,
             difference="webpki ignores keyUsage; OpenSSL requires keyCertSign on an issuer "
             "that has a keyUsage extension (RFC 5280 §4.2.1.3), and Python cannot turn that "
             "off. Stricter than uv."),
    # -- name constraints: permitted/excluded x exact/wildcard/malformed x DNS/IP/directoryName
    Scenario("nc_dns_permitted_exact", "a dNSName inside a permitted subtree",
             _constrained(["a.example.test"], permitted=["dns:example.test"]), OK, OK, OK,
             host="a.example.test"),
    Scenario("nc_dns_permitted_exact_outside", "a dNSName outside the permitted subtrees",
             _constrained(["a.other.test"], permitted=["dns:example.test"]),
             "NameConstraintViolation", REJECT, REJECT, host="a.other.test"),
    Scenario("nc_dns_permitted_suffix_not_label", "a permitted subtree matches whole labels only",
             _constrained(["badexample.test"], permitted=["dns:example.test"]),
             "NameConstraintViolation", REJECT, REJECT, host="badexample.test"),
    Scenario("nc_dns_permitted_wildcard_inside", "a wildcard all of whose names are permitted",
             _constrained(["*.example.test"], permitted=["dns:example.test"]), OK, OK, OK,
             host="a.example.test"),
    Scenario("nc_dns_permitted_wildcard_partly_outside", "a wildcard only one of whose names "
             "is permitted", _constrained(["*.example.test"], permitted=["dns:a.example.test"]),
             "NameConstraintViolation", REJECT, REJECT, host="a.example.test"),
    Scenario("nc_dns_excluded_exact", "a dNSName inside an excluded subtree",
             _constrained(["bar.example.test"], excluded=["dns:bar.example.test"]),
             "NameConstraintViolation", REJECT, REJECT, host="bar.example.test"),
    Scenario("nc_dns_excluded_subdomain", "a subdomain of an excluded subtree",
             _constrained(["a.bar.example.test"], excluded=["dns:bar.example.test"]),
             "NameConstraintViolation", REJECT, REJECT, host="a.bar.example.test"),
    Scenario("nc_dns_excluded_wildcard", "a wildcard one of whose names is excluded "
             "(CVE-2025-61727's bug class)",
             _constrained(["*.example.test"], excluded=["dns:bar.example.test"]),
             "NameConstraintViolation", OK, REJECT, host="bar.example.test"),
    Scenario("nc_dns_excluded_wildcard_other_host", "the same wildcard refused for another host",
             _constrained(["*.example.test"], excluded=["dns:bar.example.test"]),
             "NameConstraintViolation", OK, REJECT, host="foo.example.test"),
    Scenario("nc_dns_excluded_outside", "a dNSName outside the excluded subtrees",
             _constrained(["a.example.test"], excluded=["dns:other.test"]), OK, OK, OK,
             host="a.example.test"),
    Scenario("nc_dns_permitted_malformed", "a malformed dNSName under a permitted subtree",
             _constrained(["a.example.test", "b..example.test"], permitted=["dns:example.test"]),
             "MalformedDnsIdentifier", OK, REJECT, host="a.example.test"),
    Scenario("nc_dns_excluded_malformed", "a malformed dNSName under an excluded subtree",
             _constrained(["a.example.test", "-b.example.test"], excluded=["dns:other.test"]),
             "MalformedDnsIdentifier", OK, REJECT, host="a.example.test"),
    Scenario("nc_ip_permitted_inside", "an iPAddress inside a permitted network",
             _constrained(["127.0.0.1"], permitted=["ip:127.0.0.0/8"]), OK, OK, OK,
             host="127.0.0.1"),
    Scenario("nc_ip_permitted_outside", "an iPAddress outside the permitted networks",
             _constrained(["127.0.0.1"], permitted=["ip:10.0.0.0/8"]), "NameConstraintViolation",
             REJECT, REJECT, host="127.0.0.1"),
    Scenario("nc_ip_excluded_inside", "an iPAddress inside an excluded network",
             _constrained(["127.0.0.1"], excluded=["ip:127.0.0.0/24"]), "NameConstraintViolation",
             REJECT, REJECT, host="127.0.0.1"),
    Scenario("nc_ip_excluded_outside", "an iPAddress outside the excluded networks",
             _constrained(["127.0.0.1"], excluded=["ip:10.0.0.0/8", "ip:::/0"]), OK, OK, OK,
             host="127.0.0.1"),
    Scenario("nc_ip_constraint_dns_name", "an iPAddress subtree does not constrain dNSNames",
             _constrained(["localhost"], permitted=["ip:10.0.0.0/8"]), OK, OK, OK),
    Scenario("nc_dirname_permitted_match", "a directoryName subtree naming the leaf's subject",
             _constrained(["localhost"], permitted=["dir:localhost"]),
             "NameConstraintViolation", OK, REJECT),
    Scenario("nc_dirname_excluded_other", "an excluded directoryName the leaf is not in",
             _constrained(["localhost"], excluded=["dir:elsewhere"]),
             "NameConstraintViolation", OK, REJECT),
    # -- protocol
    Scenario("tls1_1_only", "TLS 1.2 and 1.3 only", _protocol(base, maximum_version=_TLS1_1),
             "ProtocolVersion", REJECT, REJECT),
    Scenario("tls1_2_cbc_only", "TLS 1.2 AEAD suites only (no CBC)", _protocol(
             base, ciphers="ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA"),
             "HandshakeFailure", OK, REJECT),
    Scenario("tls1_2_rsa_kx_only", "TLS 1.2 ECDHE suites only (no RSA key exchange)",
             _protocol(rsa_base, ciphers="AES128-GCM-SHA256:AES256-GCM-SHA384"),
             "HandshakeFailure", REJECT, REJECT),
    Scenario("tls1_2_only", "TLS 1.2 with an ECDHE AEAD suite", _protocol(
             base, maximum_version=_TLS1_2), OK, OK, OK),
    Scenario("tls1_3_only", "TLS 1.3", _protocol(base, minimum_version=_TLS1_3), OK, OK, OK),
    Scenario("trailing_dot_host", "a host name with a trailing dot (an absolute name) matches "
             "the SAN without it", _build_control, OK, REJECT, OK, host="localhost."),
    # -- pinned differences: OpenSSL checks the trust anchor, webpki does not
    Scenario("expired_root", "an expired trust anchor", _build_expired_root, "Expired", REJECT,
             OK, difference="webpki ignores a trust anchor's validity dates; " + _OPENSSL_STRICTER),
    Scenario("root_unknown_critical", "a trust anchor with an unknown critical extension",
             _build_root(is_ca=True, extra_extensions=_critical()),
             "UnsupportedCriticalExtension", REJECT, OK,
             difference="webpki ignores a trust anchor's extensions; " + _OPENSSL_STRICTER),
    Scenario("root_eku_client_only", "a trust anchor whose EKU lacks serverAuth",
             _build_root(is_ca=True, eku=[ExtendedKeyUsageOID.CLIENT_AUTH]), "InvalidPurpose",
             REJECT, OK, difference="webpki ignores a trust anchor's EKU; " + _OPENSSL_STRICTER),
    Scenario("non_ca_anchor", "a trusted issuer without cA=TRUE", _build_non_ca_anchor,
             "EndEntityUsedAsCa", REJECT, OK,
             difference="webpki accepts any trusted certificate as an anchor, CA or not; "
             + _OPENSSL_STRICTER),
    Scenario("root_path_length", "a trust anchor's pathLenConstraint", _build_root_path_length,
             "PathLenConstraintViolated", REJECT, OK,
             difference="webpki ignores a trust anchor's basicConstraints; " + _OPENSSL_STRICTER),
    Scenario("leaf_key_usage_cert_sign_only", "a leaf whose keyUsage lacks digitalSignature",
             _with_leaf(key_usage=x509.KeyUsage(False, False, False, False, False, True, False,
                                                False, False)),
             "InvalidPurpose", REJECT, OK,
             difference="webpki ignores keyUsage; OpenSSL's sslserver purpose requires "
             "digitalSignature or keyEncipherment/keyAgreement on the leaf, and Python offers "
             "no way to change the purpose. Stricter than uv."),
]

BY_ID = {s.id: s for s in SCENARIOS}


@cache
def setup_for(scenario_id: str) -> Setup:
    """Build (once per process) the certificates of a scenario."""
    return BY_ID[scenario_id].build()


# --------------------------------------------------------------------------------------------
# a CONNECT proxy that sends every host name to 127.0.0.1
# --------------------------------------------------------------------------------------------


class AnyHostProxy:
    """HTTP ``CONNECT`` proxy on 127.0.0.1 tunnelling ``ANY-NAME:PORT`` to ``127.0.0.1:PORT``.

    Lets uv and ``tlsback fetch`` ask for ``https://a.b.example.test:PORT/`` (name checks need
    names other than ``localhost``) without touching name resolution.
    """

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(32)
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        up: socket.socket | None = None
        with self._lock:
            self._open.add(conn)
        try:
            conn.settimeout(10)
            buf = b""
            while b"\r\n\r\n" not in buf:
                data = conn.recv(4096)
                if not data:
                    return
                buf += data
            head, _, rest = buf.partition(b"\r\n\r\n")
            target = head.split(b"\r\n", 1)[0].split()[1].decode("ascii")
            up = socket.create_connection(("127.0.0.1", int(target.rsplit(":", 1)[1])), timeout=10)
            with self._lock:
                self._open.add(up)
            conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            if rest:
                up.sendall(rest)
            pair = [conn, up]
            while True:
                readable, _, _ = select.select(pair, [], [], 10)
                if not readable:
                    return
                for s in readable:
                    data = s.recv(65536)
                    if not data:
                        return
                    (up if s is conn else conn).sendall(data)
        except (OSError, ValueError, IndexError):
            return
        finally:
            for s in (conn, up):
                if s is not None:
                    with self._lock:
                        self._open.discard(s)
                    s.close()

    def close(self) -> None:
        try:
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept() on Linux
        except OSError:
            pass
        self._sock.close()
        with self._lock:
            for s in list(self._open):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        self._thread.join(5)

    def __enter__(self) -> AnyHostProxy:  # noqa: PYI034
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --------------------------------------------------------------------------------------------
# clients
# --------------------------------------------------------------------------------------------


def handshake(ctx: ssl.SSLContext, port: int, host: str) -> BaseException | None:
    """Connect to 127.0.0.1:``port`` asking for ``host``; ``None`` on success, else the error."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
                ctx.wrap_socket(raw, server_hostname=host) as tls:
            tls.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            tls.recv(1)
    except (ssl.SSLError, ssl.CertificateError, OSError) as exc:
        return exc
    return None


def url_for(scenario: Scenario, port: int) -> str:
    """The URL a client asks for: the scenario's host name and the server's port."""
    host = f"[{scenario.host}]" if ":" in scenario.host else scenario.host
    return f"https://{host}:{port}"


def needs_proxy(scenario: Scenario) -> bool:
    """Host names other than localhost and IP literals resolve only through the proxy."""
    return scenario.host not in ("localhost", "127.0.0.1")


def find_uv(install_dir: Path | None = None, timeout: float = 90) -> str | None:
    """The uv binary: the ``uv`` package, ``PATH``, or a best-effort ``pip install --target``."""
    try:
        import uv  # type: ignore[import-not-found]

        path = uv.find_uv_bin()
        if path and os.path.exists(path):
            return str(path)
    except (ImportError, FileNotFoundError):
        pass
    found = shutil.which("uv")
    if found:
        return found
    if install_dir is None:
        return None
    try:
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             "--target", str(install_dir), "uv>=0.13"],
            check=True, capture_output=True, timeout=timeout,
        )
    except (subprocess.SubprocessError, OSError):
        return None
    candidate = install_dir / "bin" / ("uv.exe" if os.name == "nt" else "uv")
    return str(candidate) if candidate.exists() else None


def uv_env(base_env: Mapping[str, str], cafile: Path, cache: Path,
           proxy: str | None = None) -> dict[str, str]:
    """A clean environment for one uv run: only our CA file, no config, no retries."""
    env = {k: v for k, v in base_env.items()
           if not k.upper().startswith(("SSL_", "UV_")) and "PROXY" not in k.upper()}
    env.update(SSL_CERT_FILE=str(cafile), UV_NO_CONFIG="1", UV_CACHE_DIR=str(cache),
               UV_HTTP_RETRIES="0", UV_HTTP_TIMEOUT="20", UV_PYTHON_DOWNLOADS="never",
               NO_COLOR="1")
    if proxy:
        env["HTTPS_PROXY"] = proxy
    return env


def run_uv(uv: str, url: str, env: Mapping[str, str], *, native: bool,
           timeout: float = 60) -> tuple[str, str]:
    """``uv pip compile`` against ``url/simple``: ``(verdict, stderr)``.

    The PEP 503 page lists no files, so a successful TLS connection ends in uv's resolution
    error ("no versions of ..."): that is :data:`OK`. A certificate or TLS failure is
    :data:`REJECT`; anything else is ``"error"`` (the test fails and shows uv's output).
    """
    args = [uv, "pip", "compile", "-", "--index-url", f"{url}/simple", "--no-cache",
            "--color", "never"]
    if native:
        args.append("--native-tls")
    proc = subprocess.run(args, input="tlsback-probe\n", env=dict(env), capture_output=True,
                          text=True, timeout=timeout, check=False)
    err = proc.stderr
    if "no versions of tlsback-probe" in err:
        return OK, err
    lowered = err.lower()
    if any(s in lowered for s in ("invalid peer certificate", "certificate", "tls",
                                  "handshake", "peer is incompatible", "alert")):
        return REJECT, err
    return "error", err


def iter_ids() -> Iterator[str]:
    return iter(BY_ID)
