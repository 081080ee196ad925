"""Readable reasons for TLS failures, for ``tlsback fetch`` and for programs that want them.

:func:`explain_error` turns the exception a request raised (``ssl.SSLError`` itself, or an
HTTP client's wrapper around it) into a few lines in uv's words::

    https://localhost:8443/: invalid peer certificate: certificate not valid for name
    "localhost"; certificate is only valid for DnsName("wrong.example")
      certificate: CN=localhost, issued by CN=Example CA, valid 2025-01-01 ... to 2025-04-01 ...
      hint: ...

The rustls backend's errors already carry rustls' reason and the certificate (see
:mod:`tlsback.policy`); other backends' errors are explained from OpenSSL's verify code.
A hint is added when switching backend (or adding a certificate) could help.
"""

from __future__ import annotations

import ssl
from typing import Any

from ._scantypes import printable

__all__ = ["CLIENT_CERT_HINT", "explain_error", "find_ssl_error", "printable"]

_SWITCH_TO_NATIVE = "--native-tls or UV_NATIVE_TLS=1"
_SWITCH_TO_RUSTLS = "--no-native-tls or UV_NATIVE_TLS=0"

# Rejections that only the rustls backend's webpki policy makes; the OS verifier accepts them.
_POLICY_ONLY = {
    "CaUsedAsEndEntity": "a CA certificate used as the server's certificate",
    "UnsupportedCriticalExtension": "critical extensions webpki does not process",
    "UnsupportedSignatureAlgorithm": "signature algorithms outside webpki's list",
    "UnsupportedSignatureAlgorithmForPublicKey": "keys outside webpki's list",
    "UnsupportedCertVersion": "X.509 v1/v2 certificates",
}


def find_ssl_error(exc: BaseException) -> ssl.SSLError | ssl.CertificateError | None:
    """The ``ssl`` error inside ``exc``: itself, its cause/context, or a wrapper's argument.

    requests, urllib3, httpx and aiohttp wrap the stdlib error in their own exceptions; this
    walks ``__cause__``, ``__context__``, ``reason``/``os_error`` attributes and ``args``.
    """
    seen: set[int] = set()
    todo: list[Any] = [exc]
    while todo:
        item = todo.pop(0)
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, (ssl.SSLError, ssl.CertificateError)):
            return item
        todo.extend([item.__cause__, item.__context__, getattr(item, "reason", None),
                     getattr(item, "os_error", None), *item.args])
    return None


def _protocol_reason(err: ssl.SSLError, backend_name: str) -> tuple[str, str | None]:
    """Non-certificate handshake failures in rustls' words, with a hint."""
    reason = (getattr(err, "reason", None) or "").upper()
    if "PROTOCOL_VERSION" in reason or "UNSUPPORTED_PROTOCOL" in reason or "WRONG_VERSION" in reason:
        text = ("received fatal alert: ProtocolVersion (the server and tlsback share no TLS "
                "version; tlsback speaks TLS 1.2 and 1.3 only)")
        upgrade: str | None = ("the server must be upgraded: TLS 1.0 and 1.1 are deprecated (RFC 8996) and no "
                "backend enables them")
        return text, upgrade
    if "HANDSHAKE_FAILURE" in reason or "NO_SHARED_CIPHER" in reason or "NO_CIPHERS" in reason:
        hint = None
        if backend_name == "rustls":
            hint = ("the rustls backend offers only forward-secret AEAD suites in TLS 1.2 "
                    "(ECDHE with AES-GCM or ChaCha20), as uv does; the server seems to offer "
                    "only CBC or RSA-key-exchange suites. The native backend "
                    f"({_SWITCH_TO_NATIVE}) accepts CBC suites, but the server should be fixed")
        return "received fatal alert: HandshakeFailure (no cipher suite in common)", hint
    if "CERTIFICATE_REQUIRED" in reason or "SSLV3_ALERT_BAD_CERTIFICATE" in reason:
        text = "received fatal alert: CertificateRequired (the server requires a client certificate)"
        return text, CLIENT_CERT_HINT
    if isinstance(err, ssl.SSLEOFError) or "UNEXPECTED_EOF" in reason:
        hint = ("a server that requires a client certificate (mTLS) closes the connection like "
                f"this when none is presented: {CLIENT_CERT_HINT}")
        return "the server closed the connection during the TLS handshake", hint
    return f"TLS handshake failed: {err}", None


CLIENT_CERT_HINT = ("set SSL_CLIENT_CERT to a PEM file holding the client certificate and its "
                     "private key (`tlsback info` shows the one in use)")


def _certificate_line(cert: Any) -> str:
    from .policy.wording import fmt_time

    return (f"  certificate: {cert.subject}, issued by {cert.issuer}, valid "
            f"{fmt_time(cert.not_before)} to {fmt_time(cert.not_after)}")


def _hint(reason: str, backend_name: str) -> str | None:
    if reason in _POLICY_ONLY and backend_name == "rustls":
        return (f"the rustls backend refuses {_POLICY_ONLY[reason]}, as uv does; the native "
                f"backend ({_SWITCH_TO_NATIVE}) applies the operating system's rules, which may "
                "accept it. Better: fix the server's certificate")
    if reason == "UnknownIssuer":
        if backend_name == "rustls":
            return ("trust the issuing CA with SSL_CERT_FILE or SSL_CERT_DIR (PEM or DER), or, "
                    "if the operating system already trusts it (for example a corporate "
                    f"proxy's CA), use the native backend ({_SWITCH_TO_NATIVE})")
        return ("trust the issuing CA with SSL_CERT_FILE or SSL_CERT_DIR; if only an "
                "intermediate CA is trusted, the rustls backend "
                f"({_SWITCH_TO_RUSTLS}) accepts it as a trust anchor, the OS verifier may not")
    if reason == "NotValidForName":
        if backend_name == "rustls":
            return ("the certificate must name the host in its subjectAltName; the Common Name "
                    "is never used (by uv either)")
        return "the certificate must name the host in its subjectAltName"
    if reason in ("Expired", "NotValidYet"):
        return "check this machine's clock; otherwise the certificate must be renewed"
    if reason == "InvalidPurpose":
        return "the certificate must allow TLS server authentication (extendedKeyUsage serverAuth)"
    return None


def explain_error(exc: BaseException, url: str, backend_name: str) -> str:
    """Say why a request to ``url`` failed, in words close to uv's, with a hint when useful.

    Args:
        exc: what the request raised (an ``ssl`` error or an HTTP client's wrapper of one).
        url: the URL requested.
        backend_name: the backend in use (``"rustls"``, ``"native"``, a plugin's name).

    Returns:
        One line ``"URL: reason"``, then indented ``certificate:`` and ``hint:`` lines when
        they are known. Never raises.
    """
    err = find_ssl_error(exc)
    if err is None:
        return printable(f"{url}: {exc}")
    lines: list[str] = []
    hint: str | None = None
    if isinstance(err, ssl.SSLCertVerificationError):
        reason = getattr(err, "rustls_reason", None)
        text = getattr(err, "rustls_text", None)
        cert = getattr(err, "certificate", None)
        if reason is None:
            # Not annotated (another backend): explain from OpenSSL's verify code alone.
            from .policy.wording import RUSTLS_REASONS

            code = getattr(err, "verify_code", 0) or 0
            reason = RUSTLS_REASONS.get(code, "Other")
            message = getattr(err, "verify_message", None) or str(err)
            text = f"{reason} ({message})" if reason != "Other" else message
        lines.append(f"{url}: invalid peer certificate: {text}")
        if cert is not None:
            lines.append(_certificate_line(cert))
        hint = _hint(reason, backend_name)
        if "trust anchor" in (text or "") and reason in ("Expired", "NotValidYet"):
            hint = ("the trusted root certificate itself is out of date: replace it in "
                    "SSL_CERT_FILE / SSL_CERT_DIR or the system store (webpki, and so uv, "
                    "ignores a root's dates; OpenSSL does not, whichever backend)")
    elif isinstance(err, ssl.CertificateError):
        lines.append(f"{url}: invalid peer certificate: {err}")
    else:
        text, hint = _protocol_reason(err, backend_name)
        lines.append(f"{url}: {text}")
    lines.append(f"  backend: {backend_name}")
    if hint:
        lines.append(f"  hint: {hint}")
    # One line each: names in a certificate are the server's to choose.
    return "\n".join(map(printable, lines))
