"""The pure-Python certificate scanner: the readable reference for ``src/_native/certscan.c``.

Sans-IO: bytes in, DER certificates and problems out. The C extension (``_scan_c``) must give
identical results for every input; ``tests/test_scan_parity.py`` checks that with hypothesis.
Keep the two in sync: a rule changed here is changed in ``certscan.c`` in the same commit.

Rules (docs/sources.md, "How PEM and DER are read" and "Bad input"):

* Lines end with CRLF, CR or LF (RFC 7468's eol; uv reads a CR-only file too).
* PEM, RFC 7468: a block starts with a line that is exactly ``-----BEGIN CERTIFICATE-----``
  (at the start of the line; trailing spaces and tabs allowed) and ends at the next line that
  starts with ``-----END CERTIFICATE-----`` (whatever follows on it, as uv reads it). Only the
  ``CERTIFICATE`` label is a trust anchor: other labels (``TRUSTED CERTIFICATE``, keys, CRLs)
  and text between blocks are ignored. Inside a block, any other line starting with ``-----``
  ends the block without its END line (``missing-end``) and scanning goes on from that line, so
  a following block is still found.
* Base64 inside a block: RFC 7468 "laxbase64": whitespace (SP, HT, CR, LF, VT, FF) anywhere;
  otherwise only the RFC 4648 alphabet, with the final ``=`` padding either left out (as uv
  accepts: 2 or 3 characters in the last quantum) or completing the last quantum (a length
  that is a multiple of 4). Non-zero pad bits are accepted (as OpenSSL does).
* A file that has no line starting with ``-----BEGIN `` and whose first byte is a SEQUENCE tag
  (0x30) is one DER certificate.
* DER framing, X.690: the certificate is one SEQUENCE with definite length (short form, or long
  form with 1-4 length octets) that covers exactly the data: shorter data is ``truncated-der``,
  longer is ``trailing-data``. Inside, an X.509 skeleton (RFC 5280 §4.1) is required, or the
  finding is ``not-x509``: Certificate ::= SEQUENCE { tbs SEQUENCE { [0] version OPTIONAL,
  serial INTEGER, signature SEQUENCE, issuer SEQUENCE, validity SEQUENCE, subject Name,
  spki SEQUENCE, well-formed TLVs... }, signatureAlgorithm SEQUENCE, signature BIT STRING }.
  The subject must canonicalise the way OpenSSL's ``x509_name_canon`` does (else OpenSSL itself
  would refuse the certificate), which also yields the subject hash.
* A file that yields no certificate and no other problem: ``no-certificates``.
"""

from __future__ import annotations

import binascii
import hashlib
import re
from collections.abc import Iterable, Sequence
from itertools import islice

from ._scantypes import FileStats, Problem, ScanResult, scan_problem
from .x509.der import DERError, DERTruncated, tlv

__all__ = ["IMPLEMENTATION", "pem_encode", "scan_bytes", "scan_files", "subject_hash"]

IMPLEMENTATION = "python"

# RFC 7468 §2: encapsulation boundaries start at the beginning of a line (the start of the data,
# or after a CR or LF: "(?<![^\r\n])"); we accept trailing whitespace after the BEGIN line (RFC
# 7468 §3 "lax" parsers do), anything after the END line's dashes (as uv does), and CRLF, CR or LF
# line ends. _BEGIN's match includes its line end: the body starts where it stops.
_BEGIN = re.compile(rb"(?<![^\r\n])-----BEGIN CERTIFICATE-----[ \t]*(?:\r\n?|\n|\Z)")
_DASHES = re.compile(rb"(?<![^\r\n])-----")
_END = b"-----END CERTIFICATE-----"
_PEM_HINT = b"-----BEGIN "

_WHITESPACE = b" \t\r\n\x0b\x0c"  # RFC 7468 laxbase64 "W"
_B64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

# OpenSSL's X509_NAME_MAX: a longer Name is refused by d2i_X509 (crypto/x509/x_name.c).
_NAME_MAX = 1024 * 1024


# The DER framing is the shared reader's (x509/der.py): a truncated element and a malformed
# one are different problems for the scanner ("truncated-der" / "not-x509").
_Truncated = DERTruncated
_Malformed = DERError
_header = tlv


def _der_length(n: int) -> bytes:
    """The minimal DER encoding of a length (X.690 §10.1)."""
    if n < 0x80:
        return bytes((n,))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(body),)) + body


def _canon_value(d: bytes, vpos: int, end: int) -> bytes:
    """The canonical encoding of one attribute value, as OpenSSL's ``asn1_string_canon``.

    ``d[vpos:end]`` must hold exactly one TLV. Mirrors crypto/x509/x_name.c and
    crypto/asn1/a_mbstr.c of OpenSSL 3: the value must be one of the types of
    ``B_ASN1_PRINTABLE``; the types of ``ASN1_MASK_CANON`` are converted to UTF-8 (failing where
    OpenSSL fails: bad UTF-8, odd BMPString, surrogates...), stripped, space-folded, ASCII
    lower-cased and re-encoded as UTF8String; the others are re-encoded as they are.

    Raises:
        _Malformed: OpenSSL would refuse the name.
    """
    tag, s, e = _header(d, vpos, end)
    if e != end:
        raise _Malformed
    raw = d[s:e]
    if tag == 0x0C:  # UTF8String: OpenSSL's UTF8_getc + is_unicode_valid == Python's strict codec
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            raise _Malformed from None
        utf8 = raw
    elif tag in (0x13, 0x14, 0x16):  # PrintableString, T61String, IA5String: one byte, one char
        utf8 = raw.decode("latin-1").encode("utf-8")
    elif tag == 0x1E:  # BMPString: UCS-2, surrogates refused
        if len(raw) & 1:
            raise _Malformed
        try:
            text = raw.decode("utf-16-be")
        except UnicodeDecodeError:
            raise _Malformed from None
        if len(text) * 2 != len(raw):  # a surrogate pair was combined: OpenSSL refuses it
            raise _Malformed
        utf8 = text.encode("utf-8")
    elif tag == 0x1C:  # UniversalString: UCS-4, surrogates and > U+10FFFF refused
        try:
            utf8 = raw.decode("utf-32-be").encode("utf-8")
        except UnicodeDecodeError:
            raise _Malformed from None
    elif tag in (0x12, 0x07, 0x08, 0x09, 0x0B, 0x0D, 0x0E, 0x0F, 0x1D):
        # NumericString and the B_ASN1_UNKNOWN tags: copied, re-encoded in DER
        return bytes((tag,)) + _der_length(len(raw)) + raw
    elif tag == 0x03:  # BIT STRING: c2i/i2c_ASN1_BIT_STRING normalise the unused bits
        if not raw or raw[0] > 7:
            raise _Malformed
        unused = raw[0]
        bits = bytearray(raw[1:])
        if bits:
            bits[-1] &= (0xFF << unused) & 0xFF
        else:
            unused = 0
        return b"\x03" + _der_length(len(bits) + 1) + bytes((unused,)) + bytes(bits)
    elif tag == 0x30:  # SEQUENCE: kept as the original bytes
        return d[vpos:end]
    else:
        raise _Malformed
    # ossl_isspace is SP HT LF VT FF CR: bytes.split() splits on exactly those.
    canon = b" ".join(utf8.split()).lower()
    return b"\x0c" + _der_length(len(canon)) + canon


def _check_oid(oid: bytes) -> None:
    """Refuse what OpenSSL's ``c2i_ASN1_OBJECT`` refuses (empty, bad sub-identifier framing)."""
    if not oid or oid[-1] & 0x80:
        raise _Malformed
    prev = 0
    for b in oid:
        if b == 0x80 and not prev & 0x80:
            raise _Malformed
        prev = b


def _canon_name(d: bytes, start: int, end: int) -> bytes:
    """OpenSSL's canonical encoding of the Name TLV at ``d[start:end]`` (``x509_name_canon``).

    Each RDN SET's entries are canonicalised and re-encoded as a DER SET OF (sorted by their
    encodings); empty SETs vanish; the outer SEQUENCE header is omitted.

    Raises:
        _Malformed: not a Name OpenSSL would decode.
    """
    if end - start > _NAME_MAX:
        raise _Malformed
    tag, pos, stop = _header(d, start, end)
    if tag != 0x30 or stop != end:
        raise _Malformed
    out = []
    while pos < stop:
        tag, s, e = _header(d, pos, stop)
        if tag != 0x31:
            raise _Malformed
        pos = e
        entries = []
        while s < e:
            tag, es, ee = _header(d, s, e)
            if tag != 0x30:
                raise _Malformed
            s = ee
            tag, os_, oe = _header(d, es, ee)
            if tag != 0x06:
                raise _Malformed
            oid = d[os_:oe]
            _check_oid(oid)
            body = b"\x06" + _der_length(len(oid)) + oid + _canon_value(d, oe, ee)
            entries.append(b"\x30" + _der_length(len(body)) + body)
        if entries:
            entries.sort()  # DER SET OF order: memcmp, then the shorter first (X.690 §11.6)
            body = b"".join(entries)
            out.append(b"\x31" + _der_length(len(body)) + body)
    return b"".join(out)


def _name_hash(canon: bytes) -> int:
    """``X509_NAME_hash``: the first 4 bytes of SHA-1 of the canonical encoding, little-endian."""
    return int.from_bytes(hashlib.sha1(canon).digest()[:4], "little")


def _int_ok(c: bytes) -> bool:
    """An INTEGER/ENUMERATED content OpenSSL's ``c2i_ibuf`` accepts: not empty, no padding octet."""
    if not c:
        return False
    if len(c) == 1:
        return True
    if c[0] == 0x00:
        return bool(c[1] & 0x80)
    if c[0] == 0xFF and any(c[1:]):
        return not c[1] & 0x80
    return True


def _bits_ok(c: bytes) -> bool:
    """A BIT STRING content ``c2i_ASN1_BIT_STRING`` accepts: the unused-bits octet, at most 7."""
    return len(c) >= 1 and c[0] <= 7


def _any_ok(tag: int, c: bytes) -> bool:
    """An ``ANY`` value (AlgorithmIdentifier parameters) ``d2i`` decodes (crypto/asn1/tasn_dec.c).

    Universal primitives are checked as ``asn1_ex_c2i`` does; SEQUENCE and SET must be
    constructed; other constructed universal types (BER constructed strings) and EOC are refused
    (stricter than OpenSSL: no certificate uses them); other classes are kept as they are.
    """
    if tag & 0xC0:
        return True
    if tag & 0x20:
        return tag in (0x30, 0x31)
    return _prim_ok(tag, c)


def _prim_ok(tag: int, c: bytes) -> bool:
    if tag in (0x00, 0x10, 0x11):  # EOC; SEQUENCE/SET must be constructed
        return False
    if tag == 0x01:
        return len(c) == 1
    if tag in (0x02, 0x0A):
        return _int_ok(c)
    if tag == 0x03:
        return _bits_ok(c)
    if tag == 0x05:
        return not c
    if tag == 0x06:
        try:
            _check_oid(c)
        except _Malformed:
            return False
        return True
    if tag == 0x1E:
        return not len(c) & 1
    if tag == 0x1C:
        return not len(c) & 3
    if tag == 0x17:  # UTCTime, GeneralizedTime: OpenSSL 3 refuses shorter ones
        return len(c) >= 13
    if tag == 0x18:
        return len(c) >= 15
    return True


def _algid(d: bytes, pos: int, end: int) -> int:
    """Check the AlgorithmIdentifier at ``pos``: SEQUENCE { OID, ANY OPTIONAL }; return its end."""
    tag, s, e = _header(d, pos, end)
    if tag != 0x30:
        raise _Malformed
    tag, os_, oe = _header(d, s, e)
    if tag != 0x06:
        raise _Malformed
    _check_oid(d[os_:oe])
    if oe < e:
        tag, ps, pe = _header(d, oe, e)
        if pe != e or not _any_ok(tag, d[ps:pe]):
            raise _Malformed
    return e


def _expect(d: bytes, pos: int, end: int, want: int) -> tuple[int, int]:
    """The content bounds of the TLV at ``pos``, which must have tag ``want``."""
    tag, s, e = _header(d, pos, end)
    if tag != want or (tag < 0x20 and not _prim_ok(tag, d[s:e])):
        raise _Malformed
    return s, e


def _x509_subject_hash(der: bytes) -> int:
    """Check a complete DER certificate as OpenSSL's ``d2i_X509`` would; return its subject hash.

    The X.509 template of OpenSSL 3 (crypto/x509/x_x509.c, x_all.c; RFC 5280 §4.1), field by
    field and in order, with nothing left over in any SEQUENCE: a certificate the scanner accepts
    is one OpenSSL loads (a lazy ``HASH.N`` file OpenSSL could not load would hide ``HASH.N+1``,
    docs/security.md). Primitive contents are checked where OpenSSL's decoder checks them
    (INTEGER padding, BIT STRING unused bits, OIDs, BOOLEAN and NULL lengths, time lengths);
    the issuer and subject must canonicalise as in ``x509_name_canon``.

    Raises:
        _Malformed: not an X.509 certificate OpenSSL would load.
    """
    try:
        n = len(der)
        _tag, cs, ce = _header(der, 0, n)
        ts, te = _expect(der, cs, ce, 0x30)
        p = _algid(der, te, ce)  # signatureAlgorithm
        _s, p = _expect(der, p, ce, 0x03)  # signatureValue
        if p != ce:
            raise _Malformed
        tag, s, e = _header(der, ts, te)
        if tag == 0xA0:  # [0] EXPLICIT Version: exactly one INTEGER
            vs, ve = _expect(der, s, e, 0x02)
            if ve != e:
                raise _Malformed
            tag, s, e = _header(der, e, te)
        if tag != 0x02 or not _int_ok(der[s:e]):  # serialNumber
            raise _Malformed
        e = _algid(der, e, te)  # signature
        issuer = e
        _s, e = _expect(der, e, te, 0x30)
        issuer_end = e
        vs, ve = _expect(der, e, te, 0x30)  # validity: two times
        for _ in range(2):
            tag, s, vs = _header(der, vs, ve)
            if tag not in (0x17, 0x18) or not _prim_ok(tag, der[s:vs]):
                raise _Malformed
        if vs != ve:
            raise _Malformed
        subject = ve
        _s, e = _expect(der, ve, te, 0x30)
        subject_end = e
        ks, e = _expect(der, e, te, 0x30)  # subjectPublicKeyInfo
        kp = _algid(der, ks, e)
        _s, kp = _expect(der, kp, e, 0x03)
        if kp != e:
            raise _Malformed
        for want in (0x81, 0x82):  # issuerUniqueID, subjectUniqueID: [n] IMPLICIT BIT STRING
            if e < te and der[e] == want:
                s, e = _expect(der, e, te, want)
                if not _bits_ok(der[s:e]):
                    raise _Malformed
        if e < te:  # [3] EXPLICIT Extensions: SEQUENCE OF SEQUENCE { OID, BOOLEAN OPTIONAL, OCTET STRING }
            xs, xe = _expect(der, e, te, 0xA3)
            ls, le = _expect(der, xs, xe, 0x30)
            if le != xe:
                raise _Malformed
            while ls < le:
                es, ls = _expect(der, ls, le, 0x30)
                os_, es = _expect(der, es, ls, 0x06)
                if es < ls and der[es] == 0x01:
                    _s, es = _expect(der, es, ls, 0x01)
                _s, es = _expect(der, es, ls, 0x04)
                if es != ls:
                    raise _Malformed
            e = xe
        if e != te:
            raise _Malformed
        h = _name_hash(_canon_name(der, subject, subject_end))
        if der[issuer:issuer_end] != der[subject:subject_end]:
            _canon_name(der, issuer, issuer_end)  # d2i canonicalises the issuer too
        return h
    except _Truncated:
        raise _Malformed from None


def _check_der(der: bytes) -> tuple[str | None, int]:
    """Frame and check one DER certificate.

    Returns:
        ``(None, subject_hash)`` for a certificate, else ``(problem_code, 0)``.
    """
    try:
        tag, _s, e = _header(der, 0, len(der))
    except _Truncated:
        return "truncated-der", 0
    except _Malformed:
        return "not-x509", 0
    if tag != 0x30:
        return "not-x509", 0
    if e != len(der):
        return "trailing-data", 0
    try:
        return None, _x509_subject_hash(der)
    except _Malformed:
        return "not-x509", 0


def _b64decode(body: bytes) -> bytes | None:
    """Decode RFC 7468 lax base64; ``None`` if it is not valid."""
    b = body.translate(None, _WHITESPACE)
    stripped = b.rstrip(b"=")
    if len(b) & 3 and (len(b) != len(stripped) or len(b) & 3 == 1):  # unpadded: 2 or 3 left over
        return None
    if len(b) - len(stripped) > 2 or stripped.translate(None, _B64_ALPHABET):
        return None
    return binascii.a2b_base64(b + b"=" * (-len(b) & 3))


# A finding: ("cert", der, line) or (problem_code, None, line).
_Finding = tuple[str, "bytes | None", "int | None"]


def _findings(data: bytes) -> list[_Finding]:
    """The certificates and problems of one file's content, in file order (no validation)."""
    if data[:1] == b"\x30" and not (data.startswith(_PEM_HINT) or b"\n" + _PEM_HINT in data
                                     or b"\r" + _PEM_HINT in data):
        return [("der", data, None)]
    out: list[_Finding] = []
    line = 1
    counted = 0
    for m in _BEGIN.finditer(data):
        begin = m.start()
        # Lines ended before it: every LF, and every CR not followed by an LF (a line start is
        # never between the CR and LF of a CRLF, so no pair straddles the two ends).
        line += (data.count(b"\n", counted, begin) + data.count(b"\r", counted, begin)
                 - data.count(b"\r\n", counted, begin))
        counted = begin
        body_start = m.end()
        dash = _DASHES.search(data, body_start)
        if dash is None or not data.startswith(_END, dash.start()):
            out.append(("missing-end", None, line))
            continue
        der = _b64decode(data[body_start : dash.start()])
        if der is None:
            out.append(("bad-base64", None, line))
        else:
            out.append(("pem", der, line))
    return out


def _scan(
    path: str, data: bytes, known: dict[bytes, int]
) -> tuple[list[tuple[bytes, int]], list[Problem]]:
    """Scan one file; ``known`` maps already-checked DER to its subject hash (a cache)."""
    certs: list[tuple[bytes, int]] = []
    problems: list[Problem] = []
    for kind, der, line in _findings(data):
        if der is None:
            problems.append(scan_problem(path, kind, line))
            continue
        h = known.get(der)
        if h is None:
            code, h = _check_der(der)
            if code is not None:
                problems.append(scan_problem(path, code, line))
                continue
        certs.append((der, h))
    if not certs and not problems:
        problems.append(scan_problem(path, "no-certificates", None))
    return certs, problems


def scan_bytes(path: str, data: bytes) -> tuple[list[bytes], list[Problem]]:
    """Scan one file's content.

    Args:
        path: the file's path, used only to label problems.
        data: the file's content.

    Returns:
        The DER certificates found, in file order (not deduplicated), and the file's problems.
    """
    certs, problems = _scan(path, data, {})
    return [der for der, _h in certs], problems


def scan_files(items: Iterable[tuple[str, bytes]]) -> ScanResult:
    """Scan many files and deduplicate their certificates on exact DER bytes.

    Args:
        items: ``(path, content)`` pairs, in priority order.

    Returns:
        A ScanResult: unique certificates (first occurrence wins, order kept) with their origin
        and subject hash, per-file counts, the number of duplicates and every problem.
    """
    result = ScanResult()
    seen: dict[bytes, int] = {}  # DER -> subject hash; dict lookup compares the full bytes
    for path, data in items:
        certs, problems = _scan(path, data, seen)
        stats = result.per_file.get(path)
        if stats is None:
            stats = result.per_file[path] = FileStats()
        stats.found += len(certs)
        for der, h in certs:
            if der in seen:
                result.duplicates += 1
                continue
            seen[der] = h
            stats.unique += 1
            result.certs.append(der)
            result.origins.append(path)
            result.subject_hashes.append(h)
        result.problems.extend(problems)
    return result


def subject_hash(der: bytes) -> int:
    """OpenSSL's ``X509_NAME_hash`` of a certificate's subject.

    Args:
        der: one DER certificate.

    Returns:
        The hash ``openssl x509 -subject_hash`` prints, as an int.

    Raises:
        ValueError: ``der`` is not an X.509 certificate.
    """
    code, h = _check_der(bytes(der))
    if code is not None:
        raise ValueError(f"cannot compute the subject hash: {scan_problem('', code, None).message}")
    return h


# RFC 7468 §2: 64-character lines. One slice object per line, made once: mapping the base64
# string's __getitem__ over them costs a fraction of a Python loop.
_LINE_SLICES = [slice(i, i + 64) for i in range(0, 64 * 1024, 64)]


def _pem(der: bytes) -> bytes:
    b64 = binascii.b2a_base64(der, newline=False)
    n = (len(b64) + 63) >> 6
    lines = map(b64.__getitem__, islice(_LINE_SLICES, n)) if n <= len(_LINE_SLICES) else \
        (b64[i : i + 64] for i in range(0, len(b64), 64))
    return b"".join((b"-----BEGIN CERTIFICATE-----\n", b"\n".join(lines), b"\n-----END CERTIFICATE-----\n"))


def pem_encode(ders: Sequence[bytes]) -> list[bytes]:
    """Each certificate as PEM (RFC 7468 §2, 64-character lines).

    Args:
        ders: DER certificates.

    Returns:
        Their PEM encodings, in order (byte for byte ``ssl.DER_cert_to_PEM_cert``).
    """
    return [_pem(der) for der in ders]
