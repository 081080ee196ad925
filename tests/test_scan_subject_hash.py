"""Subject hashes equal OpenSSL's X509_NAME_hash (the oracle: pyOpenSSL and the openssl CLI).

Both implementations, through the ``scan_impl`` fixture: every certificate of the system store,
names with awkward strings, and hypothesis-generated names (valid and invalid) where OpenSSL's
verdict (hash, or refusal to decode) must be reproduced exactly.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.test_scan_support import (
    BMP,
    IA5,
    NUMERIC,
    OID_C,
    OID_CN,
    OID_EMAIL,
    OID_O,
    OID_OU,
    PRINTABLE,
    T61,
    UNIVERSAL,
    UTF8,
    VISIBLE,
    atv,
    encode_string,
    make_cert,
    name,
    openssl_hash,
    rdn,
    simple_name,
    tlv,
)

SYSTEM_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


def _system_certs() -> list[bytes]:
    from tlsback import _scan_py

    if not SYSTEM_BUNDLE.is_file():
        return []
    certs, _problems = _scan_py.scan_bytes(str(SYSTEM_BUNDLE), SYSTEM_BUNDLE.read_bytes())
    return certs


@pytest.mark.skipif(not SYSTEM_BUNDLE.is_file(), reason="no system CA bundle")
def test_every_system_certificate_hash_matches_openssl(scan_impl: Any) -> None:
    """scan_files' subject_hashes equal pyOpenSSL's subject_name_hash for the system store."""
    data = SYSTEM_BUNDLE.read_bytes()
    result = scan_impl.scan_files([(str(SYSTEM_BUNDLE), data)])
    assert len(result.certs) > 50
    assert not result.problems
    expected = [openssl_hash(der) for der in result.certs]
    assert result.subject_hashes == expected
    assert [scan_impl.subject_hash(der) for der in result.certs] == expected


@pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl CLI")
def test_hash_matches_openssl_cli(scan_impl: Any, tmp_path: Path) -> None:
    """`openssl x509 -subject_hash` (the system OpenSSL) agrees on awkward names too."""
    subjects = [
        simple_name("  Mixed   CASE  Name  "),
        name(rdn(atv(OID_CN, BMP, encode_string("Ünïcödé  BMP", BMP)))),
        name(rdn(atv(OID_O, T61, b"Caf\xe9 Latin1"), atv(OID_CN, IA5, b"A  B"))),
        name(),
    ]
    for i, subject in enumerate(subjects):
        der = make_cert(subject, serial=i + 1)
        path = tmp_path / f"c{i}.der"
        path.write_bytes(der)
        out = subprocess.run(
            ["openssl", "x509", "-inform", "DER", "-in", str(path), "-noout", "-subject_hash"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        assert scan_impl.subject_hash(der) == int(out, 16), subject.hex()


AWKWARD = {
    "mixed case": simple_name("ExAmPle Root CA"),
    "runs of spaces": simple_name("a    b \t\t c"),
    "leading and trailing spaces": simple_name("   padded   "),
    "only spaces": simple_name("    "),
    "empty string": simple_name(""),
    "utf8 non-ascii": simple_name("Ça Va  ÉTÉ 東京"),
    "printable": simple_name("Printable  UPPER", PRINTABLE),
    "ia5": simple_name("User@Example.COM", IA5),
    "t61 latin-1 bytes": simple_name("CAFÉ é", T61),
    "bmp": simple_name("BMP  Ünïcode 東京", BMP),
    "universal": simple_name("Universal  𝔘nicode", UNIVERSAL),
    "numeric (not canonicalised)": simple_name("12  34", NUMERIC),
    "email": name(rdn(atv(OID_EMAIL, IA5, b"  Admin@EXAMPLE.org "))),
    "multi-valued rdn": name(
        rdn(atv(OID_OU, UTF8, b"Zeta"), atv(OID_CN, UTF8, b"Alpha"), atv(OID_O, UTF8, b"B"))
    ),
    "multi-valued rdn equal prefix": name(
        rdn(atv(OID_CN, UTF8, b"ab"), atv(OID_CN, UTF8, b"a"), atv(OID_CN, UTF8, b"A "))
    ),
    "several rdns": name(
        rdn(atv(OID_C, PRINTABLE, b"US")),
        rdn(atv(OID_O, UTF8, b"Example  Inc.")),
        rdn(atv(OID_CN, PRINTABLE, b"Example Root")),
    ),
    "empty subject": name(),
    "empty rdn set": name(rdn(), rdn(atv(OID_CN, UTF8, b"x"))),
    "only empty rdn sets": name(rdn(), rdn()),
    "control whitespace": simple_name("a\x0b\x0cb\r\nc"),
    "sequence value": name(rdn(tlv(0x30, tlv(0x06, OID_CN) + tlv(0x30, tlv(0x02, b"\x05"))))),
    "bit string value": name(rdn(atv(OID_CN, 0x03, b"\x03\xff\xff"))),
    "long value": simple_name("Long " * 100),
}

# Names OpenSSL refuses to decode (so it refuses the whole certificate): both scanners must too.
REFUSED = {
    "bad utf8": name(rdn(atv(OID_CN, UTF8, b"\xff\xfe"))),
    "utf8 surrogate": name(rdn(atv(OID_CN, UTF8, b"\xed\xa0\x80"))),
    "odd bmp": name(rdn(atv(OID_CN, BMP, b"\x00A\x00"))),
    "bmp surrogate": name(rdn(atv(OID_CN, BMP, "😀".encode("utf-16-be")))),
    "bad universal": name(rdn(atv(OID_CN, UNIVERSAL, b"\x00\x11\x00\x00"))),
    "visible string": name(rdn(atv(OID_CN, VISIBLE, b"visible"))),
    "octet string": name(rdn(atv(OID_CN, 0x04, b"x"))),
    "bad oid": name(rdn(tlv(0x30, tlv(0x06, b"\x80\x01") + tlv(UTF8, b"x")))),
    "not a set": name(tlv(0x30, atv(OID_CN, UTF8, b"x"))),
    "extra in atv": name(rdn(tlv(0x30, tlv(0x06, OID_CN) + tlv(UTF8, b"x") + tlv(UTF8, b"y")))),
    "bit string bad unused": name(rdn(atv(OID_CN, 0x03, b"\x08\xff"))),
}


@pytest.mark.parametrize("subject", AWKWARD.values(), ids=AWKWARD.keys())
def test_awkward_names_hash_like_openssl(scan_impl: Any, subject: bytes) -> None:
    """Canonicalisation (case, spaces, string types, multi-valued RDNs) matches OpenSSL."""
    der = make_cert(subject)
    expected = openssl_hash(der)
    assert expected is not None
    assert scan_impl.subject_hash(der) == expected


@pytest.mark.parametrize("subject", REFUSED.values(), ids=REFUSED.keys())
def test_names_openssl_refuses_are_not_certificates(scan_impl: Any, subject: bytes) -> None:
    """Where OpenSSL's canonicalisation fails, the certificate is refused (not-x509)."""
    der = make_cert(subject)
    assert openssl_hash(der) is None
    with pytest.raises(ValueError):
        scan_impl.subject_hash(der)
    certs, problems = scan_impl.scan_bytes("f.der", der)
    assert certs == []
    assert [p.code for p in problems] == ["not-x509"]


def test_subject_hash_refuses_garbage(scan_impl: Any) -> None:
    """subject_hash raises ValueError for data that is not a certificate."""
    for junk in (b"", b"\x30", b"\x30\x00", b"hello", b"\x30\x84\xff\xff\xff\xff"):
        with pytest.raises(ValueError):
            scan_impl.subject_hash(junk)


_TAGS = st.sampled_from(
    [UTF8, PRINTABLE, T61, IA5, BMP, UNIVERSAL, NUMERIC, VISIBLE, 0x03, 0x04, 0x07, 0x09, 0x1D]
)
_OIDS = st.sampled_from([OID_CN, OID_O, OID_OU, OID_C, OID_EMAIL, b"\x2a\x03"])
_TEXT = st.text(
    alphabet=st.sampled_from(list("aAbBzZ \t\n\x0b\x0c\r.-@éÉ東😀")), max_size=12
)


@st.composite
def _value(draw: st.DrawFn) -> tuple[int, bytes]:
    tag = draw(_TAGS)
    if draw(st.booleans()):
        raw = draw(st.binary(max_size=10))
    else:
        text = draw(_TEXT)
        try:
            raw = encode_string(text, tag)
        except UnicodeEncodeError:
            raw = text.encode("utf-8")
    return tag, raw


@st.composite
def _names(draw: st.DrawFn) -> bytes:
    rdns = []
    for _ in range(draw(st.integers(0, 3))):
        atvs = [
            atv(draw(_OIDS), *draw(_value())) for _ in range(draw(st.integers(0, 3)))
        ]
        rdns.append(rdn(*atvs))
    return name(*rdns)


@settings(max_examples=int(os.environ.get("TLSBACK_HASH_EXAMPLES", "400")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
@given(subject=_names())
def test_generated_names_agree_with_openssl(subject: bytes) -> None:
    """For random names (valid or not), both scanners give OpenSSL's hash or OpenSSL's refusal."""
    from tlsback import _scan_py

    impls = [_scan_py]
    try:
        from tlsback import _scan_c

        impls.append(_scan_c)
    except ImportError:
        pass
    der = make_cert(subject)
    expected = openssl_hash(der)
    for impl in impls:
        if expected is None:
            with pytest.raises(ValueError):
                impl.subject_hash(der)
        else:
            assert impl.subject_hash(der) == expected, (impl.IMPLEMENTATION, subject.hex())
