"""The pure-Python certificate scanner: the readable reference for ``src/_native/certscan.c``.

Sans-IO: bytes in, DER certificates and problems out. The C extension (``_scan_c``) must give
identical results for every input; ``tests/test_scan_parity.py`` checks that with hypothesis.
Keep the two in sync: a rule changed here is changed in ``certscan.c`` in the same commit.

Rules (SPEC §2.2-2.4):

* PEM, RFC 7468: a block starts with a line that is exactly ``-----BEGIN CERTIFICATE-----``
  (at the start of the line; trailing spaces, tabs and a CR allowed) and ends at the next line
  that is exactly ``-----END CERTIFICATE-----`` (same leniency). Only the ``CERTIFICATE`` label is
  a trust anchor: other labels (``TRUSTED CERTIFICATE``, keys, CRLs) and text between blocks are
  ignored. Inside a block, any other line starting with ``-----`` ends the block without its END
  line (``missing-end``) and scanning goes on from that line, so a following block is still found.
* Base64 inside a block: RFC 7468 "laxbase64": whitespace (SP, HT, CR, LF, VT, FF) anywhere;
  otherwise only the RFC 4648 alphabet with 0-2 ``=`` of padding at the very end and a length
  that is a multiple of 4. Non-zero pad bits are accepted (as OpenSSL does).
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
from collections.abc import Iterable

from ._scantypes import FileStats, Problem, ScanResult, scan_problem
from .x509.der import DERError, DERTruncated, tlv

__all__ = ["IMPLEMENTATION", "scan_bytes", "scan_files", "subject_hash"]

IMPLEMENTATION = "python"

# RFC 7468 §2: encapsulation boundaries start at the beginning of a line; we accept trailing
# whitespace after them (RFC 7468 §3 "lax" parsers do) and CRLF line ends.
_BEGIN = re.compile(rb"^-----BEGIN CERTIFICATE-----[ \t\r]*$", re.MULTILINE)
_DASHES = re.compile(rb"^-----", re.MULTILINE)
_END = re.compile(rb"-----END CERTIFICATE-----[ \t\r]*(?:\n|\Z)")
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


def _x509_subject_hash(der: bytes) -> int:
    """Check the X.509 skeleton of a complete DER certificate; return its subject hash.

    Raises:
        _Malformed: not an X.509 certificate (any inner element malformed or misplaced).
    """
    try:
        n = len(der)
        _tag, cs, ce = _header(der, 0, n)
        tag, ts, te = _header(der, cs, ce)
        if tag != 0x30:
            raise _Malformed
        tag, _s, p = _header(der, te, ce)  # signatureAlgorithm
        if tag != 0x30:
            raise _Malformed
        tag, _s, p = _header(der, p, ce)  # signatureValue
        if tag != 0x03 or p != ce:
            raise _Malformed
        tag, _s, e = _header(der, ts, te)
        if tag == 0xA0:  # [0] EXPLICIT version
            tag, _s, e = _header(der, e, te)
        if tag != 0x02:  # serialNumber
            raise _Malformed
        subject = None
        for _field in range(5):  # signature, issuer, validity, subject, spki
            start = e
            tag, _s, e = _header(der, start, te)
            if tag != 0x30:
                raise _Malformed
            if _field == 3:
                subject = (start, e)
        while e < te:  # issuerUniqueID, subjectUniqueID, extensions, ...: well-formed TLVs
            _tag, _s, e = _header(der, e, te)
        assert subject is not None
        return _name_hash(_canon_name(der, subject[0], subject[1]))
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
    if len(b) & 3:
        return None
    stripped = b.rstrip(b"=")
    if len(b) - len(stripped) > 2 or stripped.translate(None, _B64_ALPHABET):
        return None
    return binascii.a2b_base64(b)


# A finding: ("cert", der, line) or (problem_code, None, line).
_Finding = tuple[str, "bytes | None", "int | None"]


def _findings(data: bytes) -> list[_Finding]:
    """The certificates and problems of one file's content, in file order (no validation)."""
    if data[:1] == b"\x30" and not (data.startswith(_PEM_HINT) or b"\n" + _PEM_HINT in data):
        return [("der", data, None)]
    out: list[_Finding] = []
    line = 1
    counted = 0
    for m in _BEGIN.finditer(data):
        begin = m.start()
        line += data.count(b"\n", counted, begin)
        counted = begin
        body_start = m.end() + 1  # past the "\n" ("$" matched before it or at the end)
        dash = _DASHES.search(data, body_start)
        if dash is None or not _END.match(data, dash.start()):
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
