"""The text of a verification failure: what the server sent (its certificate's names) is
escaped in the exception itself, since every client (pip, requests, urllib) prints it as is."""

from __future__ import annotations

import ssl
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

import tlsback
from tests.pki import PKI, issue
from tests.tlsserver import HTTPSServer

EVIL = "evil\x1b]0;owned\x07\x1b[2J\nFAKE: all good\r"


def _failure(cfg: tlsback.TLSConfig, url: str) -> ssl.SSLCertVerificationError:
    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=cfg.context))
    with pytest.raises(urllib.error.URLError) as info:
        opener.open(url, timeout=30)
    exc = info.value.reason
    assert isinstance(exc, ssl.SSLCertVerificationError), exc
    return exc


def test_a_servers_names_are_escaped_in_the_exception(pki: PKI, tmp_path: Path,
                                                      https_server: Callable[..., HTTPSServer]) -> None:
    cfg = tlsback.load(env={"SSL_CERT_FILE": str(pki.write_root(tmp_path / "r.pem")),
                            "TLSBACK_CUSTOM_CERTS": "only", "UV_NO_CONFIG": "1"})
    # Self-signed (UnknownIssuer names it), and trusted but for another name (NotValidForName
    # names the certificate and the names it holds).
    for leaf, chain in ((issue(EVIL, san=["localhost"]), []),
                        (issue(EVIL, issuer=pki.intermediate, san=[EVIL.replace("\n", "x")]), [pki.intermediate])):
        server = https_server([leaf, *chain])
        exc = _failure(cfg, f"https://localhost:{server.port}/")
        for text in (str(exc), exc.strerror, exc.verify_message, getattr(exc, "rustls_text", "")):
            assert text and text.isprintable(), text
        assert "evil" in str(exc) and "\\x1b" in str(exc)
