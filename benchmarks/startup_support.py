"""Support for ``bench_startup.py``: trees, a verifiable server, fresh-process timings, uv.

The certificate trees are the loader benchmarks' (``tlsback.bench.ensure_tree``: mixed PEM,
DER and bundle files, duplicates, broken files, hash links). Their certificates carry no valid
signature, which does not matter for trust anchors, but no server can present a chain to them;
so every measured ``SSL_CERT_DIR`` is the tree plus a one-file directory holding the root of a
small PKI (root -> intermediate -> ``localhost`` leaf) that the local HTTPS server uses.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SRC = REPO / "src"
UV = os.environ.get("TLSBACK_BENCH_UV") or shutil.which("uv") or str(Path(sys.executable).parent / "uv")

__all__ = ["PKIFiles", "Stats", "fresh", "pki_files", "serve", "serve_process", "uv_compile_times"]


@dataclass(frozen=True)
class PKIFiles:
    """The server PKI: ``root_dir`` holds only the root (one ``SSL_CERT_DIR`` entry)."""

    root_dir: Path
    root_pem: Path
    chain: Path
    key: Path


def pki_files(base: Path) -> PKIFiles:
    """Generate (once) the server PKI under ``base``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    files = PKIFiles(base / "root-dir", base / "root-dir" / "bench-root.pem", base / "chain.pem", base / "key.pem")
    if files.key.exists():
        return files
    files.root_dir.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def cert(subject: str, issuer: str, key: ec.EllipticCurvePrivateKey, signer: ec.EllipticCurvePrivateKey,
             ca: bool) -> x509.Certificate:
        b = (x509.CertificateBuilder().subject_name(name(subject)).issuer_name(name(issuer))
             .public_key(key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(now - datetime.timedelta(days=1))
             .not_valid_after(now + datetime.timedelta(days=3650))
             .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if not ca:
            b = b.add_extension(x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        return b.sign(signer, hashes.SHA256())

    keys = [ec.generate_private_key(ec.SECP256R1()) for _ in range(3)]
    root = cert("tlsback startup bench root", "tlsback startup bench root", keys[0], keys[0], True)
    inter = cert("tlsback startup bench intermediate", "tlsback startup bench root", keys[1], keys[0], True)
    leaf = cert("localhost", "tlsback startup bench intermediate", keys[2], keys[1], False)
    pem = serialization.Encoding.PEM
    files.root_pem.write_bytes(root.public_bytes(pem))
    files.chain.write_bytes(leaf.public_bytes(pem) + inter.public_bytes(pem))
    files.key.write_bytes(keys[2].private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                serialization.NoEncryption()))
    return files


@contextmanager
def serve(pki: PKIFiles) -> Iterator[str]:
    """A local HTTPS server (the tests' harness) with a PEP 503 index; yields its base URL."""
    sys.path.insert(0, str(REPO))
    from tests.tlsserver import HTTPSServer

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki.chain, pki.key)
    srv = HTTPSServer(None, context=ctx).start()
    try:
        yield srv.url
    finally:
        srv.stop()


@contextmanager
def serve_process(pki: PKIFiles) -> Iterator[int]:
    """The same server in a process of its own; yields its port.

    For handshake timings: a server thread in the measuring process competes with the client for
    the GIL, which bills its share of each handshake to whichever side the scheduler picks.
    """
    code = ("import ssl, sys; sys.path.insert(0, sys.argv[1]); from tests.tlsserver import HTTPSServer; "
            "ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain(sys.argv[2], sys.argv[3]); "
            "srv = HTTPSServer(None, context=ctx).start(); print(srv.url.rsplit(':', 1)[1], flush=True); "
            "sys.stdin.read(); srv.stop()")
    proc = subprocess.Popen([sys.executable, "-c", code, str(REPO), str(pki.chain), str(pki.key)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        yield int(proc.stdout.readline())
    finally:
        proc.kill()
        proc.wait()


@dataclass
class Stats:
    """Medians (seconds) of repeated measurements."""

    samples: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    def __str__(self) -> str:
        return f"{self.median * 1000:.2f} ms (n={len(self.samples)}, min {min(self.samples) * 1000:.2f})"


def base_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment without inherited TLS/uv/tlsback variables, ``src`` on the path."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SSL_", "UV_", "TLSBACK_")) and k not in ("REQUESTS_CA_BUNDLE", "PYTHONPATH")}
    env["PYTHONPATH"] = str(SRC)
    env["UV_NO_CONFIG"] = "1"
    # Measure what an installed package costs: with bytecode. The machines export
    # PYTHONDONTWRITEBYTECODE=1, which would make every run compile tlsback from source; keep
    # the bytecode in a private prefix instead of the shared source tree.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = os.environ.get("TLSBACK_BENCH_PYCACHE", "/tmp/tlsback-startup-bench/pycache")
    env.update(extra or {})
    return env


def fresh(code: str, env: Mapping[str, str], runs: int, cwd: str | os.PathLike[str] | None = None) -> Stats:
    """Run ``code`` in ``runs`` fresh interpreters; each prints its own timing (seconds)."""
    samples = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", code], env=dict(env), capture_output=True, text=True,
                             check=True, timeout=3600, cwd=cwd).stdout
        samples.append(float(out.strip().splitlines()[-1]))
    return Stats(samples)


def interleaved(funcs: Mapping[str, Callable[[], float]], runs: int) -> dict[str, Stats]:
    """Run each function ``runs`` times, round-robin (so load on the machine hits all alike)."""
    out: dict[str, list[float]] = {k: [] for k in funcs}
    for _ in range(runs):
        for k, f in funcs.items():
            out[k].append(f())
    return {k: Stats(v) for k, v in out.items()}


def uv_compile_times(url: str, env: Mapping[str, str], workdir: Path) -> tuple[float, float]:
    """Wall time of ``uv pip compile`` resolving one requirement against the local index, and
    uv's CPU time (user + system, all its threads).

    The index has no versions, so uv fails after the TLS connection (exit 1): the run covers
    uv's start, its certificate loading, a verified handshake and a request.
    """
    import resource

    req = workdir / "requirements.in"
    if not req.exists():
        req.write_text("tlsbackdemo\n")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run([UV, "pip", "compile", str(req), "--index-url", url + "/simple/", "--no-cache",
                        "--no-progress", "-q"], env=dict(env), capture_output=True, text=True, timeout=600, check=False,
                       cwd=workdir)
    dt = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if "no versions of tlsbackdemo" not in p.stderr:
        raise RuntimeError(f"uv did not reach the index: {p.stderr.strip()[:400]}")
    return dt, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def cert_dirs(*dirs: str | os.PathLike[str]) -> str:
    """An ``SSL_CERT_DIR`` value of several directories."""
    return os.pathsep.join(os.fspath(d) for d in dirs)


def private_tmp(prefix: str) -> Path:
    """A fresh temporary directory under /tmp (disk)."""
    return Path(tempfile.mkdtemp(prefix=prefix))


def sizes_from_env(default: Sequence[int]) -> list[int]:
    """``TLSBACK_BENCH_SIZES=10000,50000`` restricts the trees measured."""
    raw = os.environ.get("TLSBACK_BENCH_SIZES")
    return [int(x) for x in raw.split(",")] if raw else list(default)
