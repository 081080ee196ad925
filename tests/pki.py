"""Certificate factory for the tests, built on ``cryptography``.

Everything a rustls/webpki-style verification policy needs to be tested against: CA and leaf
certificates, chains, odd extensions, expired and not-yet-valid certificates, SHA-1 and MD5
signatures, RSA-1024 keys, Ed25519 keys, name constraints, unknown critical extensions.

Typical use::

    from tests.pki import PKI, issue, make_key

    pki = PKI.create()                                   # root -> intermediate -> localhost leaf
    weak = issue("localhost", issuer=pki.intermediate, san=["localhost"], hash_alg="sha1",
                 key_kind="rsa1024")

Notes:
- ``cryptography`` (>= 4x) refuses to *sign* certificates with SHA-1 or MD5. For those,
  :func:`issue` builds the certificate with SHA-256 and re-signs the TBSCertificate itself
  (the DER surgery in :func:`_resign`, X.690 encoding): the result is a genuine SHA-1/MD5
  signed certificate that OpenSSL verifies (at a low enough security level).
- RSA key generation is slow, so RSA keys come from a small per-kind pool (:func:`make_key`);
  consecutive calls return different keys until the pool is full, then keys are reused.
  Certificates with reused keys are fine for tests, but if a test needs a key nobody else
  has, pass ``make_key(kind, fresh=True)``. EC and Ed25519 keys are always fresh.
"""

from __future__ import annotations

import datetime
import ipaddress
import itertools
import os
import secrets
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "CLIENT_AUTH",
    "KEY_KINDS",
    "PKI",
    "SERVER_AUTH",
    "Cert",
    "PrivateKey",
    "issue",
    "make_key",
    "name",
    "write_bundle",
    "write_hashed_dir",
]

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey

SERVER_AUTH = ExtendedKeyUsageOID.SERVER_AUTH
CLIENT_AUTH = ExtendedKeyUsageOID.CLIENT_AUTH

KEY_KINDS = ("ec", "ec384", "rsa1024", "rsa2048", "rsa4096", "ed25519")

# How many distinct RSA keys to generate per kind before reusing them.
_RSA_POOL_SIZE = {"rsa1024": 8, "rsa2048": 8, "rsa4096": 2}
_RSA_BITS = {"rsa1024": 1024, "rsa2048": 2048, "rsa4096": 4096}
_rsa_pool: dict[str, list[rsa.RSAPrivateKey]] = {}
_rsa_counter: dict[str, itertools.count[int]] = {}
_pool_lock = threading.Lock()


def make_key(kind: str = "ec", *, fresh: bool = False) -> PrivateKey:
    """Return a private key of the given kind.

    Args:
        kind: "ec" (P-256), "ec384" (P-384), "rsa1024", "rsa2048", "rsa4096" or "ed25519".
        fresh: for RSA kinds, always generate a new key instead of using the pool.

    Returns:
        The private key. RSA keys are drawn round-robin from a per-kind pool.
    """
    if kind == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "ec384":
        return ec.generate_private_key(ec.SECP384R1())
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    if kind not in _RSA_BITS:
        raise ValueError(f"unknown key kind {kind!r}; expected one of {KEY_KINDS}")
    if fresh:
        return rsa.generate_private_key(public_exponent=65537, key_size=_RSA_BITS[kind])
    with _pool_lock:
        pool = _rsa_pool.setdefault(kind, [])
        n = next(_rsa_counter.setdefault(kind, itertools.count()))
        if n < _RSA_POOL_SIZE[kind]:
            key = rsa.generate_private_key(public_exponent=65537, key_size=_RSA_BITS[kind])
            pool.append(key)
            return key
        return pool[n % len(pool)]


def name(common_name: str | None = None, **attrs: str) -> x509.Name:
    """Build an ``x509.Name``: ``name("CN", O="Org", C="US")``.

    Keyword names are NameOID attribute names or their short forms (CN, O, OU, C, ST, L, DC).
    """
    short = {
        "CN": NameOID.COMMON_NAME,
        "O": NameOID.ORGANIZATION_NAME,
        "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
        "C": NameOID.COUNTRY_NAME,
        "ST": NameOID.STATE_OR_PROVINCE_NAME,
        "L": NameOID.LOCALITY_NAME,
        "DC": NameOID.DOMAIN_COMPONENT,
    }
    parts = []
    for key, value in attrs.items():
        oid = short.get(key) or getattr(NameOID, key.upper())
        parts.append(x509.NameAttribute(oid, value))
    if common_name is not None:
        parts.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(parts)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


@dataclass
class Cert:
    """A certificate and its private key."""

    cert: x509.Certificate
    key: PrivateKey

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    @property
    def key_pem(self) -> bytes:
        """The private key, PKCS#8 PEM, unencrypted."""
        return self.key_bytes("pkcs8")

    @property
    def subject(self) -> x509.Name:
        return self.cert.subject

    @property
    def common_name(self) -> str | None:
        attrs = self.cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        return str(attrs[0].value) if attrs else None

    @property
    def subject_hash(self) -> int:
        """OpenSSL's ``X509_NAME_hash`` of the subject (what ``c_rehash`` names files by)."""
        from OpenSSL import crypto

        return int(crypto.X509.from_cryptography(self.cert).subject_name_hash())

    def hash_name(self, n: int = 0) -> str:
        """The OpenSSL hashed-directory file name, ``"1a2b3c4d.0"``."""
        return f"{self.subject_hash:08x}.{n}"

    @property
    def fingerprint(self) -> bytes:
        """SHA-256 of the DER encoding."""
        return self.cert.fingerprint(hashes.SHA256())

    def key_bytes(
        self,
        fmt: str = "pkcs8",
        *,
        password: bytes | None = None,
        encoding: Literal["pem", "der"] = "pem",
    ) -> bytes:
        """Serialize the private key.

        Args:
            fmt: "pkcs8" (BEGIN PRIVATE KEY), "pkcs1" (BEGIN RSA PRIVATE KEY, RSA only),
                "sec1" (BEGIN EC PRIVATE KEY, EC only), "traditional" (pkcs1 or sec1 by key
                type), or "openssh".
            password: encrypt with it (PKCS#8: ENCRYPTED PRIVATE KEY; pkcs1/sec1: legacy
                Proc-Type/DEK-Info headers).
            encoding: "pem" or "der" (der only for pkcs8/pkcs1/sec1).
        """
        enc: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(password)
            if password
            else serialization.NoEncryption()
        )
        if fmt == "pkcs8":
            pfmt = serialization.PrivateFormat.PKCS8
        elif fmt in ("pkcs1", "sec1", "traditional"):
            if fmt == "pkcs1" and not isinstance(self.key, rsa.RSAPrivateKey):
                raise ValueError("pkcs1 needs an RSA key")
            if fmt == "sec1" and not isinstance(self.key, ec.EllipticCurvePrivateKey):
                raise ValueError("sec1 needs an EC key")
            pfmt = serialization.PrivateFormat.TraditionalOpenSSL
        elif fmt == "openssh":
            pfmt = serialization.PrivateFormat.OpenSSH
        else:
            raise ValueError(f"unknown key format {fmt!r}")
        penc = serialization.Encoding.DER if encoding == "der" else serialization.Encoding.PEM
        return self.key.private_bytes(penc, pfmt, enc)

    def write_pem(self, path: str | os.PathLike[str]) -> Path:
        p = Path(path)
        p.write_bytes(self.pem)
        return p

    def write_der(self, path: str | os.PathLike[str]) -> Path:
        p = Path(path)
        p.write_bytes(self.der)
        return p

    def write_key(
        self,
        path: str | os.PathLike[str],
        *,
        fmt: str = "pkcs8",
        password: bytes | None = None,
    ) -> Path:
        """Write the private key (see :meth:`key_bytes` for ``fmt``)."""
        p = Path(path)
        p.write_bytes(self.key_bytes(fmt, password=password))
        return p

    def write_combined(
        self,
        path: str | os.PathLike[str],
        *,
        chain: Sequence[Cert] = (),
        key_first: bool = False,
        fmt: str = "pkcs8",
        password: bytes | None = None,
    ) -> Path:
        """Write certificate (+ chain) and key into one PEM file, as ``SSL_CLIENT_CERT`` wants."""
        certs = self.pem + b"".join(c.pem for c in chain)
        keyb = self.key_bytes(fmt, password=password)
        p = Path(path)
        p.write_bytes(keyb + certs if key_first else certs + keyb)
        return p


_DEFAULT = object()


def _hash(hash_alg: str) -> hashes.HashAlgorithm:
    table: dict[str, hashes.HashAlgorithm] = {
        "sha256": hashes.SHA256(),
        "sha384": hashes.SHA384(),
        "sha512": hashes.SHA512(),
        "sha224": hashes.SHA224(),
        "sha1": hashes.SHA1(),
        "md5": hashes.MD5(),
    }
    try:
        return table[hash_alg]
    except KeyError:
        raise ValueError(f"unknown hash_alg {hash_alg!r}") from None


def _general_name(entry: str | x509.GeneralName) -> x509.GeneralName:
    if isinstance(entry, x509.GeneralName):
        return entry
    if entry.startswith("email:"):
        return x509.RFC822Name(entry[6:])
    if entry.startswith("uri:"):
        return x509.UniformResourceIdentifier(entry[4:])
    if entry.startswith("dns:"):
        return x509.DNSName(entry[4:])
    text = entry.removeprefix("ip:")
    try:
        return x509.IPAddress(ipaddress.ip_address(text.strip("[]")))
    except ValueError:
        if entry.startswith("ip:"):
            return x509.IPAddress(ipaddress.ip_network(text))
    return x509.DNSName(entry)


def issue(
    common_name: str = "test",
    *,
    issuer: Cert | None = None,
    subject: x509.Name | None = None,
    issuer_name: x509.Name | None = None,
    is_ca: bool = False,
    path_length: int | None = None,
    basic_constraints: bool = True,
    basic_constraints_critical: bool = True,
    san: Sequence[str | x509.GeneralName] | None = None,
    san_critical: bool = False,
    not_before: datetime.datetime | None = None,
    not_after: datetime.datetime | None = None,
    key: PrivateKey | None = None,
    key_kind: str = "ec",
    hash_alg: str = "sha256",
    eku: Sequence[x509.ObjectIdentifier] | None | object = _DEFAULT,
    eku_critical: bool = False,
    key_usage: x509.KeyUsage | None | Literal["default"] = "default",
    key_usage_critical: bool = True,
    name_constraints: x509.NameConstraints | None = None,
    name_constraints_critical: bool = True,
    extra_extensions: Sequence[tuple[x509.ExtensionType, bool]] = (),
    key_identifiers: bool = True,
    serial: int | None = None,
) -> Cert:
    """Issue a certificate.

    Args:
        common_name: subject CN (ignored when ``subject`` is given).
        issuer: the signing CA; ``None`` makes the certificate self-signed.
        subject: full subject name, overrides ``common_name``.
        issuer_name: override the issuer field (default: the issuer's subject), for
            mismatching-name tests.
        is_ca: basicConstraints cA=TRUE (and CA key usage by default).
        path_length: basicConstraints pathLenConstraint (CA only).
        basic_constraints: include the basicConstraints extension at all.
        basic_constraints_critical: its criticality.
        san: subjectAltName entries; IP literals are detected, ``"*.example.com"`` works,
            ``"email:..."``, ``"uri:..."``, ``"dns:..."``, ``"ip:10.0.0.0/8"`` and
            ``x509.GeneralName`` objects too. ``None`` omits the extension.
        san_critical: criticality of subjectAltName.
        not_before: default now - 1 hour.
        not_after: default now + 30 days.
        key: the subject key; default a new key of ``key_kind``.
        key_kind: see :func:`make_key`.
        hash_alg: "sha256", "sha384", "sha512", "sha224", "sha1" or "md5" (the last two by
            re-signing, see the module docstring). Ignored for an Ed25519 issuer key.
        eku: extendedKeyUsage OIDs; default ``[SERVER_AUTH]`` for leaves, none for CAs;
            ``None`` omits the extension.
        eku_critical: its criticality.
        key_usage: ``"default"`` (CA: keyCertSign+cRLSign+digitalSignature; leaf:
            digitalSignature, + keyEncipherment for RSA), ``None`` to omit, or an explicit
            ``x509.KeyUsage``.
        key_usage_critical: its criticality.
        name_constraints: a ``x509.NameConstraints`` extension.
        name_constraints_critical: its criticality.
        extra_extensions: ``(extension, critical)`` pairs, e.g.
            ``(x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.99999.1"),
            b"\\x05\\x00"), True)``.
        key_identifiers: add subjectKeyIdentifier and authorityKeyIdentifier.
        serial: serial number; default random.

    Returns:
        The new :class:`Cert`.
    """
    if key is None:
        key = make_key(key_kind)
    subj = subject if subject is not None else name(common_name)
    signer_key = issuer.key if issuer is not None else key
    iss = (
        issuer_name
        if issuer_name is not None
        else (issuer.cert.subject if issuer is not None else subj)
    )
    now = _now()
    nb = not_before if not_before is not None else now - datetime.timedelta(hours=1)
    na = not_after if not_after is not None else now + datetime.timedelta(days=30)

    builder = (
        x509.CertificateBuilder()
        .subject_name(subj)
        .issuer_name(iss)
        .public_key(key.public_key())
        .serial_number(serial if serial is not None else x509.random_serial_number())
        .not_valid_before(nb)
        .not_valid_after(na)
    )
    if basic_constraints:
        builder = builder.add_extension(
            x509.BasicConstraints(ca=is_ca, path_length=path_length if is_ca else None),
            critical=basic_constraints_critical,
        )
    if key_usage == "default":
        if is_ca:
            ku = x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            )
        else:
            ku = x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=isinstance(key, rsa.RSAPrivateKey),
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            )
        builder = builder.add_extension(ku, critical=key_usage_critical)
    elif key_usage is not None:
        builder = builder.add_extension(key_usage, critical=key_usage_critical)
    if eku is _DEFAULT:
        eku = None if is_ca else [SERVER_AUTH]
    if eku is not None:
        assert isinstance(eku, Iterable)
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=eku_critical)
    if san is not None:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([_general_name(s) for s in san]), critical=san_critical
        )
    if name_constraints is not None:
        builder = builder.add_extension(name_constraints, critical=name_constraints_critical)
    if key_identifiers:
        builder = builder.add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
        )
        if issuer is not None:
            try:
                ski = issuer.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
                aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski.value)
            except x509.ExtensionNotFound:
                aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key())
            builder = builder.add_extension(aki, critical=False)
    for ext, critical in extra_extensions:
        builder = builder.add_extension(ext, critical=critical)

    if isinstance(signer_key, ed25519.Ed25519PrivateKey):
        cert = builder.sign(signer_key, None)
    elif hash_alg in ("sha1", "md5"):
        cert = _resign(builder.sign(signer_key, hashes.SHA256()), signer_key, hash_alg)
    else:
        cert = builder.sign(signer_key, _hash(hash_alg))  # type: ignore[arg-type]
    return Cert(cert, key)


# --- SHA-1 / MD5 signing by DER surgery (X.690) -----------------------------------------------
# Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm AlgorithmIdentifier,
#                            signatureValue BIT STRING }            (RFC 5280 section 4.1)
# TBSCertificate ::= SEQUENCE { [0] version, serialNumber, signature AlgorithmIdentifier, ... }

_ALG_IDS = {
    # sha1WithRSAEncryption 1.2.840.113549.1.1.5, NULL parameters
    ("rsa", "sha1"): bytes.fromhex("300d06092a864886f70d0101050500"),
    # md5WithRSAEncryption 1.2.840.113549.1.1.4
    ("rsa", "md5"): bytes.fromhex("300d06092a864886f70d0101040500"),
    # ecdsa-with-SHA1 1.2.840.10045.4.1, parameters absent (RFC 5758 section 3.2)
    ("ec", "sha1"): bytes.fromhex("300906072a8648ce3d0401"),
}


def _der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _der_tlv(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + _der_len(len(content)) + content


def _der_split(data: bytes) -> list[bytes]:
    """Split concatenated DER TLVs (definite lengths, single-byte tags) into whole TLVs."""
    out = []
    i = 0
    while i < len(data):
        start = i
        i += 1  # tag
        first = data[i]
        i += 1
        if first < 0x80:
            length = first
        else:
            nbytes = first & 0x7F
            length = int.from_bytes(data[i : i + nbytes], "big")
            i += nbytes
        i += length
        out.append(data[start:i])
    return out


def _der_content(tlv: bytes) -> bytes:
    first = tlv[1]
    offset = 2 if first < 0x80 else 2 + (first & 0x7F)
    return tlv[offset:]


def _resign(cert: x509.Certificate, signer_key: PrivateKey, hash_alg: str) -> x509.Certificate:
    if isinstance(signer_key, rsa.RSAPrivateKey):
        alg = _ALG_IDS[("rsa", hash_alg)]
    elif isinstance(signer_key, ec.EllipticCurvePrivateKey):
        if ("ec", hash_alg) not in _ALG_IDS:
            raise ValueError(f"{hash_alg} with an EC key is not supported")
        alg = _ALG_IDS[("ec", hash_alg)]
    else:
        raise TypeError(f"{hash_alg} needs an RSA or EC signing key")
    tbs_fields = _der_split(_der_content(cert.tbs_certificate_bytes))
    # fields[0] is the [0] EXPLICIT version (always present for v3), [1] serial, [2] signature
    tbs_fields[2] = alg
    tbs = _der_tlv(0x30, b"".join(tbs_fields))
    h = _hash(hash_alg)
    if isinstance(signer_key, rsa.RSAPrivateKey):
        sig = signer_key.sign(tbs, padding.PKCS1v15(), h)
    else:
        sig = signer_key.sign(tbs, ec.ECDSA(h))
    der = _der_tlv(0x30, tbs + alg + _der_tlv(0x03, b"\x00" + sig))
    return x509.load_der_x509_certificate(der)


# --- convenience ------------------------------------------------------------------------------


def write_bundle(path: str | os.PathLike[str], certs: Iterable[Cert | x509.Certificate]) -> Path:
    """Write several certificates into one PEM bundle."""
    p = Path(path)
    p.write_bytes(
        b"".join(
            c.pem if isinstance(c, Cert) else c.public_bytes(serialization.Encoding.PEM)
            for c in certs
        )
    )
    return p


def write_hashed_dir(directory: str | os.PathLike[str], certs: Iterable[Cert]) -> Path:
    """Write certificates into ``directory`` as OpenSSL hash-named files (like ``c_rehash``)."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    for c in certs:
        n = 0
        while (d / c.hash_name(n)).exists():
            n += 1
        c.write_pem(d / c.hash_name(n))
    return d


@dataclass
class PKI:
    """A root CA, an intermediate CA and a leaf for ``hostnames`` (default localhost)."""

    root: Cert
    intermediate: Cert
    leaf: Cert
    hostnames: tuple[str, ...] = field(default=("localhost", "127.0.0.1"))

    @classmethod
    def create(
        cls,
        hostnames: Sequence[str] = ("localhost", "127.0.0.1"),
        *,
        key_kind: str = "ec",
        name_prefix: str = "tlsback test",
        **leaf_kwargs: object,
    ) -> PKI:
        """Create a fresh three-level PKI.

        Args:
            hostnames: the leaf's SAN entries; the first one is also its CN.
            key_kind: key kind for all three certificates.
            name_prefix: start of the CA names (a random token keeps them unique).
            **leaf_kwargs: passed to :func:`issue` for the leaf (e.g. ``hash_alg``,
                ``not_after``, ``eku``, ``san``).
        """
        token = secrets.token_hex(4)
        root = issue(f"{name_prefix} root CA {token}", is_ca=True, key_kind=key_kind)
        intermediate = issue(
            f"{name_prefix} intermediate CA {token}",
            issuer=root,
            is_ca=True,
            path_length=0,
            key_kind=key_kind,
        )
        kwargs: dict[str, object] = {"san": list(hostnames), "key_kind": key_kind}
        kwargs.update(leaf_kwargs)
        leaf = issue(hostnames[0] if hostnames else "leaf", issuer=intermediate, **kwargs)  # type: ignore[arg-type]
        return cls(root, intermediate, leaf, tuple(hostnames))

    def issue_leaf(
        self, hostnames: Sequence[str] = ("localhost", "127.0.0.1"), **kwargs: object
    ) -> Cert:
        """Another leaf under this PKI's intermediate (``issue`` keywords allowed)."""
        merged: dict[str, object] = {"san": list(hostnames)}
        merged.update(kwargs)
        return issue(hostnames[0] if hostnames else "leaf", issuer=self.intermediate, **merged)  # type: ignore[arg-type]

    @property
    def chain(self) -> list[Cert]:
        """Leaf first, then intermediate: what a server sends."""
        return [self.leaf, self.intermediate]

    @property
    def chain_pem(self) -> bytes:
        return self.leaf.pem + self.intermediate.pem

    def write_server_files(self, directory: str | os.PathLike[str]) -> tuple[Path, Path]:
        """Write ``server-chain.pem`` (leaf + intermediate) and ``server-key.pem``."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        certfile = d / "server-chain.pem"
        certfile.write_bytes(self.chain_pem)
        keyfile = self.leaf.write_key(d / "server-key.pem")
        return certfile, keyfile

    def write_root(self, path: str | os.PathLike[str]) -> Path:
        """Write the root CA certificate (PEM)."""
        return self.root.write_pem(path)
