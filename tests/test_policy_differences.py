"""Pinned differences from uv: where stdlib ``ssl`` cannot be made to match webpki.

Each row of ``policy_scenarios`` with a ``difference`` is a server uv accepts and tlsback's
``rustls`` backend refuses, always because OpenSSL checks the trust anchor (or keyUsage) where
webpki does not. These tests pin that behaviour: the verdict, the reason, that the refusal
comes from OpenSSL itself (not from tlsback's own checks, which follow webpki), and that the
message says what uv would do. If one starts passing differently, the README table and
``docs/verification.md`` must change with it.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable

import pytest

from tests import policy_scenarios as ps
from tests.tlsserver import HTTPSServer
from tlsback import policy

DIFFERENCES = [s.id for s in ps.SCENARIOS if s.difference is not None]


def test_the_pinned_set() -> None:
    """The list of differences is exactly the documented one."""
    assert DIFFERENCES == [
        "intermediate_key_usage_no_cert_sign", "expired_root", "root_unknown_critical",
        "root_eku_client_only", "non_ca_anchor", "root_path_length",
        "leaf_key_usage_cert_sign_only",
    ]


@pytest.mark.parametrize("scenario_id", DIFFERENCES)
def test_rustls_backend_is_stricter_than_uv(scenario_id: str,
                                            https_server: Callable[..., HTTPSServer]) -> None:
    """uv accepts, tlsback rejects with the stated reason; OpenSSL alone rejects too."""
    scenario = ps.BY_ID[scenario_id]
    setup = ps.setup_for(scenario_id)
    srv = https_server(setup.chain, **setup.server_kwargs)
    assert scenario.uv == ps.OK and scenario.rustls != ps.OK
    ctx = policy.new_context()
    ctx.load_verify_locations(cadata=setup.anchors_pem)
    err = ps.handshake(ctx, srv.port, scenario.host)
    assert isinstance(err, ssl.SSLCertVerificationError)
    assert getattr(err, "rustls_reason", None) == scenario.rustls
    # Plain stdlib with the same trust and partial chains refuses as well: the difference is
    # OpenSSL's, and tlsback's post-handshake checks (which follow webpki) play no part.
    plain = ssl.create_default_context(cadata=setup.anchors_pem)
    plain.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    assert isinstance(ps.handshake(plain, srv.port, scenario.host), ssl.SSLCertVerificationError)
    # tlsback's own rules accept the verified chain as webpki would.
    policy.check_chain([c.der for c in setup.chain] + [setup.anchors[0].der])


def test_expired_anchor_message_says_uv_would_accept(
        https_server: Callable[..., HTTPSServer]) -> None:
    """The message names the anchor and says that uv accepts an out-of-date anchor."""
    setup = ps.setup_for("expired_root")
    srv = https_server(setup.chain)
    ctx = policy.new_context()
    ctx.load_verify_locations(cadata=setup.anchors_pem)
    err = ps.handshake(ctx, srv.port, "localhost")
    assert "certificate expired: the trust anchor (CN=policy expired root" in str(err)
    assert "uv would accept" in str(err)


def test_expired_anchor_with_a_valid_twin_is_accepted(
        https_server: Callable[..., HTTPSServer]) -> None:
    """A renewed root (same name and key, new dates) beside the expired one works: OpenSSL
    picks the valid one, so the common real-world case of a re-issued root is not affected."""
    import datetime

    from tests.pki import Cert, issue

    old = ps.setup_for("expired_root").anchors[0]
    now = datetime.datetime.now(datetime.timezone.utc)
    renewed = issue(subject=old.cert.subject, key=old.key, is_ca=True,
                    not_before=now - datetime.timedelta(days=1),
                    not_after=now + datetime.timedelta(days=365))
    chain = ps.setup_for("expired_root").chain
    srv = https_server(chain)
    ctx = policy.new_context()
    ctx.load_verify_locations(cadata=old.pem.decode() + renewed.pem.decode())
    assert ps.handshake(ctx, srv.port, "localhost") is None
    assert isinstance(renewed, Cert)
