"""Helpers for the scanner tests: hand-built DER (X.690) certificates with arbitrary subjects.

The certificates are not signed validly (the scanners and OpenSSL's decoder do not verify
signatures): only their structure matters. The public key and algorithm identifiers come from
a real certificate so that OpenSSL decodes the result like any other certificate.

Also checks the helpers themselves (first tests below).
"""

from __future__ import annotations

import datetime
import functools
import ssl

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

# Tags (X.690 universal class)
UTF8 = 0x0C
PRINTABLE = 0x13
T61 = 0x14
IA5 = 0x16
BMP = 0x1E
UNIVERSAL = 0x1C
NUMERIC = 0x12
VISIBLE = 0x1A

OID_CN = bytes.fromhex("550403")
OID_O = bytes.fromhex("55040a")
OID_OU = bytes.fromhex("55040b")
OID_C = bytes.fromhex("550406")
OID_EMAIL = bytes.fromhex("2a864886f70d010901")


def der_len(n: int) -> bytes:
    """Minimal DER length octets."""
    if n < 0x80:
        return bytes((n,))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(body),)) + body


def tlv(tag: int, content: bytes) -> bytes:
    """One DER TLV."""
    return bytes((tag,)) + der_len(len(content)) + content


def atv(oid: bytes, tag: int, value: bytes) -> bytes:
    """AttributeTypeAndValue ::= SEQUENCE { type OID, value ANY }."""
    return tlv(0x30, tlv(0x06, oid) + tlv(tag, value))


def rdn(*atvs: bytes) -> bytes:
    """RelativeDistinguishedName ::= SET OF AttributeTypeAndValue (kept in the given order)."""
    return tlv(0x31, b"".join(atvs))


def name(*rdns: bytes) -> bytes:
    """Name ::= SEQUENCE OF RelativeDistinguishedName."""
    return tlv(0x30, b"".join(rdns))


def simple_name(cn: str, tag: int = UTF8) -> bytes:
    """A one-attribute name CN=cn."""
    enc = encode_string(cn, tag)
    return name(rdn(atv(OID_CN, tag, enc)))


def encode_string(text: str, tag: int) -> bytes:
    """Encode text the way a certificate would for the string type ``tag``."""
    if tag == BMP:
        return text.encode("utf-16-be")
    if tag == UNIVERSAL:
        return text.encode("utf-32-be")
    if tag in (PRINTABLE, T61, IA5, VISIBLE, NUMERIC):
        return text.encode("latin-1")
    return text.encode("utf-8")


@functools.lru_cache(maxsize=1)
def _template() -> tuple[bytes, bytes, bytes]:
    """(signature AlgorithmIdentifier, validity, SubjectPublicKeyInfo) from a real certificate."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "template")])
    now = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    der = cert.public_bytes(serialization.Encoding.DER)
    tbs = _children(_children(der)[0])  # version, serial, sigalg, issuer, validity, subject, spki
    return tbs[2], tbs[4], tbs[6]


def _children(der: bytes) -> list[bytes]:
    """The child TLVs of the (single) constructed TLV ``der``."""
    out = []
    _tag, start, end = _hdr(der, 0)
    pos = start
    while pos < end:
        _t, _s, e = _hdr(der, pos)
        out.append(der[pos:e])
        pos = e
    return out


def _hdr(d: bytes, pos: int) -> tuple[int, int, int]:
    tag = d[pos]
    n = d[pos + 1]
    pos += 2
    if n >= 0x80:
        k = n & 0x7F
        length = int.from_bytes(d[pos : pos + k], "big")
        pos += k
    else:
        length = n
    return tag, pos, pos + length


def make_cert(subject: bytes, serial: int = 1, issuer: bytes | None = None) -> bytes:
    """A DER certificate with the given raw subject Name (and issuer, default the subject)."""
    sigalg, validity, spki = _template()
    tbs = tlv(
        0x30,
        tlv(0xA0, tlv(0x02, b"\x02"))
        + tlv(0x02, serial.to_bytes((serial.bit_length() + 8) // 8, "big"))
        + sigalg
        + (issuer if issuer is not None else subject)
        + validity
        + subject
        + spki,
    )
    return tlv(0x30, tbs + sigalg + tlv(0x03, b"\x00" + bytes(64)))


def pem(der: bytes, crlf: bool = False) -> bytes:
    """PEM text of a DER certificate."""
    text = ssl.DER_cert_to_PEM_cert(der).encode()
    return text.replace(b"\n", b"\r\n") if crlf else text


def openssl_hash(der: bytes) -> int | None:
    """OpenSSL's X509_NAME_hash of the subject (pyOpenSSL), or None if OpenSSL refuses it."""
    from OpenSSL import crypto

    try:
        cert = crypto.load_certificate(crypto.FILETYPE_ASN1, der)
    except crypto.Error:
        return None
    return int(cert.subject_name_hash())


def test_make_cert_is_decoded_by_openssl() -> None:
    """The hand-built certificates are certificates to OpenSSL (else the oracle is useless)."""
    der = make_cert(simple_name("Hello"))
    assert openssl_hash(der) is not None


def test_make_cert_matches_cryptography_subject() -> None:
    """cryptography reads back the subject the helper wrote."""
    der = make_cert(simple_name("Hello World", PRINTABLE))
    cert = x509.load_der_x509_certificate(der)
    assert cert.subject.rfc4514_string() == "CN=Hello World"
