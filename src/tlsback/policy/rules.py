"""webpki's rules that OpenSSL does not enforce, as pure functions over parsed certificates.

:func:`check_chain` takes the chain OpenSSL verified; :func:`check_leaf` is the part that needs no
chain (what a resumed session can still be checked on). Each broken rule raises
:class:`PolicyViolation` with rustls' name for it. See docs/verification.md.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..x509 import CertInfo, parse_certificate
from ..x509.cert import (
    EC,
    ED25519,
    ML_DSA,
    OID_BASIC_CONSTRAINTS,
    OID_CERTIFICATE_POLICIES,
    OID_CRL_DISTRIBUTION_POINTS,
    OID_EXT_KEY_USAGE,
    OID_KEY_USAGE,
    OID_NAME_CONSTRAINTS,
    OID_SERVER_AUTH,
    OID_SUBJECT_ALT_NAME,
    P256,
    P384,
    P521,
    RSA,
)
from .names import check_name_constraints

# X509_V_ERR_* codes (openssl/x509_vfy.h) used for our own verdicts, so code that dispatches on
# ``verify_code`` sees the closest OpenSSL equivalent.
ERR_UNSPECIFIED = 1
ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY = 20
ERR_PATH_LENGTH_EXCEEDED = 25
ERR_INVALID_PURPOSE = 26
ERR_UNHANDLED_CRITICAL_EXTENSION = 34
ERR_INVALID_NON_CA = 37
ERR_INVALID_EXTENSION = 41
ERR_PERMITTED_VIOLATION = 47
ERR_EE_KEY_TOO_SMALL = 66
ERR_UNSUPPORTED_SIGNATURE_ALGORITHM = 76

#: Extensions webpki understands; any other one marked critical makes it reject the certificate
#: (RFC 5280 §4.2: "A certificate-using system MUST reject the certificate if it encounters a
#: critical extension it does not recognize"). OpenSSL also knows certificatePolicies,
#: policyConstraints, policyMappings, inhibitAnyPolicy, RFC 3779 and proxy extensions, so it
#: accepts them critical; webpki does not.
WEBPKI_KNOWN_EXTENSIONS = frozenset({
    OID_KEY_USAGE, OID_SUBJECT_ALT_NAME, OID_BASIC_CONSTRAINTS, OID_NAME_CONSTRAINTS,
    OID_CRL_DISTRIBUTION_POINTS, OID_EXT_KEY_USAGE,
})

#: Certificate signature algorithms webpki verifies with the aws-lc-rs provider uv 0.13 ships
#: (the list uv prints in ``UnsupportedSignatureAlgorithmContext``): ECDSA with SHA-256/384/512
#: on P-256/P-384/P-521, RSA PKCS#1 v1.5 and PSS with SHA-256/384/512, Ed25519, ML-DSA.
#: Not SHA-1, MD5 or SHA-224, not DSA, not Ed448.
WEBPKI_SIGNATURE_ALGORITHMS = frozenset({
    "1.2.840.10045.4.3.2", "1.2.840.10045.4.3.3", "1.2.840.10045.4.3.4",
    "1.2.840.113549.1.1.11", "1.2.840.113549.1.1.12", "1.2.840.113549.1.1.13",
    "1.2.840.113549.1.1.10", ED25519, *ML_DSA,
})


def _pss_parameters(hash_arc: int, salt: int) -> bytes:
    """RSASSA-PSS-params (RFC 4055 §3.1) in DER: SHA-2 hash ``2.16.840.1.101.3.4.2.<hash_arc>``
    (with NULL parameters), MGF1 over the same hash, a salt of ``salt`` bytes."""
    hash_id = bytes.fromhex("300d06096086480165030402") + bytes([hash_arc]) + b"\x05\x00"
    mgf1 = bytes.fromhex("301a06092a864886f70d010108") + hash_id
    fields = (b"\xa0\x0f" + hash_id + b"\xa1\x1c" + mgf1 + bytes.fromhex("a2030201")
              + bytes([salt]))
    return b"\x30" + bytes([len(fields)]) + fields


#: The parameters webpki accepts per signature algorithm: it compares the whole
#: AlgorithmIdentifier with its own list byte for byte. ECDSA, Ed25519 and ML-DSA take none
#: (RFC 5758 §3.2, RFC 8410 §3); RSA PKCS#1 v1.5 NULL or none (RFC 4055 §5 says NULL; webpki
#: also takes the absent form); RSASSA-PSS only SHA-256/384/512 with MGF1 over the same hash
#: and a salt as long as the hash (any other salt, hash or MGF is UnsupportedSignatureAlgorithm).
WEBPKI_SIGNATURE_PARAMETERS: dict[str, frozenset[bytes]] = {
    **{alg: frozenset({b"", b"\x05\x00"}) for alg in (
        "1.2.840.113549.1.1.11", "1.2.840.113549.1.1.12", "1.2.840.113549.1.1.13")},
    "1.2.840.113549.1.1.10": frozenset({_pss_parameters(1, 32), _pss_parameters(2, 48),
                                        _pss_parameters(3, 64)}),
}


def webpki_signature_algorithm(cert: CertInfo) -> bool:
    """Whether webpki verifies signatures with ``cert``'s signatureAlgorithm, parameters included."""
    return cert.signature_algorithm in WEBPKI_SIGNATURE_ALGORITHMS and cert.signature_parameters in \
        WEBPKI_SIGNATURE_PARAMETERS.get(cert.signature_algorithm, frozenset({b""}))


EXTENSION_NAMES = {
    OID_CERTIFICATE_POLICIES: "certificatePolicies (2.5.29.32)",
    "2.5.29.36": "policyConstraints (2.5.29.36)",
    "2.5.29.33": "policyMappings (2.5.29.33)",
    "2.5.29.54": "inhibitAnyPolicy (2.5.29.54)",
    "2.5.29.14": "subjectKeyIdentifier (2.5.29.14)",
    "2.5.29.35": "authorityKeyIdentifier (2.5.29.35)",
    "1.3.6.1.5.5.7.1.1": "authorityInfoAccess (1.3.6.1.5.5.7.1.1)",
    "2.16.840.1.113730.1.1": "netscapeCertType (2.16.840.1.113730.1.1)",
}


class PolicyViolation(Exception):
    """A certificate breaks a webpki rule OpenSSL does not enforce.

    Attributes:
        reason: rustls' name for it (``CaUsedAsEndEntity``, ``UnsupportedCriticalExtension``...).
        detail: what exactly, for a person.
        verify_code: the closest ``X509_V_ERR_*`` code.
        certificate: the certificate it is about.
    """

    def __init__(self, reason: str, detail: str, verify_code: int, certificate: CertInfo | None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.verify_code = verify_code
        self.certificate = certificate


def _check_key(cert: CertInfo, role: str) -> None:
    # rustls verifies TLS signatures and webpki certificate signatures with RSA 2048-8192 bits,
    # ECDSA on P-256/P-384/P-521, Ed25519 and ML-DSA only (OpenSSL also takes secp256k1 and
    # other curves, DSA, Ed448).
    ok = (
        (cert.key_algorithm == RSA and cert.rsa_bits is not None and 2048 <= cert.rsa_bits <= 8192)
        or (cert.key_algorithm == EC and cert.key_parameter in (P256, P384, P521))
        or cert.key_algorithm == ED25519
        or cert.key_algorithm in ML_DSA
    )
    if not ok:
        raise PolicyViolation(
            "BadSignature" if cert.key_algorithm == RSA else "UnsupportedSignatureAlgorithmForPublicKey",
            f"the {role} certificate ({cert.subject}) has a {cert.key_description} key, which "
            "rustls does not support (RSA 2048-8192, ECDSA P-256/P-384/P-521, Ed25519, ML-DSA)",
            ERR_EE_KEY_TOO_SMALL if cert.key_algorithm == RSA else ERR_UNSUPPORTED_SIGNATURE_ALGORITHM,
            cert,
        )


def _check_issued(cert: CertInfo, role: str) -> None:
    """The rules for a certificate below the trust anchor (leaf or intermediate)."""
    from ..x509.der import first_non_der

    # webpki reads certificates as DER, OpenSSL as BER: a length or a BOOLEAN in another
    # encoding than DER's one was accepted by OpenSSL. The extensions webpki reads are DER too.
    bad = first_non_der(cert.der)
    for ext in cert.extensions:
        if bad is None and ext.oid in WEBPKI_KNOWN_EXTENSIONS:
            bad = first_non_der(ext.value)
    if cert.unique_ids:
        # RFC 5280 §4.1.2.8: conforming CAs MUST NOT generate them; webpki's reader stops there.
        raise PolicyViolation(
            "BadEncoding",
            f"the {role} certificate ({cert.subject}) has an issuerUniqueID or subjectUniqueID",
            ERR_INVALID_EXTENSION, cert,
        )
    if bad is not None:
        raise PolicyViolation(
            "BadEncoding",
            f"the {role} certificate ({cert.subject}) is not DER: a length not in its shortest "
            "form or a BOOLEAN not 00/FF (X.690 §10.1, §11.1)",
            ERR_INVALID_EXTENSION, cert,
        )
    if cert.version != 3:
        raise PolicyViolation(
            "UnsupportedCertVersion",
            f"the {role} certificate ({cert.subject}) is X.509 v{cert.version}; only v3 is accepted",
            ERR_INVALID_EXTENSION, cert,
        )
    seen: set[str] = set()
    for ext in cert.extensions:
        if ext.oid in seen:
            # RFC 5280 §4.2: "A certificate MUST NOT include more than one instance of a
            # particular extension."
            raise PolicyViolation(
                "ExtensionValueInvalid",
                f"the {role} certificate ({cert.subject}) repeats extension {ext.oid}",
                ERR_INVALID_EXTENSION, cert,
            )
        seen.add(ext.oid)
        if ext.critical and ext.oid not in WEBPKI_KNOWN_EXTENSIONS:
            raise PolicyViolation(
                "UnsupportedCriticalExtension",
                f"the {role} certificate ({cert.subject}) has a critical extension "
                f"{EXTENSION_NAMES.get(ext.oid, ext.oid)} that webpki does not process",
                ERR_UNHANDLED_CRITICAL_EXTENSION, cert,
            )
    if not webpki_signature_algorithm(cert):
        params = f" (parameters {cert.signature_parameters.hex()})" if cert.signature_parameters else ""
        raise PolicyViolation(
            "UnsupportedSignatureAlgorithm",
            f"the {role} certificate ({cert.subject}) is signed with {cert.signature_name}{params}",
            ERR_UNSUPPORTED_SIGNATURE_ALGORITHM, cert,
        )
    eku = cert.extended_key_usage
    if eku is not None and OID_SERVER_AUTH not in eku:
        # OpenSSL checks this too (purpose sslserver); kept so the rule never depends on how
        # the context's purpose was set.
        raise PolicyViolation(
            "InvalidPurpose",
            f"the {role} certificate ({cert.subject}) does not allow server authentication "
            "(extendedKeyUsage lacks serverAuth)",
            ERR_INVALID_PURPOSE, cert,
        )


def check_leaf(leaf: CertInfo) -> None:
    """The rules a server certificate must meet on its own, without its chain.

    Raises:
        PolicyViolation: the first rule broken.
    """
    if leaf.is_ca:
        # RFC 5280 §4.2.1.9; webpki: a CA certificate may not identify a server. OpenSSL only
        # refuses it with X509_V_FLAG_X509_STRICT, which would also refuse too much.
        raise PolicyViolation(
            "CaUsedAsEndEntity",
            f"the server certificate ({leaf.subject}) is a CA certificate (basicConstraints cA=TRUE)",
            ERR_INVALID_NON_CA, leaf,
        )
    _check_issued(leaf, "server")
    _check_key(leaf, "server")


def check_chain(chain: Sequence[bytes], *, top_is_trusted: bool = True) -> CertInfo:
    """Apply the webpki rules OpenSSL does not check to a chain OpenSSL has verified.

    Args:
        chain: the verified chain as DER, leaf first (OpenSSL's ``SSL_get0_verified_chain``).
            Its last certificate is the trust anchor, except when OpenSSL matched the leaf
            itself in the store as a last resort (partial-chain mode).
        top_is_trusted: whether the last certificate is in the trust store. ``False`` means
            OpenSSL trusted the leaf directly, which webpki never does.

    Returns:
        The leaf, parsed (for the host name check that follows).

    Raises:
        PolicyViolation: the first rule broken, leaf first.
        DERError: a certificate could not be read (the caller refuses the connection).
    """
    certs = [parse_certificate(der) for der in chain]
    if not certs:
        raise PolicyViolation("UnknownIssuer", "the server sent no certificate",
                              ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, None)
    leaf = certs[0]
    if (len(certs) == 1 and not leaf.self_issued) or not top_is_trusted:
        # OpenSSL's partial-chain mode accepts a leaf that is itself in the store; webpki looks
        # for the leaf's *issuer* among the anchors and does not find it.
        raise PolicyViolation(
            "UnknownIssuer",
            f"the issuer of {leaf.subject} ({leaf.issuer}) is not a trusted certificate "
            "(the leaf itself being trusted is not enough)",
            ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, leaf,
        )
    check_leaf(leaf)
    # The trust anchor is not a certificate to webpki, only a name, a key and its name
    # constraints: none of its other fields are checked.
    for below, cert in enumerate(certs[1:-1]):
        _check_issued(cert, "intermediate")
        limit = cert.path_length
        if limit is not None and below > limit:
            # webpki counts every CA between this one and the leaf; RFC 5280 (and OpenSSL, which
            # checked the rest) skips self-issued ones, which would let a pathLen-0 CA issue a
            # CA of its own name that then issues leaves.
            raise PolicyViolation(
                "PathLenConstraintViolated",
                f"the intermediate certificate ({cert.subject}) allows {limit} CA certificate(s) "
                f"below it (pathLenConstraint), and the chain has {below}",
                ERR_PATH_LENGTH_EXCEEDED, cert,
            )
    for cert in certs[1:]:
        # The anchor's key verifies the next signature, so it is checked too (webpki would
        # fail that signature check).
        _check_key(cert, "issuing")
    check_name_constraints(certs)
    return leaf
