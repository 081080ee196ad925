"""The examples in docs/adapters.md run, against local servers, as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.pki import PKI
from tests.tlsserver import DEFAULT_BODY, HTTPSServer

DOC = Path(__file__).resolve().parent.parent / "docs" / "adapters.md"
SRC = Path(__file__).resolve().parent.parent / "src"


def blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.DOTALL)


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(extra)
    return env


def test_installer_example(pki: PKI, other_pki: PKI, https_server: Callable[..., HTTPSServer],
                           tmp_path: Path) -> None:
    """The ten-line installer: trusted via SSL_CERT_FILE, --native-tls, untrusted, insecure host."""
    script = next(b for b in blocks() if "parse_args()" in b)
    assert len(script.strip().splitlines()) <= 11  # ten lines and the blank one after imports
    path = tmp_path / "fetch_wheel.py"
    path.write_text(script)
    good = https_server(pki)
    bad = https_server(other_pki)
    ca = pki.write_root(tmp_path / "ca.pem")

    def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, str(path), *args], env=child_env(**env),
                              capture_output=True, text=True, timeout=60, cwd=tmp_path, check=False)

    r = run(good.url + "/x.whl", "-o", "a.whl", SSL_CERT_FILE=str(ca))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "a.whl").read_bytes() == DEFAULT_BODY
    assert "rustls backend" in r.stdout
    r = run("--native-tls", good.url + "/x.whl", "-o", "b.whl", SSL_CERT_FILE=str(ca))
    assert r.returncode == 0, r.stderr
    assert "native backend, cli" in r.stdout
    r = run(bad.url + "/x.whl", "-o", "c.whl")
    assert r.returncode != 0
    assert "CERTIFICATE_VERIFY_FAILED" in r.stderr
    r = run("--allow-insecure-host", f"localhost:{bad.port}", bad.url + "/x.whl", "-o", "c.whl")
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("backend", ["rustls", "native"])
def test_client_snippets(backend: str, pki: PKI, https_server: Callable[..., HTTPSServer],
                         tmp_path: Path) -> None:
    """Each per-client snippet fetches a page (the URL swapped for a local server)."""
    good = https_server(pki)
    ca = pki.write_root(tmp_path / "ca.pem")
    setup, *snippets = [b for b in blocks() if "parse_args()" not in b]
    assert "tlsback.load()" in setup
    sync = [s for s in snippets if "async " not in s]
    asynchronous = [s for s in snippets if "async " in s]
    body = [setup.replace("tlsback.load()", f"tlsback.load(backend={backend!r})"), "pages = []"]
    for snippet in sync:
        body += [snippet, "pages.append(page)"]
    body.append("import asyncio, aiohttp\nasync def main():\n    out = []")
    for snippet in asynchronous:
        body.append("\n".join("    " + line for line in snippet.strip().splitlines()))
        body.append("    out.append(page)")
    body.append("    return out\npages += asyncio.run(main())\nprint(len(pages), set(pages))")
    code = "\n".join(body).replace("https://pypi.org/simple/", good.url + "/simple/")
    r = subprocess.run([sys.executable, "-c", code], env=child_env(SSL_CERT_FILE=str(ca)),
                       capture_output=True, text=True, timeout=120, cwd=tmp_path, check=False)
    assert r.returncode == 0, r.stderr + "\n" + code
    count = len(sync) + len(asynchronous)
    assert r.stdout.startswith(f"{count} ")
    assert count == 6  # urllib, urllib3, requests, httpx, httpx async, aiohttp
    assert len(good.requests) == 6
