"""Programs tlsback did not write, end to end: pip, a requests script, httpie and curl.

A local HTTPS package index (PEP 503, a wheel built here) whose CA is only in an unhashed
``SSL_CERT_DIR`` (``corp.pem``, which OpenSSL, pip, requests and curl never read on their own).
Each program fails without tlsback and succeeds through ``tlsback run``, through
``inject_into_ssl()`` (Python programs) or through ``eval "$(tlsback env)"`` (curl); the client
certificate in ``SSL_CLIENT_CERT`` reaches pip and curl the same ways.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import io
import os
import shutil
import sys
import textwrap
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.pki import PKI
from tests.test_inject import write_client_cert
from tests.test_run_env import child_env, run, tlsback_cmd

NAME, VERSION = "tlsbackdemo", "1.0"
WHEEL = f"{NAME}-{VERSION}-py3-none-any.whl"


def build_wheel() -> bytes:
    """A minimal valid wheel (PEP 427): one module, METADATA, WHEEL and RECORD."""
    info = f"{NAME}-{VERSION}.dist-info"
    files = {
        f"{NAME}/__init__.py": b"VALUE = 'installed through tlsback'\n",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {NAME}\nVersion: {VERSION}\n".encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: tlsback-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(
        f"{name},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},{len(data)}\n"
        for name, data in files.items()
    ) + f"{info}/RECORD,,\n"
    files[f"{info}/RECORD"] = record.encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


@pytest.fixture(scope="module")
def wheel() -> bytes:
    return build_wheel()


def index_routes(wheel: bytes) -> dict[str, Any]:
    digest = hashlib.sha256(wheel).hexdigest()
    page = (f'<!DOCTYPE html><html><body><a href="/files/{WHEEL}#sha256={digest}">{WHEEL}</a>'
            "</body></html>\n").encode()
    return {
        f"/simple/{NAME}/": (200, {"Content-Type": "text/html"}, page),
        f"/files/{WHEEL}": (200, {"Content-Type": "application/octet-stream"}, wheel),
    }


def pip_install(index_url: str, target: Path) -> list[str]:
    return ["-m", "pip", "install", "--no-cache-dir", "--no-deps", "--retries", "0", "--timeout", "15",
            "--disable-pip-version-check", "--no-input", "--index-url", index_url, "--target", str(target), NAME]


needs_pip = pytest.mark.skipif(importlib.util.find_spec("pip") is None, reason="pip is not installed")


@needs_pip
def test_pip_installs_under_run_and_after_inject_fails_without(pki: PKI, https_server: Any, corp_dir: Path,
                                                               tmp_path: Path, wheel: bytes) -> None:
    srv = https_server(pki, routes=index_routes(wheel))
    env = child_env(SSL_CERT_DIR=corp_dir, PIP_CONFIG_FILE=os.devnull)
    index = srv.url + "/simple/"

    plain = run([sys.executable, *pip_install(index, tmp_path / "t0")], env)
    assert plain.returncode != 0 and "CERTIFICATE_VERIFY_FAILED" in plain.stdout + plain.stderr

    under_run = run(tlsback_cmd("run", "--", sys.executable, *pip_install(index, tmp_path / "t1")), env)
    assert under_run.returncode == 0, under_run.stdout + under_run.stderr
    assert (tmp_path / "t1" / NAME / "__init__.py").is_file()

    # inject_into_ssl() alone, no variable: pip's vendored requests/urllib3 use tlsback's store.
    script = textwrap.dedent(f"""
        import sys, tlsback
        tlsback.inject_into_ssl()
        from pip._internal.cli.main import main
        sys.exit(main({pip_install(index, tmp_path / "t2")[2:]!r}))
    """)
    injected = run([sys.executable, "-c", script], env)
    assert injected.returncode == 0, injected.stdout + injected.stderr
    assert (tmp_path / "t2" / NAME / "__init__.py").is_file()


@needs_pip
def test_pip_presents_the_client_certificate_under_run(pki: PKI, https_server: Any, corp_dir: Path,
                                                       tmp_path: Path, wheel: bytes) -> None:
    client_pki = PKI.create(name_prefix="tlsback client")
    srv = https_server(pki, routes=index_routes(wheel), client_ca=client_pki.root, require_client_cert=True)
    client = write_client_cert(client_pki, tmp_path / "client.pem")
    env = child_env(SSL_CERT_DIR=corp_dir, SSL_CLIENT_CERT=client, PIP_CONFIG_FILE=os.devnull)
    index = srv.url + "/simple/"
    plain = run([sys.executable, *pip_install(index, tmp_path / "t0")], env)
    assert plain.returncode != 0
    under_run = run(tlsback_cmd("run", "--", sys.executable, *pip_install(index, tmp_path / "t1")), env)
    assert under_run.returncode == 0, under_run.stdout + under_run.stderr
    assert srv.requests and all(r.client_subject == "CN=tlsback client" for r in srv.requests)


def test_requests_script_under_run_and_after_inject(pki: PKI, https_server: Any, corp_dir: Path) -> None:
    pytest.importorskip("requests")
    srv = https_server(pki)
    get = f"import requests; print(requests.get({srv.url!r}, timeout=10).status_code)"
    env = child_env(SSL_CERT_DIR=corp_dir)
    plain = run([sys.executable, "-c", get], env)
    assert plain.returncode != 0 and "CERTIFICATE_VERIFY_FAILED" in plain.stderr
    under_run = run(tlsback_cmd("run", "--", sys.executable, "-c", get), env)
    assert (under_run.returncode, under_run.stdout.strip()) == (0, "200"), under_run.stderr
    injected = run([sys.executable, "-c", "import tlsback; tlsback.inject_into_ssl(); " + get], env)
    assert (injected.returncode, injected.stdout.strip()) == (0, "200"), injected.stderr


def test_httpie_under_run_and_after_inject(pki: PKI, https_server: Any, corp_dir: Path) -> None:
    if importlib.util.find_spec("httpie") is None:
        pytest.skip("httpie is not installed (it is in the test extras: pip install -e '.[test]')")
    srv = https_server(pki)
    args = ["--ignore-stdin", "--check-status", "--body", "GET", srv.url + "/"]
    env = child_env(SSL_CERT_DIR=corp_dir)
    plain = run([sys.executable, "-m", "httpie", *args], env)
    assert plain.returncode != 0 and "CERTIFICATE_VERIFY_FAILED" in plain.stderr
    under_run = run(tlsback_cmd("run", "--", sys.executable, "-m", "httpie", *args), env)
    assert under_run.returncode == 0 and under_run.stdout.startswith("hello"), under_run.stderr
    script = textwrap.dedent(f"""
        import sys, tlsback
        tlsback.inject_into_ssl()
        from httpie.core import main
        sys.exit(main(["http", *{args!r}]))
    """)
    injected = run([sys.executable, "-c", script], env)
    assert injected.returncode == 0 and injected.stdout.startswith("hello"), injected.stderr


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_with_tlsback_env_trust_and_client_certificate(pki: PKI, https_server: Any, corp_dir: Path,
                                                            tmp_path: Path) -> None:
    """`eval "$(tlsback env)"` gives curl the CA (CURL_CA_BUNDLE) and the client certificate
    (a private CURL_HOME/.curlrc, curl having no variable for it)."""
    client_pki = PKI.create(name_prefix="tlsback client")
    plain_srv = https_server(pki)
    mtls_srv = https_server(pki, client_ca=client_pki.root, require_client_cert=True)
    env = child_env(SSL_CERT_DIR=corp_dir, SSL_CLIENT_CERT=write_client_cert(client_pki, tmp_path / "c.pem"),
                    TLSBACK_CACHE_DIR=tmp_path / 'a "quoted" \\ cache')  # .curlrc quoting
    tlsback_env = " ".join(tlsback_cmd("env"))
    for srv in (plain_srv, mtls_srv):
        url = srv.url + "/"
        plain = run(["curl", "-sS", "--fail", url], env)
        assert plain.returncode != 0
        sourced = run(["sh", "-c", f'eval "$({tlsback_env})" && curl -sS --fail "$0"', url], env)
        assert sourced.returncode == 0 and sourced.stdout.startswith("hello"), sourced.stderr
        under_run = run(tlsback_cmd("run", "--", "curl", "-sS", "--fail", url), env)
        assert under_run.returncode == 0, under_run.stderr
    assert mtls_srv.requests[-1].client_subject == "CN=tlsback client"
