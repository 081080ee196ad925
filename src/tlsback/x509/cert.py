"""Certificate facts (RFC 5280 §4.1) read with :mod:`.der`: names, validity, keys, extensions."""

from __future__ import annotations

import datetime
import functools
from dataclasses import dataclass, field
from typing import NamedTuple

from .der import DERError, children, oid, string, tlv, utc_time

#: RFC 4514 §3 short names: the ones cryptography's ``rfc4514_string`` also uses; other
#: attributes are shown by their dotted OID.
NAME_ATTRS = {
    "2.5.4.3": "CN", "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.10": "O", "2.5.4.11": "OU",
    "2.5.4.6": "C", "2.5.4.9": "STREET", "0.9.2342.19200300.100.1.25": "DC",
    "0.9.2342.19200300.100.1.1": "UID",
}


def _rfc4514_escape(value: str) -> str:
    out = "".join("\\" + c if c in ',+"\\<>;' else c for c in value)
    if out.startswith((" ", "#")):
        out = "\\" + out
    if out.endswith(" ") and not out.endswith("\\ "):
        out = out[:-1] + "\\ "
    return out


def name_text(der: bytes, start: int, end: int) -> str:
    """A Name (RFC 5280 §4.1.2.4) as RFC 4514 text, most specific RDN first."""
    rdns = []
    for _tag, rs, re_ in children(der, start, end):  # RelativeDistinguishedName: SET
        parts = []
        for _t, as_, ae in children(der, rs, re_):  # AttributeTypeAndValue: SEQUENCE
            (_ot, os_, oe), (vt, vs, ve) = children(der, as_, ae)[:2]
            attr = oid(der[os_:oe])
            parts.append(f"{NAME_ATTRS.get(attr, attr)}={_rfc4514_escape(string(vt, der[vs:ve]))}")
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

RSA = "1.2.840.113549.1.1.1"
EC = "1.2.840.10045.2.1"
ED25519 = "1.3.101.112"
P256 = "1.2.840.10045.3.1.7"
P384 = "1.3.132.0.34"
P521 = "1.3.132.0.35"

SIGNATURE_NAMES = {
    "1.2.840.10045.4.3.2": "ecdsa-with-SHA256",
    "1.2.840.10045.4.3.3": "ecdsa-with-SHA384",
    "1.2.840.10045.4.3.4": "ecdsa-with-SHA512",
    "1.2.840.113549.1.1.11": "sha256WithRSAEncryption",
    "1.2.840.113549.1.1.12": "sha384WithRSAEncryption",
    "1.2.840.113549.1.1.13": "sha512WithRSAEncryption",
    "1.2.840.113549.1.1.10": "RSASSA-PSS",
    ED25519: "Ed25519",
    "2.16.840.1.101.3.4.3.17": "ML-DSA-44",
    "2.16.840.1.101.3.4.3.18": "ML-DSA-65",
    "2.16.840.1.101.3.4.3.19": "ML-DSA-87",
    "1.2.840.113549.1.1.4": "md5WithRSAEncryption",
    "1.2.840.113549.1.1.5": "sha1WithRSAEncryption",
    "1.2.840.113549.1.1.14": "sha224WithRSAEncryption",
    "1.2.840.10045.4.1": "ecdsa-with-SHA1",
    "1.2.840.10045.4.3.1": "ecdsa-with-SHA224",
    "1.3.101.113": "Ed448",
    "1.2.840.10040.4.3": "dsa-with-SHA1",
    "2.16.840.1.101.3.4.3.2": "dsa-with-SHA256",
}
CURVE_NAMES = {P256: "P-256", P384: "P-384", P521: "P-521", "1.3.132.0.10": "secp256k1"}
ML_DSA = frozenset({"2.16.840.1.101.3.4.3.17", "2.16.840.1.101.3.4.3.18",
                     "2.16.840.1.101.3.4.3.19"})

EKU_NAMES = {
    OID_SERVER_AUTH: "serverAuth", "1.3.6.1.5.5.7.3.2": "clientAuth",
    "1.3.6.1.5.5.7.3.3": "codeSigning", "1.3.6.1.5.5.7.3.4": "emailProtection",
    "1.3.6.1.5.5.7.3.8": "timeStamping", "1.3.6.1.5.5.7.3.9": "OCSPSigning",
    "2.5.29.37.0": "anyExtendedKeyUsage",
}

SAN_KINDS = {0x82: "DnsName", 0x87: "IpAddress", 0x81: "Rfc822Name", 0x86: "URI"}


@dataclass(frozen=True)
class Extension:
    """One certificate extension: OID, criticality, the extnValue contents."""

    oid: str
    critical: bool
    value: bytes


@dataclass(frozen=True)
class CertInfo:
    """What the policy and the error messages need from one certificate."""

    der: bytes
    version: int  # 1, 2 or 3
    subject_der: bytes
    issuer_der: bytes
    not_before: datetime.datetime
    not_after: datetime.datetime
    signature_algorithm: str  # OID of the outer signatureAlgorithm
    key_algorithm: str  # OID of the subjectPublicKeyInfo algorithm
    key_parameter: str | None  # the named curve OID for EC keys
    rsa_bits: int | None
    extensions: tuple[Extension, ...] = field(default=())
    signature_parameters: bytes = b""  # the outer signatureAlgorithm's DER after its OID
    unique_ids: bool = False  # issuerUniqueID or subjectUniqueID present (RFC 5280 §4.1.2.8)

    def extension(self, ext_oid: str) -> Extension | None:
        """The extension with this OID, if present."""
        for ext in self.extensions:
            if ext.oid == ext_oid:
                return ext
        return None

    # The names are text only for messages: decoded on first use, not on every handshake.
    @functools.cached_property
    def subject(self) -> str:
        """The subject as RFC 4514 text."""
        return name_text(self.subject_der, 0, len(self.subject_der))

    @functools.cached_property
    def issuer(self) -> str:
        """The issuer as RFC 4514 text."""
        return name_text(self.issuer_der, 0, len(self.issuer_der))

    @property
    def is_ca(self) -> bool:
        """basicConstraints cA=TRUE (RFC 5280 §4.2.1.9)."""
        ext = self.extension(OID_BASIC_CONSTRAINTS)
        if ext is None:
            return False
        _tag, cs, ce = tlv(ext.value, 0)
        kids = children(ext.value, cs, ce)
        return bool(kids) and kids[0][0] == 0x01 and ext.value[kids[0][1]:kids[0][2]] != b"\x00"

    @property
    def path_length(self) -> int | None:
        """basicConstraints pathLenConstraint (RFC 5280 §4.2.1.9), or None when absent."""
        ext = self.extension(OID_BASIC_CONSTRAINTS)
        if ext is None:
            return None
        _tag, cs, ce = tlv(ext.value, 0)
        for t, s, e in children(ext.value, cs, ce):
            if t == 0x02:  # INTEGER (0..MAX); the cA BOOLEAN before it is optional
                if e == s or ext.value[s] & 0x80:
                    raise DERError("pathLenConstraint is a non-negative INTEGER")
                return int.from_bytes(ext.value[s:e], "big")
        return None

    @property
    def key_cert_sign(self) -> bool:
        """keyUsage allows keyCertSign, or there is no keyUsage (RFC 5280 §4.2.1.3, bit 5)."""
        ext = self.extension(OID_KEY_USAGE)
        if ext is None:
            return True
        _tag, cs, ce = tlv(ext.value, 0)
        bits = ext.value[cs + 1 : ce]  # skip the unused-bits octet
        return bool(bits) and bool(bits[0] & 0x04)

    @property
    def key_usage_allows_tls_server(self) -> bool:
        """keyUsage absent, or has digitalSignature, keyEncipherment or keyAgreement (bits 0/2/4)."""
        ext = self.extension(OID_KEY_USAGE)
        if ext is None:
            return True
        _tag, cs, ce = tlv(ext.value, 0)
        bits = ext.value[cs + 1 : ce]
        return bool(bits) and bool(bits[0] & 0xA8)

    @property
    def extended_key_usage(self) -> tuple[str, ...] | None:
        """The EKU OIDs, or ``None`` when the extension is absent (any use allowed)."""
        ext = self.extension(OID_EXT_KEY_USAGE)
        if ext is None:
            return None
        _tag, cs, ce = tlv(ext.value, 0)
        return tuple(oid(ext.value[s:e]) for t, s, e in children(ext.value, cs, ce) if t == 0x06)

    @property
    def subject_alt_names(self) -> list[tuple[str, str]]:
        """``(kind, value)`` pairs in rustls' spelling: ``("DnsName", "example.com")``."""
        ext = self.extension(OID_SUBJECT_ALT_NAME)
        if ext is None:
            return []
        out = []
        _tag, cs, ce = tlv(ext.value, 0)
        for t, s, e in children(ext.value, cs, ce):
            raw = ext.value[s:e]
            kind = SAN_KINDS.get(t)
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
        return SIGNATURE_NAMES.get(self.signature_algorithm, self.signature_algorithm)

    @property
    def key_description(self) -> str:
        if self.key_algorithm == RSA:
            return f"RSA-{self.rsa_bits}"
        if self.key_algorithm == EC:
            return f"EC {CURVE_NAMES.get(self.key_parameter or '', self.key_parameter)}"
        if self.key_algorithm == ED25519:
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
    tag, cs, ce = tlv(der, 0)
    if tag != 0x30:
        raise DERError("a certificate is a SEQUENCE")
    parts = children(der, cs, ce)
    if len(parts) != 3:
        raise DERError("a certificate has three parts")
    (_tt, ts, te), (_at, as_, ae), _sig = parts
    (_ot, os_, oe), *_params = children(der, as_, ae)
    sig_alg = oid(der[os_:oe])
    tbs = children(der, ts, te)
    i = 0
    version = 1
    if tbs and tbs[0][0] == 0xA0:  # [0] EXPLICIT Version
        _vt, vs, ve = tlv(der, tbs[0][1], tbs[0][2])
        version = int.from_bytes(der[vs:ve], "big") + 1
        i = 1
    try:
        _serial, _sig_inner, issuer, validity, subject, spki = tbs[i : i + 6]
    except ValueError:
        raise DERError("TBSCertificate is missing fields") from None
    (nbt, nbs, nbe), (nat, nas, nae) = children(der, validity[1], validity[2])[:2]
    spki_kids = children(der, spki[1], spki[2])
    alg_kids = children(der, spki_kids[0][1], spki_kids[0][2])
    key_alg = oid(der[alg_kids[0][1]:alg_kids[0][2]])
    key_param = None
    if len(alg_kids) > 1 and alg_kids[1][0] == 0x06:
        key_param = oid(der[alg_kids[1][1]:alg_kids[1][2]])
    rsa_bits = None
    if key_alg == RSA:
        bs, be = spki_kids[1][1], spki_kids[1][2]
        _t, ks, ke = tlv(der, bs + 1, be)  # BIT STRING: skip the unused-bits octet
        _mt, ms, me = children(der, ks, ke)[0]
        rsa_bits = int.from_bytes(der[ms:me], "big").bit_length()
    extensions: list[Extension] = []
    unique_ids = False
    for t, s, e in tbs[i + 6 :]:
        if t != 0xA3:  # [3] EXPLICIT Extensions; [1]/[2] unique IDs are only noted
            unique_ids = unique_ids or t in (0x81, 0x82, 0xA1, 0xA2)
            continue
        _st, ss, se = tlv(der, s, e)
        for _et, es, ee in children(der, ss, se):
            kids = children(der, es, ee)
            ext_oid = oid(der[kids[0][1]:kids[0][2]])
            critical = False
            if len(kids) == 3 and kids[1][0] == 0x01:
                critical = der[kids[1][1]:kids[1][2]] != b"\x00"
            vt, vs, ve = kids[-1]
            if vt != 0x04:
                raise DERError("extnValue is an OCTET STRING")
            extensions.append(Extension(ext_oid, critical, der[vs:ve]))
    return CertInfo(
        der=der,
        version=version,
        subject_der=der[subject[1]:subject[2]],
        issuer_der=der[issuer[1]:issuer[2]],
        not_before=utc_time(nbt, der[nbs:nbe]),
        not_after=utc_time(nat, der[nas:nae]),
        signature_algorithm=sig_alg,
        key_algorithm=key_alg,
        key_parameter=key_param,
        rsa_bits=rsa_bits,
        extensions=tuple(extensions),
        signature_parameters=der[oe:ae],
        unique_ids=unique_ids,
    )




class GeneralName(NamedTuple):
    """One GeneralName (RFC 5280 §4.2.1.6): its context tag number and its raw contents.

    Tags: 0 otherName, 1 rfc822Name, 2 dNSName, 3 x400Address, 4 directoryName (the contents
    are the Name inside the EXPLICIT tag), 5 ediPartyName, 6 uniformResourceIdentifier,
    7 iPAddress, 8 registeredID.
    """

    kind: int
    value: bytes


def general_names(data: bytes, start: int = 0, end: int | None = None) -> list[GeneralName]:
    """The entries of a ``GeneralNames`` SEQUENCE (subjectAltName's extnValue by default).

    Raises:
        DERError: not a SEQUENCE of context-tagged names.
    """
    tag, cs, ce = tlv(data, start, end)
    if tag != 0x30:
        raise DERError("GeneralNames is a SEQUENCE")
    return [general_name(data, t, s, e) for t, s, e in children(data, cs, ce)]


def general_name(data: bytes, tag: int, start: int, end: int) -> GeneralName:
    """One GeneralName from its tag and contents span (as :func:`.der.children` gives them)."""
    if tag & 0xC0 != 0x80:
        raise DERError("a GeneralName is context-tagged")
    kind = tag & 0x1F
    if kind == 4:  # directoryName: [4] EXPLICIT Name
        nt, ns, ne = tlv(data, start, end)
        if nt != 0x30 or ne != end:
            raise DERError("directoryName holds one Name")
        start, end = ns, ne
    return GeneralName(kind, data[start:end])
