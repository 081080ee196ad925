"""Name constraints (RFC 5280 §4.2.1.10) with webpki's semantics, over a verified path.

For every certificate in the path that carries nameConstraints (trust anchor included), every
certificate below it is checked: each subjectAltName entry, and its subject as a directoryName.

* dNSName: a name is inside a subtree ``example.com`` when it equals it or ends in
  ``.example.com``; inside ``.example.com`` only when it ends in ``.example.com``; ``""`` holds
  every name. A wildcard SAN ``*.R`` stands for every ``L.R``: it is outside a permitted subtree
  unless *all* of those names are inside it, and inside an excluded subtree if *any* of them is
  (so ``*.example.com`` is inside an excluded ``bar.example.com``; CVE-2025-61727 is that bug in
  another verifier). A dNSName that is not a valid presented identifier is
  ``MalformedDnsIdentifier`` as soon as a dNSName subtree has to be compared with it.
* iPAddress: address and mask, 8 or 32 octets; an IPv4 name never matches an IPv6 subtree.
* directoryName: webpki does not implement it and so refuses every subordinate name under a
  directoryName subtree (permitted: nothing matches; excluded: everything does). RFC 5280 allows
  refusing a name form one does not process.
* any other name form (rfc822Name, URI, otherName...) constrained and present: refused.

Permitted subtrees of a form constrain only names of that form.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..x509 import CertInfo, DERError, GeneralName, children, general_name, general_names, tlv
from ..x509.cert import OID_NAME_CONSTRAINTS, OID_SUBJECT_ALT_NAME

_DNS, _DIRECTORY, _IP = 2, 4, 7
_ERR_PERMITTED_VIOLATION = 47
_ERR_UNSUPPORTED_NAME_SYNTAX = 53

# webpki stops after this many comparisons (a quadratic blow-up guard); so does this.
_MAX_COMPARISONS = 250_000


def _violation(reason: str, detail: str, cert: CertInfo) -> Exception:
    from .rules import PolicyViolation

    code = _ERR_UNSUPPORTED_NAME_SYNTAX if reason == "MalformedDnsIdentifier" else _ERR_PERMITTED_VIOLATION
    return PolicyViolation(reason, detail, code, cert)


def _valid_dns(name: str, *, constraint: bool) -> bool:
    """webpki's DNS identifier syntax: presented (wildcard allowed) or a constraint."""
    if len(name) > 253:
        return False
    if constraint:
        if name == "":
            return True
        name = name.removeprefix(".")
    elif name.startswith("*."):
        name = name[2:]
        if name.count(".") < 1:  # at least two labels after the wildcard, as NSS
            return False
    labels = name.split(".")
    for label in labels:
        if not 0 < len(label) <= 63 or label[0] == "-" or label[-1] == "-":
            return False
        if not all(c.isascii() and (c.isalnum() or c in "-_") for c in label):
            return False
    return not labels[-1].isdigit()


def _dns_within(name: str, base: str) -> bool:
    """A non-wildcard name inside the subtree ``base`` (both valid, lower case)."""
    if base == "":
        return True
    if base.startswith("."):
        return name.endswith(base)
    return name == base or name.endswith("." + base)


def _dns_matches(name: str, base: str, *, excluded: bool) -> bool:
    """Whether ``name`` counts as inside ``base``: for a wildcard ``*.R``, all of the names it
    stands for (a permitted subtree) or any of them (an excluded one)."""
    if not name.startswith("*."):
        return _dns_within(name, base)
    rest, bare = name[2:], base.lstrip(".")
    if base == "" or rest == bare or rest.endswith("." + bare):
        return True  # every L.R is inside
    if not excluded or base.startswith("."):
        return False  # ".D" holds L.R only when every L.R is in it
    # Only the one name whose first label is base's: "bar.example.com" for "*.example.com".
    return base.partition(".")[2] == rest


def _ip_matches(name: bytes, base: bytes, cert: CertInfo) -> bool | None:
    if len(name) not in (4, 16):
        raise _violation("BadDer", f"an iPAddress of {len(name)} octets in {cert.subject}", cert)
    if len(base) not in (8, 32):
        raise _violation("InvalidNetworkMaskConstraint",
                         f"an iPAddress constraint of {len(base)} octets", cert)
    if len(name) * 2 != len(base):
        return None  # another address family: not comparable
    half = len(base) // 2
    addr, mask = base[:half], base[half:]
    bits = int.from_bytes(mask, "big")
    inverted = ~bits & ((1 << (8 * half)) - 1)
    if inverted & (inverted + 1):  # the mask must be a prefix: ones then zeros
        raise _violation("InvalidNetworkMaskConstraint", f"mask {mask.hex()} is not a prefix", cert)
    return all((n & m) == (a & m) for n, a, m in zip(name, addr, mask))


def _subtrees(value: bytes, tag: int, start: int, end: int) -> list[GeneralName] | None:
    """The base names of permittedSubtrees ([0]) or excludedSubtrees ([1]); None if absent."""
    for t, s, e in children(value, start, end):
        if t != tag:
            continue
        out = []
        for st, ss, se in children(value, s, e):  # GeneralSubtree ::= SEQUENCE { base, ... }
            kids = children(value, ss, se)
            if st != 0x30 or len(kids) != 1:
                # RFC 5280: minimum MUST be zero (so absent in DER), maximum MUST be absent.
                raise DERError("a GeneralSubtree holds only its base name")
            out.append(general_name(value, *kids[0]))
        return out
    return None


def _names_of(cert: CertInfo) -> list[GeneralName]:
    names = [GeneralName(_DIRECTORY, cert.subject_der)]
    ext = cert.extension(OID_SUBJECT_ALT_NAME)
    if ext is not None:
        names[:0] = general_names(ext.value)
    return names


def _show(name: GeneralName) -> str:
    if name.kind == _DNS:
        return f'DnsName("{name.value.decode("ascii", "replace")}")'
    if name.kind == _IP:
        import ipaddress

        try:
            return f"IpAddress({ipaddress.ip_address(name.value)})"
        except ValueError:
            return f"IpAddress({name.value.hex()})"
    if name.kind == _DIRECTORY:
        return "the subject (directoryName)"
    return f"a name of form [{name.kind}]"


def _check_one(name: GeneralName, permitted: list[GeneralName] | None,
               excluded: list[GeneralName] | None, ca: CertInfo, cert: CertInfo,
               budget: list[int]) -> None:
    dns = None
    if name.kind == _DNS:
        dns = name.value.decode("ascii", "replace").lower()
        if not name.value.isascii() or not _valid_dns(dns, constraint=False):
            if any(b.kind == _DNS for b in (permitted or []) + (excluded or [])):
                raise _violation("MalformedDnsIdentifier",
                                 f"{_show(name)} in {cert.subject} is not a valid DNS name, and "
                                 f"{ca.subject} constrains DNS names", cert)
            return
    for is_excluded, subtrees in ((False, permitted), (True, excluded)):
        if subtrees is None:
            continue
        seen_form = matched = False
        for base in subtrees:
            budget[0] += 1
            if budget[0] > _MAX_COMPARISONS:
                raise _violation("MaximumNameConstraintComparisonsExceeded",
                                 "too many name-constraint comparisons", cert)
            if base.kind != name.kind:
                continue
            if name.kind == _DNS:
                text = base.value.decode("ascii", "replace").lower()
                if not base.value.isascii() or not _valid_dns(text, constraint=True):
                    raise _violation("MalformedDnsIdentifier",
                                     f"{ca.subject} has a malformed dNSName constraint {text!r}", ca)
                assert dns is not None
                hit: bool | None = _dns_matches(dns, text, excluded=is_excluded)
            elif name.kind == _IP:
                hit = _ip_matches(name.value, base.value, cert)
                if hit is None:
                    continue
            else:
                # directoryName and the forms webpki does not process: refused either way.
                hit = is_excluded
                if name.kind != _DIRECTORY:
                    raise _violation("NameConstraintViolation",
                                     f"{_show(name)} in {cert.subject} is constrained by "
                                     f"{ca.subject} and not processed", cert)
            seen_form = True
            if hit and is_excluded:
                raise _violation("NameConstraintViolation",
                                 f"{_show(name)} in {cert.subject} is inside a subtree "
                                 f"{ca.subject} excludes", cert)
            matched = matched or bool(hit)
        if not is_excluded and seen_form and not matched:
            raise _violation("NameConstraintViolation",
                             f"{_show(name)} in {cert.subject} is outside the subtrees "
                             f"{ca.subject} permits", cert)


def check_name_constraints(certs: Sequence[CertInfo]) -> None:
    """Check every certificate below each name-constrained one in a path (leaf first).

    Raises:
        PolicyViolation: ``NameConstraintViolation``, ``MalformedDnsIdentifier``,
            ``InvalidNetworkMaskConstraint``...
        DERError: a constraint or a name could not be read.
    """
    budget = [0]
    for depth in range(1, len(certs)):
        ca = certs[depth]
        ext = ca.extension(OID_NAME_CONSTRAINTS)
        if ext is None:
            continue
        tag, cs, ce = tlv(ext.value, 0)
        if tag != 0x30:
            raise DERError("NameConstraints is a SEQUENCE")
        permitted = _subtrees(ext.value, 0xA0, cs, ce)
        excluded = _subtrees(ext.value, 0xA1, cs, ce)
        for cert in certs[:depth]:
            for name in _names_of(cert):
                _check_one(name, permitted, excluded, ca, cert, budget)


def check_server_name(leaf: CertInfo, hostname: str | None) -> None:
    """The leaf is valid for ``hostname`` (webpki: subjectAltName only, wildcard as the whole
    left-most label, any characters webpki allows in the label it stands for). The host name
    check of tlsback's verifying context (OpenSSL's differs: its wildcard takes letters, digits
    and hyphens only), and of resumed sessions, where OpenSSL does not check the name again.

    Raises:
        PolicyViolation: ``NotValidForName``.
    """
    import ipaddress

    if hostname is None:
        return
    try:
        # An address as OpenSSL takes one (no zone: Python would send that name in SNI).
        ip: bytes | None = None if "%" in hostname else ipaddress.ip_address(hostname.strip("[]")).packed
    except ValueError:
        ip = None
    # An absolute name arrives without its final dot (hooks._relative); any other dot stays, so
    # "localhost.." (a name with an empty label) matches nothing.
    host = hostname.lower()
    ext = leaf.extension(OID_SUBJECT_ALT_NAME)
    for name in general_names(ext.value) if ext is not None else ():
        if ip is not None:
            if name.kind == _IP and name.value == ip:
                return
        elif name.kind == _DNS:
            presented = name.value.decode("ascii", "replace").lower()
            if presented == host or (presented.startswith("*.") and "." in host
                                     and host.partition(".")[2] == presented[2:]
                                     and _valid_dns(presented, constraint=False)):
                return
    from .rules import PolicyViolation

    raise PolicyViolation("NotValidForName", f'certificate not valid for name "{hostname}"',
                          62 if ip is None else 64, leaf)
