"""Per-connection cost of the rustls policy's fail-closed gate and checks.

One connection = TCP connect + TLS 1.3 handshake (verified, hostname checked) + reading the
server's first byte + close, against a server on 127.0.0.1. Compared, in interleaved rounds
(so machine noise hits both alike), with the same test root loaded into each:

* ``stdlib``   ``ssl.create_default_context(cadata=root)``, the reference
* ``tlsback``  ``tlsback.policy.new_context()`` + the root: the gate and the post-handshake
  checks run on every connection
* ``no-gate``  the same context with the stdlib socket class: the policy's options without the
  gate, to tell the gate's cost from the options'

Besides each median, the median of the per-round differences (one connection of each, back to
back) is reported: it is steadier than a difference of medians on a shared, busy machine.

Correctness is checked beside the time: both must read the byte from the good server, and the
tlsback context must refuse a server whose leaf is a CA (which the stdlib context accepts).

Run:
    .venv/bin/python benchmarks/bench_policy_per_connection.py [--rounds 400]
"""

from __future__ import annotations

import argparse
import socket
import ssl
import statistics
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
for p in (str(REPO), str(REPO / "src")):
    if p not in sys.path:
        sys.path.insert(0, p)

from tests import policy_scenarios as ps
from tests.tlsserver import server_context

from tlsback import policy


class ByteServer:
    """Server side of each handshake in its own thread; sends one byte, closes.

    With ``process=True`` the server runs in a forked child, so its threads do not share the
    client's interpreter lock (the measurement is then the client's alone).
    """

    def __init__(self, scenario_id: str, *, process: bool = False) -> None:
        self.setup = ps.setup_for(scenario_id)
        self.ctx = server_context(self.setup.chain, alpn=None)
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=128)
        self.port = self.listener.getsockname()[1]
        if process:
            import multiprocessing

            child = multiprocessing.get_context("fork").Process(target=self._accept, daemon=True)
            child.start()
            self.listener.close()  # the child accepts
        else:
            threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            with self.ctx.wrap_socket(conn, server_side=True) as tls:
                tls.sendall(b"!")
                tls.recv(1)
        except OSError:
            pass


def connect_once(ctx: ssl.SSLContext, port: int) -> float:
    start = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            if tls.recv(1) != b"!":
                raise AssertionError("no byte from the server")
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=400)
    args = parser.parse_args(argv)

    good = ByteServer("control", process=True)
    bad = ByteServer("leaf_is_ca")
    stdlib = ssl.create_default_context(cadata=good.setup.anchors_pem)
    tlsback = policy.new_context()
    tlsback.load_verify_locations(cadata=good.setup.anchors_pem)
    # The policy's options on a plain context (tlsback's own refuses another socket class);
    # OpenSSL checks the host name here, the gate does on tlsback's.
    no_gate = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    no_gate.minimum_version = ssl.TLSVersion.TLSv1_2
    no_gate.set_ciphers(policy.CIPHERS)
    no_gate.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    no_gate.hostname_checks_common_name = False
    no_gate.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    no_gate.load_verify_locations(cadata=good.setup.anchors_pem)

    # Correctness first (the benchmark measures the right thing).
    connect_once(tlsback, good.port)
    connect_once(stdlib, bad.port)  # OpenSSL alone accepts a CA leaf ...
    try:
        connect_once(tlsback, bad.port)  # ... the policy does not
    except ssl.SSLCertVerificationError as exc:
        assert getattr(exc, "rustls_reason", None) == "CaUsedAsEndEntity", exc
    else:
        raise AssertionError("tlsback accepted a CA:TRUE leaf")

    for _ in range(30):  # warm-up
        connect_once(stdlib, good.port)
        connect_once(tlsback, good.port)
    contexts = {"stdlib": stdlib, "tlsback": tlsback, "no-gate": no_gate}
    times: dict[str, list[float]] = {name: [] for name in contexts}
    for i in range(args.rounds):
        order = list(contexts.items())
        for name, ctx in order[i % 3:] + order[:i % 3]:  # rotate who goes first
            times[name].append(connect_once(ctx, good.port))

    chain = [c.der for c in good.setup.chain] + [good.setup.anchors[0].der]
    checks = []
    for _ in range(2000):
        t0 = time.perf_counter()
        policy.check_chain(chain)
        checks.append(time.perf_counter() - t0)

    med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
    print(f"rounds: {args.rounds} connections per context (interleaved), Python {sys.version.split()[0]}, "
          f"{ssl.OPENSSL_VERSION}")
    for name, m in med.items():
        print(f"{name:8s} median {m:.3f} ms per connection")

    def paired(a: str, b: str) -> float:
        return statistics.median(x - y for x, y in zip(times[a], times[b])) * 1e3

    print(f"tlsback - stdlib : median of differences {paired('tlsback', 'stdlib'):+.3f} ms, "
          f"difference of medians {med['tlsback'] - med['stdlib']:+.3f} ms "
          f"(ratio {med['tlsback'] / med['stdlib']:.3f})")
    print(f"tlsback - no-gate: median of differences {paired('tlsback', 'no-gate'):+.3f} ms "
          "(the gate and checks alone)")
    print(f"check_chain alone (a chain not seen before on the context, paid once): "
          f"median {statistics.median(checks) * 1e3:.3f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
