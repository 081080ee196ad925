"""DER primitives (ITU-T X.690 §8.1: identifier, definite length, contents).

Enough for RFC 5280 certificates and the private-key structures of RFC 5208/5915/8017. It never
trusts a length: every read is bounds-checked against its container.
"""

from __future__ import annotations

import functools

TYPE_CHECKING = False  # not typing's: this module is imported by the scanner twin
if TYPE_CHECKING:
    import datetime


class DERError(ValueError):
    """Bytes that are not the DER this reader expects (truncated, bad length, wrong type)."""


class DERTruncated(DERError):
    """A DER element runs past the end of its container (the scanner reports it apart)."""


def tlv(data: bytes, pos: int, end: int | None = None) -> tuple[int, int, int]:
    """Read the TLV at ``pos`` (within ``data[:end]``).

    Returns:
        ``(tag, content_start, content_end)``.

    Raises:
        DERTruncated: the header or the contents do not fit before ``end``.
        DERError: a multi-byte tag, an indefinite length or more than 4 length octets.
    """
    if end is None:
        end = len(data)
    if pos + 2 > end:
        raise DERTruncated("truncated DER element")
    tag = data[pos]
    if tag & 0x1F == 0x1F:
        raise DERError("multi-byte DER tags are not used in certificates")
    first = data[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    else:
        n = first & 0x7F
        if n == 0 or n > 4:
            raise DERError("bad DER length")  # 0x80 is BER's indefinite length, not DER
        if pos + n > end:
            raise DERTruncated("truncated DER length")
        length = int.from_bytes(data[pos : pos + n], "big")
        pos += n
    if pos + length > end:
        raise DERTruncated("DER element longer than its container")
    return tag, pos, pos + length


def first_non_der(data: bytes, start: int = 0, end: int | None = None) -> int | None:
    """Where an element is BER but not DER, in ``data[start:end]`` and inside every constructed
    element in it: a length not in DER's one encoding (X.690 §10.1: the short form below 128,
    else the fewest octets), a BOOLEAN other than one octet 00 or FF (§11.1).

    BER readers (OpenSSL's) take the other encodings; a DER reader (webpki's) refuses them.
    Primitive contents (OCTET STRING, BIT STRING) are not looked into.

    Returns:
        The offset of the first such element, or None.

    Raises:
        DERError: the bytes are not TLVs that fill their containers.
    """
    stack = [(start, len(data) if end is None else end)]
    while stack:
        pos, stop = stack.pop()
        while pos < stop:
            tag, cs, ce = tlv(data, pos, stop)
            first = data[pos + 1]
            if first & 0x80 and (ce - cs < 0x80 or data[pos + 2] == 0 or first & 0x7F > 4):
                return pos
            if tag == 0x01 and (ce - cs != 1 or data[cs] not in (0x00, 0xFF)):
                return pos
            if tag & 0x20:  # constructed: its contents are TLVs too
                stack.append((cs, ce))
            pos = ce
    return None


def children(data: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    """The TLVs that exactly fill ``data[start:end]`` (a constructed value's contents)."""
    out = []
    pos = start
    while pos < end:
        tag, cs, ce = tlv(data, pos, end)
        out.append((tag, cs, ce))
        pos = ce
    return out


def split_concatenated(data: bytes, tag: int = 0x30) -> list[bytes] | None:
    """Split back-to-back DER elements of one ``tag`` (``bundle --format der``).

    Returns:
        The elements, or ``None`` when ``data`` is not exactly such a concatenation.
    """
    out, pos = [], 0
    try:
        while pos < len(data):
            t, _cs, ce = tlv(data, pos)
            if t != tag:
                return None
            out.append(data[pos:ce])
            pos = ce
    except DERError:
        return None
    return out


@functools.lru_cache(maxsize=1024)  # a handful of OIDs recur in every certificate
def oid(content: bytes) -> str:
    """An OBJECT IDENTIFIER's contents (X.690 §8.19) as dotted text.

    The first subidentifier packs the first two arcs (40 * X + Y); it may span several bytes
    (``2.999`` is ``88 37``), so it is decoded as a whole before being split.
    """
    if not content:
        raise DERError("empty OID")
    if content[-1] & 0x80:
        raise DERError("truncated OID")
    arcs: list[int] = []
    value = 0
    for b in content:
        value = (value << 7) | (b & 0x7F)
        if not b & 0x80:
            arcs.append(value)
            value = 0
    first = arcs[0]
    head = [0, first] if first < 40 else [1, first - 40] if first < 80 else [2, first - 80]
    return ".".join(str(a) for a in head + arcs[1:])


def utc_time(tag: int, content: bytes) -> datetime.datetime:
    """UTCTime (tag 0x17) or GeneralizedTime (0x18) as RFC 5280 §4.1.2.5 profiles them."""
    import datetime  # not at import: the scanner twin imports this module for tlv() alone

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


def string(tag: int, content: bytes) -> str:
    """A directory string's text (X.680 string types; decoding errors replaced, never raised)."""
    if tag == 0x1E:  # BMPString
        return content.decode("utf-16-be", "replace")
    if tag == 0x1C:  # UniversalString
        return content.decode("utf-32-be", "replace")
    if tag == 0x14:  # TeletexString: in practice Latin-1
        return content.decode("latin-1")
    return content.decode("utf-8", "replace")
