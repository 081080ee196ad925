"""The warm start-up path (docs/cache.md, "Start-up"): what it imports, what it reads, what it builds.

Behaviour, not timing: a fresh interpreter with a warm cache entry imports neither the argument
parser, the TOML parser, logging, dataclasses, typing nor the scanners, and its context still
verifies a real server. The figures themselves are measured by ``benchmarks/bench_startup.py``.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import SRC, HermeticEnv
from tests.pki import PKI
from tests.tlsserver import HTTPSServer
from tlsback.settings import resolve

# Modules a warm start must not import: each costs about as much as the whole warm start.
NOT_ON_THE_WARM_PATH = (
    "argparse", "tomllib", "tomli", "logging", "dataclasses", "typing", "inspect", "pathlib",
    "threading", "weakref", "hashlib", "json", "contextlib", "tempfile", "subprocess", "importlib.metadata",
    "tlsback.registry", "tlsback._scan", "tlsback._scan_c", "tlsback._scan_py", "tlsback._certscan",
    "tlsback.clientcert", "tlsback.insecure", "tlsback.cli",
)

_CHILD = """
import ssl, sys, json, socket
before = set(sys.modules)
import tlsback
ctx = tlsback.create_default_context()
loaded = sorted(set(sys.modules) - before)
state = tlsback.load().store.cache["state"]
with socket.create_connection(("127.0.0.1", PORT)) as raw, \\
        ctx.wrap_socket(raw, server_hostname="localhost") as tls:
    version = tls.version()
print(json.dumps({"loaded": loaded, "state": state, "version": version}))
"""


def _child(code: str, env: dict[str, str], cwd: Path) -> dict[str, object]:
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    child_env.update(env, PYTHONPATH=str(SRC))
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=child_env, cwd=cwd,
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    result: dict[str, object] = json.loads(proc.stdout.splitlines()[-1])
    return result


@pytest.fixture
def warm_env(pki: PKI, tmp_path: Path, loader_env: dict[str, str]) -> dict[str, str]:
    # The lazy store is what a warm start uses: pinned here whatever TLSBACK_STORE the suite
    # runs with (the eager store has no warm path; it reads and scans every time).
    return {**loader_env, "SSL_CERT_FILE": str(pki.root.write_pem(tmp_path / "root.pem")),
            "TLSBACK_STORE": "auto"}


def test_a_warm_start_imports_only_what_it_needs_and_verifies(
    warm_env: dict[str, str], server: Callable[..., HTTPSServer], pki: PKI, hermetic_env: HermeticEnv,
) -> None:
    """Warm: no argparse/tomllib/logging/dataclasses/typing/scanner import; the context verifies."""
    srv = server(pki)
    code = _CHILD.replace("PORT", str(srv.port))
    cold = _child(code, warm_env, hermetic_env.cwd)
    assert cold["version"] in ("TLSv1.2", "TLSv1.3")
    warm = _child(code, warm_env, hermetic_env.cwd)
    assert warm["state"] == "hit" and warm["version"] in ("TLSv1.2", "TLSv1.3")
    loaded = set(warm["loaded"])  # type: ignore[arg-type]
    assert loaded.isdisjoint(NOT_ON_THE_WARM_PATH), sorted(loaded & set(NOT_ON_THE_WARM_PATH))
    # the cold start did scan: the difference is the cache, not a missing import hook
    assert {"tlsback._scan"} <= set(cold["loaded"])  # type: ignore[arg-type]


_SETTINGS_CHILD = """
import sys, json
import tlsback.settings as s
settings = s.resolve()
print(json.dumps({"toml": "tomllib" in sys.modules or "tomli" in sys.modules,
                  "backend": [settings.backend.value, settings.backend.origin]}))
"""


@pytest.mark.parametrize(("pyproject", "parsed", "backend"), [
    ("", False, "rustls"),
    ('[project]\nname = "app"\ndependencies = ["requests"]\n', False, "rustls"),
    ('[project]\nname = "app"\n[tool.uv]\nnative-tls = true\n', True, "native"),
    ('[tool."\\u0075v"]\nnative-tls = true\n', True, "native"),  # a key spelled with an escape
    ('[tool.tlsback]\nbackend = "native"\n', True, "native"),
], ids=["none", "unrelated", "tool-uv", "escaped-key", "tool-tlsback"])
def test_the_toml_parser_is_imported_only_for_a_file_that_can_hold_settings(
    pyproject: str, parsed: bool, backend: str, hermetic_env: HermeticEnv,
) -> None:
    """A pyproject.toml that cannot hold [tool.uv]/[tool.tlsback] is passed over unparsed."""
    if pyproject:
        (hermetic_env.cwd / "pyproject.toml").write_text(pyproject)
    out = _child(_SETTINGS_CHILD, {}, hermetic_env.cwd)
    assert out["toml"] is parsed
    assert out["backend"][0] == backend  # type: ignore[index]


def test_every_switch_is_a_setting_with_its_origin() -> None:
    """The scanner switches and the cache location variables are settings, shown with origins."""
    d = resolve(env={"TLSBACK_NO_EXTENSIONS": "1", "XDG_RUNTIME_DIR": "/run/user/1",
                     "HOME": "/home/u"}).as_dict()
    assert d["scanner"] == {"value": "python", "origin": "env:TLSBACK_NO_EXTENSIONS"}
    assert d["cache_env"] == {"value": {"XDG_RUNTIME_DIR": "/run/user/1", "HOME": "/home/u"},
                              "origin": "env:XDG_RUNTIME_DIR + env:HOME"}
    assert resolve(env={"TLSBACK_REQUIRE_EXTENSIONS": "yes"}).scanner.value == "c"
    # both set: the run-time choice of the pure-Python scanner wins, as documented
    both = resolve(env={"TLSBACK_REQUIRE_EXTENSIONS": "1", "TLSBACK_NO_EXTENSIONS": "1"})
    assert both.scanner.value == "python"
    assert resolve(env={}).scanner == resolve(env={}).scanner.__class__("auto", "default")


def test_settings_and_the_store_are_immutable(pki: PKI, tmp_path: Path) -> None:
    """Nothing can change what a context built from them trusts."""
    import tlsback

    cfg = tlsback.load(env={"SSL_CERT_FILE": str(pki.root.write_pem(tmp_path / "r.pem")),
                            "UV_NO_CONFIG": "1", "TLSBACK_CACHE_DIR": str(tmp_path / "c")})
    with pytest.raises(AttributeError):
        cfg.settings.cert_file = None  # type: ignore[misc]
    with pytest.raises(AttributeError):
        cfg.settings.backend.value = "native"  # type: ignore[misc]
    store = cfg.store
    with pytest.raises(AttributeError):
        store.lazy_dir = "/tmp/elsewhere"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        store.sources = []  # type: ignore[misc]


def test_the_insecure_context_does_not_load_the_store(
    pki: PKI, other_pki: PKI, server: Callable[..., HTTPSServer], tmp_path: Path,
) -> None:
    """A program that only talks to insecure hosts never loads (or caches) the trust store."""
    import socket

    import tlsback

    cache_dir = tmp_path / "cache"
    cfg = tlsback.load(allow_insecure_host=["localhost"], env={
        "SSL_CERT_FILE": str(pki.root.write_pem(tmp_path / "r.pem")), "UV_NO_CONFIG": "1",
        "TLSBACK_CACHE_DIR": str(cache_dir), "TLSBACK_STORE": "lazy"})
    srv = server(other_pki)  # trusted by nothing: only the insecure context connects
    ctx = cfg.context_for(srv.url)
    with socket.create_connection(("127.0.0.1", srv.port)) as raw, \
            ctx.wrap_socket(raw, server_hostname="localhost") as tls:
        assert tls.version()
    assert not cache_dir.exists() or not any(p.name.startswith("e") for p in cache_dir.iterdir())
    assert cfg.store.cache["state"] == "built"  # loaded now, when asked for


def _reads_environment(tree: ast.AST) -> list[int]:
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv", "environb") \
                and isinstance(node.value, ast.Name) and node.value.id == "os":
            lines.append(node.lineno)
    return lines


def test_only_settings_reads_the_environment() -> None:
    """No module below settings.py reads os.environ (docs/cache.md): switches are Settings."""
    offenders = {}
    for path in sorted((SRC / "tlsback").rglob("*.py")):
        if path.name == "settings.py":
            continue
        lines = _reads_environment(ast.parse(path.read_text(encoding="utf-8")))
        if lines:
            offenders[str(path.relative_to(SRC))] = lines
    assert offenders == {}


def test_no_library_call_pauses_the_garbage_collector() -> None:
    """No process-wide gc.disable() inside tlsback (it would change the host program's GC)."""
    for path in sorted((SRC / "tlsback").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        calls = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr == "disable"
                 and isinstance(n.value, ast.Name) and n.value.id == "gc"]
        assert calls == [], f"{path}: {calls}"


def test_info_shows_each_switch_with_its_origin(run_cli: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    """`tlsback info` names every switch that is set and where it came from; --json has them all."""
    env = {"TLSBACK_NO_EXTENSIONS": "1", "TLSBACK_STORE": "eager", "UV_NO_CONFIG": "1"}
    text = run_cli("info", env=env)
    assert text.returncode == 0, text.stderr
    assert "scanner = 'python'  (env:TLSBACK_NO_EXTENSIONS)" in text.stdout
    assert "store = 'eager'  (env:TLSBACK_STORE)" in text.stdout
    settings = json.loads(run_cli("info", "--json", env=env).stdout)["settings"]
    assert settings["scanner"] == {"value": "python", "origin": "env:TLSBACK_NO_EXTENSIONS"}
    assert settings["cache_env"]["origin"].startswith("env:")
