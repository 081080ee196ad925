"""``tlsback run``, ``tlsback env``, ``tlsback.where()``, ``load(cert_file=...)``,
``add_arguments(include=)`` and the CLI's behaviour without tracebacks, through real processes.

The CA of the test servers is only in an unhashed ``SSL_CERT_DIR`` (``corp.pem``).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

import tlsback
from tests.conftest import SRC, _tlsback_from_repo
from tests.pki import PKI, write_bundle

Run = Callable[..., subprocess.CompletedProcess[str]]


def child_env(**extra: str | os.PathLike[str] | None) -> dict[str, str]:
    """The test's (hermetic) environment for a child process, pip's machine settings removed."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(("PIP_", "PYTHON"))}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if _tlsback_from_repo():
        env["PYTHONPATH"] = str(SRC)
    for k, v in extra.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = os.fspath(v)
    return env


def tlsback_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "tlsback", *args]


def run(cmd: list[str], env: Mapping[str, str], **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, env=dict(env), capture_output=True, text=True, timeout=120, check=False, **kw)


# --- where() ---------------------------------------------------------------------------------


def test_where_is_the_store_kept_current_and_private(pki: PKI, other_pki: PKI, corp_dir: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """where() holds exactly the store; a new certificate in SSL_CERT_DIR gives a new file."""
    monkeypatch.setenv("SSL_CERT_DIR", str(corp_dir))
    first = tlsback.where()
    cfg = tlsback.load()
    data = Path(first).read_bytes()
    assert data.count(b"BEGIN CERTIFICATE") == cfg.store.count
    assert pki.root.pem in data and other_pki.root.pem not in data
    assert stat.S_IMODE(os.stat(first).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(first)).st_mode) == 0o700
    assert tlsback.where() == first  # unchanged sources: the same file
    time.sleep(0.01)
    other_pki.root.write_pem(corp_dir / "second.pem")
    second = tlsback.where(tlsback.load())
    assert second != first and other_pki.root.pem in Path(second).read_bytes()


def test_where_native_backend_exports_the_system_store(corp_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The native backend's bundle is not just the custom certificates: the system store too."""
    monkeypatch.setenv("SSL_CERT_DIR", str(corp_dir))
    native = tlsback.load(native_tls=True)
    rustls = tlsback.load()
    assert Path(tlsback.where(native)).read_bytes() == Path(tlsback.where(rustls)).read_bytes()


def test_cli_bundle_native_says_what_it_exports(run_cli: Run, corp_dir: Path, tmp_path: Path) -> None:
    result = run_cli("--native-tls", "bundle", "-o", tmp_path / "x.pem", env={"SSL_CERT_DIR": corp_dir})
    assert result.returncode == 0, result.stderr
    assert "note: the native backend" in result.stderr
    written = int(result.stderr.split("wrote ")[1].split()[0])
    assert written > 1 and (tmp_path / "x.pem").read_bytes().count(b"BEGIN CERTIFICATE") == written


def test_cli_bundle_of_an_empty_store_fails(run_cli: Run, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run_cli("bundle", "-o", tmp_path / "x.pem",
                     env={"SSL_CERT_DIR": empty, "TLSBACK_CUSTOM_CERTS": "only"})
    assert result.returncode == 1 and "empty" in result.stderr


# --- load(cert_file=...), add_arguments(include=) -----------------------------------------------


def test_load_paths_have_their_own_origin(pki: PKI, tmp_path: Path, corp_dir: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Paths given to load() replace the variables and are labelled as arguments in info."""
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "from-env.pem"))
    cfg = tlsback.load(cert_file=pki.root.write_pem(tmp_path / "ca.pem"), cert_dirs=[corp_dir],
                       client_cert=tmp_path / "missing-client.pem")
    d = cfg.diagnostics()
    assert d["settings"]["cert_file"] == {"value": str(tmp_path / "ca.pem"), "origin": "argument:cert_file"}
    assert d["settings"]["cert_dirs"]["origin"] == "argument:cert_dirs"
    assert d["settings"]["client_cert"]["origin"] == "argument:client_cert"
    custom = {s["kind"]: s["origin"] for s in d["sources"] if s["kind"].startswith("SSL_")}
    assert custom == {"SSL_CERT_FILE": "argument:cert_file", "SSL_CERT_DIR": "argument:cert_dirs"}


def test_add_arguments_include_for_a_host_that_owns_some_options() -> None:
    """A host with its own --no-cache and --trusted-host adds the rest without a clash."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--no-cache", action="store_true")
    parser.add_argument("--trusted-host", action="append")
    tlsback.add_arguments(parser, include=["native-tls", "tls-backend", "allow-insecure-host"])
    args = parser.parse_args(["--no-cache", "--trusted-host", "pip-host", "--system-certs",
                              "--allow-insecure-host", "ours"])
    assert args.no_cache and args.trusted_host == ["pip-host"]
    cfg = tlsback.load(args)
    assert cfg.backend_name == "native" and [h.host for h in cfg.insecure_hosts] == ["ours"]
    assert cfg.settings.cache.value  # the host's --no-cache is its own
    with pytest.raises(ValueError, match="unknown option 'cert'"):
        tlsback.add_arguments(argparse.ArgumentParser(), include=["cert"])


# --- env --------------------------------------------------------------------------------------


def test_env_sh_is_safely_quoted(corp_dir: Path, tmp_path: Path) -> None:
    """Paths with spaces, quotes and $ survive `eval "$(tlsback env)"` unchanged."""
    cache = tmp_path / "a dir with 'quotes' and $HOME"
    env = child_env(SSL_CERT_DIR=corp_dir, TLSBACK_CACHE_DIR=cache)
    shown = run(["sh", "-c", f'eval "$({" ".join(tlsback_cmd("env"))})"; printf %s "$SSL_CERT_FILE"'], env)
    assert shown.returncode == 0, shown.stderr
    as_json = json.loads(run(tlsback_cmd("env", "--shell", "json"), env).stdout)
    assert shown.stdout == as_json["SSL_CERT_FILE"] == as_json["PIP_CERT"] == as_json["GIT_SSL_CAINFO"]
    assert shown.stdout.startswith(str(cache))
    assert "PYTHONPATH" not in as_json


def test_env_shells_format() -> None:
    from tlsback._run import format_env

    values = {"A": "it's $x \\ y"}
    assert format_env(values, "sh") == "export A='it'\"'\"'s $x \\ y'\n"
    assert format_env(values, "fish") == "set -gx A 'it\\'s $x \\\\ y';\n"
    assert format_env(values, "powershell") == "$env:A = 'it''s $x \\ y'\n"


def test_env_client_cert_and_insecure_hosts(tmp_path: Path, corp_dir: Path) -> None:
    from tests.test_inject import write_client_cert

    client = write_client_cert(PKI.create(name_prefix="client"), tmp_path / "client.pem")
    env = child_env(SSL_CERT_DIR=corp_dir, SSL_CLIENT_CERT=client)
    out = run(tlsback_cmd("--allow-insecure-host", "a.example:8443", "--allow-insecure-host", "b.example",
                          "env", "--shell", "json"), env)
    values = json.loads(out.stdout)
    assert values["PIP_TRUSTED_HOST"] == "a.example:8443 b.example"
    assert values["UV_INSECURE_HOST"] == "a.example:8443 b.example"
    copy = Path(values["PIP_CLIENT_CERT"])
    assert values["GIT_SSL_CERT"] == values["GIT_SSL_KEY"] == values["SSL_CLIENT_CERT"] == str(copy)
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    text = copy.read_bytes()
    assert text.index(b"CERTIFICATE") < text.index(b"PRIVATE KEY")  # chain first, then the key
    assert f'cert = "{copy}"' in (Path(values["CURL_HOME"]) / ".curlrc").read_text()


def test_env_exports_only_what_the_rules_say(tmp_path: Path, corp_dir: Path) -> None:
    """An http:// rule concerns no TLS: it never becomes a pip trusted host (which would turn
    off certificate checks for https:// there). Config-file rules are not exported as
    UV_INSECURE_HOST (each program reads its own files), even beside a command-line rule, and
    a config path containing "cli" is not taken for the command line."""
    project = tmp_path / "client-project"
    project.mkdir()
    (project / "uv.toml").write_text('allow-insecure-host = ["from-config.example"]\n')
    env = child_env(SSL_CERT_DIR=corp_dir)

    def values(*args: str) -> dict[str, str]:
        out = run(tlsback_cmd(*args, "env", "--shell", "json"), env, cwd=project)
        assert out.returncode == 0, out.stderr
        result: dict[str, str] = json.loads(out.stdout)
        return result

    only_config = values()
    assert "UV_INSECURE_HOST" not in only_config
    assert only_config["PIP_TRUSTED_HOST"] == "from-config.example"
    both = values("--allow-insecure-host", "http://plain.example", "--allow-insecure-host", "https://tls.example")
    assert both["UV_INSECURE_HOST"] == "http://plain.example https://tls.example"
    assert both["PIP_TRUSTED_HOST"].split() == ["tls.example", "from-config.example"]


@pytest.mark.uv
def test_env_leaves_ipv6_rules_out_of_uv_insecure_host_and_says_so(corp_dir: Path, tmp_path: Path) -> None:
    """uv refuses `[::1]` in UV_INSECURE_HOST and would not start at all: such a rule is left out
    of it (the host is verified there), with one warning; the others are passed on, and uv
    starts with what is exported."""
    from tests.policy_scenarios import find_uv

    env = child_env(SSL_CERT_DIR=corp_dir)
    out = run(tlsback_cmd("--allow-insecure-host", "[::1]:8443", "--allow-insecure-host", "tls.example",
                          "env", "--shell", "json"), env)
    assert out.returncode == 0, out.stderr
    values = json.loads(out.stdout)
    assert values["UV_INSECURE_HOST"] == "tls.example"
    assert out.stderr.count("warning:") == 1 and "[::1]:8443" in out.stderr
    uv = find_uv(tmp_path / "uv-install")
    if uv is None:
        pytest.skip("the uv binary cannot be installed")
    (tmp_path / "req.in").write_text("tlsback-nothing\n")
    started = run([uv, "pip", "compile", str(tmp_path / "req.in"), "--offline", "--no-cache"],
                  {**env, **values}, cwd=tmp_path)
    assert "invalid value" not in started.stderr and started.returncode == 1, started.stderr


# --- run ---------------------------------------------------------------------------------------


def test_run_passes_exit_status_and_signals_through(corp_dir: Path) -> None:
    env = child_env(SSL_CERT_DIR=corp_dir)
    assert run(tlsback_cmd("run", "--", "sh", "-c", "exit 7"), env).returncode == 7
    assert run(tlsback_cmd("run", "--", "sh", "-c", "kill -TERM $$"), env).returncode == 128 + signal.SIGTERM
    missing = run(tlsback_cmd("run", "--", "no-such-program-tlsback"), env)
    assert missing.returncode == 127 and "not found" in missing.stderr and "Traceback" not in missing.stderr
    assert run(tlsback_cmd("run"), env).returncode == 2


def test_run_forwards_sigterm_to_the_program(corp_dir: Path, tmp_path: Path) -> None:
    """SIGTERM sent to `tlsback run` reaches the program, whose own exit status comes back."""
    ready = tmp_path / "ready"
    script = textwrap.dedent(f"""
        import pathlib, signal, sys, time
        signal.signal(signal.SIGTERM, lambda *a: sys.exit(42))
        pathlib.Path({str(ready)!r}).write_text("x")
        time.sleep(60)
    """)
    proc = subprocess.Popen(tlsback_cmd("run", "--", sys.executable, "-c", script),
                            env=child_env(SSL_CERT_DIR=corp_dir), stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not ready.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 42 and "Traceback" not in err


def test_run_injects_python_and_chains_an_existing_sitecustomize(pki: PKI, https_server: Any, corp_dir: Path,
                                                                 tmp_path: Path) -> None:
    """urllib (which ignores unhashed directories) works under run; the user's sitecustomize
    still runs, after the injection."""
    srv = https_server(pki)
    own = tmp_path / "own-site"
    own.mkdir()
    (own / "sitecustomize.py").write_text("import os\nos.environ['OWN_SITECUSTOMIZE'] = 'ran'\n")
    script = textwrap.dedent(f"""
        import os, urllib.request, tlsback.inject
        print(os.environ.get('OWN_SITECUSTOMIZE'), tlsback.inject.injected() is not None)
        print(urllib.request.urlopen({srv.url!r}, timeout=10).status)
    """)
    env = child_env(SSL_CERT_DIR=corp_dir)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (env.get("PYTHONPATH"), str(own)) if p)
    plain = run([sys.executable, "-c", script], env)
    assert plain.returncode != 0 and "CERTIFICATE_VERIFY_FAILED" in plain.stderr
    result = run(tlsback_cmd("run", "--", sys.executable, "-c", script), env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["ran", "True", "200"]


def test_run_stops_a_python_it_cannot_inject(pki: PKI, https_server: Any, corp_dir: Path) -> None:
    """A child Python in which the injection fails exits 1 with one line naming the cause and
    the opt-out, before the program runs: it never goes on trusting the bare bundle without
    tlsback's policy. TLSBACK_RUN_ALLOW_UNINJECTED=1 lets it go on (one warning line); a value
    that is not a boolean stops it too.

    The failure is real: the program's own environment (set between `run` and the interpreter)
    holds a value tlsback refuses, so the child's configuration cannot be resolved.
    """
    srv = https_server(pki)
    script = f"import urllib.request; print('ran', urllib.request.urlopen({srv.url!r}, timeout=10).status)"

    def child(*assignments: str) -> subprocess.CompletedProcess[str]:
        cmd = tlsback_cmd("run", "--", "env", "UV_NATIVE_TLS=maybe", *assignments,
                          sys.executable, "-c", script)
        return run(cmd, child_env(SSL_CERT_DIR=corp_dir))

    stopped = child()
    assert stopped.returncode == 1 and stopped.stdout == "", stopped.stderr
    lines = stopped.stderr.splitlines()
    assert len(lines) == 1, stopped.stderr
    assert "UV_NATIVE_TLS" in lines[0] and "maybe" in lines[0]
    assert "TLSBACK_RUN_ALLOW_UNINJECTED=1" in lines[0] and "Traceback" not in stopped.stderr
    assert not srv.requests

    allowed = child("TLSBACK_RUN_ALLOW_UNINJECTED=1")
    assert allowed.returncode == 0, allowed.stderr
    assert allowed.stdout.split() == ["ran", "200"]  # the bundle variables still apply
    assert len(allowed.stderr.splitlines()) == 1 and "not injected" in allowed.stderr

    bad_value = child("TLSBACK_RUN_ALLOW_UNINJECTED=perhaps")
    assert bad_value.returncode == 1 and bad_value.stdout == ""
    assert len(bad_value.stderr.splitlines()) == 1
    assert "TLSBACK_RUN_ALLOW_UNINJECTED" in bad_value.stderr and "perhaps" in bad_value.stderr


def test_run_files_are_private_and_written_through_unpredictable_names(corp_dir: Path, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The interpreter hook is written 0600 in a 0700 directory through a temporary file whose
    name nobody can plant ahead (a link at ``NAME.tmp-PID`` changes nothing); a damaged copy is
    replaced, a current one kept."""
    from tlsback import _run

    monkeypatch.setenv("SSL_CERT_DIR", str(corp_dir))
    cfg = tlsback.load()
    site = Path(_run.variables(cfg, python=True)["PYTHONPATH"].split(os.pathsep)[0])
    hook = site / "sitecustomize.py"
    good = hook.read_bytes()
    assert stat.S_IMODE(site.stat().st_mode) == 0o700 and stat.S_IMODE(hook.stat().st_mode) == 0o600
    decoy = tmp_path / "decoy"
    decoy.write_text("untouched")
    (site / f"sitecustomize.py.tmp-{os.getpid()}").symlink_to(decoy)
    hook.write_bytes(b"raise SystemExit('damaged')\n")
    assert Path(_run.variables(cfg, python=True)["PYTHONPATH"].split(os.pathsep)[0]) == site
    assert hook.read_bytes() == good and stat.S_IMODE(hook.stat().st_mode) == 0o600
    assert decoy.read_text() == "untouched"
    inode = hook.stat().st_ino
    _run.variables(cfg, python=True)
    assert hook.stat().st_ino == inode  # current: kept, not rewritten
    assert sorted(p.name for p in site.iterdir()) == ["sitecustomize.py", f"sitecustomize.py.tmp-{os.getpid()}"]


# --- the CLI without tracebacks ------------------------------------------------------------------


def test_broken_pipe_is_quiet(corp_dir: Path) -> None:
    env = child_env(SSL_CERT_DIR=corp_dir)
    result = run(["sh", "-c", " ".join(tlsback_cmd("info", "--json")) + " | head -3"], env)
    assert result.returncode == 0 and len(result.stdout.splitlines()) == 3
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr


def test_ctrl_c_during_fetch_exits_130_without_traceback(corp_dir: Path) -> None:
    """A server that accepts and never answers: SIGINT ends the fetch with one line."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        proc = subprocess.Popen(tlsback_cmd("fetch", f"https://127.0.0.1:{port}/"),
                                env=child_env(SSL_CERT_DIR=corp_dir), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        conn, _ = listener.accept()
        conn.settimeout(30)
        # Its ClientHello has arrived: the client now waits inside the handshake. Accepted is
        # not enough: between connect() and the handshake the client still imports modules,
        # and a Ctrl-C there is another case (under load it landed there one time in ten).
        assert conn.recv(1, socket.MSG_PEEK)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        conn.close()
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err


def test_fetch_output_checked_before_download(run_cli: Run, pki: PKI, https_server: Any, corp_dir: Path) -> None:
    srv = https_server(pki)
    result = run_cli("fetch", "-o", "/nonexistent/x", srv.url + "/", env={"SSL_CERT_DIR": corp_dir})
    assert result.returncode == 2 and "cannot write /nonexistent/x" in result.stderr
    assert srv.requests == [] and "Traceback" not in result.stderr


def test_fetch_streams_to_the_file(pki: PKI, https_server: Any, corp_dir: Path, tmp_path: Path) -> None:
    """A 64 MiB body reaches the file whole while the process's peak memory stays far below it."""
    size = 64 * 2**20
    body = os.urandom(1 << 20) * 64
    srv = https_server(pki, routes={"/big": (200, {"Content-Type": "application/octet-stream"}, body)})
    out = tmp_path / "big.bin"
    # A fresh parent whose only child is the fetch, so RUSAGE_CHILDREN is that fetch's peak.
    probe = textwrap.dedent(f"""
        import resource, subprocess, sys
        r = subprocess.run({tlsback_cmd("fetch", "-o", str(out), srv.url + "/big")!r})
        print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    """)
    result = run([sys.executable, "-c", probe], child_env(SSL_CERT_DIR=corp_dir))
    code, peak_kib = map(int, result.stdout.split())
    assert code == 0, result.stderr
    assert out.stat().st_size == size and out.read_bytes() == body
    assert peak_kib * 1024 < size, f"peak RSS {peak_kib} KiB for a {size >> 20} MiB body"
    assert "\r" not in result.stderr  # no progress bar when stderr is not a terminal


def test_mtls_server_hint_and_proxy_named(run_cli: Run, pki: PKI, https_server: Any, corp_dir: Path) -> None:
    client_pki = PKI.create(name_prefix="client")
    srv = https_server(pki, client_ca=client_pki.root, require_client_cert=True)
    result = run_cli("fetch", srv.url + "/", env={"SSL_CERT_DIR": corp_dir})
    assert result.returncode == 1 and "SSL_CLIENT_CERT" in result.stderr, result.stderr
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    result = run_cli("fetch", "https://example.invalid/", env={"HTTPS_PROXY": f"http://127.0.0.1:{dead}"})
    assert result.returncode == 1 and f"through the proxy http://127.0.0.1:{dead}" in result.stderr


def test_info_explains_aliases_and_verbose_names_skipped(run_cli: Run, pki: PKI, corp_dir: Path, tmp_path: Path) -> None:
    pki.intermediate.write_der(corp_dir / "corp-intermediate.der")
    write_bundle(corp_dir / "notes.txt", [pki.root])
    plain = run_cli("info", env={"SSL_CERT_DIR": corp_dir})
    verbose = run_cli("info", "-v", env={"SSL_CERT_DIR": corp_dir})
    assert plain.returncode == verbose.returncode == 0
    assert "corp-intermediate.der" not in plain.stdout
    assert "skipped corp-intermediate.der: not a certificate name" in verbose.stdout
    assert "corp-intermediate.der: not a certificate name (.pem, .crt, .cer or a HASH.N link); it holds a " \
           "certificate: rename it" in verbose.stdout
    assert "skipped notes.txt: not a certificate name (.pem, .crt, .cer or a HASH.N link); it holds a " \
           "certificate" in verbose.stdout  # a PEM bundle under another name
    (corp_dir / "README").write_text("nothing to see")
    verbose = run_cli("info", "-v", env={"SSL_CERT_DIR": corp_dir})
    assert "skipped README: not a certificate name (.pem, .crt, .cer or a HASH.N link)\n" in verbose.stdout
    if "aliases" in plain.stdout:  # the system's /etc/ssl/certs hash links
        assert "aliases: files already read through another path" in plain.stdout


def test_help_lists_variables_and_exit_codes(run_cli: Run) -> None:
    out = run_cli("--help").stdout
    for word in ("SSL_CERT_FILE", "SSL_CERT_DIR", "SSL_CLIENT_CERT", "UV_NATIVE_TLS", "UV_INSECURE_HOST",
                 "exit status", "130", "run", "env"):
        assert word in out


def test_ctrl_c_during_bench_exits_130_without_traceback(tmp_path: Path) -> None:
    d = tmp_path / "certs"
    d.mkdir()
    for i in range(3):
        PKI.create(name_prefix=f"bench {i}").root.write_pem(d / f"{i}.pem")
    proc = subprocess.Popen(tlsback_cmd("bench", str(d), "--runs", "100000"), env=child_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err


def test_run_without_another_sitecustomize_is_silent(corp_dir: Path) -> None:
    """With no sitecustomize to chain to, the interpreter starts without an error line."""
    result = run(tlsback_cmd("run", "--", sys.executable, "-c", "print('ok')"),
                 child_env(SSL_CERT_DIR=corp_dir))
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr
    assert result.stderr == ""


def test_ctrl_c_in_a_terminal_reaches_the_program_once(corp_dir: Path, tmp_path: Path) -> None:
    """Ctrl-C on a real terminal (a pty): the program gets one SIGINT, from the terminal, not a
    second one forwarded by `tlsback run`; its exit status comes back."""
    import pty

    script = tmp_path / "count.py"
    script.write_text(textwrap.dedent("""
        import signal, sys, time
        seen = []
        signal.signal(signal.SIGINT, lambda *a: seen.append(1))
        print("ready", flush=True)
        deadline = time.monotonic() + 30
        while not seen and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(1.0)  # a forwarded duplicate would arrive meanwhile
        print("sigints", len(seen), flush=True)
        sys.exit(10 + len(seen))
    """))
    env = child_env(SSL_CERT_DIR=corp_dir)
    pid, fd = pty.fork()
    if pid == 0:  # the child: a session leader on the pty, as a program started in a terminal
        cmd = tlsback_cmd("run", "--", sys.executable, str(script))
        os.execvpe(cmd[0], cmd, env)
    out = b""
    deadline = time.monotonic() + 90
    try:
        while time.monotonic() < deadline:
            try:
                data = os.read(fd, 1024)
            except OSError:  # EIO: the terminal's other side is closed, the program ended
                break
            if not data:
                break
            if b"ready" in data:
                os.write(fd, b"\x03")  # the terminal turns it into SIGINT for the foreground group
            out += data
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    text = out.decode(errors="replace")
    assert "sigints 1" in text, text
    assert os.waitstatus_to_exitcode(status) == 11


# Sends a signal to `tlsback run` itself from the place SIGNAL_AT names (a sitecustomize of the
# test; the variables are removed before the program is started, so it does not run there), by a
# tracer on tlsback/_run.py:
#   installed  as the forwarding has been installed, before the program is started
#   started    when the program has been started, before `tlsback run` has looked at it
_SIGNAL_HOOK = textwrap.dedent("""
    import os, sys
    _at = os.environ.pop("SIGNAL_AT", "")
    _sig = int(os.environ.pop("SIGNAL_NUM", "0"))
    _where = {"installed": ("__init__", "return"), "started": ("started", "call")}.get(_at)

    def _tracer(frame, event, arg):
        code = frame.f_code
        if code.co_filename.endswith("_run.py") and (code.co_name, event) == _where:
            sys.settrace(None)
            os.kill(os.getpid(), _sig)
            return None
        return _tracer if code.co_filename.endswith("_run.py") else None

    def _hook(event, args):
        if event == "import" and args[0] == "tlsback._run":
            sys.settrace(_tracer)

    if _where:
        sys.addaudithook(_hook)
""")


def _run_signalled(corp_dir: Path, tmp_path: Path, at: str, signum: int,
                   program: list[str]) -> subprocess.CompletedProcess[str]:
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(_SIGNAL_HOOK)
    env = child_env(SSL_CERT_DIR=corp_dir, SIGNAL_AT=at, SIGNAL_NUM=str(int(signum)))
    env["PYTHONPATH"] = os.pathsep.join([str(hook)] + ([env["PYTHONPATH"]] if "PYTHONPATH" in env else []))
    return run(tlsback_cmd("run", "--", *program), env)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_run_signalled_as_the_program_starts_does_not_start_it(corp_dir: Path, tmp_path: Path, signum: int) -> None:
    """A signal that reaches `tlsback run` before the program exists ends it with 128+N, and the
    program is never started (not left running without anyone to wait for it)."""
    mark = tmp_path / "ran"
    result = _run_signalled(corp_dir, tmp_path, "installed", signum, ["sh", "-c", f"echo > {mark}; sleep 20"])
    assert result.returncode == 128 + signum, result.stderr
    assert not mark.exists() and "Traceback" not in result.stderr


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_run_signalled_just_after_the_program_started_forwards_it(corp_dir: Path, tmp_path: Path,
                                                                   signum: int) -> None:
    """A signal that lands between the program's start and `tlsback run` waiting for it reaches
    the program (the forwarding is in place before the start), which it ends: its status comes
    back (not `tlsback run` ended alone, the program left running)."""
    start = time.monotonic()
    result = _run_signalled(corp_dir, tmp_path, "started", signum, ["sleep", "20"])
    assert result.returncode == 128 + signum, result.stderr
    assert time.monotonic() - start < 15 and "Traceback" not in result.stderr
