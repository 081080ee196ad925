"""Shared fixtures: a hermetic environment for every test, PKIs, servers, the CLI runner.

Helpers live in ``tests/pki.py`` and ``tests/tlsserver.py`` (``from tests.pki import issue``).

Fixtures:
    hermetic_env (autouse)  clean TLS/uv/proxy variables, private HOME/XDG dirs, fresh cwd;
                            returns a HermeticEnv with the paths
    pki, other_pki          session-scoped PKIs (root -> intermediate -> localhost leaf)
    ca_file                 the ``pki`` root written to a PEM file (function scope)
    https_server / server   factory: https_server(pki_or_chain, **HTTPSServer kwargs)
    http_server             factory: http_server(routes=...) plain HTTP
    connect_proxy           factory: connect_proxy(auth=None)
    run_cli                 run_cli(*args, env={...}, cwd=None, input=None, timeout=60)
                            -> CompletedProcess[str] of `python -m tlsback ARGS`
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import pytest

REPO = Path(__file__).resolve().parent.parent
SRC = REPO / "src"

# Make `import tlsback` work from a plain checkout (`python -m pytest tests` in the repo root).
if importlib.util.find_spec("tlsback") is None:  # pragma: no cover - depends on the venv
    sys.path.insert(0, str(SRC))

from tests.pki import PKI
from tests.tlsserver import ConnectProxy, HTTPSServer, PlainHTTPServer

# Variables removed before every test. The machines export SSL_CERT_FILE / SSL_CERT_DIR and
# friends globally; no inherited value may leak into a test.
_STRIP_PREFIXES = ("SSL_", "UV_", "TLSBACK_")
_STRIP_NAMES = {
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "SSLKEYLOGFILE",
    "PIP_CERT",
    "PIP_CLIENT_CERT",
    "PIP_TRUSTED_HOST",
    "NIX_SSL_CERT_FILE",
    "PYTHONHTTPSVERIFY",
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
}


class HermeticEnv(NamedTuple):
    """Paths the autouse ``hermetic_env`` fixture set up for the test."""

    home: Path  # $HOME
    config: Path  # $XDG_CONFIG_HOME
    cache: Path  # $XDG_CACHE_HOME
    runtime: Path  # $XDG_RUNTIME_DIR (mode 0700)
    tlsback_cache: Path  # $TLSBACK_CACHE_DIR
    cwd: Path  # the working directory


@pytest.fixture(autouse=True)
def hermetic_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> HermeticEnv:
    """Clean, private environment for every test (see module docstring)."""
    for name in list(os.environ):
        upper = name.upper()
        if upper.startswith(_STRIP_PREFIXES) or upper in _STRIP_NAMES:
            monkeypatch.delenv(name, raising=False)
    base = tmp_path / "_hermetic"
    env = HermeticEnv(
        home=base / "home",
        config=base / "xdg-config",
        cache=base / "xdg-cache",
        runtime=base / "xdg-runtime",
        tlsback_cache=base / "tlsback-cache",
        cwd=tmp_path / "cwd",
    )
    for p in env:
        p.mkdir(parents=True, exist_ok=True)
    env.runtime.chmod(0o700)
    monkeypatch.setenv("HOME", str(env.home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(env.config))
    monkeypatch.setenv("XDG_CACHE_HOME", str(env.cache))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(env.runtime))
    monkeypatch.setenv("TLSBACK_CACHE_DIR", str(env.tlsback_cache))
    monkeypatch.chdir(env.cwd)
    return env


@pytest.fixture(scope="session")
def pki() -> PKI:
    """root CA -> intermediate CA -> leaf for localhost and 127.0.0.1 (EC keys)."""
    return PKI.create()


@pytest.fixture(scope="session")
def other_pki() -> PKI:
    """A second PKI that shares nothing with ``pki``: for "untrusted" cases."""
    return PKI.create(name_prefix="tlsback other")


@pytest.fixture
def ca_file(pki: PKI, tmp_path: Path) -> Path:
    """The ``pki`` root CA as a PEM file."""
    return pki.root.write_pem(tmp_path / "root-ca.pem")


class BlockImport:
    """A meta path finder (put first in ``sys.meta_path``) for which ``name`` cannot be imported:
    not installed (ModuleNotFoundError), or ``error``, an ImportError to raise. It counts the
    attempts in ``asked``. (A module imported before stays in ``sys.modules``, and as an attribute
    of its package: the caller removes both.)"""

    def __init__(self, name: str, error: ImportError | None = None) -> None:
        self.name = name
        self.error = error
        self.asked = 0

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> None:
        if fullname == self.name:
            self.asked += 1
            raise self.error or ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)


def started_servers(cls: Callable[..., Any]) -> Iterator[Callable[..., Any]]:
    """For a fixture to ``yield from``: a factory that makes and starts ``cls(*args, **kwargs)``
    (a test server or proxy); every one it started is stopped at teardown, the last first."""
    started: list[Any] = []

    def factory(*args: Any, **kwargs: Any) -> Any:
        srv = cls(*args, **kwargs)
        started.append(srv)
        return srv.start()

    try:
        yield factory
    finally:
        for srv in reversed(started):
            srv.stop()


@pytest.fixture
def https_server() -> Iterator[Callable[..., HTTPSServer]]:
    """Factory: ``https_server(pki_or_chain, key=None, **kwargs)`` -> started :class:`HTTPSServer`."""
    yield from started_servers(HTTPSServer)


@pytest.fixture
def server(https_server: Callable[..., HTTPSServer]) -> Callable[..., HTTPSServer]:
    """Alias of :func:`https_server`."""
    return https_server


@pytest.fixture
def http_server() -> Iterator[Callable[..., PlainHTTPServer]]:
    """Factory: ``http_server(routes=...)`` -> started plain-HTTP server."""
    yield from started_servers(PlainHTTPServer)


@pytest.fixture
def connect_proxy() -> Iterator[Callable[..., ConnectProxy]]:
    """Factory: ``connect_proxy(auth=None)`` -> started :class:`ConnectProxy`."""
    yield from started_servers(ConnectProxy)


def _tlsback_from_repo() -> bool:
    """True when the tlsback this test process imports is the checkout's ``src/``."""
    spec = importlib.util.find_spec("tlsback")
    if spec is None:
        return True
    locations = list(spec.submodule_search_locations or [])
    if spec.origin:
        locations.append(str(Path(spec.origin).parent))
    return any(Path(loc).resolve().is_relative_to(SRC.resolve()) for loc in locations)


@pytest.fixture
def run_cli(hermetic_env: HermeticEnv) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run ``python -m tlsback ARGS`` in a subprocess.

    ``run_cli(*args, env=None, cwd=None, input=None, timeout=60, module="tlsback")``: the
    child runs in the test's (hermetic) working directory unless ``cwd``; its environment
    is a copy of ``os.environ`` *after* the hermetic cleanup, updated with ``env`` (a value of
    ``None`` removes the variable). ``<repo>/src`` is put on ``PYTHONPATH`` when the tlsback
    being tested comes from the checkout. Returns the ``CompletedProcess`` (text mode).
    """
    from_repo = _tlsback_from_repo()

    def run(
        *args: str | os.PathLike[str],
        env: Mapping[str, str | os.PathLike[str] | None] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        input: str | None = None,
        timeout: float = 60,
        module: str = "tlsback",
    ) -> subprocess.CompletedProcess[str]:
        child_env = dict(os.environ)
        if from_repo:
            parts = [p for p in child_env.get("PYTHONPATH", "").split(os.pathsep) if p]
            if str(SRC) not in parts:
                child_env["PYTHONPATH"] = os.pathsep.join([str(SRC), *parts])
        for k, v in (env or {}).items():
            if v is None:
                child_env.pop(k, None)
            else:
                child_env[k] = os.fspath(v)
        return subprocess.run(
            [sys.executable, "-m", module, *(os.fspath(a) for a in args)],
            env=child_env,
            cwd=os.fspath(cwd) if cwd is not None else None,
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    return run


# ============================================================================================
# Fixtures added by other components go below this line. Append only; keep the harness
# section above unchanged (owned by the test-harness engineer).
# ============================================================================================


def write_plugin_dist(site: Path, name: str, module_source: str, entry_points: str) -> Path:
    """A tiny installed distribution ``name`` in ``site``, laid out as pip would: the module
    ``name``.py and a ``.dist-info`` with ``entry_points.txt``. Returns ``site``."""
    dist_info = site / f"{name}-1.0.dist-info"
    dist_info.mkdir(parents=True)
    dist = name.replace("_", "-")  # the distribution name, as pip lists it
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text(entry_points)
    (site / f"{name}.py").write_text(module_source)
    return site


# --- scanner implementations -----------------------------------------------------------------
# Read at collection time: hermetic_env removes TLSBACK_* from os.environ inside tests. With
# TLSBACK_REQUIRE_EXTENSIONS=1 (CI) a missing C extension fails the "c" cases, never skips them.
_REQUIRE_EXTENSIONS = os.environ.get("TLSBACK_REQUIRE_EXTENSIONS", "").strip().lower() in (
    "1", "true", "yes", "on", "y", "t",
)


def import_extension_module(name: str) -> Any:
    """``tlsback.<name>``, a module that needs the C extension, for a test module's top level.

    Missing extension: the test module is skipped, or, with ``TLSBACK_REQUIRE_EXTENSIONS=1``
    (CI), the ImportError fails it.
    """
    import importlib

    try:
        return importlib.import_module(f"tlsback.{name}")
    except ImportError as exc:  # pragma: no cover - depends on the build
        if _REQUIRE_EXTENSIONS:
            raise
        pytest.skip(f"C extension not built: {exc}", allow_module_level=True)


@pytest.fixture(params=["c", "python"])
def loader_env(request: pytest.FixtureRequest) -> dict[str, str]:
    """The environment switch selecting one scanner implementation, for every loader test.

    ``c`` requires the extension (the test fails, never silently falls back, when it is
    missing and the run was started with ``TLSBACK_REQUIRE_EXTENSIONS=1``, as CI does);
    ``python`` forces the pure-Python twin.
    """
    if request.param == "python":
        return {"TLSBACK_NO_EXTENSIONS": "1"}
    if not _REQUIRE_EXTENSIONS and importlib.util.find_spec("tlsback._certscan") is None:
        pytest.skip(
            "C extension not built (set TLSBACK_REQUIRE_EXTENSIONS=1 to make this a failure)"
        )
    return {"TLSBACK_REQUIRE_EXTENSIONS": "1"}


@pytest.fixture(params=["c", "python"])
def scan_impl(request: pytest.FixtureRequest) -> Any:
    """The scanner module under test: ``tlsback._scan_c`` (id ``c``) or ``tlsback._scan_py``.

    ``c`` fails (never skips) when the extension cannot be imported and the run was started
    with ``TLSBACK_REQUIRE_EXTENSIONS=1``; otherwise it skips.
    """
    if request.param == "python":
        from tlsback import _scan_py

        return _scan_py
    try:
        from tlsback import _scan_c
    except ImportError as exc:
        if _REQUIRE_EXTENSIONS:
            pytest.fail(f"TLSBACK_REQUIRE_EXTENSIONS=1 but the C scanner cannot be used: {exc}")
        pytest.skip(f"C extension not built: {exc}")
    return _scan_c


# --- lazy / eager trust store (cache issue) ---------------------------------------------------
# The whole suite runs both ways: `TLSBACK_STORE=lazy pytest` hands every tlsback context built
# in the test process its trust anchors through the hashed directory (capath, looked up by
# subject hash during the handshake), `TLSBACK_STORE=eager pytest` through cadata. Read at
# collection time, because hermetic_env removes TLSBACK_* from os.environ inside tests, then put
# back as the one deliberate TLSBACK_* variable, so tests that build their environment from
# os.environ, and CLI children started by run_cli, get it too.
_STORE_MODE = os.environ.get("TLSBACK_STORE")


@pytest.fixture(autouse=True)
def store_mode(hermetic_env: HermeticEnv, monkeypatch: pytest.MonkeyPatch) -> str:
    """The ``TLSBACK_STORE`` this run was started with (``auto`` when unset), set for the test."""
    if _STORE_MODE is not None:
        monkeypatch.setenv("TLSBACK_STORE", _STORE_MODE)
    return _STORE_MODE or "auto"


# --- programs tlsback did not write (tests/test_run_env.py, tests/test_programs.py) ----------------


@pytest.fixture
def corp_dir(pki: PKI, tmp_path: Path) -> Path:
    """An unhashed certificate directory (``corp.pem``) holding the ``pki`` root: OpenSSL's own
    lookup never finds it there, so only tlsback's configuration can make clients trust it."""
    d = tmp_path / "corp-certs"
    d.mkdir()
    pki.root.write_pem(d / "corp.pem")
    return d


# --- Ctrl-C in the children (tests/test_run_env.py) ---------------------------------------------
# A shell without job control starts background commands with SIGINT ignored, and an ignored
# signal stays ignored across exec: every child of such a pytest would ignore the SIGINT the
# Ctrl-C tests send it, and they would time out. Handing SIGINT to Python's own handler here
# gives the children the default disposition again (a handled signal is reset on exec), as a
# pytest started in the foreground has. .ci/run starts suites in the background.
def pytest_configure(config: pytest.Config) -> None:
    import signal

    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
