"""Cost of one insecure-host decision (``tlsback.insecure``), beside ``urllib.parse.urlsplit``.

Every adapter makes one decision per connection (httpx: per request), ``context_for(url)`` one
per call. Measured, with four rules in effect:

* ``urlsplit``              ``urllib.parse.urlsplit(url).hostname`` (the reference: one parse)
* ``matches(url)``          ``InsecureHosts.matches``: what ``TLSConfig.context_for`` runs
* ``matches_origin``        what the adapters run, on the host their client has parsed

Each line also checks its verdict (docs/development.md, "Benchmarks"). Run against any tree to
compare versions::

    PYTHONPATH=src python benchmarks/bench_insecure_match.py [--rounds 15]
"""

from __future__ import annotations

import argparse
import statistics
import timeit
import urllib.parse
from collections.abc import Callable

from tlsback.insecure import InsecureHosts, parse_host

RULES = ["example.com", "localhost:8443", "https://bücher.example", "[::1]:8443"]
CASES = [
    ("ascii URL, match", "https://localhost:8443/simple/pkg/", True),
    ("ascii URL, no match", "https://pypi.org/simple/pkg/", False),
    ("IDN URL, match", "https://BÜCHER.example/simple/", True),
]


def median_us(fn: Callable[[], object], rounds: int, number: int = 2000) -> float:
    timer = timeit.Timer(fn)
    return statistics.median(timer.timeit(number) / number for _ in range(rounds)) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    rounds = parser.parse_args().rounds
    hosts = InsecureHosts([parse_host(v, "bench") for v in RULES])
    for name, url, expected in CASES:
        assert hosts.matches(url) is expected, (url, expected)
        ref = median_us(lambda u=url: urllib.parse.urlsplit(u).hostname, rounds)
        got = median_us(lambda u=url: hosts.matches(u), rounds)
        print(f"{name:22s} urlsplit {ref:7.2f} us   matches(url) {got:7.2f} us   "
              f"ratio {got / ref:5.1f}")
    has_origin = getattr(hosts, "matches_origin", None)
    if has_origin is not None:
        assert not hosts.matches_origin("https", "pypi.org", None)
        assert hosts.matches_origin("https", "localhost", 8443)
        got = median_us(lambda: hosts.matches_origin("https", "pypi.org", None), rounds)
        print(f"{'origin, no match':22s} matches_origin {got:7.2f} us")


if __name__ == "__main__":
    main()
