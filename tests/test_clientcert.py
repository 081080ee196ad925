"""``SSL_CLIENT_CERT``: parsing, warnings, errors, and real mTLS handshakes.

What they check: docs/client-certificates.md.

The servers here require (or request) a client certificate issued by a separate client PKI; the
client PKI's leaf is sent with its intermediate (chain leaf first), so the server only needs the
client root.
"""

from __future__ import annotations

import os
import ssl
import stat
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.pki import CLIENT_AUTH, PKI, Cert, issue
from tests.tlsserver import HTTPSServer
from tlsback.clientcert import ClientCert, load_client_cert, parse_client_cert
from tlsback.errors import ClientCertError

KEY_CASES = [
    ("rsa2048", "pkcs1", "RSA-2048", "PKCS#1"),
    ("rsa2048", "pkcs8", "RSA-2048", "PKCS#8"),
    ("ec", "sec1", "EC P-256", "SEC1"),
    ("ec", "pkcs8", "EC P-256", "PKCS#8"),
    ("ec384", "sec1", "EC P-384", "SEC1"),
    ("ed25519", "pkcs8", "Ed25519", "PKCS#8"),
]


@pytest.fixture(scope="module")
def client_pki() -> PKI:
    """The PKI client certificates come from (the server trusts its root)."""
    return PKI.create(("tlsback client",), name_prefix="tlsback client", eku=[CLIENT_AUTH])


def client_leaf(client_pki: PKI, key_kind: str, cn: str = "tlsback client") -> Cert:
    return issue(cn, issuer=client_pki.intermediate, key_kind=key_kind, san=None, eku=[CLIENT_AUTH])


def verifying_context(pki: PKI) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cadata=pki.root.pem.decode())
    return ctx


def insecure_context() -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def truststore_context(pki: PKI) -> ssl.SSLContext:
    import truststore

    ctx = truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cadata=pki.root.pem.decode())
    return ctx  # type: ignore[no-any-return]


CONTEXTS: dict[str, Callable[[PKI], ssl.SSLContext]] = {
    "stdlib": verifying_context,
    "truststore": truststore_context,
    "insecure": lambda pki: insecure_context(),
}


def get(url: str, ctx: ssl.SSLContext) -> bytes:
    with urllib.request.urlopen(url, context=ctx, timeout=10) as resp:
        return resp.read()  # type: ignore[no-any-return]


def load_ok(path: Path) -> ClientCert:
    cert, problems = load_client_cert(str(path))
    assert problems == []
    assert cert is not None
    return cert


# --------------------------------------------------------------------------------------------
# Real handshakes


@pytest.mark.parametrize("key_first", [False, True], ids=["cert-first", "key-first"])
@pytest.mark.parametrize(("key_kind", "fmt", "key_type", "key_format"), KEY_CASES)
def test_client_cert_key_kinds_against_server_requiring_it(
    pki: PKI, client_pki: PKI, https_server: Callable[..., HTTPSServer], tmp_path: Path,
    key_kind: str, fmt: str, key_type: str, key_format: str, key_first: bool,
) -> None:
    """RSA (PKCS#1/PKCS#8), EC (SEC1/PKCS#8) and Ed25519 keys, in either order, chain leaf first."""
    leaf = client_leaf(client_pki, key_kind)
    path = leaf.write_combined(tmp_path / "client.pem", chain=[client_pki.intermediate],
                               key_first=key_first, fmt=fmt)
    cert = load_ok(path)
    assert cert.key_type == key_type
    assert cert.key_format == key_format
    assert len(cert.chain) == 2
    srv = https_server(pki, client_ca=client_pki.root, require_client_cert=True)
    ctx = verifying_context(pki)
    cert.apply(ctx)
    assert get(srv.url + "/mtls", ctx)
    assert srv.requests[-1].client_subject == leaf.cert.subject.rfc4514_string()


@pytest.mark.parametrize("kind", sorted(CONTEXTS))
def test_client_cert_presented_by_every_context_kind(
    pki: PKI, client_pki: PKI, https_server: Callable[..., HTTPSServer], tmp_path: Path, kind: str,
) -> None:
    """The certificate is presented with stdlib, truststore and insecure (CERT_NONE) contexts."""
    leaf = client_leaf(client_pki, "ec")
    cert = load_ok(leaf.write_combined(tmp_path / "c.pem", chain=[client_pki.intermediate]))
    srv = https_server(pki, client_ca=client_pki.root, require_client_cert=True)
    ctx = CONTEXTS[kind](pki)
    cert.apply(ctx)
    assert get(srv.url + "/", ctx)
    assert srv.requests[-1].client_subject == leaf.cert.subject.rfc4514_string()


def test_without_client_cert_server_requiring_one_refuses(
    pki: PKI, client_pki: PKI, https_server: Callable[..., HTTPSServer],
) -> None:
    """Control: the server really requires a certificate (else the tests above prove nothing)."""
    srv = https_server(pki, client_ca=client_pki.root, require_client_cert=True)
    with pytest.raises((urllib.error.URLError, ssl.SSLError, ConnectionError)):
        get(srv.url + "/", verifying_context(pki))


def test_chain_is_needed_and_sent(
    pki: PKI, client_pki: PKI, https_server: Callable[..., HTTPSServer], tmp_path: Path,
) -> None:
    """Without the intermediate in the file the server cannot build the chain: it is sent."""
    leaf = client_leaf(client_pki, "ec")
    srv = https_server(pki, client_ca=client_pki.root, require_client_cert=True)
    bare = load_ok(leaf.write_combined(tmp_path / "bare.pem"))
    ctx = verifying_context(pki)
    bare.apply(ctx)
    with pytest.raises((urllib.error.URLError, ssl.SSLError, ConnectionError)):
        get(srv.url + "/", ctx)
    full = load_ok(leaf.write_combined(tmp_path / "full.pem", chain=[client_pki.intermediate]))
    ctx = verifying_context(pki)
    full.apply(ctx)
    assert get(srv.url + "/", ctx)


def test_unusable_file_connection_goes_on_without_certificate(
    pki: PKI, client_pki: PKI, https_server: Callable[..., HTTPSServer], tmp_path: Path,
) -> None:
    """A warning, then a request without a client certificate (server requests it optionally)."""
    leaf = client_leaf(client_pki, "ec")
    path = tmp_path / "certonly.pem"
    path.write_bytes(leaf.pem)
    cert, problems = load_client_cert(str(path))
    assert cert is None
    assert [p.code for p in problems] == ["no-key"]
    srv = https_server(pki, client_ca=client_pki.root, require_client_cert=False)
    assert get(srv.url + "/", verifying_context(pki))
    assert srv.requests[-1].client_subject is None


# --------------------------------------------------------------------------------------------
# Warnings


def test_missing_file(tmp_path: Path) -> None:
    """A missing file is a warning naming the path."""
    cert, problems = load_client_cert(str(tmp_path / "nope.pem"))
    assert cert is None
    assert len(problems) == 1
    p = problems[0]
    assert (p.code, p.path) == ("missing", str(tmp_path / "nope.pem"))
    assert p.message == "file not found"
    assert str(tmp_path / "nope.pem") in str(p)


def test_directory_is_not_a_file(tmp_path: Path) -> None:
    """A directory is a warning, not a crash."""
    cert, problems = load_client_cert(str(tmp_path))
    assert cert is None
    assert [p.code for p in problems] == ["not-a-file"]


def test_unreadable_file(tmp_path: Path) -> None:
    """A file that cannot be read is a warning (``/proc/self/mem`` fails to read even for root)."""
    path = tmp_path / "secret.pem"
    path.symlink_to("/proc/self/mem")
    cert, problems = load_client_cert(str(path))
    assert cert is None
    assert [p.code for p in problems] == ["unreadable"]


def test_no_key(client_pki: PKI, tmp_path: Path) -> None:
    """Certificates only: warning 'no private key'."""
    path = tmp_path / "c.pem"
    path.write_bytes(client_pki.leaf.pem + client_pki.intermediate.pem)
    cert, problems = load_client_cert(str(path))
    assert cert is None
    assert [p.code for p in problems] == ["no-key"]
    assert "no private key" in problems[0].message


def test_no_certificate(client_pki: PKI, tmp_path: Path) -> None:
    """Key only: warning 'no CERTIFICATE block'."""
    path = client_pki.leaf.write_key(tmp_path / "k.pem")
    cert, problems = load_client_cert(str(path))
    assert cert is None
    assert [p.code for p in problems] == ["no-certificate"]


def test_empty_and_garbage_files(tmp_path: Path) -> None:
    """An empty or non-PEM file: both 'no key' and 'no certificate'."""
    for data in (b"", b"hello\n", os.urandom(64)):
        path = tmp_path / "g.pem"
        path.write_bytes(data)
        cert, problems = load_client_cert(str(path))
        assert cert is None
        assert [p.code for p in problems] == ["no-key", "no-certificate"]


@pytest.mark.parametrize(("key_kind", "fmt"), [("ec", "pkcs8"), ("rsa2048", "pkcs8"),
                                               ("rsa2048", "pkcs1"), ("ec", "sec1")])
def test_encrypted_key_is_a_warning_and_never_prompts(
    client_pki: PKI, tmp_path: Path, key_kind: str, fmt: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Encrypted PKCS#8 and legacy Proc-Type keys are detected before OpenSSL sees them."""
    leaf = client_leaf(client_pki, key_kind)
    path = leaf.write_combined(tmp_path / "enc.pem", fmt=fmt, password=b"secret")

    def no_openssl(*args: object, **kwargs: object) -> None:
        raise AssertionError("an encrypted key must not reach load_cert_chain")

    monkeypatch.setattr(ssl.SSLContext, "load_cert_chain", no_openssl)
    cert, problems = load_client_cert(str(path))
    assert cert is None
    assert [p.code for p in problems] == ["encrypted-key"]
    assert "encrypted" in problems[0].message
    assert problems[0].line is not None


def test_password_callback_refuses_instead_of_prompting(client_pki: PKI) -> None:
    """Belt and braces: if an encrypted key reached OpenSSL, the callback fails; no prompt."""
    leaf = client_leaf(client_pki, "ec")
    enc = leaf.key_bytes("pkcs8", password=b"pw")
    der = ssl.PEM_cert_to_DER_cert(
        enc.decode().replace("ENCRYPTED PRIVATE KEY", "CERTIFICATE")
    )
    forged = ClientCert("forged.pem", (leaf.der,), der, "ENCRYPTED PRIVATE KEY", "?", "CN=x")
    with pytest.raises(ClientCertError, match="encrypted"):
        forged.apply(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))


def test_unsupported_key_formats(client_pki: PKI, tmp_path: Path) -> None:
    """An OpenSSH key is reported and skipped; with no other key, 'no key' follows."""
    leaf = client_leaf(client_pki, "ec")
    path = tmp_path / "ssh.pem"
    path.write_bytes(leaf.pem + leaf.key_bytes("openssh"))
    cert, problems = load_client_cert(str(path))
    assert cert is None
    assert [p.code for p in problems] == ["unsupported-key", "no-key"]


def test_bad_base64_and_missing_end_are_reported(client_pki: PKI, tmp_path: Path) -> None:
    """A broken extra block is reported with its line; the good certificate and key still load."""
    leaf = client_leaf(client_pki, "ec")
    broken = b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n"
    path = tmp_path / "c.pem"
    path.write_bytes(leaf.pem + leaf.key_pem + broken)
    cert, problems = load_client_cert(str(path))
    assert cert is not None and len(cert.chain) == 1
    assert [(p.code, p.line) for p in problems] == [("bad-base64", leaf.pem.count(b"\n") + leaf.key_pem.count(b"\n") + 1)]

    path.write_bytes(leaf.pem + leaf.key_pem + b"-----BEGIN CERTIFICATE-----\nAAAA\n")
    cert, problems = load_client_cert(str(path))
    assert cert is not None
    assert [p.code for p in problems] == ["missing-end"]


def test_text_around_blocks_crlf_and_ec_parameters(client_pki: PKI, tmp_path: Path) -> None:
    """Explanatory text, CRLF line ends and an `EC PARAMETERS` block are fine."""
    leaf = client_leaf(client_pki, "ec")
    params = b"-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"
    data = b"Bag Attributes\n subject=/CN=x\n" + leaf.pem + b"some text\n" + params + leaf.key_bytes("sec1")
    path = tmp_path / "c.pem"
    path.write_bytes(data.replace(b"\n", b"\r\n"))
    cert = load_ok(path)
    assert cert.key_type == "EC P-256"


def test_indented_begin_line_is_not_a_block(client_pki: PKI, tmp_path: Path) -> None:
    """A PEM block must start at the beginning of its line.

    docs/client-certificates.md, "The file".
    """
    leaf = client_leaf(client_pki, "ec")
    path = tmp_path / "c.pem"
    path.write_bytes(b" " + leaf.pem + leaf.key_pem)
    cert, problems = load_client_cert(str(path))
    assert cert is None
    assert [p.code for p in problems] == ["no-certificate"]


# --------------------------------------------------------------------------------------------
# Errors and key selection


def test_mismatched_key_is_an_error(client_pki: PKI, tmp_path: Path) -> None:
    """A key that does not belong to the certificate raises ClientCertError (a ValueError)."""
    leaf = client_leaf(client_pki, "ec")
    other = client_leaf(client_pki, "ec", cn="other")
    path = tmp_path / "m.pem"
    path.write_bytes(leaf.pem + other.key_pem)
    with pytest.raises(ClientCertError, match="does not match") as exc:
        load_client_cert(str(path))
    assert str(path) in str(exc.value)
    assert isinstance(exc.value, ValueError)
    cert, _ = parse_client_cert(path.read_bytes(), str(path))
    assert cert is not None
    with pytest.raises(ClientCertError, match="does not match"):
        cert.apply(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))


def test_leaf_must_come_first(client_pki: PKI, tmp_path: Path) -> None:
    """Chain in the wrong order: the first certificate is not the key's: an error that says so."""
    leaf = client_leaf(client_pki, "ec")
    path = tmp_path / "o.pem"
    path.write_bytes(client_pki.intermediate.pem + leaf.pem + leaf.key_pem)
    with pytest.raises(ClientCertError, match="certificate of the key first"):
        load_client_cert(str(path))


def test_last_key_wins(client_pki: PKI, tmp_path: Path) -> None:
    """With several keys the last one is used (reqwest/rustls, hence uv)."""
    leaf = client_leaf(client_pki, "ec")
    other = client_leaf(client_pki, "rsa2048", cn="other")
    path = tmp_path / "k.pem"
    path.write_bytes(other.key_pem + leaf.pem + leaf.key_pem)
    assert load_ok(path).key_type == "EC P-256"
    path.write_bytes(leaf.key_pem + leaf.pem + other.key_pem)
    # OpenSSL alone would accept this pair (one slot per key type): tlsback compares the types.
    with pytest.raises(ClientCertError, match="the key is RSA-2048, the certificate's is EC P-256"):
        load_client_cert(str(path))


def test_last_key_encrypted_wins_too(client_pki: PKI, tmp_path: Path) -> None:
    """The last key decides even when it is the encrypted one: a warning, no certificate."""
    leaf = client_leaf(client_pki, "ec")
    path = tmp_path / "k.pem"
    path.write_bytes(leaf.pem + leaf.key_pem + leaf.key_bytes("pkcs8", password=b"x"))
    cert, problems = load_client_cert(str(path))
    assert cert is None and [p.code for p in problems] == ["encrypted-key"]


def test_openssl_refusal_is_a_warning(client_pki: PKI, tmp_path: Path) -> None:
    """A key OpenSSL cannot use (malformed DER behind a valid label) is a warning."""
    leaf = client_leaf(client_pki, "ec")
    path = tmp_path / "bad.pem"
    path.write_bytes(leaf.pem + b"-----BEGIN PRIVATE KEY-----\nMAMCAQA=\n-----END PRIVATE KEY-----\n")
    cert, problems = load_client_cert(str(path))
    assert cert is None
    assert [p.code for p in problems] == ["rejected"]
    assert "OpenSSL refused" in problems[0].message


# --------------------------------------------------------------------------------------------
# The temporary file and the description


def _spy_loads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int, int]]:
    """Record each path ``load_cert_chain`` is given, with its mode and its directory's."""
    seen: list[tuple[str, int, int]] = []
    real = ssl.SSLContext.load_cert_chain

    def spy(self: ssl.SSLContext, certfile: str, *args: object, **kwargs: object) -> None:
        seen.append((certfile, stat.S_IMODE(os.stat(certfile).st_mode),
                     stat.S_IMODE(os.stat(os.path.dirname(certfile)).st_mode)))
        real(self, certfile, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ssl.SSLContext, "load_cert_chain", spy)
    return seen


@pytest.mark.skipif(not hasattr(os, "memfd_create") or not os.path.isdir("/proc/self/fd"),
                    reason="anonymous memory files are Linux-only")
def test_key_written_once_to_a_memory_file_shared_by_every_context(
    client_pki: PKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The chain and key are written once, to a memory file with no name in any file system,
    and every context (the start-up check, verifying, insecure) loads that one copy."""
    leaf = client_leaf(client_pki, "ec")
    seen = _spy_loads(monkeypatch)
    runtime = os.environ["XDG_RUNTIME_DIR"]
    cert, problems = load_client_cert(str(leaf.write_combined(tmp_path / "c.pem")), runtime)
    assert cert is not None and problems == []
    cert.apply(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))
    cert.apply(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))
    paths = {path for path, _, _ in seen}
    assert len(seen) == 3 and len(paths) == 1
    path = paths.pop()
    assert path.startswith("/proc/self/fd/")
    assert os.readlink(path).startswith("/memfd:")  # anonymous: nothing on tmpfs or disk
    assert os.listdir(runtime) == []


def test_temp_file_private_and_removed_where_there_is_no_memory_file(
    client_pki: PKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without memory files (macOS, Windows): the key file OpenSSL reads is 0600 in a 0700
    directory on tmpfs (XDG_RUNTIME_DIR from the settings), and both are gone afterwards."""
    monkeypatch.delattr(os, "memfd_create", raising=False)  # as on a platform without it
    leaf = client_leaf(client_pki, "ec")
    runtime = os.environ["XDG_RUNTIME_DIR"]
    cert, _ = load_client_cert(str(leaf.write_combined(tmp_path / "c.pem")), runtime)
    assert cert is not None
    seen = _spy_loads(monkeypatch)
    cert.apply(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))
    (path, mode, dmode), = seen
    assert (mode, dmode) == (0o600, 0o700)
    assert not os.path.exists(path)
    assert not os.path.exists(os.path.dirname(path))
    assert path.startswith(runtime)


def test_describe_and_repr(client_pki: PKI, tmp_path: Path) -> None:
    """describe() gives subject, key type and path; repr never shows the key."""
    from tests.pki import name

    leaf = issue(subject=name("client, \"one\"", O="Example+Co", OU="#ops"), issuer=client_pki.intermediate,
                 key_kind="rsa2048", san=None, eku=[CLIENT_AUTH])
    path = leaf.write_combined(tmp_path / "c.pem", chain=[client_pki.intermediate], fmt="pkcs1")
    cert = load_ok(path)
    d = cert.describe()
    assert d["subject"] == leaf.cert.subject.rfc4514_string()
    assert d["key_type"] == "RSA-2048"
    assert d["key_format"] == "PKCS#1"
    assert d["path"] == str(path)
    assert d["chain_length"] == 2
    assert d["not_after"] == leaf.cert.not_valid_after_utc.isoformat()
    assert "key_der" not in repr(cert)
    assert cert.pem().count(b"BEGIN CERTIFICATE") == 2
