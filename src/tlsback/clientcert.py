"""``SSL_CLIENT_CERT``: the client certificate for mTLS (docs/client-certificates.md).

One PEM file holds the certificate chain (leaf first) and its private key, in either order. Keys
may be PKCS#8 (``PRIVATE KEY``: RSA, EC, Ed25519, ...), PKCS#1 (``RSA PRIVATE KEY``) or SEC1
(``EC PRIVATE KEY``); when there are several, the last one wins (as in reqwest/rustls, which uv
uses). A missing file, no key, no certificate, or an encrypted key are warnings: the connection
goes on without a client certificate. A key that does not belong to the certificate is an error
(:class:`~tlsback.errors.ClientCertError`), as uv's "failed to build HTTP client: KeyMismatch".

OpenSSL is never given the chance to prompt for a password: encrypted keys are recognised from
their PEM label (``ENCRYPTED PRIVATE KEY``, RFC 5958) or legacy headers (``Proc-Type:
4,ENCRYPTED``, RFC 1421) and never handed over, and ``load_cert_chain`` gets a password callback
that refuses. ``SSLContext.load_cert_chain`` only reads files, so the chain and key it selected are
written once per :class:`ClientCert` and every context (the start-up check, the verifying and the
insecure context) loads that one copy: on Linux an anonymous memory file (``memfd_create``) read
through ``/proc/self/fd``, which has no name in any file system and goes away with the process;
elsewhere a 0600 file in a private 0700 directory (on tmpfs where there is one), removed right
after each load.

Parsing (:func:`parse_client_cert`) is sans-IO; only :func:`load_client_cert` reads the file.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import logging
import os
import re
import ssl
import stat
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

from ._scantypes import Problem, shown
from .errors import ClientCertError
from .x509 import children, name_text, oid, tlv, utc_time

__all__ = ["ClientCert", "load_client_cert", "parse_client_cert"]

logger = logging.getLogger(__name__)

#: Files larger than this are not read (docs/client-certificates.md, "The file"; the same limit
#: as for trust sources, docs/sources.md, "Bad input").
MAX_FILE_SIZE = 10 * 1024 * 1024


_KEY_FORMATS = {
    "PRIVATE KEY": "PKCS#8",
    "RSA PRIVATE KEY": "PKCS#1",
    "EC PRIVATE KEY": "SEC1",
}
_ENCRYPTED_LABEL = "ENCRYPTED PRIVATE KEY"
# Key blocks OpenSSL/rustls-style clients cannot use from SSL_CLIENT_CERT: reported, skipped.
_UNSUPPORTED_KEYS = ("OPENSSH PRIVATE KEY", "DSA PRIVATE KEY", "ANY PRIVATE KEY")
# Blocks that legitimately sit beside a key and are ignored silently.
_IGNORED = ("EC PARAMETERS",)

# RFC 7468 §2: "-----BEGIN label-----" at the start of a line; the END line must carry the same
# label. Labels are printable ASCII without '-' at the ends.
_BEGIN_RE = re.compile(rb"^-----BEGIN ([\x21-\x2c\x2e-\x7e](?:[\x20-\x7e]*[\x21-\x2c\x2e-\x7e])?)-----[ \t]*\r?$", re.MULTILINE)

_OIDS_KEY = {
    "1.2.840.113549.1.1.1": "RSA",
    "1.2.840.113549.1.1.10": "RSA-PSS",
    "1.2.840.10045.2.1": "EC",
    "1.3.101.112": "Ed25519",
    "1.3.101.113": "Ed448",
    "1.3.101.110": "X25519",
    "1.3.101.111": "X448",
    "1.2.840.10040.4.1": "DSA",
}
_OIDS_CURVE = {
    "1.2.840.10045.3.1.7": "P-256",
    "1.3.132.0.34": "P-384",
    "1.3.132.0.35": "P-521",
    "1.3.132.0.10": "secp256k1",
    "1.3.36.3.3.2.8.1.1.7": "brainpoolP256r1",
    "1.3.36.3.3.2.8.1.1.11": "brainpoolP384r1",
    "1.3.36.3.3.2.8.1.1.13": "brainpoolP512r1",
}
class _Block(NamedTuple):
    label: str
    line: int  # 1-based line of the BEGIN line
    der: bytes | None  # None when the block is broken (a Problem says why)
    encrypted: bool


@dataclass(frozen=True)
class ClientCert:
    """A parsed ``SSL_CLIENT_CERT``: the chain (leaf first) and the selected private key.

    Attributes:
        path: the file it came from (for messages).
        chain: DER certificates in file order; the first is the leaf.
        key_der: the private key, DER, in the format of ``key_label``. Not shown in ``repr``.
        key_label: the key's PEM label (``PRIVATE KEY``, ``RSA PRIVATE KEY``, ``EC PRIVATE KEY``).
        key_type: ``RSA-2048``, ``EC P-256``, ``Ed25519``, ... (``unknown`` when not recognised).
        subject: the leaf's subject, RFC 4514 (``CN=client,O=Example``).
        not_after: the leaf's expiry, ISO 8601 UTC, or None when it cannot be read.
        leaf_key_type: the type of the leaf's public key, in ``key_type``'s spelling.
    """

    path: str
    chain: tuple[bytes, ...]
    key_der: bytes = field(repr=False)
    key_label: str
    key_type: str
    subject: str
    not_after: str | None = None
    leaf_key_type: str = field(default="unknown", repr=False)
    #: Where the fallback's short-lived key file goes (``XDG_RUNTIME_DIR``, from the settings).
    runtime_dir: str | None = field(default=None, repr=False, compare=False)
    # The one copy every context loads, made on first use (see the module docstring).
    _memory: list[_MemoryFile | None] = field(default_factory=list, init=False, repr=False, compare=False)

    @property
    def key_format(self) -> str:
        """``PKCS#8``, ``PKCS#1`` or ``SEC1``."""
        return _KEY_FORMATS[self.key_label]

    def pem(self) -> bytes:
        """Chain then key, PEM: what :meth:`apply` hands OpenSSL."""
        out = [_pem_encode("CERTIFICATE", der) for der in self.chain]
        out.append(_pem_encode(self.key_label, self.key_der))
        return b"".join(out)

    def apply(self, ctx: ssl.SSLContext) -> None:
        """Present this certificate on every connection made with ``ctx``.

        Args:
            ctx: a client context (``ssl.SSLContext`` or ``truststore.SSLContext``).

        Raises:
            ClientCertError: the key does not belong to the leaf certificate, or OpenSSL
                refuses the certificate or key (e.g. a key too small for its security level).
        """
        try:
            self._load_into(ctx)
        except ssl.SSLError as exc:
            if _is_mismatch(exc):
                raise ClientCertError(self._mismatch_message()) from None
            raise ClientCertError(
                f"SSL_CLIENT_CERT {shown(self.path)}: OpenSSL refused the certificate or key "
                f"({_reason(exc)})"
            ) from None

    def _load_into(self, ctx: ssl.SSLContext) -> None:
        # OpenSSL keeps one certificate/key slot per key type and only compares a key with the
        # certificate in the same slot: an RSA key beside an EC certificate would load without
        # complaint and fail later, at the handshake. Compare the types first.
        if "unknown" not in (self.key_type, self.leaf_key_type) and self.key_type != self.leaf_key_type:
            raise ClientCertError(
                f"{self._mismatch_message()}: the key is {self.key_type}, the certificate's is "
                f"{self.leaf_key_type}"
            )
        if not self._memory:
            self._memory.append(_MemoryFile.create(self.pem()))
        memory = self._memory[0]
        if memory is not None:
            ctx.load_cert_chain(certfile=memory.path, password=_refuse_password)
            return
        with _private_file(self.pem(), self.runtime_dir) as path:
            ctx.load_cert_chain(certfile=path, password=_refuse_password)

    def _mismatch_message(self) -> str:
        return (
            f"SSL_CLIENT_CERT {shown(self.path)}: the private key does not match the certificate "
            f"{self.subject!r} (the file must hold the certificate of the key first, then its "
            "chain)"
        )

    def describe(self) -> dict[str, Any]:
        """What ``tlsback info`` shows: subject, key type, path, chain length, expiry."""
        return {
            "path": self.path,
            "subject": self.subject,
            "key_type": self.key_type,
            "key_format": self.key_format,
            "chain_length": len(self.chain),
            "not_after": self.not_after,
        }


def load_client_cert(path: str, runtime_dir: str | None = None) -> tuple[ClientCert | None, list[Problem]]:
    """Read and check ``SSL_CLIENT_CERT``.

    Args:
        path: the value of ``SSL_CLIENT_CERT``.
        runtime_dir: ``XDG_RUNTIME_DIR`` (from the settings), for the key file where no
            memory file can be used.

    Returns:
        ``(cert, problems)``. ``cert`` is None when there is nothing usable; each problem is a
        warning whose message is the reason (``no private key found (...)``); the caller adds
        that connections go on without a client certificate.

    Raises:
        ClientCertError: the key does not match the certificate (an error, not a warning:
            docs/client-certificates.md, "When something is wrong").
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None, [Problem(path, "missing", "file not found")]
    except OSError as exc:
        return None, [Problem(path, "unreadable", f"cannot read the file ({exc.strerror or exc})")]
    if not stat.S_ISREG(st.st_mode):
        kind = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file"
        return None, [Problem(path, "not-a-file", kind)]
    if st.st_size > MAX_FILE_SIZE:
        return None, [Problem(path, "too-large", "file over 10 MiB")]
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_FILE_SIZE + 1)
    except OSError as exc:
        return None, [Problem(path, "unreadable", f"cannot read the file ({exc.strerror or exc})")]
    cert, problems = parse_client_cert(data, path)
    if cert is not None and runtime_dir:
        cert = replace(cert, runtime_dir=runtime_dir)
    if cert is not None:
        # Check the pair once, now, so a mismatch is an error at start-up and not at the first
        # connection; and so an OpenSSL refusal becomes a warning like the other problems.
        try:
            cert._load_into(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))
        except ssl.SSLError as exc:
            if _is_mismatch(exc):
                raise ClientCertError(cert._mismatch_message()) from None
            problems.append(Problem(
                path, "rejected",
                f"OpenSSL refused the certificate or key ({_reason(exc)})",
            ))
            return None, problems
        logger.debug("client certificate %s (%s) from %s", cert.subject, cert.key_type, path)
    return cert, problems


def parse_client_cert(data: bytes, path: str = "SSL_CLIENT_CERT") -> tuple[ClientCert | None, list[Problem]]:
    """Pick the certificate chain and the private key out of one PEM file's bytes.

    Args:
        data: the file's contents.
        path: a label for messages.

    Returns:
        ``(cert, problems)``, as :func:`load_client_cert`. The key is not yet checked against
        the certificate (that needs OpenSSL: :meth:`ClientCert.apply`).
    """
    problems: list[Problem] = []
    certs: list[bytes] = []
    key: _Block | None = None
    for block in _pem_blocks(data, path, problems):
        if block.label == "CERTIFICATE":
            if block.der is not None:
                certs.append(block.der)
        elif block.label in _KEY_FORMATS or block.label == _ENCRYPTED_LABEL:
            key = block  # the last key wins
        elif block.label in _UNSUPPORTED_KEYS:
            problems.append(Problem(
                path, "unsupported-key",
                f"{block.label} block at line {block.line} is not a supported key format "
                "(PKCS#8, PKCS#1 RSA or SEC1 EC, PEM); block skipped", block.line,
            ))
        # other labels (EC PARAMETERS, TRUSTED CERTIFICATE, ...) are skipped silently
    usable = True
    if key is not None and key.encrypted:
        problems.append(Problem(
            path, "encrypted-key",
            f"the private key ({key.label} at line {key.line}) is encrypted, and tlsback never "
            "asks for a password; decrypt it (`openssl pkey -in FILE -out KEY`) and put the plain "
            "key in the file", key.line,
        ))
        usable = False
    elif key is None or key.der is None:
        problems.append(Problem(
            path, "no-key",
            "no private key found (the file must hold the certificate, leaf first, and its "
            "unencrypted private key, PEM)",
        ))
        usable = False
    if not certs:
        problems.append(Problem(
            path, "no-certificate",
            "no CERTIFICATE block found (the file must hold the certificate, leaf first, and "
            "its private key, PEM)",
        ))
        usable = False
    if not usable:
        return None, problems
    assert key is not None and key.der is not None
    subject, not_after, leaf_key_type = _cert_info(certs[0])
    return ClientCert(
        path=path,
        chain=tuple(certs),
        key_der=key.der,
        key_label=key.label,
        key_type=_key_type(key.label, key.der),
        subject=subject,
        not_after=not_after,
        leaf_key_type=leaf_key_type,
    ), problems


# --------------------------------------------------------------------------------------------
# PEM (RFC 7468; legacy encapsulated headers RFC 1421 §4.6)


def _pem_blocks(data: bytes, path: str, problems: list[Problem]) -> Iterator[_Block]:
    pos = 0
    while True:
        m = _BEGIN_RE.search(data, pos)
        if m is None:
            return
        label = m.group(1).decode("ascii")
        line = data.count(b"\n", 0, m.start()) + 1
        end_re = re.compile(rb"^-----END " + re.escape(m.group(1)) + rb"-----[ \t]*\r?$", re.MULTILINE)
        end = end_re.search(data, m.end())
        if end is None:
            problems.append(Problem(path, "missing-end",
                                    f"missing END line for the {label} block at line {line}; "
                                    "block skipped", line))
            return
        body = data[m.end():end.start()]
        pos = end.end()
        encrypted = label == _ENCRYPTED_LABEL
        if b":" in body:
            # Legacy OpenSSL encryption puts RFC 1421 headers before a blank line.
            head, sep, rest = body.lstrip(b"\r\n").partition(b"\n\n")
            if not sep:
                head, sep, rest = body.lstrip(b"\r\n").partition(b"\r\n\r\n")
            if sep and b":" in head:
                encrypted = encrypted or bool(re.search(rb"Proc-Type:\s*4\s*,\s*ENCRYPTED", head))
                body = rest
        if encrypted:
            yield _Block(label, line, None, True)
            continue
        wanted = label == "CERTIFICATE" or label in _KEY_FORMATS
        if not wanted:
            yield _Block(label, line, None, False)
            continue
        try:
            der = base64.b64decode(b"".join(body.split()), validate=True)
        except (binascii.Error, ValueError):
            problems.append(Problem(path, "bad-base64",
                                    f"bad base64 in {label} block at line {line}; block skipped",
                                    line))
            yield _Block(label, line, None, False)
            continue
        if not der:
            problems.append(Problem(path, "bad-base64", f"empty {label} block at line {line}; "
                                    "block skipped", line))
            yield _Block(label, line, None, False)
            continue
        yield _Block(label, line, der, False)


def _pem_encode(label: str, der: bytes) -> bytes:
    b64 = base64.b64encode(der)
    lines = [b64[i:i + 64] for i in range(0, len(b64), 64)]
    head = f"-----BEGIN {label}-----\n".encode()
    tail = f"-----END {label}-----\n".encode()
    return head + b"\n".join(lines) + b"\n" + tail


# --------------------------------------------------------------------------------------------
# The description: leaf subject and expiry, key type, read with the shared DER reader (x509/).
# Best effort: a value this cannot read is shown as "unknown"; OpenSSL has the last word when
# loading.


def _cert_info(der: bytes) -> tuple[str, str | None, str]:
    """(subject RFC 4514, notAfter ISO, public key type) of a certificate (RFC 5280 §4.1).

    Unreadable parts come back as ``"unknown"`` / None.
    """
    subject, not_after, key_type = "unknown", None, "unknown"
    try:
        _, s, _e = tlv(der, 0)  # Certificate
        _, ts, te = tlv(der, s)  # tbsCertificate
        fields = children(der, ts, te)
        if fields and fields[0][0] == 0xA0:  # [0] EXPLICIT version
            fields = fields[1:]
        # serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo
        _, vs, ve = fields[3]
        with contextlib.suppress(ValueError, IndexError):
            tag, s2, e2 = children(der, vs, ve)[1]
            not_after = utc_time(tag, der[s2:e2]).isoformat()
        _, ss, se = fields[4]
        subject = name_text(der, ss, se)
        with contextlib.suppress(ValueError, IndexError):
            key_type = _spki_type(der, fields[5][1], fields[5][2])
    except (ValueError, IndexError):
        pass
    return subject, not_after, key_type


def _algorithm(der: bytes, start: int, end: int) -> tuple[str, str | None]:
    """(key kind, EC curve) of an AlgorithmIdentifier's contents."""
    alg = children(der, start, end)
    kind = _OIDS_KEY.get(oid(der[alg[0][1]:alg[0][2]]), "unknown")
    curve = None
    if kind == "EC" and len(alg) > 1 and alg[1][0] == 0x06:
        curve = _OIDS_CURVE.get(oid(der[alg[1][1]:alg[1][2]]), "unknown curve")
    return kind, curve


def _spki_type(der: bytes, start: int, end: int) -> str:
    (_, as_, ae), (_, bs, _be) = children(der, start, end)[:2]
    kind, curve = _algorithm(der, as_, ae)
    if kind in ("RSA", "RSA-PSS"):
        # BIT STRING: one byte of unused bits, then RSAPublicKey (RFC 8017 A.1.1): n, e
        _, s, e = tlv(der, bs + 1)
        _, ms, me = children(der, s, e)[0]
        return f"{kind}-{int.from_bytes(der[ms:me], 'big').bit_length()}"
    if kind == "EC":
        return f"EC {curve}" if curve else "EC"
    return kind


def _key_type(label: str, der: bytes) -> str:
    try:
        if label == "RSA PRIVATE KEY":
            return _rsa_type(der, 0)
        if label == "EC PRIVATE KEY":
            return _ec_type(der, 0, None)
        # PKCS#8 PrivateKeyInfo (RFC 5958): version, AlgorithmIdentifier, privateKey
        _, s, e = tlv(der, 0)
        fields = children(der, s, e)
        _, as_, ae = fields[1]
        kind, curve = _algorithm(der, as_, ae)
        _, ks, _ke = fields[2]
        if kind in ("RSA", "RSA-PSS"):
            return _rsa_type(der, ks, kind)
        if kind == "EC":
            return _ec_type(der, ks, curve)
        return kind
    except (ValueError, IndexError):
        return "unknown"


def _rsa_type(der: bytes, pos: int, kind: str = "RSA") -> str:
    _, s, e = tlv(der, pos)  # RSAPrivateKey (RFC 8017 A.1.2): version, modulus, ...
    _, ms, me = children(der, s, e)[1]
    return f"{kind}-{int.from_bytes(der[ms:me], 'big').bit_length()}"


def _ec_type(der: bytes, pos: int, curve: str | None) -> str:
    _, s, e = tlv(der, pos)  # ECPrivateKey (RFC 5915): version, privateKey, [0] params, [1] pub
    if curve is None:
        for tag, cs, ce in children(der, s, e):
            if tag == 0xA0:
                _, os_, oe = tlv(der, cs)
                curve = _OIDS_CURVE.get(oid(der[os_:oe]), "unknown curve")
    return f"EC {curve}" if curve else "EC"


# --------------------------------------------------------------------------------------------
# Handing the pair to OpenSSL


def _is_mismatch(exc: ssl.SSLError) -> bool:
    return getattr(exc, "reason", None) == "KEY_VALUES_MISMATCH" or "key values mismatch" in str(exc)


def _reason(exc: ssl.SSLError) -> str:
    return str(getattr(exc, "reason", None) or exc)


def _refuse_password() -> bytes:
    # Encrypted keys are filtered out before OpenSSL sees them; if one slipped through, fail
    # instead of letting OpenSSL prompt on the terminal (its default without a callback).
    raise ClientCertError("the private key in SSL_CLIENT_CERT is encrypted")


class _MemoryFile:
    """The chain and key in an anonymous memory file, readable by path as ``/proc/self/fd/N``.

    Opening ``/proc/self/fd/N`` on Linux opens the file anew (its own offset), so every
    ``load_cert_chain`` reads it whole. The descriptor is closed when the :class:`ClientCert`
    goes away, or at exit.
    """

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.path = f"/proc/self/fd/{fd}"

    @classmethod
    def create(cls, content: bytes) -> _MemoryFile | None:
        """The memory file holding ``content``, or None where there is none (not Linux, no /proc)."""
        memfd_create = getattr(os, "memfd_create", None)
        if memfd_create is None or not sys.platform.startswith("linux"):
            return None
        try:
            fd = memfd_create("tlsback-client-cert", os.MFD_CLOEXEC)
        except OSError:
            return None
        memory = cls(fd)
        try:
            view = memoryview(content)
            while view:
                view = view[os.write(fd, view):]
            if not os.path.exists(memory.path):  # /proc not mounted (some containers)
                return None
        except OSError:
            return None
        return memory

    def __del__(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)


def _private_dir_base(runtime_dir: str | None) -> str | None:
    """A tmpfs directory for the short-lived key file, so the key never reaches a disk."""
    for candidate in (runtime_dir, "/dev/shm"):
        if not candidate:
            continue
        try:
            st = os.stat(candidate)
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode) and os.access(candidate, os.W_OK | os.X_OK):
            return candidate
    return None


@contextlib.contextmanager
def _private_file(content: bytes, runtime_dir: str | None) -> Iterator[str]:
    """A 0600 file holding ``content`` in a fresh 0700 directory; both removed on exit."""
    try:
        directory = tempfile.mkdtemp(prefix="tlsback-clientcert-", dir=_private_dir_base(runtime_dir))
    except OSError:
        directory = tempfile.mkdtemp(prefix="tlsback-clientcert-")
    path = os.path.join(directory, "client.pem")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(content)
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        with contextlib.suppress(OSError):
            os.rmdir(directory)
