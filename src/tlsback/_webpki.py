"""rustls + webpki's verification policy, reproduced on stdlib :mod:`ssl` (SPEC §5).

Two layers:

1. :func:`new_context` sets every option OpenSSL can enforce by itself: TLS 1.2/1.3 only, the
   rustls TLS 1.2 suites, no compression or renegotiation, ``@SECLEVEL=2`` (no SHA-1/MD5
   signatures, no RSA keys under 2048 bits), partial chains, subjectAltName-only name checks.
2. The gaps OpenSSL cannot be told about are closed by checks on the *verified* chain right after
   the handshake, in :class:`WebpkiSSLSocket` (blocking sockets: requests, urllib3, urllib, httpx)
   and :class:`WebpkiSSLObject` (memory BIOs: asyncio, aiohttp, anyio, trio). They are cheap:
   a small DER reader (X.690) walks the two or three certificates of the chain once.

Failures, OpenSSL's own included, surface as :class:`ssl.SSLCertVerificationError` whose
message carries rustls' reason (``UnknownIssuer``, ``NotValidForName``, ``Expired``, ...) and the
certificate it is about; the original ``verify_code`` is kept so clients that look at it still
work. No ``cryptography`` at run time: the parser here is self-contained.

What stays different from webpki (pinned by ``tests/test_policy_differences.py``, explained in
``docs/verification.md``): OpenSSL also checks the trust anchor itself (its validity, its
critical extensions, its extendedKeyUsage and that it is a CA), and it applies keyUsage rules
to the leaf and intermediates that webpki ignores. Those make tlsback stricter, never laxer.
"""

from __future__ import annotations

import ssl
from collections import namedtuple
from collections.abc import Sequence

# No dataclasses, typing or datetime at import: building a context is on every program's start-up
# path, and those imports cost more than the rest of a warm start (docs/cache.md).
TYPE_CHECKING = False
if TYPE_CHECKING:
    import datetime
    from typing import Any

__all__ = [
    "CIPHERS",
    "CertInfo",
    "DERError",
    "PolicyViolation",
    "WebpkiSSLObject",
    "WebpkiSSLSocket",
    "check_chain",
    "new_context",
    "parse_certificate",
]

#: TLS 1.2 suites rustls offers: forward secret (ECDHE) and AEAD (AES-GCM, ChaCha20-Poly1305)
#: only. No CBC (Lucky13, POODLE-style padding oracles), no static-RSA key exchange (no forward
#: secrecy, ROBOT), no DHE (weak and slow groups). ``@SECLEVEL=2`` makes OpenSSL refuse SHA-1
#: and MD5 certificate signatures and RSA/DH keys under 2048 bits, as webpki does. TLS 1.3 suites
#: are OpenSSL's defaults (AES-GCM and ChaCha20), the same three rustls offers.
CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!eNULL:@SECLEVEL=2"

# X509_V_FLAG_PARTIAL_CHAIN (x509_vfy.h). Stated numerically for Pythons without the enum.
_X509_V_FLAG_PARTIAL_CHAIN = 0x80000

# X509_V_ERR_* codes (openssl/x509_vfy.h) used for our own verdicts, so code that dispatches on
# ``verify_code`` sees the closest OpenSSL equivalent.
_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY = 20
_ERR_UNHANDLED_CRITICAL_EXTENSION = 34
_ERR_INVALID_NON_CA = 37
_ERR_UNSUPPORTED_SIGNATURE_ALGORITHM = 76
_ERR_EE_KEY_TOO_SMALL = 66
_ERR_INVALID_EXTENSION = 41
_ERR_UNSPECIFIED = 1


def new_context(verify: bool = True) -> ssl.SSLContext:
    """Return a client context configured like rustls, without any trust anchor loaded.

    The caller (``backends/rustls.py``) loads the trust store into it. Every connection made
    through the context runs the post-handshake checks of :func:`check_chain`.

    Args:
        verify: ``False`` for an insecure host: no certificate or name checks at all, but the
            same protocol versions, cipher suites and options (SPEC §4).

    Returns:
        A new :class:`ssl.SSLContext` (``PROTOCOL_TLS_CLIENT``).
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    # rustls implements TLS 1.2 and 1.3 only: TLS 1.0/1.1 lack AEAD suites and rely on MD5/SHA-1
    # in their PRF (RFC 8996 deprecates them).
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.maximum_version = ssl.TLSVersion.TLSv1_3
    ctx.set_ciphers(CIPHERS)
    # No TLS compression (CRIME, CVE-2012-4929); rustls has none. Python sets it already; stating
    # it keeps the policy explicit and independent of the interpreter's defaults.
    ctx.options |= ssl.OP_NO_COMPRESSION
    # No renegotiation (rustls refuses it as a client): it is the vector of the triple-handshake
    # attack (RFC 7627) and of renegotiation DoS, and a server may use it to change identity.
    ctx.options |= ssl.OP_NO_RENEGOTIATION
    # A client never answers a TLS 1.3 post-handshake authentication request unless it has
    # loaded a client certificate; rustls does not implement it at all.
    ctx.post_handshake_auth = False
    if not verify:
        # Insecure host (SPEC §4): certificate and name checks off; everything above stays.
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.check_hostname = True
    # Names are checked against subjectAltName only, never the subject Common Name (RFC 6125
    # §6.4.4, CA/B Forum BR 7.1.4.2.2; webpki never reads the CN). Python maps this to
    # X509_CHECK_FLAG_NEVER_CHECK_SUBJECT; X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS ("f*.example")
    # is Python's default already, so a wildcard matches only as the whole left-most label.
    ctx.hostname_checks_common_name = False
    # webpki treats every certificate in the store as a trust anchor, CA or not (partial chains,
    # e.g. only an intermediate trusted). OpenSSL otherwise insists on a self-signed root.
    # X509_V_FLAG_X509_STRICT stays off: it adds RFC 5280 profile checks (AKI/SKI presence,
    # critical basicConstraints) that webpki does not make, and would refuse what uv accepts.
    ctx.verify_flags |= _X509_V_FLAG_PARTIAL_CHAIN
    ctx.sslsocket_class = WebpkiSSLSocket
    ctx.sslobject_class = WebpkiSSLObject
    return ctx


# =================================================================================================
# A minimal DER reader (ITU-T X.690 §8.1: identifier, definite length, contents), enough for
# RFC 5280 certificates. It never trusts a length: every read is bounds-checked.
# =================================================================================================


class DERError(ValueError):
    """A certificate's DER encoding could not be read."""


def _tlv(data: bytes, pos: int, end: int | None = None) -> tuple[int, int, int]:
    """Read one TLV at ``pos``. Returns ``(tag, content_start, content_end)``."""
    if end is None:
        end = len(data)
    if pos + 2 > end:
        raise DERError("truncated DER element")
    tag = data[pos]
    if tag & 0x1F == 0x1F:
        raise DERError("multi-byte DER tags are not used in certificates")
    first = data[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    else:
        n = first & 0x7F
        if n == 0 or n > 4 or pos + n > end:
            raise DERError("bad DER length")  # 0x80 is BER's indefinite length, not DER
        length = int.from_bytes(data[pos : pos + n], "big")
        pos += n
    if pos + length > end:
        raise DERError("DER element longer than its container")
    return tag, pos, pos + length


def _children(data: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    out = []
    pos = start
    while pos < end:
        tag, cs, ce = _tlv(data, pos, end)
        out.append((tag, cs, ce))
        pos = ce
    return out


def _oid(content: bytes) -> str:
    """Decode an OBJECT IDENTIFIER's contents (X.690 §8.19) to dotted text."""
    if not content:
        raise DERError("empty OID")
    arcs: list[int] = []
    value = 0
    for b in content:
        value = (value << 7) | (b & 0x7F)
        if not b & 0x80:
            arcs.append(value)
            value = 0
    if content[-1] & 0x80:
        raise DERError("truncated OID")
    first = arcs[0]
    head = [0, first] if first < 40 else [1, first - 40] if first < 80 else [2, first - 80]
    return ".".join(str(a) for a in head + arcs[1:])


def _time(tag: int, content: bytes) -> datetime.datetime:
    import datetime

    """UTCTime (tag 0x17) or GeneralizedTime (0x18), as RFC 5280 §4.1.2.5 profiles them."""
    text = content.decode("ascii", "replace")
    try:
        if tag == 0x17:
            year = int(text[0:2])
            year += 1900 if year >= 50 else 2000
            rest = text[2:]
        elif tag == 0x18:
            year = int(text[0:4])
            rest = text[4:]
        else:
            raise DERError("validity is not a time")
        return datetime.datetime(
            year, int(rest[0:2]), int(rest[2:4]), int(rest[4:6]), int(rest[6:8]),
            int(rest[8:10]) if rest[8:10].isdigit() else 0, tzinfo=datetime.timezone.utc,
        )
    except (ValueError, IndexError) as exc:
        raise DERError(f"bad time {text!r}") from exc


_NAME_ATTRS = {
    "2.5.4.3": "CN", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.10": "O",
    "2.5.4.11": "OU", "2.5.4.5": "serialNumber", "0.9.2342.19200300.100.1.25": "DC",
    "1.2.840.113549.1.9.1": "emailAddress",
}


def _string(tag: int, content: bytes) -> str:
    if tag == 0x1E:  # BMPString
        return content.decode("utf-16-be", "replace")
    if tag == 0x1C:  # UniversalString
        return content.decode("utf-32-be", "replace")
    if tag == 0x14:  # TeletexString: in practice Latin-1
        return content.decode("latin-1")
    return content.decode("utf-8", "replace")


def _name_text(der: bytes, start: int, end: int) -> str:
    """A Name (RFC 5280 §4.1.2.4) as RFC 4514 text, most specific RDN first."""
    rdns = []
    for _tag, rs, re_ in _children(der, start, end):  # RelativeDistinguishedName: SET
        parts = []
        for _t, as_, ae in _children(der, rs, re_):  # AttributeTypeAndValue: SEQUENCE
            (_ot, os_, oe), (vt, vs, ve) = _children(der, as_, ae)[:2]
            oid = _oid(der[os_:oe])
            parts.append(f"{_NAME_ATTRS.get(oid, oid)}={_string(vt, der[vs:ve])}")
        rdns.append("+".join(parts))
    return ",".join(reversed(rdns))


# Object identifiers (RFC 5280 §4.2.1, RFC 3279, RFC 4055, RFC 5758, RFC 8410).
OID_KEY_USAGE = "2.5.29.15"
OID_SUBJECT_ALT_NAME = "2.5.29.17"
OID_BASIC_CONSTRAINTS = "2.5.29.19"
OID_NAME_CONSTRAINTS = "2.5.29.30"
OID_CRL_DISTRIBUTION_POINTS = "2.5.29.31"
OID_CERTIFICATE_POLICIES = "2.5.29.32"
OID_EXT_KEY_USAGE = "2.5.29.37"
OID_SERVER_AUTH = "1.3.6.1.5.5.7.3.1"

#: Extensions webpki understands; any other one marked critical makes it reject the certificate
#: (RFC 5280 §4.2: "A certificate-using system MUST reject the certificate if it encounters a
#: critical extension it does not recognize"). OpenSSL also knows certificatePolicies,
#: policyConstraints, policyMappings, inhibitAnyPolicy, RFC 3779 and proxy extensions, so it
#: accepts them critical; webpki does not.
WEBPKI_KNOWN_EXTENSIONS = frozenset({
    OID_KEY_USAGE, OID_SUBJECT_ALT_NAME, OID_BASIC_CONSTRAINTS, OID_NAME_CONSTRAINTS,
    OID_CRL_DISTRIBUTION_POINTS, OID_EXT_KEY_USAGE,
})

_RSA = "1.2.840.113549.1.1.1"
_EC = "1.2.840.10045.2.1"
_ED25519 = "1.3.101.112"
_P256 = "1.2.840.10045.3.1.7"
_P384 = "1.3.132.0.34"
_P521 = "1.3.132.0.35"

#: Certificate signature algorithms webpki verifies with the aws-lc-rs provider uv 0.13 ships
#: (the list uv prints in ``UnsupportedSignatureAlgorithmContext``): ECDSA with SHA-256/384/512
#: on P-256/P-384/P-521, RSA PKCS#1 v1.5 and PSS with SHA-256/384/512, Ed25519, ML-DSA.
#: Not SHA-1, MD5 or SHA-224, not DSA, not Ed448.
WEBPKI_SIGNATURE_ALGORITHMS = {
    "1.2.840.10045.4.3.2": "ecdsa-with-SHA256",
    "1.2.840.10045.4.3.3": "ecdsa-with-SHA384",
    "1.2.840.10045.4.3.4": "ecdsa-with-SHA512",
    "1.2.840.113549.1.1.11": "sha256WithRSAEncryption",
    "1.2.840.113549.1.1.12": "sha384WithRSAEncryption",
    "1.2.840.113549.1.1.13": "sha512WithRSAEncryption",
    "1.2.840.113549.1.1.10": "RSASSA-PSS",
    _ED25519: "Ed25519",
    "2.16.840.1.101.3.4.3.17": "ML-DSA-44",
    "2.16.840.1.101.3.4.3.18": "ML-DSA-65",
    "2.16.840.1.101.3.4.3.19": "ML-DSA-87",
}

_SIGNATURE_NAMES = {
    **WEBPKI_SIGNATURE_ALGORITHMS,
    "1.2.840.113549.1.1.4": "md5WithRSAEncryption",
    "1.2.840.113549.1.1.5": "sha1WithRSAEncryption",
    "1.2.840.113549.1.1.14": "sha224WithRSAEncryption",
    "1.2.840.10045.4.1": "ecdsa-with-SHA1",
    "1.2.840.10045.4.3.1": "ecdsa-with-SHA224",
    "1.3.101.113": "Ed448",
    "1.2.840.10040.4.3": "dsa-with-SHA1",
    "2.16.840.1.101.3.4.3.2": "dsa-with-SHA256",
}
_CURVE_NAMES = {_P256: "P-256", _P384: "P-384", _P521: "P-521", "1.3.132.0.10": "secp256k1"}
_ML_DSA = frozenset({"2.16.840.1.101.3.4.3.17", "2.16.840.1.101.3.4.3.18",
                     "2.16.840.1.101.3.4.3.19"})

_EKU_NAMES = {
    OID_SERVER_AUTH: "serverAuth", "1.3.6.1.5.5.7.3.2": "clientAuth",
    "1.3.6.1.5.5.7.3.3": "codeSigning", "1.3.6.1.5.5.7.3.4": "emailProtection",
    "1.3.6.1.5.5.7.3.8": "timeStamping", "1.3.6.1.5.5.7.3.9": "OCSPSigning",
    "2.5.29.37.0": "anyExtendedKeyUsage",
}

_SAN_KINDS = {0x82: "DnsName", 0x87: "IpAddress", 0x81: "Rfc822Name", 0x86: "URI"}


class Extension(namedtuple("Extension", "oid critical value")):
    """One certificate extension: OID, criticality, the extnValue contents."""

    __slots__ = ()
    if TYPE_CHECKING:
        oid: str
        critical: bool
        value: bytes


class CertInfo(namedtuple("CertInfo", [
        "der", "version", "subject", "issuer", "subject_der", "issuer_der", "not_before", "not_after",
        "signature_algorithm", "key_algorithm", "key_parameter", "rsa_bits", "extensions"],
        defaults=((),))):
    """What the policy and the error messages need from one certificate."""

    __slots__ = ()
    if TYPE_CHECKING:
        der: bytes
        version: int  # 1, 2 or 3
        subject: str
        issuer: str
        subject_der: bytes
        issuer_der: bytes
        not_before: datetime.datetime
        not_after: datetime.datetime
        signature_algorithm: str  # OID of the outer signatureAlgorithm
        key_algorithm: str  # OID of the subjectPublicKeyInfo algorithm
        key_parameter: str | None  # the named curve OID for EC keys
        rsa_bits: int | None
        extensions: tuple[Extension, ...]

    def extension(self, oid: str) -> Extension | None:
        """The extension with this OID, if present."""
        for ext in self.extensions:
            if ext.oid == oid:
                return ext
        return None

    @property
    def is_ca(self) -> bool:
        """basicConstraints cA=TRUE (RFC 5280 §4.2.1.9)."""
        ext = self.extension(OID_BASIC_CONSTRAINTS)
        if ext is None:
            return False
        _tag, cs, ce = _tlv(ext.value, 0)
        kids = _children(ext.value, cs, ce)
        return bool(kids) and kids[0][0] == 0x01 and ext.value[kids[0][1]:kids[0][2]] != b"\x00"

    @property
    def key_cert_sign(self) -> bool:
        """keyUsage allows keyCertSign, or there is no keyUsage (RFC 5280 §4.2.1.3, bit 5)."""
        ext = self.extension(OID_KEY_USAGE)
        if ext is None:
            return True
        _tag, cs, ce = _tlv(ext.value, 0)
        bits = ext.value[cs + 1 : ce]  # skip the unused-bits octet
        return bool(bits) and bool(bits[0] & 0x04)

    @property
    def key_usage_allows_tls_server(self) -> bool:
        """keyUsage absent, or has digitalSignature, keyEncipherment or keyAgreement (bits 0/2/4)."""
        ext = self.extension(OID_KEY_USAGE)
        if ext is None:
            return True
        _tag, cs, ce = _tlv(ext.value, 0)
        bits = ext.value[cs + 1 : ce]
        return bool(bits) and bool(bits[0] & 0xA8)

    @property
    def extended_key_usage(self) -> tuple[str, ...] | None:
        """The EKU OIDs, or ``None`` when the extension is absent (any use allowed)."""
        ext = self.extension(OID_EXT_KEY_USAGE)
        if ext is None:
            return None
        _tag, cs, ce = _tlv(ext.value, 0)
        return tuple(_oid(ext.value[s:e]) for t, s, e in _children(ext.value, cs, ce) if t == 0x06)

    @property
    def subject_alt_names(self) -> list[tuple[str, str]]:
        """``(kind, value)`` pairs in rustls' spelling: ``("DnsName", "example.com")``."""
        ext = self.extension(OID_SUBJECT_ALT_NAME)
        if ext is None:
            return []
        out = []
        _tag, cs, ce = _tlv(ext.value, 0)
        for t, s, e in _children(ext.value, cs, ce):
            raw = ext.value[s:e]
            kind = _SAN_KINDS.get(t)
            if kind is None:
                continue
            if t == 0x87:
                import ipaddress

                try:
                    value = str(ipaddress.ip_address(raw))
                except ValueError:
                    value = raw.hex()
            else:
                value = raw.decode("ascii", "replace")
            out.append((kind, value))
        return out

    @property
    def self_issued(self) -> bool:
        """Subject and issuer are the same name (RFC 5280 §6.1)."""
        return self.subject_der == self.issuer_der

    @property
    def signature_name(self) -> str:
        return _SIGNATURE_NAMES.get(self.signature_algorithm, self.signature_algorithm)

    @property
    def key_description(self) -> str:
        if self.key_algorithm == _RSA:
            return f"RSA-{self.rsa_bits}"
        if self.key_algorithm == _EC:
            return f"EC {_CURVE_NAMES.get(self.key_parameter or '', self.key_parameter)}"
        if self.key_algorithm == _ED25519:
            return "Ed25519"
        return self.key_algorithm

    def valid_at(self, when: datetime.datetime) -> bool:
        return self.not_before <= when <= self.not_after


def parse_certificate(der: bytes) -> CertInfo:
    """Read the fields the policy needs from a DER certificate (RFC 5280 §4.1).

    Args:
        der: one DER-encoded X.509 certificate.

    Returns:
        The :class:`CertInfo`.

    Raises:
        DERError: the bytes are not a well-formed certificate.
    """
    tag, cs, ce = _tlv(der, 0)
    if tag != 0x30:
        raise DERError("a certificate is a SEQUENCE")
    parts = _children(der, cs, ce)
    if len(parts) != 3:
        raise DERError("a certificate has three parts")
    (_tt, ts, te), (_at, as_, ae), _sig = parts
    sig_alg = _oid(der[slice(*_children(der, as_, ae)[0][1:])])
    tbs = _children(der, ts, te)
    i = 0
    version = 1
    if tbs and tbs[0][0] == 0xA0:  # [0] EXPLICIT Version
        _vt, vs, ve = _tlv(der, tbs[0][1], tbs[0][2])
        version = int.from_bytes(der[vs:ve], "big") + 1
        i = 1
    try:
        _serial, _sig_inner, issuer, validity, subject, spki = tbs[i : i + 6]
    except ValueError:
        raise DERError("TBSCertificate is missing fields") from None
    (nbt, nbs, nbe), (nat, nas, nae) = _children(der, validity[1], validity[2])[:2]
    spki_kids = _children(der, spki[1], spki[2])
    alg_kids = _children(der, spki_kids[0][1], spki_kids[0][2])
    key_alg = _oid(der[alg_kids[0][1]:alg_kids[0][2]])
    key_param = None
    if len(alg_kids) > 1 and alg_kids[1][0] == 0x06:
        key_param = _oid(der[alg_kids[1][1]:alg_kids[1][2]])
    rsa_bits = None
    if key_alg == _RSA:
        bs, be = spki_kids[1][1], spki_kids[1][2]
        _t, ks, ke = _tlv(der, bs + 1, be)  # BIT STRING: skip the unused-bits octet
        _mt, ms, me = _children(der, ks, ke)[0]
        rsa_bits = int.from_bytes(der[ms:me], "big").bit_length()
    extensions: list[Extension] = []
    for t, s, e in tbs[i + 6 :]:
        if t != 0xA3:  # [3] EXPLICIT Extensions; [1]/[2] unique IDs are skipped
            continue
        _st, ss, se = _tlv(der, s, e)
        for _et, es, ee in _children(der, ss, se):
            kids = _children(der, es, ee)
            oid = _oid(der[kids[0][1]:kids[0][2]])
            critical = False
            if len(kids) == 3 and kids[1][0] == 0x01:
                critical = der[kids[1][1]:kids[1][2]] != b"\x00"
            vt, vs, ve = kids[-1]
            if vt != 0x04:
                raise DERError("extnValue is an OCTET STRING")
            extensions.append(Extension(oid, critical, der[vs:ve]))
    return CertInfo(
        der=der,
        version=version,
        subject=_name_text(der, subject[1], subject[2]),
        issuer=_name_text(der, issuer[1], issuer[2]),
        subject_der=der[subject[1]:subject[2]],
        issuer_der=der[issuer[1]:issuer[2]],
        not_before=_time(nbt, der[nbs:nbe]),
        not_after=_time(nat, der[nas:nae]),
        signature_algorithm=sig_alg,
        key_algorithm=key_alg,
        key_parameter=key_param,
        rsa_bits=rsa_bits,
        extensions=tuple(extensions),
    )


# =================================================================================================
# The checks after the handshake
# =================================================================================================


class PolicyViolation(Exception):
    """A verified chain breaks a webpki rule OpenSSL does not enforce.

    Attributes:
        reason: rustls' name for it (``CaUsedAsEndEntity``, ``UnsupportedCriticalExtension``...).
        detail: what exactly, for a person.
        verify_code: the closest ``X509_V_ERR_*`` code.
        certificate: the certificate it is about.
    """

    def __init__(self, reason: str, detail: str, verify_code: int, certificate: CertInfo) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.verify_code = verify_code
        self.certificate = certificate


def _check_key(cert: CertInfo, role: str) -> None:
    # rustls verifies TLS signatures and webpki certificate signatures with RSA 2048-8192 bits,
    # ECDSA on P-256/P-384/P-521, Ed25519 and ML-DSA only (OpenSSL also takes secp256k1 and
    # other curves, DSA, Ed448).
    ok = (
        (cert.key_algorithm == _RSA and cert.rsa_bits is not None and 2048 <= cert.rsa_bits <= 8192)
        or (cert.key_algorithm == _EC and cert.key_parameter in (_P256, _P384, _P521))
        or cert.key_algorithm == _ED25519
        or cert.key_algorithm in _ML_DSA
    )
    if not ok:
        raise PolicyViolation(
            "BadSignature" if cert.key_algorithm == _RSA else "UnsupportedSignatureAlgorithmForPublicKey",
            f"the {role} certificate ({cert.subject}) has a {cert.key_description} key, which "
            "rustls does not support (RSA 2048-8192, ECDSA P-256/P-384/P-521, Ed25519, ML-DSA)",
            _ERR_EE_KEY_TOO_SMALL if cert.key_algorithm == _RSA else _ERR_UNSUPPORTED_SIGNATURE_ALGORITHM,
            cert,
        )


def check_chain(chain: Sequence[bytes], *, top_is_trusted: bool = True) -> None:
    """Apply the webpki rules OpenSSL does not check to a chain OpenSSL has verified.

    Args:
        chain: the verified chain as DER, leaf first (OpenSSL's ``SSL_get0_verified_chain``).
            Its last certificate is the trust anchor, except when OpenSSL matched the leaf
            itself in the store as a last resort (partial-chain mode).
        top_is_trusted: whether the last certificate is in the trust store. ``False`` means
            OpenSSL trusted the leaf directly, which webpki never does.

    Raises:
        PolicyViolation: the first rule broken, leaf first.
    """
    certs = [parse_certificate(der) for der in chain]
    if not certs:
        return
    leaf = certs[0]
    # The trust anchor is not a certificate to webpki, only a name and a key: none of its other
    # fields are checked. With a one-element chain the leaf itself was found in the store.
    checked = certs[:-1] if len(certs) > 1 else certs
    if (len(certs) == 1 and not leaf.self_issued) or not top_is_trusted:
        # OpenSSL's partial-chain mode accepts a leaf that is itself in the store; webpki looks
        # for the leaf's *issuer* among the anchors and does not find it.
        raise PolicyViolation(
            "UnknownIssuer",
            f"the issuer of {leaf.subject} ({leaf.issuer}) is not a trusted certificate "
            "(the leaf itself being trusted is not enough)",
            _ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
            leaf,
        )
    if leaf.is_ca:
        # RFC 5280 §4.2.1.9; webpki: a CA certificate may not identify a server. OpenSSL only
        # refuses it with X509_V_FLAG_X509_STRICT, which would also refuse too much.
        raise PolicyViolation(
            "CaUsedAsEndEntity",
            f"the server certificate ({leaf.subject}) is a CA certificate "
            "(basicConstraints cA=TRUE)",
            _ERR_INVALID_NON_CA,
            leaf,
        )
    for depth, cert in enumerate(checked):
        role = "server" if depth == 0 else "intermediate"
        if cert.version != 3:
            raise PolicyViolation(
                "UnsupportedCertVersion",
                f"the {role} certificate ({cert.subject}) is X.509 v{cert.version}; only v3 is "
                "accepted",
                _ERR_INVALID_EXTENSION,
                cert,
            )
        seen: set[str] = set()
        for ext in cert.extensions:
            if ext.oid in seen:
                # RFC 5280 §4.2: "A certificate MUST NOT include more than one instance of a
                # particular extension."
                raise PolicyViolation(
                    "ExtensionValueInvalid",
                    f"the {role} certificate ({cert.subject}) repeats extension {ext.oid}",
                    _ERR_INVALID_EXTENSION,
                    cert,
                )
            seen.add(ext.oid)
            if ext.critical and ext.oid not in WEBPKI_KNOWN_EXTENSIONS:
                raise PolicyViolation(
                    "UnsupportedCriticalExtension",
                    f"the {role} certificate ({cert.subject}) has a critical extension "
                    f"{_EXTENSION_NAMES.get(ext.oid, ext.oid)} that webpki does not process",
                    _ERR_UNHANDLED_CRITICAL_EXTENSION,
                    cert,
                )
        if cert.signature_algorithm not in WEBPKI_SIGNATURE_ALGORITHMS:
            raise PolicyViolation(
                "UnsupportedSignatureAlgorithm",
                f"the {role} certificate ({cert.subject}) is signed with {cert.signature_name}",
                _ERR_UNSUPPORTED_SIGNATURE_ALGORITHM,
                cert,
            )
        eku = cert.extended_key_usage
        if eku is not None and OID_SERVER_AUTH not in eku:
            # OpenSSL checks this too (purpose sslserver); kept so the rule never depends on
            # how the context's purpose was set.
            raise PolicyViolation(
                "InvalidPurpose",
                f"the {role} certificate ({cert.subject}) does not allow server authentication "
                "(extendedKeyUsage lacks serverAuth)",
                26,
                cert,
            )
    for depth, cert in enumerate(certs):
        # The anchor's key verifies the next signature, so it is checked too (webpki would
        # fail that signature check); the leaf's key signs the TLS handshake.
        _check_key(cert, "server" if depth == 0 else "issuing")


_EXTENSION_NAMES = {
    OID_CERTIFICATE_POLICIES: "certificatePolicies (2.5.29.32)",
    "2.5.29.36": "policyConstraints (2.5.29.36)",
    "2.5.29.33": "policyMappings (2.5.29.33)",
    "2.5.29.54": "inhibitAnyPolicy (2.5.29.54)",
    "2.5.29.14": "subjectKeyIdentifier (2.5.29.14)",
    "2.5.29.35": "authorityKeyIdentifier (2.5.29.35)",
    "1.3.6.1.5.5.7.1.1": "authorityInfoAccess (1.3.6.1.5.5.7.1.1)",
    "2.16.840.1.113730.1.1": "netscapeCertType (2.16.840.1.113730.1.1)",
}


# =================================================================================================
# Error messages: OpenSSL's verify codes in rustls' words, and which certificate
# =================================================================================================

#: OpenSSL verify code -> rustls' name for the same failure.
RUSTLS_REASONS = {
    2: "UnknownIssuer", 18: "UnknownIssuer", 19: "UnknownIssuer", 20: "UnknownIssuer",
    21: "UnknownIssuer", 27: "UnknownIssuer",
    9: "NotValidYet", 10: "Expired",
    62: "NotValidForName", 64: "NotValidForName",
    26: "InvalidPurpose",
    7: "BadSignature", 4: "BadSignature",
    34: "UnsupportedCriticalExtension",
    37: "CaUsedAsEndEntity",
    24: "UnknownIssuer", 79: "EndEntityUsedAsCa", 32: "EndEntityUsedAsCa",
    25: "PathLenConstraintViolated",
    47: "NameConstraintViolation", 48: "NameConstraintViolation", 51: "NameConstraintViolation",
    53: "NameConstraintViolation",
    66: "BadSignature", 67: "BadSignature",
    68: "UnsupportedSignatureAlgorithm", 76: "UnsupportedSignatureAlgorithm",
    22: "MaximumPathDepthExceeded",
}


def _san_text(kind: str, value: str) -> str:
    """rustls' spelling: ``DnsName("example.com")``, ``IpAddress(127.0.0.1)``."""
    return f"{kind}({value})" if kind == "IpAddress" else f'{kind}("{value}")'


def _fmt_time(t: datetime.datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S UTC")


def _ago(seconds: float) -> str:
    seconds = abs(int(seconds))
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = seconds // size
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{seconds} seconds"


def describe_failure(
    verify_code: int,
    verify_message: str,
    chain: Sequence[bytes] | None,
    server_hostname: str | None,
    now: datetime.datetime | None = None,
) -> tuple[str, str, CertInfo | None]:
    """Explain an OpenSSL verification failure the way rustls (and so uv) words it.

    Args:
        verify_code: the ``X509_V_ERR_*`` code.
        verify_message: OpenSSL's text for it.
        chain: what the server sent (DER, leaf first), when known.
        server_hostname: the name the client asked for.
        now: the time to judge validity at (default: now).

    Returns:
        ``(reason, text, certificate)``: rustls' name for the failure, the sentence uv prints
        after "invalid peer certificate: " (with the certificate's subject added), and the
        certificate concerned when it can be told.
    """
    reason = RUSTLS_REASONS.get(verify_code, "Other")
    import datetime

    now = now or datetime.datetime.now(datetime.timezone.utc)
    certs: list[CertInfo] = []
    for der in chain or ():
        try:
            certs.append(parse_certificate(der))
        except DERError:
            break
    leaf = certs[0] if certs else None

    def find(pred: Any, among: Sequence[CertInfo] = certs) -> CertInfo | None:
        return next((c for c in among if pred(c)), None)

    def about(cert: CertInfo | None) -> str:
        if cert is None:
            return ""
        role = "server certificate" if cert is leaf else "certificate"
        return f" [{role}: {cert.subject}]"

    if reason == "NotValidForName":
        sans = leaf.subject_alt_names if leaf else []
        names = ", ".join(_san_text(k, v) for k, v in sans)
        text = f'certificate not valid for name "{server_hostname}"; '
        text += (
            f"certificate is only valid for {names}"
            if names
            else "certificate is not valid for any names (according to its subjectAltName "
            "extension)"
        )
        return reason, text + about(leaf), leaf
    if reason in ("Expired", "NotValidYet"):
        expired = reason == "Expired"
        cert = find(lambda c: c.not_after < now if expired else c.not_before > now)
        if cert is None:
            # Nothing the server sent is out of date: the trust anchor from the store is.
            top = certs[-1] if certs else None
            what = "expired" if expired else "not valid yet"
            anchor = f" ({top.issuer}, the issuer of {top.subject})" if top else ""
            return reason, (f"certificate {what}: the trust anchor{anchor} is {what} "
                            "(uv would accept an out-of-date trust anchor, OpenSSL does not)"), None
        if expired:
            text = (f"certificate expired: verification time {_fmt_time(now)}, but certificate "
                    f"is not valid after {_fmt_time(cert.not_after)} "
                    f"({_ago((now - cert.not_after).total_seconds())} ago)")
        else:
            text = (f"certificate not valid yet: verification time {_fmt_time(now)}, but "
                    f"certificate is not valid before {_fmt_time(cert.not_before)} "
                    f"({_ago((cert.not_before - now).total_seconds())} in future)")
        return reason, text + about(cert), cert
    if reason == "UnknownIssuer":
        top = certs[-1] if certs else None
        if top is None:
            return reason, reason, None
        why = f"no trusted certificate issued {top.subject}; its issuer is {top.issuer}"
        if len(certs) == 1 and not top.self_issued:
            why += "; the server sent no intermediate certificates"
        elif top.self_issued:
            why = f"{top.subject} is self-signed and not trusted"
        return reason, f"{reason} ({why})", top
    if reason == "InvalidPurpose":
        cert = find(lambda c: c.extended_key_usage is not None
                    and OID_SERVER_AUTH not in c.extended_key_usage)
        if cert is None:
            if leaf is not None and not leaf.key_usage_allows_tls_server:
                return reason, (f"{reason} (the server certificate's keyUsage allows neither "
                                "digitalSignature nor keyEncipherment/keyAgreement; uv ignores "
                                "keyUsage, OpenSSL does not)" + about(leaf)), leaf
            top = certs[-1] if certs else None
            anchor = f" ({top.issuer})" if top else ""
            return reason, (f"{reason} (the trust anchor{anchor} restricts extendedKeyUsage to "
                            "other purposes than server authentication; uv ignores a trust "
                            "anchor's extendedKeyUsage, OpenSSL does not)"), None
        allows = ", ".join(_EKU_NAMES.get(o, o) for o in cert.extended_key_usage or ())
        return reason, ("certificate does not allow extended key usage for server "
                        f"authentication, allows {allows or 'nothing'}" + about(cert)), cert
    if reason == "UnsupportedSignatureAlgorithm":
        cert = find(lambda c: c.signature_algorithm not in WEBPKI_SIGNATURE_ALGORITHMS)
        if cert is not None:
            return reason, (f"{reason} (signed with {cert.signature_name})" + about(cert)), cert
    if reason == "BadSignature" and verify_code in (66, 67):
        cert = find(lambda c: c.key_algorithm == _RSA and (c.rsa_bits or 0) < 2048)
        if cert is not None:
            return reason, (f"{reason} (a {cert.key_description} key is too small; rustls "
                            "requires RSA keys of 2048 bits or more)" + about(cert)), cert
    if reason == "UnsupportedCriticalExtension":
        cert = find(lambda c: any(e.critical and e.oid not in WEBPKI_KNOWN_EXTENSIONS
                                  for e in c.extensions))
        return reason, reason + about(cert), cert
    if reason == "EndEntityUsedAsCa":
        cert = find(lambda c: not c.is_ca or not c.key_cert_sign, certs[1:])
        if cert is None:
            return reason, reason, None
        why = "its keyUsage lacks keyCertSign" if cert.is_ca else "it is not a CA (no cA=TRUE)"
        return reason, f"{reason} ({cert.subject} issued a certificate but {why})", cert
    if reason == "PathLenConstraintViolated":
        return reason, reason, None
    if reason == "NameConstraintViolation":
        return reason, reason + about(leaf), leaf
    return reason, f"{reason} ({verify_message})", leaf


def _der_chain(sslobj: Any, method: str) -> list[bytes] | None:
    """The chain from the private ``_ssl._SSLSocket`` (3.10-3.12; public in 3.13)."""
    getter = getattr(sslobj, method, None)
    if getter is None:
        return None
    try:
        chain = getter()
    except (ssl.SSLError, ValueError):
        return None
    if not chain:
        return None
    import _ssl

    return [c if isinstance(c, bytes) else c.public_bytes(_ssl.ENCODING_DER) for c in chain]


def _make_error(verify_code: int, verify_message: str, text: str) -> ssl.SSLCertVerificationError:
    exc = ssl.SSLCertVerificationError(1, text)
    exc.reason = "CERTIFICATE_VERIFY_FAILED"
    exc.library = "SSL"
    exc.verify_code = verify_code
    exc.verify_message = verify_message
    return exc


def _message(text: str) -> str:
    return f"[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: invalid peer certificate: {text}"


def _annotate(exc: ssl.SSLCertVerificationError, sslobj: Any, server_hostname: str | None) -> None:
    """Put rustls' reason and the certificate concerned into OpenSSL's own exception."""
    if getattr(exc, "rustls_reason", None):
        return
    chain = _der_chain(sslobj, "get_unverified_chain") if sslobj is not None else None
    code = getattr(exc, "verify_code", 0) or 0
    message = getattr(exc, "verify_message", "") or ""
    try:
        reason, text, cert = describe_failure(code, message, chain, server_hostname)
    except (DERError, ValueError, IndexError):  # a message is never worth a crash
        return
    full = _message(text)
    exc.strerror = full
    exc.args = (exc.errno, full)
    _attach(exc, reason, text, cert, chain)


def _attach(
    exc: ssl.SSLCertVerificationError,
    reason: str,
    detail: str,
    cert: CertInfo | None,
    chain: list[bytes] | None,
) -> None:
    exc.rustls_reason = reason  # type: ignore[attr-defined]
    exc.rustls_text = detail  # type: ignore[attr-defined]
    exc.certificate = cert  # type: ignore[attr-defined]
    exc.peer_chain = chain  # type: ignore[attr-defined]


def _top_is_trusted(ctx: ssl.SSLContext, chain: Sequence[bytes]) -> bool:
    """Whether the last certificate of a verified chain is in the context's store.

    Only asked for partial chains (a top certificate that is not self-issued), which are rare:
    with ``X509_V_FLAG_TRUSTED_FIRST`` OpenSSL ends a chain at the first trusted issuer, or, as
    a last resort, trusts the leaf itself and keeps the untrusted certificates above it. The
    store lists certificates loaded lazily from a ``capath`` once a lookup found them, so a
    trusted intermediate is always visible here after the handshake.
    """
    if len(chain) < 2:
        return True
    try:
        top = parse_certificate(chain[-1])
    except DERError:
        return True  # check_chain reports it
    if top.self_issued:
        return True
    return chain[-1] in ctx.get_ca_certs(binary_form=True)


def _post_handshake(ctx: ssl.SSLContext, sslobj: Any, peer_der: bytes | None) -> None:
    """Run :func:`check_chain`; raise the stdlib error on a violation."""
    chain = _der_chain(sslobj, "get_verified_chain")
    if chain is None:
        # A resumed session carries no verified chain: its first handshake was checked. Still
        # look at the leaf, the only certificate the session remembers.
        if peer_der is None:
            return
        chain = [peer_der]
        single_leaf_ok = True
    else:
        single_leaf_ok = False
    try:
        try:
            check_chain(chain, top_is_trusted=_top_is_trusted(ctx, chain))
        except PolicyViolation as v:
            if single_leaf_ok and v.reason == "UnknownIssuer":
                return
            raise
    except PolicyViolation as v:
        text = f"{v.reason} ({v.detail})"
        exc = _make_error(v.verify_code, text, _message(text))
        _attach(exc, v.reason, text, v.certificate, chain)
        raise exc from None
    except DERError as d:
        text = f"BadDer (the verified chain could not be read: {d})"
        exc = _make_error(_ERR_UNSPECIFIED, text, _message(text))
        _attach(exc, "BadDer", text, None, chain)
        raise exc from None


class _openssl_failures_reworded:  # lower case: used like the function it replaces
    """Give OpenSSL's own verification failures during the handshake uv's words.

    A class, not ``contextlib.contextmanager``: contextlib's import would be the only reason to
    load it on a warm start.
    """

    def __init__(self, obj: ssl.SSLSocket | ssl.SSLObject) -> None:
        self.obj = obj

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        if isinstance(exc, ssl.SSLCertVerificationError):
            _annotate(exc, getattr(self.obj, "_sslobj", None), self.obj.server_hostname)
        # returns None: the exception, annotated, propagates


def _check_completed_handshake(obj: ssl.SSLSocket | ssl.SSLObject) -> None:
    """The webpki checks OpenSSL does not do, on a completed handshake (none without verification)."""
    if obj.context.verify_mode != ssl.CERT_NONE:
        _post_handshake(obj.context, getattr(obj, "_sslobj", None), obj.getpeercert(binary_form=True))


class WebpkiSSLSocket(ssl.SSLSocket):
    """:class:`ssl.SSLSocket` that applies the webpki checks right after the handshake."""

    def do_handshake(self, block: bool = False) -> None:
        with _openssl_failures_reworded(self):
            super().do_handshake(block)
        try:
            _check_completed_handshake(self)
        except ssl.SSLCertVerificationError:
            # Nothing may be sent to a server that failed verification: close the connection
            # (the stdlib does the same when OpenSSL's own verification fails).
            self.close()
            raise


class WebpkiSSLObject(ssl.SSLObject):
    """:class:`ssl.SSLObject` (memory BIOs, asyncio) with the same checks after the handshake."""

    _tlsback_failed: ssl.SSLCertVerificationError | None = None

    def do_handshake(self) -> None:
        if self._tlsback_failed is not None:
            raise self._tlsback_failed
        with _openssl_failures_reworded(self):
            super().do_handshake()
        try:
            _check_completed_handshake(self)
        except ssl.SSLCertVerificationError as exc:
            # The transport is the caller's to close (asyncio does on this error); until then
            # no application data may pass in either direction.
            self._tlsback_failed = exc
            raise

    def read(self, len: int = 1024, buffer: Any = None) -> Any:
        if self._tlsback_failed is not None:
            raise self._tlsback_failed
        return super().read(len, buffer)

    def write(self, data: Any) -> int:
        if self._tlsback_failed is not None:
            raise self._tlsback_failed
        return super().write(data)

