"""The ``tlsback`` command: info, fetch, exit statuses, ``python -m`` and the script.

What they should do: docs/cli.md, "`tlsback` (also `python -m tlsback`)".
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.pki import PKI
from tests.tlsserver import HTTPSServer, redirect

Run = Callable[..., subprocess.CompletedProcess[str]]


def test_info_json_reports_the_machine_platform_store(run_cli: Run, loader_env: dict[str, str]) -> None:
    result = run_cli("info", "--json", env=loader_env)
    assert result.returncode == 0, result.stderr
    d = json.loads(result.stdout)
    assert d["backend"] == {**d["backend"], "name": "rustls", "origin": "default"}
    platform = [s for s in d["sources"] if s["kind"] == "platform"]
    assert platform and platform[0]["certificates"] > 0 and platform[0]["unique"] > 0
    assert d["store"]["certificates"] == sum(s["unique"] for s in d["sources"])
    assert d["loader"]["implementation"] == ("python" if "TLSBACK_NO_EXTENSIONS" in loader_env else "c")
    assert d["loader"]["reason"]
    assert {"list_s", "read_s", "scan_s", "total_s", "context_s"} <= set(d["timings"])
    assert d["settings"]["backend"] == {"value": "rustls", "origin": "default"}


def test_info_human_explains_sources_problems_and_origins(run_cli: Run, pki: PKI, tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    certs.mkdir()
    pki.root.write_der(certs / "corp.cer")
    (certs / "broken.pem").write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n")
    result = run_cli("--native-tls", "info", env={"SSL_CERT_DIR": str(certs)})
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "backend      native  (chosen by cli)" in out
    assert f"SSL_CERT_DIR   {certs}  (env:SSL_CERT_DIR)" in out
    assert "2 files, 1 certificates, 1 new" in out
    assert "bad base64 in CERTIFICATE block at line 1" in out
    assert f"warning: Ignoring {certs / 'broken.pem'} in `SSL_CERT_DIR`" in result.stderr


def test_info_flag_after_the_subcommand(run_cli: Run) -> None:
    result = run_cli("info", "--json", "--native-tls")
    assert json.loads(result.stdout)["backend"]["origin"] == "cli"


@pytest.mark.parametrize("value", ["maybe", ""])
def test_bad_boolean_is_a_configuration_error_exit_2(run_cli: Run, value: str) -> None:
    result = run_cli("info", env={"UV_NATIVE_TLS": value})
    assert result.returncode == 2
    assert f"`UV_NATIVE_TLS` with invalid value `{value}`" in result.stderr
    assert "Traceback" not in result.stderr


def test_malformed_config_file_exit_2(run_cli: Run, tmp_path: Path) -> None:
    (tmp_path / "uv.toml").write_text("native-tls = [\n")
    result = run_cli("info", cwd=tmp_path)
    assert result.returncode == 2 and str(tmp_path / "uv.toml") in result.stderr


def test_broken_pyproject_is_a_warning_and_the_command_goes_on(run_cli: Run, tmp_path: Path) -> None:
    """uv: "Failed to parse `pyproject.toml` during settings discovery", then on upward."""
    (tmp_path / "pyproject.toml").write_text('[project]\ndependencies = ["uvicorn"\n')
    result = run_cli("info", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"warning: Failed to parse {tmp_path / 'pyproject.toml'} during settings discovery" in result.stderr
    assert json.loads(result.stdout)["config_files"] == []


def test_insecure_hosts_before_and_after_the_subcommand_add_up(run_cli: Run) -> None:
    """The option is repeatable anywhere on the line: none is lost (argparse copies a
    subcommand's values over the top-level ones)."""
    result = run_cli("--allow-insecure-host", "a.example", "--trusted-host", "b.example", "info",
                     "--json", "--allow-insecure-host", "c.example")
    assert result.returncode == 0, result.stderr
    rules = [h["rule"] for h in json.loads(result.stdout)["insecure_hosts"]]
    assert rules == ["a.example", "b.example", "c.example"]


def test_unknown_backend_exit_2(run_cli: Run) -> None:
    result = run_cli("--tls-backend", "nope", "info")
    assert result.returncode == 2 and "unknown TLS backend 'nope'" in result.stderr


def test_fetch_trusted_only_through_a_der_file_in_cert_dir(run_cli: Run, loader_env: dict[str, str], pki: PKI,
                                                            https_server: Callable[..., HTTPSServer], tmp_path: Path) -> None:
    server = https_server(pki)
    certs = tmp_path / "certs"
    certs.mkdir()
    pki.root.write_der(certs / "corp-root.cer")
    result = run_cli("fetch", server.url + "/hello", env={**loader_env, "SSL_CERT_DIR": str(certs)})
    assert result.returncode == 0, result.stderr
    assert result.stdout == "hello from tlsback test server\n"
    out = tmp_path / "body.txt"
    result = run_cli("fetch", server.url, "-o", out, env={**loader_env, "SSL_CERT_DIR": str(certs)})
    assert result.returncode == 0 and out.read_bytes() == b"hello from tlsback test server\n"


@pytest.mark.parametrize("backend_flag", ["--no-native-tls", "--native-tls"])
def test_fetch_untrusted_exits_1_with_a_reason(run_cli: Run, backend_flag: str, pki: PKI, other_pki: PKI,
                                                https_server: Callable[..., HTTPSServer], tmp_path: Path) -> None:
    server = https_server(other_pki)
    result = run_cli(backend_flag, "fetch", server.url, env={"SSL_CERT_FILE": str(pki.write_root(tmp_path / "r.pem"))})
    assert result.returncode == 1
    assert "certificate" in result.stderr.lower()
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_fetch_http_error_exits_1(run_cli: Run, pki: PKI, https_server: Callable[..., HTTPSServer], tmp_path: Path) -> None:
    server = https_server(pki, routes={"/missing": (404, {}, b"no")})
    result = run_cli("fetch", server.url + "/missing", env={"SSL_CERT_FILE": str(pki.write_root(tmp_path / "r.pem"))})
    assert result.returncode == 1 and "HTTP 404" in result.stderr


def test_fetch_follows_redirects_verifying_each_hop(run_cli: Run, pki: PKI, other_pki: PKI,
                                                     https_server: Callable[..., HTTPSServer], tmp_path: Path) -> None:
    untrusted = https_server(other_pki)
    # the first host is allowed insecure; the redirect target is not, and is not trusted
    first = https_server(other_pki, routes={"/go": redirect(untrusted.url.replace("localhost", "127.0.0.1") + "/x")})
    env = {"SSL_CERT_FILE": str(pki.write_root(tmp_path / "r.pem"))}
    result = run_cli("--allow-insecure-host", f"localhost:{first.port}", "fetch", first.url + "/go", env=env)
    assert result.returncode == 1, result.stdout
    assert "certificate" in result.stderr.lower()
    assert len(first.requests) == 1 and untrusted.requests == []
    # a redirect to a verified host succeeds
    good = https_server(pki)
    first2 = https_server(other_pki, routes={"/go": redirect(good.url + "/ok")})
    result = run_cli("--allow-insecure-host", f"localhost:{first2.port}", "fetch", first2.url + "/go", env=env)
    assert result.returncode == 0, result.stderr


def test_fetch_usage_errors_exit_2(run_cli: Run) -> None:
    assert run_cli("fetch").returncode == 2
    result = run_cli("fetch", "ftp://example.com/x")
    assert result.returncode == 2 and "only http:// and https://" in result.stderr


@pytest.mark.parametrize("value", ["nan", "-1", "inf", "1e309", "0", "soon"])
def test_fetch_a_bad_timeout_is_a_usage_error_not_a_traceback(run_cli: Run, value: str) -> None:
    """NaN, negative and infinite values made socket.settimeout raise (a traceback); 0 would
    make the socket non-blocking."""
    result = run_cli("fetch", "--timeout", value, "https://127.0.0.1:9/")
    assert result.returncode == 2, result.stderr
    assert "--timeout" in result.stderr and "Traceback" not in result.stderr


def test_fetch_connection_refused_exits_1(run_cli: Run) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = run_cli("fetch", f"https://127.0.0.1:{port}/")
    assert result.returncode == 1 and "failed" in result.stderr and "Traceback" not in result.stderr


def test_console_script_matches_python_m(run_cli: Run) -> None:
    script = shutil.which("tlsback", path=os.path.dirname(sys.executable))
    assert script, "the tlsback console script is installed next to the interpreter"
    via_script = subprocess.run([script, "backends", "--json"], capture_output=True, text=True, timeout=60, env=dict(os.environ), check=False)
    via_module = run_cli("backends", "--json")
    assert via_script.returncode == via_module.returncode == 0
    assert json.loads(via_script.stdout) == json.loads(via_module.stdout)


def test_ctrl_c_wrapped_by_an_interrupted_import_is_still_an_interruption(
        capsys: pytest.CaptureFixture[str]) -> None:
    """A KeyboardInterrupt inside a class body's __set_name__ (a module being imported when
    Ctrl-C came) reaches the CLI as a RuntimeError caused by it: exit 130, one line, no traceback.
    Any other error is not taken for one."""
    import functools

    from tlsback import cli

    class Interrupting(functools.cached_property):  # type: ignore[type-arg]
        def __set_name__(self, owner: type, name: str) -> None:
            raise KeyboardInterrupt

    def interrupted_import(argv: object) -> int:
        type("CertInfo", (), {"issuer": Interrupting(lambda self: None)})
        return 0

    original = cli._main
    cli._main = interrupted_import  # type: ignore[assignment]
    try:
        assert cli.main([]) == 130
        assert capsys.readouterr().err == "\ninterrupted\n"
        cli._main = lambda argv: (_ for _ in ()).throw(RuntimeError("a real bug"))  # type: ignore[assignment]
        with pytest.raises(RuntimeError, match="a real bug"):
            cli.main([])
    finally:
        cli._main = original  # type: ignore[assignment]


def _forged(text: str) -> bool:
    """Whether ``text`` has a raw control character or a line that starts with FAKE."""
    return any(c in text for c in "\x1b\r") or any(line.startswith("FAKE") for line in text.splitlines())


def test_paths_with_control_characters_are_shown_escaped(run_cli: Run, tmp_path: Path,
                                                         pki: PKI, other_pki: PKI) -> None:
    """A directory or file name may hold a newline or a terminal escape: every message and every
    line of `info` shows it escaped, so no output line can be forged and no terminal driven."""
    project = tmp_path / "esc\x1b[31mRED\nFAKE"
    project.mkdir()
    (project / "uv.toml").write_text('native-tls = true\nallow-insecure-host = ["a.example"]\n')
    env = {"SSL_CERT_FILE": str(tmp_path / "nope\nFAKE.pem"),
           "SSL_CLIENT_CERT": str(tmp_path / "client\nFAKE.pem")}
    result = run_cli("info", env=env, cwd=project)
    assert result.returncode == 0, result.stderr
    assert "uv.toml" in result.stdout and "nope" in result.stdout and "client" in result.stderr
    assert not _forged(result.stdout) and not _forged(result.stderr), result.stdout + result.stderr
    for content in ("native-tls = 3\n", 'allow-insecure-host = ["*.x"]\n', "allow-insecure-host = 1\n"):
        (project / "uv.toml").write_text(content)
        result = run_cli("info", cwd=project)
        assert result.returncode == 2 and "uv.toml" in result.stderr
        assert not _forged(result.stderr), result.stderr
    (project / "uv.toml").write_text("")
    (project / "pyproject.toml").write_text('[tool.tlsback]\nbackend = 3\n')
    result = run_cli("info", env={"UV_CONFIG_FILE": str(project / "pyproject.toml")})
    assert result.returncode == 2 and "pyproject.toml" in result.stderr and not _forged(result.stderr)
    result = run_cli("info", env={"UV_CONFIG_FILE": str(project / "missing.toml")})
    assert result.returncode == 2 and "missing.toml" in result.stderr and not _forged(result.stderr)
    # A client certificate whose key belongs to another certificate: an error naming the file.
    mismatched = tmp_path / "mis\nFAKE.pem"
    mismatched.write_bytes(pki.leaf.pem + other_pki.leaf.key_pem)
    result = run_cli("info", env={"SSL_CLIENT_CERT": str(mismatched)})
    assert result.returncode == 2 and "mis" in result.stderr and not _forged(result.stderr), result.stderr


@pytest.mark.parametrize("backend_flag", ["--no-native-tls", "--native-tls"])
def test_a_servers_certificate_names_cannot_forge_lines_or_drive_the_terminal(
        run_cli: Run, pki: PKI, other_pki: PKI, https_server: Callable[..., HTTPSServer],
        tmp_path: Path, backend_flag: str) -> None:
    """The subject and issuer a server sends are shown escaped in fetch's error."""
    from tests.pki import issue

    evil = "evil\x1b]0;owned\x07\x1b[2J\nFAKE: all good\r"
    env = {"SSL_CERT_FILE": str(pki.write_root(tmp_path / "r.pem"))}
    # Self-signed (UnknownIssuer names its issuer), and trusted for another name (NotValidForName
    # names the certificate and the names it holds).
    for leaf, chain in ((issue(evil, san=["localhost"]), []),
                        (issue(evil, issuer=pki.intermediate, san=[evil.replace("\n", "x")]),
                         [pki.intermediate])):
        srv = https_server([leaf, *chain])
        result = run_cli(backend_flag, "fetch", f"https://localhost:{srv.port}/", env=env)
        assert result.returncode == 1, result.stderr
        assert "evil" in result.stderr or backend_flag == "--native-tls"
        assert not _forged(result.stderr), result.stderr


@pytest.mark.parametrize("status", [
    b"HTTP/1.1 500 Oops\x1b[2J\x1b]0;owned\x07\rFAKE: fine\r\n",  # the reason phrase
    b"\x1b[2JOops\x1b]0;owned\x07\rFAKE: fine\r\n",  # not a status line at all
])
def test_an_http_status_line_cannot_forge_lines_or_drive_the_terminal(run_cli: Run,
                                                                      status: bytes) -> None:
    """The status line is the server's to choose: what the error quotes of it is escaped."""
    import socket
    import threading

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def answer() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(status + b"Content-Length: 0\r\nConnection: close\r\n\r\n")

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    try:
        result = run_cli("fetch", f"http://127.0.0.1:{port}/", timeout=30)
    finally:
        thread.join(10)
        listener.close()
    assert result.returncode == 1, result.stderr
    assert "Oops" in result.stderr, result.stderr
    assert not _forged(result.stderr), result.stderr


# ssl imported first: on CPython 3.13.0 `import socket` itself fails in a deleted directory
# (SystemError from os._get_exports_list), before tlsback has run.
_IN_A_DELETED_DIRECTORY = """
import os, sys, ssl
os.chdir(sys.argv[1])
os.rmdir(sys.argv[1])
from tlsback.cli import main
sys.exit(main(["info"]))
"""


def test_a_working_directory_that_no_longer_exists_is_a_configuration_error(tmp_path: Path) -> None:
    """uv: "Current directory does not exist" (its project settings cannot be looked for)."""
    from tests.conftest import SRC

    gone = tmp_path / "gone"
    gone.mkdir()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-c", _IN_A_DELETED_DIRECTORY, str(gone)], env=env,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2, result.stderr
    assert "working directory" in result.stderr and "Traceback" not in result.stderr
