"""The shared DER/X.509 reader (tlsback.x509) agrees with cryptography on what it decodes."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from hypothesis import given, settings
from hypothesis import strategies as st

from tlsback import x509 as tx509

_ARCS = st.one_of(
    st.tuples(st.integers(0, 1), st.integers(0, 39)),
    st.tuples(st.just(2), st.integers(0, 10**6)),
).flatmap(lambda head: st.lists(st.integers(0, 2**40), max_size=4).map(lambda t: (*head, *t)))


@settings(max_examples=200, deadline=None, derandomize=True)
@given(arcs=_ARCS)
def test_oid_decoding_matches_cryptography(arcs: tuple[int, ...]) -> None:
    """Every OID, multi-byte first subidentifiers (2.999...) included, reads as cryptography
    wrote it (the old client-certificate reader split 2.999 into the wrong two arcs)."""
    dotted = ".".join(map(str, arcs))
    if dotted.startswith(("2.5.4.", "1.2.840.113549.1.9.")):
        return  # attribute types with value rules of their own (countryName is 2 letters)
    name = x509.Name([x509.NameAttribute(x509.ObjectIdentifier(dotted), "v")])
    der = name.public_bytes()
    _tag, cs, ce = tx509.tlv(der, 0)
    assert tx509.name_text(der, cs, ce) == name.rfc4514_string()


def test_oid_known_values() -> None:
    assert tx509.oid(bytes.fromhex("883701")) == "2.999.1"
    assert tx509.oid(bytes.fromhex("2a864886f70d010101")) == "1.2.840.113549.1.1.1"
    for bad in (b"", b"\x88"):
        with pytest.raises(tx509.DERError):
            tx509.oid(bad)


def test_split_concatenated() -> None:
    from tests.pki import issue

    a, b = issue("a").cert.public_bytes(Encoding.DER), issue("b").cert.public_bytes(Encoding.DER)
    assert tx509.split_concatenated(a + b) == [a, b]
    assert tx509.split_concatenated(a + b[:-1]) is None
    assert tx509.split_concatenated(b"\x04\x00") is None
    assert tx509.split_concatenated(b"") == []


def test_first_non_der_finds_ber_at_any_depth() -> None:
    """DER has one encoding of a length and of a BOOLEAN (X.690 §10.1, §11.1); the reader finds
    any other one, nested too, and leaves primitive contents alone."""
    from tlsback.x509.der import first_non_der

    ok = bytes.fromhex("3006" "3004" "0402" "8101")  # an OCTET STRING holding "81 01": contents
    assert first_non_der(ok) is None
    assert first_non_der(bytes.fromhex("308106" "3004" "04020000")) == 0
    assert first_non_der(bytes.fromhex("3007" "308104" "04020000")) == 2
    assert first_non_der(bytes.fromhex("3008" "30820004" "04020000")) == 2  # leading 00
    long_ok = b"\x30\x81\x83\x04\x81\x80" + bytes(128)
    assert first_non_der(long_ok) is None
    assert first_non_der(bytes.fromhex("3006" "0101ff" "010100")) is None
    assert first_non_der(bytes.fromhex("3006" "0101ff" "010101")) == 5  # TRUE is FF
    assert first_non_der(bytes.fromhex("3004" "0102ffff")) == 2
    with pytest.raises(tx509.DERError):
        first_non_der(bytes.fromhex("3005" "0402"))
