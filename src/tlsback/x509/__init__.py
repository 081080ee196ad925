"""The project's one DER (ITU-T X.690) and X.509 (RFC 5280) reader.

:mod:`.der` reads TLVs, object identifiers, times and strings; :mod:`.cert` turns a certificate
into the facts the verification policy, the client-certificate loader and the CLI need. Sans-IO:
bytes in, values out; every length is bounds-checked and every failure is a :class:`DERError`.
"""

from __future__ import annotations

from .cert import CertInfo, Extension, GeneralName, general_name, general_names, name_text, parse_certificate
from .der import DERError, children, oid, split_concatenated, tlv, utc_time

__all__ = [
    "CertInfo",
    "DERError",
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
