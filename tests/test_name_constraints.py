"""Name constraints with webpki's semantics (tlsback.policy.names), on certificates generated
with ``cryptography``: the rules one by one, wildcards against a brute-force model, and the
headline case end to end (OpenSSL accepts it, the policy refuses it)."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
from collections.abc import Callable

import pytest
from cryptography import x509
from hypothesis import given, settings
from hypothesis import strategies as st

from tests import policy_scenarios as ps
from tests.pki import issue
from tests.tlsserver import HTTPSServer
from tlsback import policy
from tlsback.policy import names, wording
from tlsback.x509 import parse_certificate


def _dns(v: str) -> x509.GeneralName:
    return x509.DNSName(v)


def _ip(v: str) -> x509.GeneralName:
    return x509.IPAddress(ipaddress.ip_network(v))


def _verdict(san: list[str], permitted: list[x509.GeneralName] | None = None,
             excluded: list[x509.GeneralName] | None = None) -> str:
    """The reason check_chain gives (or "ok") for a leaf with ``san`` under such a CA."""
    nc = x509.NameConstraints(permitted_subtrees=permitted or None,
                              excluded_subtrees=excluded or None)
    inter = issue("nc test intermediate", issuer=ps.base().root, is_ca=True, name_constraints=nc)
    leaf = issue("nc test leaf", issuer=inter, san=san)
    try:
        policy.check_chain([leaf.der, inter.der, ps.base().root.der])
    except policy.PolicyViolation as v:
        return v.reason
    return "ok"


@pytest.mark.parametrize(("san", "permitted", "excluded", "expected"), [
    (["a.example.test"], [_dns("example.test")], None, "ok"),
    (["example.test"], [_dns("example.test")], None, "ok"),
    (["example.test"], [_dns(".example.test")], None, "NameConstraintViolation"),
    (["a.example.test"], [_dns(".example.test")], None, "ok"),
    (["A.EXAMPLE.TEST"], [_dns("example.test")], None, "ok"),
    (["badexample.test"], [_dns("example.test")], None, "NameConstraintViolation"),
    (["a.example.test", "a.other.test"], [_dns("example.test")], None, "NameConstraintViolation"),
    (["*.example.test"], [_dns("example.test")], None, "ok"),
    (["*.example.test"], [_dns(".example.test")], None, "ok"),
    (["*.example.test"], [_dns("a.example.test")], None, "NameConstraintViolation"),
    (["*.a.example.test"], [_dns("example.test")], None, "ok"),
    (["*.example.test"], None, [_dns("bar.example.test")], "NameConstraintViolation"),
    (["*.example.test"], None, [_dns(".bar.example.test")], "ok"),
    (["*.example.test"], None, [_dns("example.test")], "NameConstraintViolation"),
    (["*.example.test"], None, [_dns("a.b.example.test")], "ok"),
    (["a.example.test"], None, [_dns("")], "NameConstraintViolation"),
    (["a.example.test"], None, [_dns("other.test")], "ok"),
    (["b..example.test"], [_dns("example.test")], None, "MalformedDnsIdentifier"),
    (["*.test"], [_dns("test")], None, "MalformedDnsIdentifier"),
    (["a.example.test."], None, [_dns("x.test")], "MalformedDnsIdentifier"),
    (["a*.example.test"], None, [_dns("x.test")], "MalformedDnsIdentifier"),
    (["b..example.test"], [_ip("10.0.0.0/8")], None, "ok"),  # no DNS constraint to compare
    (["127.0.0.1"], [_ip("127.0.0.0/8")], None, "ok"),
    (["127.0.0.1"], [_ip("10.0.0.0/8")], None, "NameConstraintViolation"),
    (["127.0.0.1"], None, [_ip("127.0.0.1/32")], "NameConstraintViolation"),
    (["127.0.0.1"], None, [_ip("::/0")], "ok"),
    (["::1"], None, [_ip("::/0")], "NameConstraintViolation"),
    (["::1"], [_ip("::1/128")], None, "ok"),
    (["::1"], [_ip("127.0.0.0/8")], None, "ok"),  # another family: not constrained
    (["localhost"], [_ip("10.0.0.0/8")], None, "ok"),
    (["localhost"], [x509.DirectoryName(x509.Name([]))], None, "NameConstraintViolation"),
    (["localhost"], None, [x509.DirectoryName(x509.Name([]))], "NameConstraintViolation"),
    (["email:a@example.test"], None, [x509.RFC822Name("example.test")], "NameConstraintViolation"),
])
def test_rules(san: list[str], permitted: list[x509.GeneralName] | None,
               excluded: list[x509.GeneralName] | None, expected: str) -> None:
    """Each rule of the module docstring on a real chain."""
    assert _verdict(san, permitted, excluded) == expected


def test_constraints_on_the_trust_anchor_apply() -> None:
    """The anchor's nameConstraints bind the whole path (webpki applies them too)."""
    nc = x509.NameConstraints(permitted_subtrees=None,
                              excluded_subtrees=[_dns("bar.example.test")])
    root = issue("nc root", is_ca=True, name_constraints=nc)
    inter = issue("nc inter", issuer=root, is_ca=True)
    leaf = issue("leaf", issuer=inter, san=["*.example.test"])
    with pytest.raises(policy.PolicyViolation, match="NameConstraintViolation"):
        policy.check_chain([leaf.der, inter.der, root.der])


def test_bad_ip_constraint_mask() -> None:
    """A mask that is not a prefix is refused (InvalidNetworkMaskConstraint)."""
    nc = x509.NameConstraints(permitted_subtrees=[_ip("10.0.0.0/8")], excluded_subtrees=None)
    inter = issue("nc mask", issuer=ps.base().root, is_ca=True, name_constraints=nc)
    der = inter.der.replace(bytes([10, 0, 0, 0, 255, 0, 0, 0]), bytes([10, 0, 0, 0, 0, 255, 0, 0]))
    leaf = issue("leaf", issuer=inter, san=["10.1.2.3"])
    certs = [parse_certificate(leaf.der), parse_certificate(der)]
    with pytest.raises(policy.PolicyViolation, match="InvalidNetworkMaskConstraint"):
        names.check_name_constraints(certs)


_LABEL = st.text("abcxyz0-", min_size=1, max_size=3).filter(
    lambda s: s[0] != "-" and s[-1] != "-")


@settings(max_examples=300, deadline=None, derandomize=True)
@given(rest=st.lists(_LABEL, min_size=2, max_size=3).map(".".join),
       base=st.lists(_LABEL, min_size=1, max_size=4).map(".".join),
       dot=st.booleans(), excluded=st.booleans())
def test_wildcard_against_brute_force(rest: str, base: str, dot: bool, excluded: bool) -> None:
    """``*.R`` is inside an excluded subtree iff some ``L.R`` is, and inside a permitted one iff
    every ``L.R`` is (sampled over labels, including the base's own first label)."""
    if rest.split(".")[-1].isdigit():
        return
    constraint = ("." if dot else "") + base
    labels = {"a", "zz", "q1", base.split(".")[0], "x-y"}
    inside = [names._dns_within(f"{label}.{rest}", constraint) for label in labels]
    got = names._dns_matches(f"*.{rest}", constraint, excluded=excluded)
    assert got == (any(inside) if excluded else all(inside))


def test_expired_leaf_at_its_not_after_is_named() -> None:
    """At exactly the leaf's notAfter the message names the leaf, not the trust anchor."""
    setup = ps.setup_for("control")
    leaf = parse_certificate(setup.chain[0].der)
    chain = [c.der for c in setup.chain]
    for now in (leaf.not_after, leaf.not_after + datetime.timedelta(seconds=1)):
        reason, text, cert = wording.describe_failure(10, "certificate has expired", chain,
                                                      "localhost", now=now)
        assert reason == "Expired" and cert is not None and cert.subject == leaf.subject
        assert "trust anchor" not in text and leaf.subject in text


def test_excluded_wildcard_end_to_end(https_server: Callable[..., HTTPSServer]) -> None:
    """OpenSSL accepts ``*.example.test`` under an excluded ``bar.example.test``; the gate
    refuses before a byte is written."""
    setup = ps.setup_for("nc_dns_excluded_wildcard")
    srv = https_server(setup.chain, **setup.server_kwargs)
    plain = ssl.create_default_context(cadata=setup.anchors_pem)
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as raw, \
            plain.wrap_socket(raw, server_hostname="bar.example.test"):
        pass  # OpenSSL alone: accepted
    ctx = policy.new_context()
    ctx.load_verify_locations(cadata=setup.anchors_pem)
    raw = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    sock = ctx.wrap_socket(raw, server_hostname="bar.example.test", do_handshake_on_connect=False)
    with sock, pytest.raises(ssl.SSLCertVerificationError, match="NameConstraintViolation"):
        sock.sendall(b"GET / HTTP/1.1\r\nHost: bar.example.test\r\n\r\n")
    assert srv.requests == []
