"""Loader benchmarks (pytest-benchmark): each one also asserts that its result is right.

(a) scan only, C vs Python; (b) whole load of the tree into a TrustStore, C vs Python; (c) the
floor: listing and reading every file without parsing; (d) the stdlib's eager load of the same
certificates (``load_verify_locations(cadata=...)``). Run: ``pytest benchmarks --benchmark-only``.

``test_ratios`` times C and Python in one run and records the issue's target ratios in
``extra_info`` (see ``--benchmark-json``); ``tlsback bench`` prints the same comparison.
"""

from __future__ import annotations

import logging
import os
import ssl
from collections.abc import Iterator
from typing import Any

import pytest

from tlsback import bench


@pytest.fixture(autouse=True)
def _quiet_loader() -> Iterator[None]:
    """The trees hold broken files on purpose: keep their warnings out of the output."""
    logger = logging.getLogger("tlsback")
    old = logger.level
    logger.setLevel(logging.ERROR)
    yield
    logger.setLevel(old)


@pytest.fixture(scope="session")
def items_cache() -> dict[str, list[tuple[str, bytes]]]:
    return {}


def _items(tree: bench.TreeInfo, cache: dict[str, list[tuple[str, bytes]]]) -> list[tuple[str, bytes]]:
    if tree.path not in cache:
        cache.clear()  # keep one tree in memory at a time
        cache[tree.path] = bench.list_and_read([tree.path])
    return cache[tree.path]


def _rounds(tree: bench.TreeInfo, impl_name: str = "c") -> int:
    return 3 if tree.certs >= 50_000 or (impl_name == "python" and tree.certs >= 10_000) else 5


def _check(result: Any, tree: bench.TreeInfo) -> None:
    assert len(result.certs) == tree.certs
    assert result.duplicates == tree.duplicates
    assert len(result.problems) == tree.broken
    assert len(result.subject_hashes) == tree.certs


def test_scan(benchmark: Any, tree: bench.TreeInfo, impl: Any, items_cache: Any) -> None:
    """(a) scan + dedupe + subject hash of files already read."""
    items = _items(tree, items_cache)
    benchmark.group = f"scan {tree.certs}"
    result = benchmark.pedantic(impl.scan_files, args=(items,), rounds=_rounds(tree, impl.IMPLEMENTATION), warmup_rounds=1)
    _check(result, tree)


def test_load(benchmark: Any, tree: bench.TreeInfo, impl: Any) -> None:
    """(b) the whole load: list, read, scan, dedupe, hash, into a TrustStore."""
    benchmark.group = f"load {tree.certs}"
    store = benchmark.pedantic(bench._load, args=([tree.path], impl.IMPLEMENTATION), rounds=_rounds(tree, impl.IMPLEMENTATION), warmup_rounds=1)
    assert store.implementation == impl.IMPLEMENTATION
    assert len(store.certs) == tree.certs
    assert store.duplicates == tree.duplicates
    assert len(store.problems) == tree.broken


def test_floor(benchmark: Any, tree: bench.TreeInfo) -> None:
    """(c) the floor: list and read every file, no parsing."""
    benchmark.group = f"load {tree.certs}"
    items = benchmark.pedantic(bench.list_and_read, args=([tree.path],), rounds=_rounds(tree), warmup_rounds=1)
    links = tree.certs * 6 // 10 // 10 + (1 if tree.certs * 6 // 10 % 10 else 0)
    assert len(items) == tree.files - links


def test_stdlib_eager_load(benchmark: Any, tree: bench.TreeInfo, items_cache: Any) -> None:
    """(d) the stdlib's own eager load of the same unique certificates (OpenSSL re-sorts its
    store on each insert: ~6 s for 10k; 50k takes ~10 min, so only with TLSBACK_BENCH_EAGER_50K=1)."""
    if tree.certs >= 50_000 and os.environ.get("TLSBACK_BENCH_EAGER_50K") != "1":
        pytest.skip("eager load of 50k certificates takes ~10 minutes (TLSBACK_BENCH_EAGER_50K=1)")
    from tlsback import _scan_py

    certs = _scan_py.scan_files(_items(tree, items_cache)).certs
    cadata = b"".join(certs)

    def eager() -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(cadata=cadata)
        return ctx

    benchmark.group = f"load {tree.certs}"
    ctx = benchmark.pedantic(eager, rounds=1 if tree.certs >= 10_000 else 3)
    assert ctx.cert_store_stats()["x509_ca"] == tree.certs


def test_ratios(benchmark: Any, tree: bench.TreeInfo) -> None:
    """C against Python in one run: scan speed-up and whole load against the floor."""
    try:
        from tlsback import _scan_c  # noqa: F401
    except ImportError:
        pytest.skip("C extension not built")
    runs = 3 if tree.certs >= 50_000 else 5
    doc = benchmark.pedantic(bench.measure, args=([tree.path], runs), rounds=1)
    by = {r["implementation"]: r for r in doc["results"]}
    for r in by.values():
        assert (r["unique"], r["duplicates"], r["skipped"]) == (tree.certs, tree.duplicates, tree.broken)
    benchmark.extra_info.update(
        floor_s=doc["floor_s"],
        scan_c_s=by["c"]["scan_s"],
        scan_python_s=by["python"]["scan_s"],
        load_c_s=by["c"]["load_s"],
        load_python_s=by["python"]["load_s"],
        scan_speedup=by["python"]["scan_s"] / by["c"]["scan_s"],
        load_c_over_floor=by["c"]["load_s"] / doc["floor_s"],
        c_scan_us_per_cert=by["c"]["scan_s"] / (tree.certs + tree.duplicates) * 1e6,
    )
    print(f"\n{tree.certs}: {benchmark.extra_info}")
