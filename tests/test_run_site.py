"""The child side of ``tlsback run`` (``tlsback._site``): settings at interpreter start, the
injection at the program's first ``import ssl``, and failures at either point fail closed.

What it should do: docs/run.md, "In every Python it starts".
"""

from __future__ import annotations

import os
import ssl
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import write_plugin_dist
from tests.pki import PKI
from tests.test_run_env import child_env, run, tlsback_cmd
from tlsback import _site, inject

# A third-party backend that is registered and loads, but cannot build a context: the only
# kind of failure left once the settings and the backend's name were checked at start.
FAILING_PLUGIN = '''
class FailingBackend:
    name = "failing"
    description = "test plugin: cannot build a context"
    uses_platform_store = True

    def create_context(self, store, *, verify=True):
        raise RuntimeError("no context today\\nsecond line")
'''


@pytest.fixture
def failing_plugin(tmp_path: Path) -> Path:
    return write_plugin_dist(tmp_path / "plugin-site", "tlsback_failingplugin", FAILING_PLUGIN,
                             "[tlsback.backends]\nfailing = tlsback_failingplugin:FailingBackend\n")


def _with_path(env: dict[str, str], extra: Path) -> dict[str, str]:
    env["PYTHONPATH"] = os.pathsep.join(p for p in (env.get("PYTHONPATH"), str(extra)) if p)
    return env


def test_a_child_that_never_imports_ssl_does_not_pay_for_it(corp_dir: Path) -> None:
    script = "import sys; print(*(m in sys.modules for m in ('ssl', 'tlsback.inject', 'tlsback.settings')))"
    result = run(tlsback_cmd("run", "--", sys.executable, "-c", script), child_env(SSL_CERT_DIR=corp_dir))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False", "True"]  # settings resolved, nothing else


def test_the_injection_is_in_place_when_import_ssl_returns(pki: PKI, https_server: Any, corp_dir: Path) -> None:
    srv = https_server(pki)
    script = textwrap.dedent(f"""
        import sys
        assert 'ssl' not in sys.modules
        import ssl
        import tlsback.inject
        print(tlsback.inject.injected() is not None, ssl.create_default_context.__module__)
        import urllib.request
        print(urllib.request.urlopen({srv.url!r}, timeout=10).status)
    """)
    result = run(tlsback_cmd("run", "--", sys.executable, "-c", script), child_env(SSL_CERT_DIR=corp_dir))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "tlsback.inject", "200"]


def test_an_injection_failing_at_import_ssl_stops_the_program_there(failing_plugin: Path, corp_dir: Path) -> None:
    """The program runs until its first ``import ssl``; there it stops (exit 1, one line naming
    the cause and the opt-out), before any TLS connection. With the opt-out it goes on, told
    so, with the stdlib's ssl and the bundle variables."""
    script = "print('started', flush=True); import ssl; print('after')"

    def child(*assignments: str) -> Any:
        cmd = tlsback_cmd("run", "--", "env", *assignments, sys.executable, "-c", script)
        return run(cmd, _with_path(child_env(SSL_CERT_DIR=corp_dir, TLSBACK_BACKEND="failing"), failing_plugin))

    stopped = child()
    assert stopped.returncode == 1, stopped.stderr
    assert stopped.stdout.split() == ["started"]
    lines = stopped.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in stopped.stderr, stopped.stderr
    assert "RuntimeError: no context today second line" in lines[0]
    assert "when it first imported ssl" in lines[0] and "TLSBACK_RUN_ALLOW_UNINJECTED=1" in lines[0]

    allowed = child("TLSBACK_RUN_ALLOW_UNINJECTED=1")
    assert allowed.returncode == 0, allowed.stderr
    assert allowed.stdout.split() == ["started", "after"]
    assert len(allowed.stderr.splitlines()) == 1 and "not injected" in allowed.stderr


def test_a_program_stopped_at_import_ssl_keeps_what_it_printed(failing_plugin: Path, corp_dir: Path) -> None:
    """Stopped at its first ``import ssl``, a program has already run: what it printed, still
    in its stdout buffer (a pipe, no flush), is written out before it stops."""
    script = "import sys; print('started'); sys.stderr.write('to stderr\\n'); import ssl; print('after')"
    env = _with_path(child_env(SSL_CERT_DIR=corp_dir, TLSBACK_BACKEND="failing"), failing_plugin)
    stopped = run(tlsback_cmd("run", "--", sys.executable, "-c", script), env)
    assert stopped.returncode == 1, stopped.stderr
    assert stopped.stdout == "started\n"
    lines = stopped.stderr.splitlines()
    assert len(lines) == 2 and lines[0] == "to stderr" and "when it first imported ssl" in lines[1]


def test_an_unknown_backend_stops_the_program_before_it_runs(corp_dir: Path) -> None:
    script = "print('started')"
    result = run(tlsback_cmd("run", "--", "env", "TLSBACK_BACKEND=nope", sys.executable, "-c", script),
                 child_env(SSL_CERT_DIR=corp_dir))
    assert result.returncode == 1 and result.stdout == "", result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert "unknown TLS backend 'nope'" in result.stderr and "before the program ran" in result.stderr


def test_install_injects_at_once_when_ssl_is_already_loaded(corp_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert "ssl" in sys.modules
    monkeypatch.setenv("SSL_CERT_DIR", str(corp_dir))
    original = ssl.create_default_context
    try:
        _site.install(lambda cause: pytest.fail(f"no deferred injection expected: {cause}"))
        assert inject.injected() is not None
        assert ssl.create_default_context is not original
        assert not [f for f in sys.meta_path if isinstance(f, _site._InjectAfterSSL)]  # nothing deferred
    finally:
        inject.extract_from_ssl()


def _tlsback_copy(root: Path, version: str | None) -> Path:
    """A second, real tlsback installation under ``root`` (this one's files, compiled scanner
    included), with another ``__version__`` if ``version`` is given."""
    import shutil

    import tlsback

    target = root / "tlsback"
    shutil.copytree(Path(tlsback.__file__).parent, target, ignore=shutil.ignore_patterns("__pycache__"))
    if version is not None:
        (target / "_version.py").write_text(f'__version__ = "{version}"\n')
    return root


def _run_with_first_on_path(copy: Path, script: str, env: dict[str, str]) -> Any:
    """``tlsback run`` (this tlsback) starting a Python whose path has ``copy`` right after
    run's own hook directory, before the tlsback ``run`` came from."""
    shell = 'PYTHONPATH="${PYTHONPATH%%' + os.pathsep + '*}' + os.pathsep + '$0" exec "$1" -c "$2"'
    return run(tlsback_cmd("run", "--", "sh", "-c", shell, str(copy), sys.executable, script), env)


_WHICH = ("import sys; print('started', flush=True); import ssl, tlsback, tlsback.inject; "
          "print(tlsback.__version__, tlsback.__file__, tlsback.inject.injected() is not None)")


def test_a_child_importing_another_tlsback_version_stops_before_it_runs(corp_dir: Path, tmp_path: Path) -> None:
    """Another tlsback version first on the child's path would read the same settings with its
    own parser and rules: the child stops before the program runs (exit 1, one line naming both
    versions and where they are, and the opt-out); with TLSBACK_RUN_ALLOW_UNINJECTED=1 it runs
    uninjected, told so, and its own tlsback is not injected behind its back."""
    import tlsback

    copy = _tlsback_copy(tmp_path / "other", "0.0.1+other")
    stopped = _run_with_first_on_path(copy, _WHICH, child_env(SSL_CERT_DIR=corp_dir))
    assert stopped.returncode == 1 and stopped.stdout == "", stopped.stderr
    lines = stopped.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in stopped.stderr, stopped.stderr
    assert f"imports tlsback 0.0.1+other from {copy / 'tlsback'}, but" in lines[0]
    assert f"`tlsback run` is tlsback {tlsback.__version__} from {Path(tlsback.__file__).parent}" in lines[0]
    assert "before the program ran" in lines[0] and "TLSBACK_RUN_ALLOW_UNINJECTED=1" in lines[0]

    allowed = _run_with_first_on_path(copy, _WHICH, child_env(SSL_CERT_DIR=corp_dir,
                                                              TLSBACK_RUN_ALLOW_UNINJECTED="1"))
    assert allowed.returncode == 0, allowed.stderr
    assert allowed.stdout.split() == ["started", "0.0.1+other", str(copy / "tlsback" / "__init__.py"), "False"]
    assert len(allowed.stderr.splitlines()) == 1 and "not injected" in allowed.stderr


def test_a_child_importing_the_same_tlsback_version_elsewhere_is_injected(corp_dir: Path, tmp_path: Path) -> None:
    """The same version in another place (a project's virtual environment) reads the settings
    the same way: the child uses its own copy, injected."""
    import tlsback

    copy = _tlsback_copy(tmp_path / "same", None)
    result = _run_with_first_on_path(copy, _WHICH, child_env(SSL_CERT_DIR=corp_dir))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["started", tlsback.__version__, str(copy / "tlsback" / "__init__.py"), "True"]
    assert result.stderr == ""


def test_run_applies_a_port_rule_to_its_port_only_and_to_https_only(other_pki: PKI, https_server: Any,
                                                                    corp_dir: Path) -> None:
    """Under `tlsback run`, `localhost:PORT` turns verification off for requests to that port
    only; a TLS connection to that same port that does not say it is HTTP (ALPN) is verified."""
    a, b = https_server(other_pki), https_server(other_pki)
    script = textwrap.dedent(f"""
        import socket, ssl, requests
        def raw(alpn):
            ctx = ssl.create_default_context()
            if alpn:
                ctx.set_alpn_protocols(alpn)
            with socket.create_connection(("localhost", {a.port}), timeout=10) as s:
                try:
                    ctx.wrap_socket(s, server_hostname="localhost").close()
                    return "open"
                except ssl.SSLCertVerificationError:
                    return "verified"
        def get(url):
            try:
                return str(requests.get(url, timeout=10).status_code)
            except requests.exceptions.SSLError:
                return "verified"
        print(get({a.url!r}), get({b.url!r}), raw(["http/1.1"]), raw(None))
    """)
    env = child_env(SSL_CERT_DIR=corp_dir)
    result = run(tlsback_cmd("--allow-insecure-host", f"localhost:{a.port}", "run", "--", sys.executable,
                             "-c", script), env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["200", "verified", "open", "verified"]


def test_a_second_run_finds_its_python_childs_store_warm(corp_dir: Path) -> None:
    """The bundle `run` exports is the same file from run to run (a use is recorded on it only
    now and then, never on every run: each touch changes its ctime, part of the identity the
    child's cache key is made of), so a Python child's injected store is warm from the second
    run on, not built again each time."""
    env = child_env(SSL_CERT_DIR=corp_dir, TLSBACK_STORE="lazy")  # a cache entry, whatever CI's lane says
    probe = ("import os, ssl; ssl.create_default_context(); from tlsback import inject; "
             "st = os.stat(os.environ['SSL_CERT_FILE']); "
             "print(inject._state.cfg.store.cache['state'], st.st_ino, st.st_ctime_ns)")
    outs = []
    for _ in range(3):
        r = run(tlsback_cmd("run", "--", sys.executable, "-c", probe), env)
        assert r.returncode == 0, r.stderr
        outs.append(r.stdout.split())
    assert [o[0] for o in outs[1:]] == ["hit", "hit"], outs
    assert len({(o[1], o[2]) for o in outs}) == 1, outs  # the same bundle file, untouched
