"""Per-connection cost of the ``native`` backend on Linux.

One connection = TCP connect + TLS handshake (verified, hostname checked) + close, against a
server on 127.0.0.1 that trusts nothing special. Compared, each with the test root added:

* ``stdlib``          a plain ``ssl.SSLContext`` (the baseline)
* ``stdlib+system``   the same with the system store loaded once (so store size is visible)
* ``truststore``      ``truststore.SSLContext`` used directly (reloads the store per handshake)
* ``tlsback-native``  ``tlsback._truststore_linux.native_context(True)`` (store loaded once)
* ``tlsback-load``    ``tlsback.load(backend="native").context``, what programs get

Every benchmark also checks its result (docs/development.md, "Benchmarks"): each handshake must
be verified, and each context must refuse a server from an unknown CA.

Run:
    PYTHONPATH=src python -m pytest benchmarks/bench_native_per_connection.py --benchmark-only
    PYTHONPATH=src python benchmarks/bench_native_per_connection.py [--rounds 200]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import ssl
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
for p in (str(REPO), str(REPO / "src")):
    if p not in sys.path:
        sys.path.insert(0, p)

from tests.pki import PKI

# The machine exports SSL_CERT_FILE/SSL_CERT_DIR; truststore would read them per handshake.
# Measure what a user without them gets, and what tlsback's native backend would add.
for _name in ("SSL_CERT_FILE", "SSL_CERT_DIR"):
    os.environ.pop(_name, None)


class HandshakeServer:
    """Accepts, completes the server side of the handshake in a thread per connection, closes.

    A thread per connection matters: truststore holds its context lock from before the
    ClientHello to the end of the handshake, so a server with a fixed pool of workers blocked
    on connections whose clients wait for that lock would deadlock until its timeout.
    """

    def __init__(self, pki: PKI) -> None:
        import tempfile

        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        with tempfile.TemporaryDirectory() as d:
            cert, key = pki.write_server_files(d)
            self.ctx.load_cert_chain(cert, key)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(256)
        self.port: int = self.sock.getsockname()[1]
        self._stop = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handshake, args=(conn,), daemon=True).start()

    def _handshake(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(10)
            with self.ctx.wrap_socket(conn, server_side=True):
                pass
        except (OSError, ssl.SSLError):
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self._stop = True
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


def connect(ctx: ssl.SSLContext, port: int) -> None:
    """One verified connection; asserts that the peer certificate was verified."""
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        ctx.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        assert tls.getpeercert(), "handshake not verified"


def contexts(pki: PKI) -> dict[str, Callable[[], ssl.SSLContext]]:
    """Factories for the compared contexts, each trusting the test root."""
    root = pki.root.pem.decode()

    def stdlib() -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(cadata=root)
        return ctx

    def stdlib_system() -> ssl.SSLContext:
        ctx = stdlib()
        ctx.set_default_verify_paths()
        return ctx

    def truststore_ctx() -> ssl.SSLContext:
        import truststore

        ctx: ssl.SSLContext = truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(cadata=root)
        return ctx

    def tlsback_native() -> ssl.SSLContext:
        from tlsback._truststore_linux import native_context

        ctx = native_context(True)
        ctx.load_verify_locations(cadata=root)
        return ctx

    def tlsback_load() -> ssl.SSLContext:
        import tempfile

        import tlsback

        d = tempfile.mkdtemp()
        path = Path(d, "root.pem")
        path.write_text(root)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SSL_", "UV_", "TLSBACK_"))}
        env["SSL_CERT_FILE"] = str(path)
        env["TLSBACK_NO_CACHE"] = "1"
        return tlsback.load(backend="native", env=env, cwd=d).context

    return {
        "stdlib": stdlib,
        "stdlib+system": stdlib_system,
        "truststore": truststore_ctx,
        "tlsback-native": tlsback_native,
        "tlsback-load": tlsback_load,
    }


def check_refuses_unknown_ca(ctx: ssl.SSLContext, other: HandshakeServer) -> None:
    try:
        connect(ctx, other.port)
    except ssl.SSLCertVerificationError:
        return
    raise AssertionError("context accepted a certificate from an unknown CA")


@contextlib.contextmanager
def servers() -> Iterator[tuple[PKI, HandshakeServer, HandshakeServer]]:
    pki = PKI.create()
    good, bad = HandshakeServer(pki), HandshakeServer(PKI.create(name_prefix="unknown"))
    try:
        yield pki, good, bad
    finally:
        good.close()
        bad.close()


# -- pytest-benchmark ---------------------------------------------------------------------------

try:
    import pytest
except ImportError:  # pragma: no cover - the script mode below needs no pytest
    pytest = None  # type: ignore[assignment]

if pytest is not None:

    @pytest.fixture(scope="module")
    def _servers() -> Iterator[tuple[PKI, HandshakeServer, HandshakeServer]]:
        with servers() as s:
            yield s

    @pytest.mark.parametrize(
        "kind", ["stdlib", "stdlib+system", "truststore", "tlsback-native", "tlsback-load"]
    )
    def test_per_connection(benchmark: Any, _servers: tuple[PKI, HandshakeServer, HandshakeServer],
                            kind: str) -> None:
        """Median cost of one verified connection with each context (see module docstring)."""
        pki, good, bad = _servers
        ctx = contexts(pki)[kind]()
        check_refuses_unknown_ca(ctx, bad)
        benchmark.pedantic(connect, args=(ctx, good.port), rounds=100, warmup_rounds=5)


# -- script mode: medians and the 1 ms criterion -------------------------------------------------


def measure(ctxs: dict[str, ssl.SSLContext], port: int, rounds: int) -> dict[str, list[float]]:
    """Per-connection times; contexts interleaved round by round so machine noise hits all alike."""
    out: dict[str, list[float]] = {k: [] for k in ctxs}
    for _ in range(5):
        for ctx in ctxs.values():
            connect(ctx, port)
    for _ in range(rounds):
        for kind, ctx in ctxs.items():
            t0 = time.perf_counter()
            connect(ctx, port)
            out[kind].append(time.perf_counter() - t0)
    return out


def measure_threads(ctx: ssl.SSLContext, port: int, threads: int, per_thread: int) -> float:
    def work(_: int) -> None:
        for _ in range(per_thread):
            connect(ctx, port)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(work, range(threads)))
    return (time.perf_counter() - t0) / (threads * per_thread)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args(argv)
    from tlsback._truststore_linux import find_system_store

    print(f"{ssl.OPENSSL_VERSION}; system store: {find_system_store().describe()}")
    with servers() as (pki, good, bad):
        results: dict[str, tuple[float, float, float]] = {}
        ctxs: dict[str, ssl.SSLContext] = {}
        builds: dict[str, float] = {}
        for kind, factory in contexts(pki).items():
            t0 = time.perf_counter()
            ctxs[kind] = factory()
            builds[kind] = time.perf_counter() - t0
            check_refuses_unknown_ca(ctxs[kind], bad)
        times = measure(ctxs, good.port, args.rounds)
        for kind, ctx in ctxs.items():
            conc = measure_threads(ctx, good.port, args.threads, max(1, args.rounds // args.threads // 2))
            results[kind] = (builds[kind], statistics.median(times[kind]), conc)
        base = results["stdlib"][1]
        print(f"{'context':16} {'build ms':>9} {'median ms/conn':>15} {'vs stdlib':>10} "
              f"{f'{args.threads} threads ms/conn':>20}")
        for kind, (build, med, conc) in results.items():
            print(f"{kind:16} {build * 1e3:9.2f} {med * 1e3:15.3f} {(med - base) * 1e3:+10.3f} "
                  f"{conc * 1e3:20.3f}")
        over = (results["tlsback-native"][1] - base) * 1e3
        print(f"tlsback-native overhead vs stdlib: {over:+.3f} ms per connection "
              f"({'within' if over < 1.0 else 'NOT within'} 1 ms)")
        return 0 if over < 1.0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
