"""The scenario matrix against real local servers, for both built-in backends.

The rules and the verdicts: docs/verification.md, "The scenario matrix".

Every row of ``tests/policy_scenarios.py`` is one server breaking one rule. For each:

* ``rustls`` through :func:`tlsback.policy.new_context` with the scenario's anchors loaded
  directly (the policy alone), and through ``tlsback.load(...).context`` with the anchors in
  ``SSL_CERT_FILE`` (the whole pipeline): the verdict and rustls' reason must be the table's;
* ``native`` through ``tlsback.load(native_tls=True)``: the OS verifier's verdict, as stated.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable
from pathlib import Path

import pytest

from tests import policy_scenarios as ps
from tests.tlsserver import HTTPSServer

SCENARIO_IDS = [s.id for s in ps.SCENARIOS]
PROTOCOL_REASONS = {"ProtocolVersion", "HandshakeFailure"}


def _proxy_free_host(scenario: ps.Scenario) -> str:
    return scenario.host


def check_verdict(scenario: ps.Scenario, expected: str, error: BaseException | None,
                  *, reasons: bool) -> None:
    """Assert ``error`` is the expected verdict (and, for rustls, rustls' reason)."""
    if expected == ps.OK:
        assert error is None, f"{scenario.id}: expected success, got {error!r}"
        return
    assert error is not None, f"{scenario.id}: expected a rejection ({expected}), it connected"
    assert isinstance(error, ssl.SSLError), f"{scenario.id}: not an ssl error: {error!r}"
    if not reasons or expected == ps.REJECT:
        return
    if expected in PROTOCOL_REASONS:
        assert not isinstance(error, ssl.SSLCertVerificationError), error
        token = "PROTOCOL_VERSION" if expected == "ProtocolVersion" else "HANDSHAKE_FAILURE"
        assert token in (error.reason or ""), error
        return
    assert isinstance(error, ssl.SSLCertVerificationError), f"{scenario.id}: {error!r}"
    assert getattr(error, "rustls_reason", None) == expected, f"{scenario.id}: {error}"
    assert expected in str(error) or "certificate" in str(error), str(error)
    assert error.verify_code, "verify_code must be set"
    assert error.verify_message, "verify_message must be set"


@pytest.fixture
def scenario_server(https_server: Callable[..., HTTPSServer]) -> Callable[[str], tuple[
        ps.Scenario, ps.Setup, HTTPSServer]]:
    def start(scenario_id: str) -> tuple[ps.Scenario, ps.Setup, HTTPSServer]:
        scenario = ps.BY_ID[scenario_id]
        setup = ps.setup_for(scenario_id)
        return scenario, setup, https_server(setup.chain, **setup.server_kwargs)

    return start


@pytest.mark.parametrize("scenario_id", SCENARIO_IDS)
def test_rustls_policy_on_new_context(scenario_id: str, scenario_server: Callable[..., tuple[
        ps.Scenario, ps.Setup, HTTPSServer]]) -> None:
    """policy.new_context() with the anchors loaded gives the table's rustls verdict/reason."""
    from tlsback import policy

    scenario, setup, srv = scenario_server(scenario_id)
    ctx = policy.new_context()
    ctx.load_verify_locations(cadata=setup.anchors_pem)
    error = ps.handshake(ctx, srv.port, scenario.host)
    check_verdict(scenario, scenario.rustls, error, reasons=True)


@pytest.mark.parametrize("backend", ["rustls", "native"])
@pytest.mark.parametrize("scenario_id", SCENARIO_IDS)
def test_backend_through_load(scenario_id: str, backend: str, tmp_path: Path,
                              scenario_server: Callable[..., tuple[
                                  ps.Scenario, ps.Setup, HTTPSServer]]) -> None:
    """tlsback.load(...).context with SSL_CERT_FILE: rustls as the table says, native as stated."""
    import tlsback

    scenario, setup, srv = scenario_server(scenario_id)
    cafile = tmp_path / "anchors.pem"
    cafile.write_text(setup.anchors_pem)
    cfg = tlsback.load(backend=backend, env={**os.environ, "SSL_CERT_FILE": str(cafile),
                                             "UV_NO_CONFIG": "1", "TLSBACK_NO_CACHE": "1"}, cwd=tmp_path)
    assert cfg.backend_name == backend
    error = ps.handshake(cfg.context, srv.port, scenario.host)
    expected = scenario.rustls if backend == "rustls" else scenario.native
    check_verdict(scenario, expected, error, reasons=backend == "rustls")


def test_matrix_covers_every_spec_rule() -> None:
    """The issue's list of scenarios is all there (names are the contract with the docs)."""
    required = {
        "cn_only", "wrong_name", "wildcard_apex", "wildcard_two_labels", "wildcard_partial",
        "ip_san_for_dns_name", "dns_san_for_ip", "leaf_is_ca", "leaf_eku_client_only",
        "intermediate_eku_client_only", "leaf_unknown_critical", "intermediate_unknown_critical",
        "leaf_critical_policies", "leaf_sha1", "leaf_rsa1024", "leaf_expired",
        "leaf_not_yet_valid", "intermediate_expired", "intermediate_not_yet_valid",
        "name_constraints_violated", "partial_chain", "leaf_only", "tls1_1_only",
        "tls1_2_cbc_only", "tls1_2_rsa_kx_only", "tls1_3_only", "expired_root",
        # name constraints: permitted/excluded x exact/wildcard/malformed x DNS/IP/directoryName
        "nc_dns_permitted_exact", "nc_dns_permitted_exact_outside",
        "nc_dns_permitted_wildcard_inside", "nc_dns_permitted_wildcard_partly_outside",
        "nc_dns_permitted_malformed", "nc_dns_excluded_exact", "nc_dns_excluded_wildcard",
        "nc_dns_excluded_malformed", "nc_ip_permitted_inside", "nc_ip_permitted_outside",
        "nc_ip_excluded_inside", "nc_ip_excluded_outside", "nc_dirname_permitted_match",
        "nc_dirname_excluded_other",
    }
    assert required <= set(ps.BY_ID)
    for scenario in ps.SCENARIOS:
        if scenario.difference is None:
            # Where tlsback's rustls backend says nothing different, it must agree with uv.
            assert (scenario.rustls == ps.OK) == (scenario.uv == ps.OK), scenario.id
        else:
            assert (scenario.rustls == ps.OK) != (scenario.uv == ps.OK), scenario.id
