"""The test harness itself: certificates, servers, proxy and the hermetic environment work."""

from __future__ import annotations

import http.client
import importlib.util
import json
import os
import socket
import ssl
import subprocess
import time
import warnings
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from tests.pki import CLIENT_AUTH, PKI, Cert, issue, make_key, write_hashed_dir
from tests.tlsserver import (
    DEFAULT_BODY,
    ConnectProxy,
    HTTPSServer,
    Response,
    get,
    handshake,
    legacy_client_context,
    ok,
    redirect,
)


def _get(
    host: str, port: int, ctx: ssl.SSLContext, path: str = "/", server_hostname: str = "localhost"
) -> tuple[int, bytes, Response]:
    r = get(f"https://{host}:{port}{path}", ctx, server_hostname=server_hostname)
    return r.status, r.body, r


def _negotiated(port: int, ctx: ssl.SSLContext) -> tuple[str | None, str | None]:
    return handshake(port, ctx)


# --- pki ------------------------------------------------------------------------------------


def test_pki_chain_verifies_with_stdlib_client(pki: PKI, https_server, ca_file: Path) -> None:
    """A stdlib client trusting only the root handshakes and reads the default body."""
    srv = https_server(pki)
    ctx = ssl.create_default_context(cafile=str(ca_file))
    status, body, _ = _get("127.0.0.1", srv.port, ctx)
    assert (status, body) == (200, DEFAULT_BODY)
    assert srv.requests[0].method == "GET" and srv.requests[0].path == "/"
    info = srv.connections[0]
    assert info.error is None and info.sni == "localhost" and info.alpn is None


def test_untrusted_client_fails_with_cert_verification_error(
    pki: PKI, other_pki: PKI, https_server
) -> None:
    """Trusting another PKI's root fails the handshake with SSLCertVerificationError."""
    srv = https_server(pki)
    ctx = ssl.create_default_context(cadata=other_pki.root.pem.decode())
    with pytest.raises(ssl.SSLCertVerificationError):
        _get("127.0.0.1", srv.port, ctx)
    # the server survives the failed handshake and keeps serving
    ok_ctx = ssl.create_default_context(cadata=pki.root.pem.decode())
    assert _get("127.0.0.1", srv.port, ok_ctx)[0] == 200
    # Each connection is recorded by its own server thread when its handshake ends: the failed
    # one's record may come after the good one's (its error arrives with the client's alert).
    deadline = time.monotonic() + 10
    while not any(c.error is not None for c in srv.connections) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [c.error is not None for c in srv.connections].count(True) == 1, srv.connections


def test_ip_url_and_san(pki: PKI, https_server) -> None:
    """The leaf carries DNS:localhost and IP:127.0.0.1; both names verify."""
    srv = https_server(pki)
    assert srv.url == f"https://localhost:{srv.port}"
    assert srv.ip_url == f"https://127.0.0.1:{srv.port}"
    ctx = ssl.create_default_context(cadata=pki.root.pem.decode())
    assert _get("127.0.0.1", srv.port, ctx, server_hostname="127.0.0.1")[0] == 200
    san = pki.leaf.cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(a) for a in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]


def test_sha1_and_md5_signatures_are_real(pki: PKI) -> None:
    """hash_alg="sha1"/"md5" produce certificates really signed with that hash."""
    c = issue("localhost", issuer=pki.intermediate, san=["localhost"], hash_alg="sha1")
    assert isinstance(c.cert.signature_hash_algorithm, hashes.SHA1)
    # the signature verifies under the issuer key
    assert isinstance(pki.intermediate.key, ec.EllipticCurvePrivateKey)
    pki.intermediate.key.public_key().verify(
        c.cert.signature, c.cert.tbs_certificate_bytes, ec.ECDSA(hashes.SHA1())
    )
    root = issue("rsa root", is_ca=True, key_kind="rsa2048")
    m = issue("x", issuer=root, hash_alg="md5", key_kind="rsa1024")
    assert isinstance(m.cert.signature_hash_algorithm, hashes.MD5)
    s = issue("self", hash_alg="sha1", key_kind="rsa2048")
    assert s.cert.signature_algorithm_oid == x509.SignatureAlgorithmOID.RSA_WITH_SHA1


def test_rsa1024_and_key_kinds() -> None:
    """Every key kind is produced with the right type and size."""
    weak = issue("weak", key_kind="rsa1024")
    assert isinstance(weak.key, rsa.RSAPrivateKey) and weak.key.key_size == 1024
    pub = weak.cert.public_key()
    assert isinstance(pub, rsa.RSAPublicKey) and pub.key_size == 1024
    assert make_key("rsa2048").key_size == 2048  # type: ignore[union-attr]
    assert isinstance(make_key("ec384"), ec.EllipticCurvePrivateKey)
    ed = issue("ed", key_kind="ed25519")
    assert isinstance(ed.key, ed25519.Ed25519PrivateKey)
    assert make_key("rsa1024", fresh=True) is not make_key("rsa1024", fresh=True)


def test_subject_hash_matches_openssl_cli(tmp_path: Path) -> None:
    """Cert.subject_hash equals `openssl x509 -subject_hash` (the hashed-dir oracle)."""
    c = issue("Some CA", is_ca=True)
    out = (
        subprocess.run(
            ["openssl", "x509", "-subject_hash", "-noout"],
            input=c.pem,
            capture_output=True,
            check=True,
            timeout=30,
        )
        .stdout.decode()
        .strip()
    )
    assert f"{c.subject_hash:08x}" == out
    d = write_hashed_dir(tmp_path / "hashed", [c, c])
    assert sorted(p.name for p in d.iterdir()) == [f"{out}.0", f"{out}.1"]


def test_extensions_and_key_formats(tmp_path: Path) -> None:
    """Odd extensions are present as asked; keys serialize in every format."""
    oid = x509.ObjectIdentifier("1.3.6.1.4.1.99999.1")
    c = issue(
        "odd",
        is_ca=False,
        eku=[CLIENT_AUTH],
        eku_critical=True,
        key_kind="rsa2048",
        extra_extensions=[(x509.UnrecognizedExtension(oid, b"\x05\x00"), True)],
        name_constraints=None,
        basic_constraints=False,
    )
    ext = c.cert.extensions.get_extension_for_oid(oid)
    assert ext.critical
    eku = c.cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert eku.critical and list(eku.value) == [CLIENT_AUTH]
    with pytest.raises(x509.ExtensionNotFound):
        c.cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert b"BEGIN PRIVATE KEY" in c.key_pem
    assert b"BEGIN RSA PRIVATE KEY" in c.key_bytes("pkcs1")
    assert b"ENCRYPTED PRIVATE KEY" in c.key_bytes("pkcs8", password=b"pw")
    assert b"Proc-Type: 4,ENCRYPTED" in c.key_bytes("pkcs1", password=b"pw")
    e = issue("ec")
    assert b"BEGIN EC PRIVATE KEY" in e.write_key(tmp_path / "k.pem", fmt="sec1").read_bytes()
    assert e.write_der(tmp_path / "c.der").read_bytes() == e.der
    assert x509.load_der_x509_certificate(e.der) == e.cert
    combined = e.write_combined(tmp_path / "client.pem", key_first=True).read_bytes()
    assert combined.index(b"PRIVATE KEY") < combined.index(b"CERTIFICATE")
    serialization.load_pem_private_key(e.key_pem, None)


# --- servers ------------------------------------------------------------------------------


def test_tls13_only_server(pki: PKI, https_server) -> None:
    srv = https_server(pki, minimum_version=ssl.TLSVersion.TLSv1_3)
    version, _ = _negotiated(srv.port, legacy_client_context(cadata=pki.root.pem))
    assert version == "TLSv1.3"
    tls12 = ssl.create_default_context(cadata=pki.root.pem.decode())
    tls12.maximum_version = ssl.TLSVersion.TLSv1_2
    with pytest.raises(ssl.SSLError):
        _negotiated(srv.port, tls12)


@pytest.fixture(scope="module")
def rsa_pki() -> PKI:
    return PKI.create(key_kind="rsa2048")


@pytest.mark.parametrize(
    "ciphers",
    ["ECDHE-RSA-AES128-SHA", "AES128-GCM-SHA256"],
    ids=["tls12-cbc-only", "tls12-rsa-kx-only"],
)
def test_tls12_cipher_restricted_server(rsa_pki: PKI, https_server, ciphers: str) -> None:
    """A cipher-restricted server negotiates exactly that TLS 1.2 suite."""
    srv = https_server(rsa_pki, ciphers=ciphers)
    assert _negotiated(srv.port, legacy_client_context(cadata=rsa_pki.root.pem)) == (
        "TLSv1.2",
        ciphers,
    )
    # a modern client (AEAD + ECDHE only) cannot talk to it
    modern = ssl.create_default_context(cadata=rsa_pki.root.pem.decode())
    modern.set_ciphers("ECDHE+AESGCM:ECDHE+CHACHA20")
    modern.minimum_version = ssl.TLSVersion.TLSv1_2
    modern.maximum_version = ssl.TLSVersion.TLSv1_2
    with pytest.raises(ssl.SSLError):
        _negotiated(srv.port, modern)


@pytest.mark.parametrize(
    "version", [ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1], ids=["tls1.0", "tls1.1"]
)
def test_legacy_tls_server(pki: PKI, https_server, version: ssl.TLSVersion) -> None:
    """TLS 1.0/1.1 servers work on OpenSSL 3.0 at @SECLEVEL=0."""
    srv = https_server(pki, minimum_version=version, maximum_version=version)
    client = legacy_client_context(cadata=pki.root.pem)
    try:
        negotiated, _ = _negotiated(srv.port, client)
    except ssl.SSLError as exc:  # pragma: no cover - depends on the OpenSSL build
        pytest.skip(f"this OpenSSL refuses {version.name} even at @SECLEVEL=0: {exc}")
    assert negotiated == {"TLSv1": "TLSv1", "TLSv1_1": "TLSv1.1"}[version.name]
    strict = ssl.create_default_context(cadata=pki.root.pem.decode())
    with pytest.raises(ssl.SSLError):
        _negotiated(srv.port, strict)


def test_weak_certificates_are_served(pki: PKI, https_server) -> None:
    """The server can present SHA-1 / RSA-1024 leaves (the client decides)."""
    leaf = issue(
        "localhost", issuer=pki.intermediate, san=["localhost"], hash_alg="sha1", key_kind="rsa1024"
    )
    srv = https_server([leaf, pki.intermediate])
    permissive = legacy_client_context(cadata=pki.root.pem)
    assert _negotiated(srv.port, permissive)[0] is not None
    strict = ssl.create_default_context(cadata=pki.root.pem.decode())
    with pytest.raises(ssl.SSLCertVerificationError):
        _negotiated(srv.port, strict)


@pytest.mark.parametrize("tls13", [True, False], ids=["tls1.3", "tls1.2"])
def test_client_certificate_required(pki: PKI, https_server, tls13: bool) -> None:
    """A server requiring client certs rejects a client without one, accepts one with."""
    client_ca = issue("client CA", is_ca=True)
    client = issue("alice", issuer=client_ca, eku=[CLIENT_AUTH])
    srv = https_server(
        pki,
        client_ca=client_ca,
        require_client_cert=True,
        maximum_version=None if tls13 else ssl.TLSVersion.TLSv1_2,
    )
    ctx = ssl.create_default_context(cadata=pki.root.pem.decode())
    # TLS 1.3: the client's handshake completes first, the alert arrives on read
    with pytest.raises((ssl.SSLError, ConnectionError)):
        _get("127.0.0.1", srv.port, ctx)
    assert srv.requests == []

    with_cert = ssl.create_default_context(cadata=pki.root.pem.decode())
    _load_client_cert(with_cert, client)
    status, body, _ = _get("127.0.0.1", srv.port, with_cert)
    assert (status, body) == (200, DEFAULT_BODY)
    assert srv.requests[-1].client_subject == "CN=alice"


def _load_client_cert(ctx: ssl.SSLContext, cert: Cert) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        path = cert.write_combined(Path(d) / "client.pem")
        ctx.load_cert_chain(path)


def test_routes_redirect_and_simple_index(pki: PKI, https_server, http_server) -> None:
    """Custom routes, redirects, a plain-HTTP server and the PEP 503 index."""
    srv = https_server(
        pki,
        routes={
            "/custom": (201, {"X-Test": "1"}, b"custom"),
            "/fn": lambda req: ok(req.path),
            "/go": redirect("/custom"),
        },
    )
    ctx = ssl.create_default_context(cadata=pki.root.pem.decode())
    assert _get("127.0.0.1", srv.port, ctx, "/custom")[:2] == (201, b"custom")
    assert _get("127.0.0.1", srv.port, ctx, "/fn")[:2] == (200, b"/fn")
    assert _get("127.0.0.1", srv.port, ctx, "/go")[0] == 302

    conn = http.client.HTTPSConnection("localhost", srv.port, context=ctx, timeout=10)
    conn.request("GET", "/simple/requests/")
    resp = conn.getresponse()
    assert resp.status == 200 and resp.getheader("Content-Type") == "text/html"
    assert b"<a" not in resp.read()
    conn.close()

    plain = http_server(routes={"/r": redirect(srv.url + "/custom")})
    assert plain.url.startswith("http://localhost:")
    hc = http.client.HTTPConnection("127.0.0.1", plain.port, timeout=10)
    hc.request("GET", "/r")
    resp = hc.getresponse()
    assert resp.status == 302 and resp.getheader("Location") == srv.url + "/custom"
    resp.read()
    hc.close()


def test_connect_proxy_tunnels(pki: PKI, https_server, connect_proxy) -> None:
    """CONNECT through the proxy reaches the HTTPS server; other targets are refused."""
    srv = https_server(pki)
    proxy: ConnectProxy = connect_proxy()
    ctx = ssl.create_default_context(cadata=pki.root.pem.decode())
    conn = http.client.HTTPSConnection("127.0.0.1", proxy.port, context=ctx, timeout=10)
    conn.set_tunnel("localhost", srv.port)
    conn.request("GET", "/via-proxy")
    resp = conn.getresponse()
    assert (resp.status, resp.read()) == (200, DEFAULT_BODY)
    conn.close()
    assert proxy.targets == [f"localhost:{srv.port}"]
    assert srv.requests[0].path == "/via-proxy"

    bad = http.client.HTTPSConnection("127.0.0.1", proxy.port, context=ctx, timeout=10)
    bad.set_tunnel("example.com", 443)
    with pytest.raises(OSError, match="403"):
        bad.request("GET", "/")
    bad.close()


def test_proxy_auth(pki: PKI, https_server) -> None:
    srv = https_server(pki)
    with ConnectProxy(auth=("u", "p")) as proxy:
        ctx = ssl.create_default_context(cadata=pki.root.pem.decode())
        conn = http.client.HTTPSConnection("127.0.0.1", proxy.port, context=ctx, timeout=10)
        conn.set_tunnel("localhost", srv.port)
        with pytest.raises(OSError, match="407"):
            conn.request("GET", "/")
        conn.close()
        conn = http.client.HTTPSConnection("127.0.0.1", proxy.port, context=ctx, timeout=10)
        conn.set_tunnel("localhost", srv.port, headers={"Proxy-Authorization": "Basic dTpw"})
        conn.request("GET", "/")
        assert conn.getresponse().read() == DEFAULT_BODY
        conn.close()


def test_server_stops_with_idle_connection_open(pki: PKI) -> None:
    """stop() is bounded even when a client keeps a connection (or a handshake) open."""
    import time

    srv = HTTPSServer(pki).start()
    idle = socket.create_connection(("127.0.0.1", srv.port), timeout=10)  # no handshake
    ctx = ssl.create_default_context(cadata=pki.root.pem.decode())
    raw = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    kept = ctx.wrap_socket(raw, server_hostname="localhost")
    time.sleep(0.05)
    t0 = time.monotonic()
    srv.stop()
    assert time.monotonic() - t0 < 3
    kept.close()
    idle.close()


# --- environment ----------------------------------------------------------------------------


def test_hermetic_env_removes_inherited_tls_variables(hermetic_env) -> None:
    """No SSL_*/UV_*/TLSBACK_* value or proxy leaks in; HOME/XDG/cwd are private."""
    for name in os.environ:
        assert not name.startswith(("SSL_", "UV_")), name
        assert name.upper() not in (
            "REQUESTS_CA_BUNDLE",
            "CURL_CA_BUNDLE",
            "HTTPS_PROXY",
            "HTTP_PROXY",
            "ALL_PROXY",
            "NO_PROXY",
        )
    assert "SSL_CERT_FILE" not in os.environ and "SSL_CERT_DIR" not in os.environ
    assert Path.cwd() == hermetic_env.cwd
    assert os.environ["HOME"] == str(hermetic_env.home)
    assert os.environ["TLSBACK_CACHE_DIR"] == str(hermetic_env.tlsback_cache)
    # TLSBACK_STORE is the one variable put back on purpose (the suite's lazy/eager run)
    assert [k for k in os.environ if k.startswith("TLSBACK_") and k != "TLSBACK_STORE"] == ["TLSBACK_CACHE_DIR"]


def test_run_cli_env_is_hermetic(run_cli, hermetic_env) -> None:
    """run_cli's child gets the cleaned environment plus the given variables, in the cwd,
    and imports the same tlsback as the test process."""
    (hermetic_env.cwd / "envdump.py").write_text(
        "import importlib.util, json, os\n"
        "spec = importlib.util.find_spec('tlsback')\n"
        "print(json.dumps({'env': dict(os.environ), 'cwd': os.getcwd(),\n"
        "    'tlsback': list(spec.submodule_search_locations or []) if spec else None}))\n"
    )
    result = run_cli("x", env={"SSL_CERT_DIR": "/nonexistent", "HOME": None}, module="envdump")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    env = data["env"]
    assert "SSL_CERT_FILE" not in env and "REQUESTS_CA_BUNDLE" not in env
    assert env["SSL_CERT_DIR"] == "/nonexistent" and "HOME" not in env
    assert env["TLSBACK_CACHE_DIR"] == str(hermetic_env.tlsback_cache)
    assert Path(data["cwd"]) == hermetic_env.cwd
    here = importlib.util.find_spec("tlsback")
    assert here is not None
    assert data["tlsback"] == list(here.submodule_search_locations or [])


def test_https_proxy_tunnels_tls_in_tls(pki: PKI, https_server, connect_proxy) -> None:
    """A TLS-speaking proxy (urllib3 HTTPS proxy support) tunnels to the HTTPS server."""
    urllib3 = pytest.importorskip("urllib3")
    srv = https_server(pki)
    proxy_pki = PKI.create(name_prefix="tlsback proxy")
    proxy = connect_proxy(chain=proxy_pki)
    assert proxy.url == f"https://localhost:{proxy.port}"
    pm = urllib3.ProxyManager(
        proxy.url,
        proxy_ssl_context=ssl.create_default_context(cadata=proxy_pki.root.pem.decode()),
        ssl_context=ssl.create_default_context(cadata=pki.root.pem.decode()),
        retries=False,
    )
    try:
        r = pm.request("GET", srv.url + "/tunneled")
        assert (r.status, r.data) == (200, DEFAULT_BODY)
    finally:
        pm.clear()
    assert proxy.targets == [f"localhost:{srv.port}"]
    assert srv.requests[-1].path == "/tunneled"


def test_client_helpers(pki: PKI, https_server) -> None:
    """tlsserver.get and tlsserver.handshake report status, body and negotiation."""
    srv = https_server(pki)
    ctx = ssl.create_default_context(cadata=pki.root.pem.decode())
    r = get(srv.url + "/a?b=1", ctx)
    assert (r.status, r.body, r.tls_version) == (200, DEFAULT_BODY, "TLSv1.3")
    assert srv.requests[-1].path == "/a?b=1"
    assert handshake(srv.port, ctx)[0] == "TLSv1.3"
    with pytest.raises(ssl.SSLCertVerificationError):
        get(srv.ip_url, ctx, server_hostname="example.com")


def test_no_warnings_from_harness_imports() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert issue("quiet").subject_hash >= 0
