"""Real handshakes through ``tlsback.load().context``.

What they check is documented in docs/configuration.md, docs/sources.md and docs/cli.md
("Python").

Servers run on 127.0.0.1 with a PKI the tests generate; trust reaches the client only through
the environment given to ``tlsback.load``. Every trust test runs through both scanners.
"""

from __future__ import annotations

import datetime
import os
import ssl
from collections.abc import Callable
from pathlib import Path

import pytest

import tlsback
from tests.pki import PKI, issue
from tests.tlsserver import HTTPSServer, get


def env_with(**values: str) -> dict[str, str]:
    """The (hermetic) process environment plus ``values``."""
    return {**os.environ, **values}


def _file(pki: PKI, d: Path) -> dict[str, str]:
    return {"SSL_CERT_FILE": str(pki.root.write_pem(d / "root.pem"))}


def _dir_shape(name: str, der: bool = False) -> Callable[[PKI, Path], dict[str, str]]:
    def make(pki: PKI, d: Path) -> dict[str, str]:
        certs = d / "certs"
        certs.mkdir()
        (pki.root.write_der if der else pki.root.write_pem)(certs / name)
        return {"SSL_CERT_DIR": str(certs)}
    return make


def _bundle(pki: PKI, d: Path) -> dict[str, str]:
    certs = d / "certs"
    certs.mkdir()
    others = [issue(f"other {i}", is_ca=True) for i in range(3)]
    (certs / "bundle.pem").write_bytes(b"".join(c.pem for c in others[:2]) + pki.root.pem + others[2].pem)
    return {"SSL_CERT_DIR": str(certs)}


def _symlink(pki: PKI, d: Path) -> dict[str, str]:
    certs = d / "certs"
    certs.mkdir()
    target = pki.root.write_pem(d / "elsewhere.pem")
    (certs / "corp.pem").symlink_to(target)
    return {"SSL_CERT_DIR": str(certs)}


def _second_dir(pki: PKI, d: Path) -> dict[str, str]:
    first, second = d / "first", d / "second"
    first.mkdir()
    second.mkdir()
    issue("unrelated", is_ca=True).write_pem(first / "unrelated.pem")
    pki.root.write_pem(second / "root.crt")
    return {"SSL_CERT_DIR": f"{first}{os.pathsep}{d / 'missing'}{os.pathsep}{second}"}


TRUST_SETUPS = {
    "cert-file": _file,
    "dir-pem": _dir_shape("root.pem"),
    "dir-crt": _dir_shape("root.crt"),
    "dir-upper-CER-der": _dir_shape("ROOT.CER", der=True),
    "dir-der-cer": _dir_shape("root.cer", der=True),
    "dir-hash-name": lambda pki, d: _dir_shape(pki.root.hash_name())(pki, d),
    "dir-bundle": _bundle,
    "dir-symlink": _symlink,
    "second-dir": _second_dir,
}


@pytest.mark.parametrize("backend", ["rustls", "native"])
@pytest.mark.parametrize("setup", sorted(TRUST_SETUPS))
def test_custom_root_is_trusted(setup: str, backend: str, loader_env: dict[str, str], pki: PKI,
                                https_server: Callable[..., HTTPSServer], tmp_path: Path) -> None:
    server = https_server(pki)
    cfg = tlsback.load(backend=backend, env=env_with(**loader_env, **TRUST_SETUPS[setup](pki, tmp_path)))
    response = get(server.url, cfg.context)
    assert response.status == 200
    assert response.tls_version in ("TLSv1.2", "TLSv1.3")


@pytest.mark.parametrize("backend", ["rustls", "native"])
def test_untrusted_server_is_rejected(backend: str, loader_env: dict[str, str], pki: PKI, other_pki: PKI,
                                      https_server: Callable[..., HTTPSServer], tmp_path: Path) -> None:
    server = https_server(other_pki)
    cfg = tlsback.load(backend=backend, env=env_with(**loader_env, **_file(pki, tmp_path)))
    with pytest.raises(ssl.SSLCertVerificationError):
        get(server.url, cfg.context)


@pytest.mark.parametrize("backend", ["rustls", "native"])
def test_expired_leaf_is_rejected(backend: str, pki: PKI, https_server: Callable[..., HTTPSServer], tmp_path: Path) -> None:
    now = datetime.datetime.now(datetime.timezone.utc)
    leaf = issue("localhost", issuer=pki.intermediate, san=["localhost"],
                 not_before=now - datetime.timedelta(days=30), not_after=now - datetime.timedelta(days=1))
    server = https_server([leaf, pki.intermediate])
    cfg = tlsback.load(backend=backend, env=env_with(**_file(pki, tmp_path)))
    with pytest.raises(ssl.SSLCertVerificationError) as info:
        get(server.url, cfg.context)
    assert "expired" in str(info.value).lower()


@pytest.mark.parametrize("backend", ["rustls", "native"])
def test_wrong_host_is_rejected(backend: str, pki: PKI, https_server: Callable[..., HTTPSServer], tmp_path: Path) -> None:
    leaf = pki.issue_leaf(["wrong.example"])
    server = https_server([leaf, pki.intermediate])
    cfg = tlsback.load(backend=backend, env=env_with(**_file(pki, tmp_path)))
    with pytest.raises(ssl.SSLCertVerificationError):
        get(server.url, cfg.context)


def test_native_tls_switches_backend_by_flag_and_environment(pki: PKI, https_server: Callable[..., HTTPSServer], tmp_path: Path) -> None:
    import argparse

    parser = argparse.ArgumentParser()
    tlsback.add_arguments(parser)
    server = https_server(pki)
    trust = _file(pki, tmp_path)
    by_flag = tlsback.load(parser.parse_args(["--native-tls"]), env=env_with(**trust))
    by_env = tlsback.load(env=env_with(UV_NATIVE_TLS="true", **trust))
    default = tlsback.load(env=env_with(**trust))
    assert (by_flag.backend_name, by_flag.settings.backend.origin) == ("native", "cli")
    assert (by_env.backend_name, by_env.settings.backend.origin) == ("native", "env:UV_NATIVE_TLS")
    assert default.backend_name == "rustls"
    for cfg in (by_flag, by_env):
        # the OS verifier's policy (on Linux: OpenSSL's, as truststore), not rustls'
        assert not cfg.context.verify_flags & ssl.VERIFY_X509_PARTIAL_CHAIN
        assert get(server.url, cfg.context).status == 200
    assert default.context.verify_flags & ssl.VERIFY_X509_PARTIAL_CHAIN
    assert get(server.url, default.context).status == 200
    # the flag beats the environment
    flag_wins = tlsback.load(parser.parse_args(["--no-native-tls"]), env=env_with(UV_NATIVE_TLS="1", **trust))
    assert flag_wins.backend_name == "rustls"


def test_rustls_context_policy_basics(tmp_path: Path) -> None:
    ctx = tlsback.load(env=env_with()).context
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    assert ctx.hostname_checks_common_name is False
    assert ctx.verify_flags & ssl.VERIFY_X509_PARTIAL_CHAIN
    tls12 = [c for c in ctx.get_ciphers() if c["protocol"] == "TLSv1.2"]
    assert tls12 and all(c["aead"] and c["kea"] == "kx-ecdhe" for c in tls12)


def test_context_is_built_once_and_shared(tmp_path: Path) -> None:
    cfg = tlsback.load(env=env_with())
    assert cfg.context is cfg.context
    assert cfg.insecure_context is not cfg.context
    assert cfg.insecure_context.verify_mode == ssl.CERT_NONE
    assert cfg.context.verify_mode == ssl.CERT_REQUIRED


def test_create_default_context_uses_resolved_settings(pki: PKI, https_server: Callable[..., HTTPSServer], tmp_path: Path) -> None:
    server = https_server(pki)
    ctx = tlsback.create_default_context(env=env_with(**_file(pki, tmp_path)))
    assert get(server.url, ctx).status == 200
    bare = tlsback.create_default_context(env=env_with())
    with pytest.raises(ssl.SSLCertVerificationError):
        get(server.url, bare)


def test_platform_store_is_merged_with_custom_certificates(loader_env: dict[str, str], pki: PKI, tmp_path: Path) -> None:
    merged = tlsback.load(env=env_with(**loader_env, **_file(pki, tmp_path)))
    alone = tlsback.load(env=env_with(**loader_env))
    assert len(merged.store.certs) == len(alone.store.certs) + 1
    only = tlsback.load(env=env_with(**loader_env, TLSBACK_CUSTOM_CERTS="only", **_file(pki, tmp_path)))
    assert only.store.certs == [pki.root.der]


def test_only_mode_is_refused_by_the_native_backend(pki: PKI, tmp_path: Path) -> None:
    cfg = tlsback.load(native_tls=True, env=env_with(TLSBACK_CUSTOM_CERTS="only", **_file(pki, tmp_path)))
    with pytest.raises(tlsback.ConfigError, match="only"):
        _ = cfg.context


def test_certifi_fallback_when_no_platform_store(pki: PKI, tmp_path: Path) -> None:
    cfg = tlsback.load(env=env_with(TLSBACK_PLATFORM_STORE=str(tmp_path / "none")))
    d = cfg.diagnostics()
    assert d["store"]["platform_fallback"] is True
    assert d["sources"][0]["kind"] == "certifi" and d["sources"][0]["unique"] > 100




@pytest.mark.parametrize("backend", ["rustls", "native"])
def test_contexts_offer_http11_by_alpn(backend: str, pki: PKI, https_server: Callable[..., HTTPSServer], tmp_path: Path) -> None:
    server = https_server(pki)
    cfg = tlsback.load(backend=backend, allow_insecure_host=[f"127.0.0.1:{server.port}"],
                       env=env_with(**_file(pki, tmp_path)))
    assert get(server.url, cfg.context).status == 200
    assert get(server.ip_url, cfg.context_for(server.ip_url)).status == 200
    assert [c.alpn for c in server.connections] == ["http/1.1", "http/1.1"]
