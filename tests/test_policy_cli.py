"""``tlsback fetch`` on policy failures: exit status 1 and a reason a person understands."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests import policy_scenarios as ps
from tests.tlsserver import HTTPSServer

CASES = [
    # scenario, backend flag, expected exit, words that must be in stderr
    ("wrong_name", "--no-native-tls", 1,
     [('certificate not valid for name "localhost"; certificate is only valid for '
       'DnsName("wrong.example")'), "certificate: CN=localhost", "backend: rustls"]),
    ("leaf_expired", "--no-native-tls", 1,
     ["certificate expired", "is not valid after", "certificate: CN=localhost", " UTC to ",
      "hint:"]),
    ("untrusted_root", "--no-native-tls", 1, ["UnknownIssuer", "SSL_CERT_FILE", "--native-tls"]),
    ("leaf_is_ca", "--no-native-tls", 1, ["CaUsedAsEndEntity", "--native-tls"]),
    ("leaf_is_ca", "--native-tls", 0, []),
    ("partial_chain", "--native-tls", 1, ["UnknownIssuer", "--no-native-tls"]),
    ("tls1_2_cbc_only", "--no-native-tls", 1, ["HandshakeFailure", "CBC"]),
    ("tls1_1_only", "--no-native-tls", 1, ["ProtocolVersion"]),
    ("expired_root", "--no-native-tls", 1, ["trust anchor", "uv would accept"]),
]


@pytest.mark.parametrize(("scenario_id", "flag", "status", "words"), CASES,
                         ids=[f"{c[0]}{c[1]}" for c in CASES])
def test_fetch_explains(scenario_id: str, flag: str, status: int, words: list[str],
                        tmp_path: Path, https_server: Callable[..., HTTPSServer],
                        run_cli: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    setup = ps.setup_for(scenario_id)
    srv = https_server(setup.chain, **setup.server_kwargs)
    cafile = tmp_path / "anchors.pem"
    cafile.write_text(setup.anchors_pem)
    proc = run_cli(flag, "fetch", f"{srv.url}/", env={"SSL_CERT_FILE": cafile,
                                                     "UV_NO_CONFIG": "1"})
    assert proc.returncode == status, proc.stderr
    for word in words:
        assert word in proc.stderr, proc.stderr
    if status:
        assert "Traceback" not in proc.stderr
