"""``tlsback fetch`` and the URLs it is given: malformed ones are usage errors (exit 2, one line,
no traceback); credentials in the URL are sent to that host alone and never shown."""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.pki import PKI
from tests.tlsserver import HTTPSServer, redirect

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.mark.parametrize("url", [
    "https://[::1",                  # an unclosed IPv6 literal
    "https://[not-an-ip]/",
    "https://127.0.0.1:99999/",      # a port out of range
    "https://127.0.0.1:http/",       # a port that is no number
    "https://a..b/",                 # an empty label (the idna codec refuses it)
    "https://" + "a" * 64 + ".example/",  # a label over 63 characters
    "https://127.0.0.1/a\nb",        # control characters and spaces
    "https://127.0.0.1/a b",
    "https://127.0.0.1/\x1b[2J",
    "https:///path",                 # no host
])
def test_a_malformed_url_is_a_usage_error(run_cli: Run, url: str) -> None:
    result = run_cli("fetch", "--timeout", "5", url)
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr and "\n" not in lines[0]


def test_a_redirect_to_a_malformed_url_fails_with_a_reason(run_cli: Run, pki: PKI, tmp_path: Path,
                                                            https_server: Callable[..., HTTPSServer]) -> None:
    server = https_server(pki, routes={"/go": redirect("https://a..b/x")})
    result = run_cli("fetch", "--timeout", "5", server.url + "/go",
                     env={"SSL_CERT_FILE": str(pki.write_root(tmp_path / "r.pem"))})
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr


def test_credentials_in_the_url_go_to_that_host_only_and_are_never_shown(
        run_cli: Run, pki: PKI, tmp_path: Path, https_server: Callable[..., HTTPSServer]) -> None:
    env = {"SSL_CERT_FILE": str(pki.write_root(tmp_path / "r.pem"))}
    other = https_server(pki)
    server = https_server(pki, routes={"/go": redirect(other.ip_url + "/elsewhere")})
    result = run_cli("fetch", f"https://us%40er:s3cr%3At@localhost:{server.port}/hello", env=env)
    assert result.returncode == 0, result.stderr
    expected = "Basic " + base64.b64encode(b"us@er:s3cr:t").decode()
    assert server.requests[-1].headers.get("Authorization") == expected
    # A redirect to another host does not carry them.
    result = run_cli("fetch", f"https://user:s3cret@localhost:{server.port}/go", env=env)
    assert result.returncode == 0, result.stderr
    assert [r.path for r in other.requests] == ["/elsewhere"]
    assert "Authorization" not in other.requests[0].headers
    # A failure names the URL without the password.
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = run_cli("fetch", f"https://user:s3cret@127.0.0.1:{port}/", env=env)
    assert result.returncode == 1 and "s3cret" not in result.stderr, result.stderr
    assert f"https://user:****@127.0.0.1:{port}/" in result.stderr
