"""Failures in uv's words: rustls' reason names, the certificate at fault, and why.

OpenSSL's own verification failures get rustls' name for the same failure
(:data:`RUSTLS_REASONS`) and a sentence that names the certificate concerned; the policy's own
verdicts (:class:`.rules.PolicyViolation`) are turned into the same stdlib exception.
"""

from __future__ import annotations

import datetime
import ssl
from collections.abc import Sequence
from typing import Any

from .._scantypes import printable
from ..x509 import CertInfo, DERError, parse_certificate
from ..x509.cert import EKU_NAMES, OID_SERVER_AUTH, RSA
from .rules import WEBPKI_KNOWN_EXTENSIONS, webpki_signature_algorithm

# OpenSSL and this module read the clock a moment apart, and OpenSSL's notAfter is exclusive
# where webpki's is inclusive: a certificate within this margin of the boundary is the one.
_CLOCK_SLACK = datetime.timedelta(seconds=2)

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


def fmt_time(t: datetime.datetime) -> str:
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
        cert = find(lambda c: c.not_after <= now + _CLOCK_SLACK if expired
                    else c.not_before > now - _CLOCK_SLACK)
        if cert is None:
            # Nothing the server sent is out of date: the trust anchor from the store is.
            top = certs[-1] if certs else None
            what = "expired" if expired else "not valid yet"
            anchor = f" ({top.issuer}, the issuer of {top.subject})" if top else ""
            return reason, (f"certificate {what}: the trust anchor{anchor} is {what} "
                            "(uv would accept an out-of-date trust anchor, OpenSSL does not)"), None
        if expired:
            text = (f"certificate expired: verification time {fmt_time(now)}, but certificate "
                    f"is not valid after {fmt_time(cert.not_after)} "
                    f"({_ago((now - cert.not_after).total_seconds())} ago)")
        else:
            text = (f"certificate not valid yet: verification time {fmt_time(now)}, but "
                    f"certificate is not valid before {fmt_time(cert.not_before)} "
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
        allows = ", ".join(EKU_NAMES.get(o, o) for o in cert.extended_key_usage or ())
        return reason, ("certificate does not allow extended key usage for server "
                        f"authentication, allows {allows or 'nothing'}" + about(cert)), cert
    if reason == "UnsupportedSignatureAlgorithm":
        cert = find(lambda c: not webpki_signature_algorithm(c))
        if cert is not None:
            return reason, (f"{reason} (signed with {cert.signature_name})" + about(cert)), cert
    if reason == "BadSignature" and verify_code in (66, 67):
        cert = find(lambda c: c.key_algorithm == RSA and (c.rsa_bits or 0) < 2048)
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


def _verification_error(verify_code: int, message: str) -> ssl.SSLCertVerificationError:
    """``ssl.SSLCertVerificationError`` as OpenSSL's own verification failures are raised."""
    exc = ssl.SSLCertVerificationError(1, _full(message))
    exc.reason = "CERTIFICATE_VERIFY_FAILED"
    exc.library = "SSL"
    exc.verify_code = verify_code
    exc.verify_message = printable(message)
    return exc


def policy_error(reason: str, detail: str, verify_code: int, cert: CertInfo | None,
                 chain: list[bytes] | None) -> ssl.SSLCertVerificationError:
    """The stdlib exception for a verdict of the policy itself (or its failure to decide).

    ``verify_code`` is the closest ``X509_V_ERR_*`` code, so clients that dispatch on it work.
    """
    text = f"{reason} ({detail})"
    exc = _verification_error(verify_code, text)
    _attach(exc, reason, text, cert, chain)
    return exc


def name_error(verify_code: int, chain: list[bytes] | None,
               server_hostname: str | None) -> ssl.SSLCertVerificationError:
    """The exception for a host name the certificate is not valid for (the gate checks names),
    worded as OpenSSL's own hostname failure is (:func:`annotate`)."""
    what = "IP address" if verify_code == 64 else "Hostname"
    exc = _verification_error(verify_code, f"{what} mismatch, certificate is not valid for "
                                           f"'{server_hostname}'.")
    annotate(exc, chain, server_hostname)
    return exc


def _full(text: str) -> str:
    # The names in it are the server's (subject, issuer, SANs): escaped, since every client
    # prints this text and a newline or an escape sequence there would forge output.
    return f"[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: invalid peer certificate: {printable(text)}"


def annotate(exc: ssl.SSLCertVerificationError, chain: list[bytes] | None,
             server_hostname: str | None) -> None:
    """Put rustls' reason and the certificate concerned into OpenSSL's own exception.

    Args:
        exc: what OpenSSL raised during the handshake.
        chain: what the server sent (DER, leaf first), when known.
        server_hostname: the name the client asked for.
    """
    if getattr(exc, "rustls_reason", None):
        return
    code = getattr(exc, "verify_code", 0) or 0
    openssl_text = getattr(exc, "verify_message", "") or ""
    try:
        reason, text, cert = describe_failure(code, openssl_text, chain, server_hostname)
    except Exception:  # noqa: BLE001 - the message is only words: OpenSSL's verdict stands
        return
    exc.strerror = _full(text)
    exc.args = (exc.errno, exc.strerror)
    _attach(exc, reason, text, cert, chain)


def _attach(
    exc: ssl.SSLCertVerificationError,
    reason: str,
    detail: str,
    cert: CertInfo | None,
    chain: list[bytes] | None,
) -> None:
    exc.rustls_reason = reason  # type: ignore[attr-defined]
    exc.rustls_text = printable(detail)  # type: ignore[attr-defined]
    exc.certificate = cert  # type: ignore[attr-defined]
    exc.peer_chain = chain  # type: ignore[attr-defined]
