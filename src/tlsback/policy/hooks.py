"""The fail-closed gate: no application byte before the policy's checks have passed.

``SSLSocket`` and ``SSLObject`` do all their TLS work through one attribute, ``_sslobj`` (the C
``_ssl._SSLSocket``): ``read``/``recv*``/``makefile`` reads, ``write``/``send*``/``sendfile``
writes, ``do_handshake``, ``unwrap``. Our subclasses make that attribute a :class:`_Gate`, so no
path is left beside the checks: ``read``, ``write`` and ``shutdown`` first finish the handshake
(non-blocking callers get ``SSLWantReadError``/``SSLWantWriteError`` as before) and run the
checks; a failure is final and is raised again by every later call. See docs/verification.md.
"""

from __future__ import annotations

import socket
import ssl

# Imported with the context on every start-up: the rules, the DER reader and the wording are
# imported at the first handshake instead, so nothing here but ssl at import.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_PENDING, _PASSED, _FAILED = 0, 1, 2
_REMEMBERED = 256  # server names per context whose passed chains are remembered


def _der(chain: Any) -> list[bytes]:
    import _ssl

    return [c if isinstance(c, bytes) else c.public_bytes(_ssl.ENCODING_DER) for c in chain]


def _sent_chain(tls: Any) -> list[bytes] | None:
    """What the server sent, for the words of an error only (so never worth an exception)."""
    try:
        return _der(tls.get_unverified_chain() or ())
    except Exception:  # noqa: BLE001
        return None


def _verify(tls: Any) -> None:
    """The checks OpenSSL does not make, on a completed handshake. Raises on anything but a pass."""
    ctx = tls.context
    if ctx.verify_mode == ssl.CERT_NONE:
        return  # an insecure-host context: no certificate checks, by configuration
    # The host name, with webpki's rules: tlsback's verifying context leaves it to the gate
    # (WebpkiSSLContext.check_hostname); on any other context OpenSSL has checked it as well.
    name = tls.server_hostname if ctx.check_hostname else None
    if ctx.check_hostname and not name:  # the stdlib lets wrap_bio() through without one
        from .rules import PolicyViolation

        raise PolicyViolation("NotValidForName", "no server_hostname to check the certificate "
                              "for (check_hostname is on)", 62, None)
    # Chains this context has seen pass, by the name they were checked for: the rules are pure
    # functions of the chain and the name (OpenSSL checks the clock), so the same chain again
    # needs only a comparison of ``_ssl.Certificate`` objects (X509_cmp), not a parse.
    passed: dict[str | None, list[tuple[list[Any], list[bytes]]]] = ctx.__dict__.setdefault(
        "_tlsback_passed", {})
    verified = tls.get_verified_chain()  # private on _ssl._SSLSocket before 3.13
    if verified:
        for seen, _der_chain in passed.get(name, ()):
            if seen == verified:
                return
        from . import rules
        from .names import check_server_name

        chain = _der(verified)
        leaf = rules.check_chain(chain, top_is_trusted=_top_is_trusted(ctx, chain))
        if name is not None:
            check_server_name(leaf, name)
        if len(passed) >= _REMEMBERED:
            passed.pop(next(iter(passed)), None)
        for_name = passed.setdefault(name, [])
        for_name[:] = [*for_name[-3:], (verified, chain)]  # a few chains per name at most
        return
    _verify_resumed(tls, passed, name)


def _verify_resumed(tls: Any, passed: dict[str | None, list[tuple[list[Any], list[bytes]]]],
                    name: str | None) -> None:
    """A resumed session carries the peer's leaf but no verified chain, and OpenSSL checks
    neither chain nor name again: the leaf's own rules (or its chain's earlier pass, as only
    sessions of passed connections are handed out) and the name, here."""
    from ..x509 import parse_certificate
    from . import rules
    from .names import check_server_name

    leaf = tls.getpeercert(True)
    if leaf is None or not tls.session_reused:
        raise rules.PolicyViolation("UnknownIssuer", "no verified chain to check",
                                    rules.ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, None)
    cert = parse_certificate(leaf)
    if not any(der[0] == leaf for chains in list(passed.values()) for _, der in chains):
        rules.check_leaf(cert)
    if name is not None:
        check_server_name(cert, name)


def _top_is_trusted(ctx: ssl.SSLContext, chain: list[bytes]) -> bool:
    """Whether the chain's top is in the store, not just its leaf.

    OpenSSL's last-resort partial-chain match trusts a chain whose *leaf* is in the store and
    keeps the rest as the server sent it, up to a self-signed root nobody trusts: so the top is
    looked up whatever it is. Above a leaf it is a CA (OpenSSL refuses other issuers), so
    ``get_ca_certs`` lists it when it is in the store (a lazy store's lookups land there too).
    """
    if len(chain) < 2:
        return True
    # The store's CA certificates as DER, kept on the context while its certificate count stays
    # the same: nothing can be taken out of an SSLContext's store, so the same count is the same
    # set (a lazy store's lookups and a caller's load_verify_locations raise it). Converting
    # every certificate per new chain cost 0.18 ms on the 144 of an eager system store.
    count = ctx.cert_store_stats()["x509"]
    known = ctx.__dict__.get("_tlsback_ca_der")
    if known is None or known[0] != count:
        known = (count, frozenset(ctx.get_ca_certs(binary_form=True)))
        ctx.__dict__["_tlsback_ca_der"] = known
    return chain[-1] in known[1]


class _Gate:
    """Stands in for ``_ssl._SSLSocket``; data passes only once the checks have passed."""

    __slots__ = ("_error", "_state", "_tls")

    def __init__(self, tls: Any) -> None:
        self._tls = tls
        self._state = _PENDING
        self._error: ssl.SSLCertVerificationError | None = None

    def __getattr__(self, name: str) -> Any:  # version(), cipher(), getpeercert(), pending()...
        return getattr(self._tls, name)

    def do_handshake(self) -> None:
        if self._state == _PASSED:
            return
        if self._error is not None:
            raise self._error
        from ..x509 import DERError
        from . import rules, wording

        try:
            self._tls.do_handshake()  # SSLWantRead/WriteError leave the gate pending
        except ssl.SSLCertVerificationError as exc:  # OpenSSL's own verdict, in uv's words
            wording.annotate(exc, _sent_chain(self._tls), self._tls.server_hostname)
            self._fail(exc)
        try:
            _verify(self._tls)
        except rules.PolicyViolation as v:
            if v.reason == "NotValidForName" and self._tls.server_hostname:  # as OpenSSL words it
                self._fail(wording.name_error(v.verify_code, _sent_chain(self._tls),
                                              self._tls.server_hostname))
            self._fail(wording.policy_error(v.reason, v.detail, v.verify_code, v.certificate,
                                            _sent_chain(self._tls)))
        except Exception as exc:  # noqa: BLE001 - a check that cannot run is a refusal
            reason = "BadDer" if isinstance(exc, (DERError, ValueError, IndexError)) else "Other"
            self._fail(wording.policy_error(reason, f"the checks could not run: {exc!r}",
                                            rules.ERR_UNSPECIFIED, None, None))
        self._state = _PASSED

    def _fail(self, exc: ssl.SSLCertVerificationError) -> None:
        self._state, self._error = _FAILED, exc
        owner = self._tls.owner
        if isinstance(owner, socket.socket) and owner.fileno() >= 0:
            # Tear the connection down now; the socket is closed by the caller of the gate.
            try:
                socket.socket.shutdown(owner, socket.SHUT_RDWR)
            except OSError:
                pass
        raise exc

    def _open(self) -> None:
        if self._state != _PASSED:
            try:
                self.do_handshake()
            except ssl.SSLCertVerificationError:
                owner = self._tls.owner
                if isinstance(owner, ssl.SSLSocket):
                    owner.close()
                raise

    def read(self, *args: Any) -> Any:
        self._open()
        return self._tls.read(*args)

    def write(self, data: Any) -> int:
        self._open()
        return int(self._tls.write(data))

    def shutdown(self) -> Any:
        self._open()
        return self._tls.shutdown()

    @property
    def session(self) -> ssl.SSLSession | None:
        """Only a checked connection hands out its session (a refused one may not be resumed)."""
        return self._tls.session if self._state == _PASSED else None

    @session.setter
    def session(self, value: ssl.SSLSession) -> None:
        self._tls.session = value


def _get(self: Any) -> _Gate | None:
    gate: _Gate | None = self.__dict__.get("_tlsback_gate")
    return gate


def _set(self: Any, tls: Any) -> None:
    self.__dict__["_tlsback_gate"] = None if tls is None else _Gate(tls)


def _relative(server_hostname: Any) -> Any:
    """The name as rustls sends and checks it: an absolute host name (``example.com.``) without
    its final dot (RFC 6066 §3: SNI has none; webpki matches it against the certificate's
    names, where OpenSSL would compare the dot too and refuse every certificate), a bracketed
    IPv6 literal (``[::1]``) without its brackets (an address: no SNI, checked as an address).
    Anything else unchanged."""
    if isinstance(server_hostname, (str, bytes)) and len(server_hostname) > 1:
        text = server_hostname if isinstance(server_hostname, str) else \
            server_hostname.decode("ascii", "replace")
        if text.endswith(".") and not text.endswith(".."):
            return server_hostname[:-1]
        if text[0] == "[" and text[-1] == "]" and ":" in text:
            return server_hostname[1:-1]
    return server_hostname


class WebpkiSSLSocket(ssl.SSLSocket):
    """:class:`ssl.SSLSocket` whose TLS connection sits behind the gate."""

    _sslobj = property(_get, _set)

    @classmethod
    def _create(cls, *args: Any, **kwargs: Any) -> Any:  # what SSLContext.wrap_socket calls
        if "server_hostname" in kwargs:
            kwargs["server_hostname"] = _relative(kwargs["server_hostname"])
        return super()._create(*args, **kwargs)  # type: ignore[misc]

    def do_handshake(self, block: bool = False) -> None:
        try:
            super().do_handshake(block)
        except ssl.SSLCertVerificationError:
            self.close()  # here, not in the gate: the stdlib resets the timeout after the call
            raise


class WebpkiSSLObject(ssl.SSLObject):
    """:class:`ssl.SSLObject` (memory BIOs: asyncio, anyio, trio) behind the same gate."""

    _sslobj = property(_get, _set)

    @classmethod
    def _create(cls, *args: Any, **kwargs: Any) -> Any:  # what SSLContext.wrap_bio calls
        if "server_hostname" in kwargs:
            kwargs["server_hostname"] = _relative(kwargs["server_hostname"])
        context = kwargs.get("context")
        if context is not None and context.check_hostname and not kwargs.get("server_hostname") \
                and not kwargs.get("server_side"):
            # As SSLSocket says it; the stdlib's SSLObject would connect without a name check.
            raise ValueError("check_hostname requires server_hostname")
        return super()._create(*args, **kwargs)  # type: ignore[misc]
