"""Fixtures for the loader benchmarks: generated trees, cached outside the repository.

Trees of 1,000, 10,000 and 50,000 distinct certificates are built once by
``tlsback.bench.ensure_tree`` under ``$XDG_CACHE_HOME/tlsback-bench`` (or
``~/.cache/tlsback-bench``; ``TLSBACK_BENCH_CACHE`` overrides) and reused by later runs.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"
if importlib.util.find_spec("tlsback") is None:  # pragma: no cover - depends on the venv
    sys.path.insert(0, str(SRC))

from tlsback import bench

SIZES = [1_000, 10_000, 50_000]


def _impls() -> list[Any]:
    params = [pytest.param("python", id="python")]
    return [pytest.param("c", id="c"), *params]


@pytest.fixture(scope="session")
def tree_root() -> str:
    return os.environ.get("TLSBACK_BENCH_CACHE") or bench.cache_root()


@pytest.fixture(scope="session", params=SIZES, ids=[f"{n // 1000}k" for n in SIZES])
def tree(request: pytest.FixtureRequest, tree_root: str) -> bench.TreeInfo:
    """A generated tree (built on first use, then cached)."""
    return bench.ensure_tree(request.param, tree_root)


@pytest.fixture(params=_impls())
def impl(request: pytest.FixtureRequest) -> Any:
    """The scanner module: ``c`` fails when TLSBACK_REQUIRE_EXTENSIONS=1 and it is not built."""
    if request.param == "python":
        from tlsback import _scan_py

        return _scan_py
    try:
        from tlsback import _scan_c
    except ImportError as exc:
        if os.environ.get("TLSBACK_REQUIRE_EXTENSIONS", "").lower() in ("1", "true", "yes", "on", "y", "t"):
            pytest.fail(f"C extension required but not usable: {exc}")
        pytest.skip(f"C extension not built: {exc}")
    return _scan_c
