"""The cost of reading a warm cache entry's certificates back (`bundle`, `where()`, `store.certs`).

Since the read-back checks every ``HASH.N`` file (canonical PEM of one certificate whose subject
hash is ``HASH``, through the scanner), it is compared here with the unchecked read it replaced
(``ssl.PEM_cert_to_DER_cert`` per file), in one run, on the generated trees of the loader
benchmarks, for the C and the Python scanner. Each round asserts both give the same certificates.

    PYTHONPATH=src python benchmarks/bench_readback.py [N ...]      # default: 1000 10000
"""

from __future__ import annotations

import os
import ssl
import statistics
import sys
import tempfile
import time

import tlsback
from tlsback import loader
from tlsback.bench import ensure_tree


def unchecked(entry_path: str, index: list[tuple[str, str]]) -> list[bytes]:
    """The read-back before the check: one PEM decode per file, nothing compared."""
    out = []
    for name, _ in index:
        with open(os.path.join(entry_path, name), encoding="ascii") as f:
            out.append(ssl.PEM_cert_to_DER_cert(f.read()))
    return out


def main(argv: list[str]) -> None:
    sizes = [int(a) for a in argv] or [1000, 10000]
    rounds = 7
    for n in sizes:
        tree = ensure_tree(n)
        with tempfile.TemporaryDirectory(prefix="tlsback-readback-") as cache_dir:
            env = {"SSL_CERT_DIR": tree.path, "TLSBACK_CUSTOM_CERTS": "only", "TLSBACK_STORE": "lazy",
                   "TLSBACK_CACHE_DIR": cache_dir, "UV_NO_CONFIG": "1", "PATH": os.environ.get("PATH", "")}
            expected = tlsback.load(env=env).store.certs  # cold: builds the entry
            for scanner, extra in (("c", {"TLSBACK_REQUIRE_EXTENSIONS": "1"}),
                                   ("python", {"TLSBACK_NO_EXTENSIONS": "1"})):
                times: dict[str, list[float]] = {"checked": [], "unchecked": []}
                for _ in range(rounds):
                    store = tlsback.load(env={**env, **extra}).store
                    assert store.cache["state"] == "hit"
                    entry = store._entry
                    assert entry is not None
                    t0 = time.perf_counter()
                    old = unchecked(entry.path, entry.read_index())
                    t1 = time.perf_counter()
                    new, _, _ = loader._read_entry(entry, scanner)
                    t2 = time.perf_counter()
                    assert old == new == expected
                    times["unchecked"].append(t1 - t0)
                    times["checked"].append(t2 - t1)
                med = {k: statistics.median(v) * 1000 for k, v in times.items()}
                print(f"{n:>6} certificates, {scanner:<6} scanner: checked {med['checked']:8.1f} ms, "
                      f"unchecked {med['unchecked']:8.1f} ms, ratio {med['checked'] / med['unchecked']:.2f} "
                      f"(medians of {rounds})")


if __name__ == "__main__":
    main(sys.argv[1:])
