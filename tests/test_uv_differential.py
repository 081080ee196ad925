"""Differential suite: the released ``uv`` binary and ``tlsback fetch`` against the same servers.

For every scenario of ``tests/policy_scenarios.py`` and both backends, uv (``uv pip compile``
against the scenario's PEP 503 index, ``--native-tls`` for the native backend) and ``python -m
tlsback fetch`` run with the same environment (only the scenario's anchors in
``SSL_CERT_FILE``; host names other than localhost through a CONNECT proxy, ``HTTPS_PROXY``):

* uv's verdict must be the one the table states (so the table is proven, not assumed);
* tlsback's ``rustls`` backend must give uv's verdict, except in the rows that carry a
  ``difference`` (the README's "differences from uv"), where it must give the other one;
* tlsback's ``native`` backend is the OS verifier: its verdict is the table's ``native``
  column; where that differs from uv's ``--native-tls`` it is :data:`NATIVE_DIFFERENCE`.

uv is found as the ``uv`` Python package, on ``PATH``, or installed with ``pip install --target``
into a temporary directory; without it every test here is skipped. Run only this suite with
``pytest -m uv tests/test_uv_differential.py`` (about a minute on two cores).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any
from pathlib import Path

import pytest

from tests import policy_scenarios as ps
from tests.tlsserver import HTTPSServer

pytestmark = pytest.mark.uv

SRC = Path(__file__).resolve().parent.parent / "src"

#: Why tlsback's native backend may disagree with ``uv --native-tls``.
NATIVE_DIFFERENCE = (
    "tlsback's native backend is the operating system's verifier (OpenSSL with its default "
    "policy on Linux, through truststore); uv's --native-tls on Linux still verifies with "
    "webpki and only takes its roots from the system"
)


@pytest.fixture(scope="session")
def uv_bin(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The uv binary, or skip the suite."""
    found = ps.find_uv(tmp_path_factory.mktemp("uv-install"), timeout=90)
    if found is None:
        pytest.skip("uv is not installed and could not be installed from the package index")
    version = subprocess.run([found, "--version"], capture_output=True, text=True, timeout=30,
                             check=False).stdout.split()
    if len(version) < 2 or tuple(int(x) for x in version[1].split(".")[:2]) < (0, 13):
        pytest.skip(f"uv {version} is older than 0.13")
    return found


@pytest.fixture(scope="session")
def any_host_proxy() -> Iterator[ps.AnyHostProxy]:
    with ps.AnyHostProxy() as proxy:
        yield proxy


def _tlsback_fetch(url: str, env: dict[str, str], native: bool) -> subprocess.Popen[str]:
    child = dict(env)
    child["PYTHONPATH"] = os.pathsep.join(
        [str(SRC), *[p for p in child.get("PYTHONPATH", "").split(os.pathsep) if p]])
    args = [sys.executable, "-m", "tlsback"]
    args += ["--native-tls"] if native else ["--no-native-tls"]
    args += ["fetch", url, "-o", os.devnull]
    return subprocess.Popen(args, env=child, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _verdict(proc: subprocess.Popen[str], timeout: float = 60) -> tuple[str, str]:
    try:
        _out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return "timeout", ""
    if proc.returncode == 0:
        return ps.OK, err
    if proc.returncode == 1:
        return ps.REJECT, err
    return f"exit {proc.returncode}", err


@pytest.mark.parametrize("backend", ["rustls", "native"])
@pytest.mark.parametrize("scenario_id", [s.id for s in ps.SCENARIOS])
def test_same_verdict_as_uv(scenario_id: str, backend: str, uv_bin: str, tmp_path: Path,
                            any_host_proxy: ps.AnyHostProxy,
                            https_server: Callable[..., HTTPSServer]) -> None:
    """uv and tlsback fetch agree on the scenario, or the table says why they do not."""
    scenario = ps.BY_ID[scenario_id]
    setup = ps.setup_for(scenario_id)
    srv = https_server(setup.chain, **setup.server_kwargs)
    cafile = tmp_path / "anchors.pem"
    cafile.write_text(setup.anchors_pem)
    proxy = any_host_proxy.url if ps.needs_proxy(scenario) else None
    env = ps.uv_env(os.environ, cafile, tmp_path / "uv-cache", proxy)
    cache = tmp_path / "tlsback-cache"
    cache.mkdir(mode=0o700)
    env["TLSBACK_CACHE_DIR"] = str(cache)
    url = ps.url_for(scenario, srv.port)
    native = backend == "native"

    # Both clients at once: the suite's time is dominated by process start-up.
    tlsback_proc = _tlsback_fetch(f"{url}/simple/tlsback-probe/", env, native)
    uv_verdict, uv_err = ps.run_uv(uv_bin, url, env, native=native)
    tlsback_verdict, tlsback_err = _verdict(tlsback_proc)

    assert uv_verdict == scenario.uv_for[backend], f"uv changed its mind:\n{uv_err}"
    assert tlsback_verdict in (ps.OK, ps.REJECT), f"tlsback fetch: {tlsback_verdict}\n{tlsback_err}"
    if tlsback_verdict == ps.REJECT:
        assert any(line.startswith("error: ") for line in tlsback_err.splitlines()), tlsback_err
    if backend == "rustls":
        if scenario.difference is None:
            assert tlsback_verdict == uv_verdict, (
                f"tlsback {tlsback_verdict}, uv {uv_verdict}\n"
                f"--- tlsback:\n{tlsback_err}\n--- uv:\n{uv_err}")
        else:
            assert tlsback_verdict != uv_verdict, f"{scenario.id} no longer differs from uv"
        if scenario.rustls not in (ps.OK, ps.REJECT) and scenario.rustls not in (
                "ProtocolVersion", "HandshakeFailure"):
            words = {"NotValidForName": "certificate not valid for name",
                     "Expired": "certificate expired", "NotValidYet": "certificate not valid yet",
                     "InvalidPurpose": "extended key usage"}
            assert (words.get(scenario.rustls, scenario.rustls) in tlsback_err
                    or scenario.rustls in tlsback_err), tlsback_err
    else:
        assert tlsback_verdict == scenario.native, tlsback_err
        if tlsback_verdict != uv_verdict:
            assert NATIVE_DIFFERENCE  # documented in docs/verification.md


def test_every_difference_is_documented() -> None:
    """Each pinned difference appears in docs/verification.md, with the native-backend note."""
    doc = (Path(__file__).resolve().parent.parent / "docs" / "verification.md").read_text()
    for scenario in ps.SCENARIOS:
        if scenario.difference is not None:
            assert f"`{scenario.id}`" in doc, scenario.id
    assert "webpki" in doc and "--native-tls" in doc


def _pem_variants(der: bytes) -> dict[str, bytes]:
    """One root CA written the ways a newcomer's or a tool's file may hold it (docs/sources.md,
    "How PEM and DER are read")."""
    import base64
    import ssl

    pem = ssl.DER_cert_to_PEM_cert(der).encode()
    lines = pem.splitlines(keepends=True)
    b64 = base64.b64encode(der)

    def block(body: bytes) -> bytes:
        return b"-----BEGIN CERTIFICATE-----\n" + body + b"\n-----END CERTIFICATE-----\n"

    return {
        "plain": pem,
        "crlf": pem.replace(b"\n", b"\r\n"),
        "cr-only": pem.replace(b"\n", b"\r"),
        "utf8-bom": b"\xef\xbb\xbf" + pem,
        "indented-begin": b" " + pem,
        "tab-before-begin": b"\t" + pem,
        "vt-inside": b"".join(lines[:2]) + b"\x0b\n" + b"".join(lines[2:]),
        "blank-line-inside": b"".join(lines[:2]) + b"\n" + b"".join(lines[2:]),
        "space-inside-a-line": lines[0] + lines[1][:10] + b" " + lines[1][10:] + b"".join(lines[2:]),
        "header-line": lines[0] + b"Comment: corp\n\n" + b"".join(lines[1:]),
        "text-after-end": pem.replace(b"-----END CERTIFICATE-----", b"-----END CERTIFICATE----- # corp"),
        "text-after-begin": pem.replace(b"-----BEGIN CERTIFICATE-----", b"-----BEGIN CERTIFICATE----- # corp"),
        "spaces-after-begin": pem.replace(b"-----BEGIN CERTIFICATE-----\n", b"-----BEGIN CERTIFICATE-----   \n"),
        "x509-certificate-label": pem.replace(b"CERTIFICATE", b"X509 CERTIFICATE"),
        "trusted-certificate-label": pem.replace(b"CERTIFICATE", b"TRUSTED CERTIFICATE"),
        "end-of-another-label": pem.replace(b"-----END CERTIFICATE-----", b"-----END X509 CRL-----"),
        "no-final-newline": pem.rstrip(b"\n"),
        "text-before": b"Subject: CN=corp\nIssuer: CN=corp\n" + pem,
        "bad-block-before": block(b"!!!!") + pem,
        "missing-end-after": pem + b"-----BEGIN CERTIFICATE-----\nMIIB\n",
        "one-base64-line": block(b64),
        "no-padding": block(b64.rstrip(b"=")),
        "two-certificates-in-one-block": block(base64.b64encode(der + der)),
        "der": der,
    }


#: The one variant uv and tlsback read differently on purpose (docs/differences.md: uv ignores DER).
_PEM_DIFFERENCES = {"der"}


@pytest.mark.parametrize("variant", list(_pem_variants(b"\x30\x00")))
def test_pem_variants_as_uv_reads_them(variant: str, uv_bin: str, pki: Any, tmp_path: Path,
                                       https_server: Callable[..., HTTPSServer]) -> None:
    """A root CA file in each variant as SSL_CERT_FILE: tlsback trusts it exactly when uv does."""
    srv = https_server(pki)
    cafile = tmp_path / "anchors.pem"
    cafile.write_bytes(_pem_variants(pki.root.der)[variant])
    env = ps.uv_env(os.environ, cafile, tmp_path / "uv-cache")
    (tmp_path / "tlsback-cache").mkdir(mode=0o700)
    env["TLSBACK_CACHE_DIR"] = str(tmp_path / "tlsback-cache")
    url = f"https://localhost:{srv.port}"
    tlsback_proc = _tlsback_fetch(f"{url}/simple/tlsback-probe/", env, native=False)
    uv_verdict, uv_err = ps.run_uv(uv_bin, url, env, native=False)
    tlsback_verdict, tlsback_err = _verdict(tlsback_proc)
    assert uv_verdict in (ps.OK, ps.REJECT), uv_err
    if variant in _PEM_DIFFERENCES:
        assert tlsback_verdict != uv_verdict, f"{variant} no longer differs from uv"
    else:
        assert tlsback_verdict == uv_verdict, f"tlsback {tlsback_verdict}, uv {uv_verdict}\n{tlsback_err}\n{uv_err}"
