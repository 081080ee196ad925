"""The project's one DER (ITU-T X.690) and X.509 (RFC 5280) reader.

:mod:`.der` reads TLVs, object identifiers, times and strings (the Python scanner twin frames
certificates with it); :mod:`.cert` turns a certificate into the facts the verification policy,
the client-certificate loader and the CLI need, and is imported only when first used. Sans-IO:
bytes in, values out; every length is bounds-checked and every failure is a :class:`DERError`.
"""

from __future__ import annotations

from .der import DERError, DERTruncated, children, oid, split_concatenated, tlv, utc_time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .cert import (
        CertInfo,
        Extension,
        GeneralName,
        general_name,
        general_names,
        name_text,
        parse_certificate,
    )

__all__ = [
    "CertInfo",
    "DERError",
    "DERTruncated",
    "Extension",
    "GeneralName",
    "children",
    "general_name",
    "general_names",
    "name_text",
    "oid",
    "parse_certificate",
    "split_concatenated",
    "tlv",
    "utc_time",
]

_FROM_CERT = frozenset({"CertInfo", "Extension", "GeneralName", "general_name", "general_names",
                        "name_text", "parse_certificate"})


def __getattr__(name: str) -> object:  # PEP 562: certificate facts load on first use
    if name in _FROM_CERT:
        from . import cert

        return getattr(cert, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
