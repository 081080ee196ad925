"""The context options: everything about rustls' policy that OpenSSL can enforce by itself.

TLS 1.2/1.3 only, the rustls TLS 1.2 suites, no compression or renegotiation, ``@SECLEVEL=2``
(no SHA-1/MD5 signatures, no RSA keys under 2048 bits), partial chains, subjectAltName-only name
checks. The rest runs after the handshake, behind :mod:`.hooks`.
"""

from __future__ import annotations

import ssl
from _ssl import _SSLContext

from .hooks import WebpkiSSLObject, WebpkiSSLSocket

TYPE_CHECKING = False  # not typing's: this module is on every start-up path
if TYPE_CHECKING:
    from typing import Any

#: TLS 1.2 suites rustls offers: forward secret (ECDHE) and AEAD (AES-GCM, ChaCha20-Poly1305)
#: only. No CBC (Lucky13, POODLE-style padding oracles), no static-RSA key exchange (no forward
#: secrecy, ROBOT), no DHE (weak and slow groups). ``@SECLEVEL=2`` makes OpenSSL refuse SHA-1
#: and MD5 certificate signatures and RSA/DH keys under 2048 bits, as webpki does. TLS 1.3 suites
#: are OpenSSL's defaults (AES-GCM and ChaCha20), the same three rustls offers.
CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!eNULL:@SECLEVEL=2"

# X509_V_FLAG_PARTIAL_CHAIN (x509_vfy.h). Stated numerically for Pythons without the enum.
_X509_V_FLAG_PARTIAL_CHAIN = 0x80000
# The C-level switch (``_ssl._SSLContext``) that makes OpenSSL check the host name.
_C_CHECK_HOSTNAME: Any = _SSLContext.check_hostname
# x509_vfy.h flags that make OpenSSL check less: IGNORE_CRITICAL, ALLOW_PROXY_CERTS,
# NO_CHECK_TIME.
_WEAKENING_VERIFY_FLAGS = 0x10 | 0x40 | 0x200000


def _weakens(ctx: ssl.SSLContext, name: str, value: Any) -> bool:
    """Whether setting ``name`` to ``value`` makes a verifying context check less."""
    if name == "options":  # compression or renegotiation allowed again
        kept = ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
        return bool(ctx.options & kept & ~int(value))
    if name == "check_hostname":
        return not value
    if name == "verify_mode":
        return bool(value == ssl.CERT_NONE)
    if name == "hostname_checks_common_name":
        return bool(value)
    if name == "verify_flags":
        return bool(int(value) & _WEAKENING_VERIFY_FLAGS)
    if name == "minimum_version":
        return value not in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3)
    return name in ("sslsocket_class", "sslobject_class")  # the gate's classes stay


def _refusal(change: str) -> ValueError:
    return ValueError(
        f"tlsback's verifying context is shared by every client of its configuration and cannot "
        f"be made to check less ({change}); for an allowed insecure host use "
        "cfg.insecure_context (allow-insecure-host), otherwise a context of your own")


class WebpkiSSLContext(ssl.SSLContext):
    """The verifying context: one object that many clients share, so none may weaken it.

    A client handed a context changes it for everyone who holds it: urllib3 turns
    ``check_hostname`` off for ``assert_hostname``/``assert_fingerprint`` and loads its
    ``ca_certs`` (requests passes certifi's) on every connection. Once :func:`new_context` has
    set it up, this context refuses every change that would check less (a ``ValueError`` naming
    what to use instead), and takes "the default certificates" (``load_default_certs``,
    ``set_default_verify_paths``, certifi's or :func:`tlsback.where`'s bundle) to mean the trust
    it already has, as the injected contexts do (docs/verification.md). Changes that check more
    and other CA locations a caller names explicitly are applied as the stdlib would.
    """

    _tlsback_sealed = False

    def __new__(cls, *args: Any, **kwargs: Any) -> WebpkiSSLContext:  # noqa: PYI034
        self = super().__new__(cls, *args, **kwargs)
        # OpenSSL never checks the host name on this context: the gate does, with webpki's
        # rules (policy/hooks.py, policy/names.py), on every connection, resumed ones included.
        # Python and the clients read ``check_hostname`` (the property below); OpenSSL reads
        # the C field, which stays off. SNI is sent either way.
        _C_CHECK_HOSTNAME.__set__(self, False)
        self.__dict__["_tlsback_check_hostname"] = True  # PROTOCOL_TLS_CLIENT's default
        return self

    @property
    def check_hostname(self) -> bool:
        """Whether the host name is checked (by the gate, with webpki's rules)."""
        return bool(self.__dict__.get("_tlsback_check_hostname", False))

    @check_hostname.setter
    def check_hostname(self, value: bool) -> None:
        if value and self.verify_mode == ssl.CERT_NONE:
            self.verify_mode = ssl.CERT_REQUIRED  # as the stdlib's setter does
        if not value:
            _C_CHECK_HOSTNAME.__set__(self, False)  # (before sealing only: see load_cert_chain)
        self.__dict__["_tlsback_check_hostname"] = bool(value)

    def __setattr__(self, name: str, value: object) -> None:
        if self._tlsback_sealed and _weakens(self, name, value):
            raise _refusal(f"{name} = {value!r}")
        super().__setattr__(name, value)

    def set_ciphers(self, ciphers: str, /) -> None:
        if self._tlsback_sealed:
            # A cipher string also sets OpenSSL's security level: "@SECLEVEL=0" or "=1" would
            # take SHA-1 signatures and RSA keys under 2048 bits again, for every client of
            # the context. Only a narrowing of the suites, at level 2 or more, is taken.
            probe = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            probe.set_ciphers(ciphers)  # ssl.SSLError for a string OpenSSL cannot use
            _, found, level = str(ciphers).upper().rpartition("@SECLEVEL=")
            digits = level[:1]
            lower = bool(found) and (not digits.isdigit() or int(digits) < 2)
            suites = {c["name"] for c in probe.get_ciphers()}
            if lower or not suites <= {c["name"] for c in self.get_ciphers()}:
                raise _refusal(f"set_ciphers({ciphers!r})")
        super().set_ciphers(ciphers)

    def load_cert_chain(self, certfile: Any, keyfile: Any = None, password: Any = None) -> None:
        super().load_cert_chain(certfile, keyfile, password)
        # With a client certificate, OpenSSL checks the host name too, during the handshake:
        # the gate's check comes after it, and so after the client's Certificate message, which
        # would hand the certificate to any server with a trusted certificate for another name
        # (rustls checks the name before it answers). OpenSSL's check is the stricter one (its
        # wildcard takes no "_"), so with a client certificate such a name is refused.
        if self.check_hostname:
            _C_CHECK_HOSTNAME.__set__(self, True)

    def load_default_certs(self, purpose: ssl.Purpose = ssl.Purpose.SERVER_AUTH) -> None:
        if not self._tlsback_sealed:
            super().load_default_certs(purpose)

    def set_default_verify_paths(self) -> None:
        if not self._tlsback_sealed:
            super().set_default_verify_paths()

    def load_verify_locations(self, cafile: object = None, capath: object = None,
                              cadata: object = None) -> None:
        if self._tlsback_sealed and cafile is not None and capath is None and cadata is None:
            from ..inject import _is_default_bundle

            if _is_default_bundle(cafile):
                return
        super().load_verify_locations(cafile, capath, cadata)  # type: ignore[arg-type]


def new_context(verify: bool = True) -> ssl.SSLContext:
    """Return a client context configured like rustls, without any trust anchor loaded.

    The caller (``backends/rustls.py``) loads the trust store into it. Every connection made
    through the context runs the post-handshake checks of :func:`check_chain`.

    Args:
        verify: ``False`` for an insecure host: no certificate or name checks at all, but the
            same protocol versions, cipher suites and options (docs/verification.md).

    Returns:
        A new :class:`ssl.SSLContext` (``PROTOCOL_TLS_CLIENT``).
    """
    ctx = WebpkiSSLContext(ssl.PROTOCOL_TLS_CLIENT) if verify else ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    # rustls implements TLS 1.2 and 1.3 only: TLS 1.0/1.1 lack AEAD suites and rely on MD5/SHA-1
    # in their PRF (RFC 8996 deprecates them).
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.maximum_version = ssl.TLSVersion.TLSv1_3
    ctx.set_ciphers(CIPHERS)
    # No TLS compression (CRIME, CVE-2012-4929); rustls has none. Python sets it already; stating
    # it keeps the policy explicit and independent of the interpreter's defaults.
    ctx.options |= ssl.OP_NO_COMPRESSION
    # No renegotiation (rustls refuses it as a client): it is the vector of the triple-handshake
    # attack (RFC 7627) and of renegotiation DoS, and a server may use it to change identity.
    ctx.options |= ssl.OP_NO_RENEGOTIATION
    # A client never answers a TLS 1.3 post-handshake authentication request unless it has
    # loaded a client certificate; rustls does not implement it at all.
    ctx.post_handshake_auth = False
    if not verify:
        # Insecure host (docs/verification.md): certificate and name checks off; everything above stays.
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.check_hostname = True
    # Names are checked against subjectAltName only, never the subject Common Name (RFC 6125
    # §6.4.4, CA/B Forum BR 7.1.4.2.2; webpki never reads the CN). Python maps this to
    # X509_CHECK_FLAG_NEVER_CHECK_SUBJECT; X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS ("f*.example")
    # is Python's default already, so a wildcard matches only as the whole left-most label.
    ctx.hostname_checks_common_name = False
    # webpki treats every certificate in the store as a trust anchor, CA or not (partial chains,
    # e.g. only an intermediate trusted). OpenSSL otherwise insists on a self-signed root.
    # X509_V_FLAG_X509_STRICT stays off: it adds RFC 5280 profile checks (AKI/SKI presence,
    # critical basicConstraints) that webpki does not make, and would refuse what uv accepts.
    ctx.verify_flags |= _X509_V_FLAG_PARTIAL_CHAIN
    # Every connection's data passes the fail-closed gate of the checks OpenSSL cannot make.
    ctx.sslsocket_class = WebpkiSSLSocket
    ctx.sslobject_class = WebpkiSSLObject
    # From here on the context only gets stricter (WebpkiSSLContext): the anchors, ALPN and the
    # client certificate are still added by the caller.
    ctx._tlsback_sealed = True  # type: ignore[attr-defined]
    return ctx
