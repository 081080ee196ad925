"""``tlsback bench``: its report on real directories, and its answer to a path that is not there."""

from __future__ import annotations

import importlib.util
import json
import subprocess
from collections.abc import Callable
from pathlib import Path

from tests.conftest import _REQUIRE_EXTENSIONS
from tests.pki import PKI

Run = Callable[..., subprocess.CompletedProcess[str]]


def test_bench_reports_both_scanners_on_a_directory(run_cli: Run, pki: PKI, tmp_path: Path) -> None:
    d = tmp_path / "certs"
    d.mkdir()
    pki.root.write_pem(d / "root.pem")
    pki.root.write_pem(d / "again.pem")
    result = run_cli("bench", d, "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    built = _REQUIRE_EXTENSIONS or importlib.util.find_spec("tlsback._certscan") is not None
    assert {r["implementation"] for r in doc["results"]} == ({"c", "python"} if built else {"python"})
    assert all(r["unique"] == 1 and r["duplicates"] == 1 for r in doc["results"])
    if not built:
        return
    text = run_cli("bench", d)
    assert text.returncode == 0 and "scan: C is " in text.stdout
    assert ("faster than Python" in text.stdout) != ("slower than Python" in text.stdout)
    assert "0." not in text.stdout.split("scan: C is ")[1].split("x")[0]  # never "0.3x faster"


def test_bench_names_a_missing_path_escaped(run_cli: Run, tmp_path: Path) -> None:
    result = run_cli("bench", str(tmp_path / "no\nsuch"))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "no\\nsuch" in result.stderr and "Traceback" not in result.stderr
