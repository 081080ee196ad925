"""Ctrl-C in the real ``tlsback fetch`` (``python -m tlsback``): exit status 130, one line on
stderr, no traceback, promptly, wherever the signal lands once the command has started.

The server accepts and never answers, so the client waits inside the TLS handshake; the
command is given ``--timeout 120``, so a lost interruption shows as a timeout, not as a slow
machine. Where a test must make the signal land at one exact place, a ``sitecustomize`` of the
test sends the real SIGINT from there (an audit hook on the client's ``connect``): the rest is
the real command, unchanged.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import SRC, _tlsback_from_repo

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGALRM"), reason="POSIX signals")

#: How long a command may take to end after Ctrl-C (a hang is 120 s: the fetch's timeout).
PROMPT = 30.0

# Sends SIGINT from the place CTRL_C_AT names, through audit hooks (never tlsback's code):
#   exec      the first exec() of a string after the client connected (dataclasses and
#             namedtuple build their methods so): the signal lands inside that string's code
#   finalizer a __del__ that runs when the client has connected: the KeyboardInterrupt is
#             raised inside it, and Python drops it ("Exception ignored")
#   import    inside the module body of tlsback.cli, while the command's modules load
#   atexit    a second one, from an atexit callback: while the interpreter exits
_HOOK = textwrap.dedent("""
    import faulthandler, os, signal, sys

    # A command that has not ended in time is sent SIGUSR1 before it is killed: where each of
    # its threads was goes to stderr, into the failure's message.
    faulthandler.register(signal.SIGUSR1, all_threads=True)

    _at = os.environ.pop("CTRL_C_AT", "")
    _mark = os.environ.pop("CTRL_C_MARK", "")  # written once the atexit callback has run through
    _done = []

    def _interrupt():
        _done.append(1)
        os.kill(os.getpid(), signal.SIGINT)

    def _tracer(frame, event, arg):
        # The signal is sent as the frame starts: its KeyboardInterrupt is raised there.
        if event == "call" and frame.f_code.co_filename.endswith(_tracer.suffix) and not _done:
            sys.settrace(None)
            _interrupt()
        return None

    class _Finalized:
        def __del__(self):
            _interrupt()
            for _ in range(1000):  # the KeyboardInterrupt is raised in this loop, then dropped
                pass

    def _hook(event, args):
        if _done:
            return
        if _at == "import" and event == "import" and args[0] == "tlsback.cli":
            _tracer.suffix = os.path.join("tlsback", "cli.py")
            sys.settrace(_tracer)
        elif _at == "exec" and event == "socket.connect":
            _tracer.suffix = "<string>"
            sys.settrace(_tracer)
        elif _at == "finalizer" and event == "socket.connect":
            _Finalized()

    def _at_exit():
        _interrupt()
        for _ in range(1000):  # where its KeyboardInterrupt would be raised
            pass
        with open(_mark, "w") as f:
            f.write("ran")

    if _at == "atexit":
        import atexit
        atexit.register(_at_exit)  # registered first: runs last, after tlsback's own
    elif _at:
        sys.addaudithook(_hook)
""")


def _env(tmp_path: Path, at: str = "") -> dict[str, str]:
    """A clean environment: none of the machine's SSL_*/UV_*/TLSBACK_*/PYTHON* variables."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(("SSL_", "UV_", "TLSBACK_",
                                                                             "PYTHON", "PIP_"))}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["TLSBACK_CACHE_DIR"] = str(tmp_path / "cache")
    hook = tmp_path / "hook"
    hook.mkdir(exist_ok=True)
    (hook / "sitecustomize.py").write_text(_HOOK)
    env["PYTHONPATH"] = os.pathsep.join([str(hook)] + ([str(SRC)] if _tlsback_from_repo() else []))
    if at:
        env["CTRL_C_AT"] = at
        env["CTRL_C_MARK"] = str(tmp_path / "atexit-ran")
    return env


def _fetch_interrupted(tmp_path: Path, *, at: str = "", delay: float = 0.0) -> tuple[int | None, str, float]:
    """``python -m tlsback fetch`` against a server that never answers, interrupted by the hook
    (``at``) or by a SIGINT sent ``delay`` seconds after the server accepted the connection.

    Returns the exit status (None if it did not end within PROMPT), stderr and the seconds from
    the SIGINT (or from the accept, when the hook sends it) to the end.
    """
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.settimeout(120)
        port = listener.getsockname()[1]
        proc = subprocess.Popen([sys.executable, "-m", "tlsback", "fetch", "--timeout", "120",
                                 f"https://127.0.0.1:{port}/"], env=_env(tmp_path, at), cwd=tmp_path,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        conn = None
        try:
            if at != "import":
                conn, _ = listener.accept()  # the client has started: it connects from main()
            time.sleep(delay)
            start = time.monotonic()
            if at in ("", "atexit"):
                proc.send_signal(signal.SIGINT)
            try:
                _, err = proc.communicate(timeout=PROMPT)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGUSR1)  # its threads' tracebacks (the hook's faulthandler)
                time.sleep(1)
                proc.kill()
                _, err = proc.communicate()
                return None, err, time.monotonic() - start
            return proc.returncode, err, time.monotonic() - start
        finally:
            if conn is not None:
                conn.close()
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_ctrl_c_inside_a_string_exec_exits_130(tmp_path: Path) -> None:
    """Ctrl-C that lands inside code run by exec() of a string (a dataclass's methods being
    made by a lazy import) exits 130: CPython remembers such an interruption even once it was
    caught, and `python -m` would then end by SIGINT (-2) after printing "interrupted"."""
    code, err, _ = _fetch_interrupted(tmp_path, at="exec")
    assert (code, err) == (130, "\ninterrupted\n")


def test_ctrl_c_while_the_cli_loads_exits_130(tmp_path: Path) -> None:
    """Ctrl-C while the CLI's own modules are imported (before its main() runs): 130, one line."""
    code, err, _ = _fetch_interrupted(tmp_path, at="import")
    assert (code, err) == (130, "\ninterrupted\n")


def test_ctrl_c_dropped_by_a_finalizer_is_raised_again(tmp_path: Path) -> None:
    """A KeyboardInterrupt raised inside a __del__ is dropped by Python; the command would wait
    in the handshake for its whole timeout (120 s). It is raised again: 130, within seconds, and
    one line still (Python's "Exception ignored" report of the dropped one is not shown)."""
    code, err, seconds = _fetch_interrupted(tmp_path, at="finalizer")
    assert (code, err) == (130, "\ninterrupted\n")
    assert seconds < PROMPT


def test_ctrl_c_while_the_interpreter_exits_changes_nothing(tmp_path: Path) -> None:
    """A second Ctrl-C once the command has ended (the interpreter exiting: atexit callbacks,
    a --no-cache directory removed) shows no traceback and keeps the status."""
    code, err, _ = _fetch_interrupted(tmp_path, at="atexit")
    assert (code, err) == (130, "\ninterrupted\n")
    assert (tmp_path / "atexit-ran").read_text() == "ran"  # the second Ctrl-C was sent, and ignored


def test_ctrl_c_during_fetch_under_load(tmp_path: Path) -> None:
    """36 real commands, 6 at a time (which loads the machine), each sent SIGINT at another
    moment after its connection was accepted (0 to 50 ms: still importing what the handshake
    needs, or waiting inside it): every one exits 130 with one line, no traceback, promptly."""
    delays = [0.0, 0.001, 0.003, 0.01, 0.02, 0.05] * 6

    def one(i: int) -> tuple[float, int | None, str, float]:
        d = tmp_path / str(i)
        d.mkdir()
        return (delays[i], *_fetch_interrupted(d, delay=delays[i]))

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(one, range(len(delays))))
    bad = [r for r in results if r[1:3] != (130, "\ninterrupted\n") or r[3] >= PROMPT]
    assert not bad, bad


def test_main_in_process_gives_the_callers_handlers_back(capsys: pytest.CaptureFixture[str]) -> None:
    """``tlsback.__main__.main()`` called in process (an embedding program, a test): once it
    returns, SIGINT and SIGALRM have the handlers they had, and Ctrl-C interrupts the caller."""
    from tlsback import __main__ as entry

    alarm = signal.getsignal(signal.SIGALRM)
    assert entry.main(["backends"]) == 0
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert signal.getsignal(signal.SIGALRM) is alarm
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(1)
    capsys.readouterr()


def test_an_ignored_sigint_stays_ignored() -> None:
    """Started with SIGINT ignored (``nohup``, ``cmd &`` in a script), the command keeps it so,
    as Python itself does: the handler is only put over Python's default one."""
    code = ("import signal; from tlsback import _interrupt; _interrupt.install(); "
            "print(signal.getsignal(signal.SIGINT) is signal.SIG_IGN)")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SSL_", "UV_", "TLSBACK_"))}
    env["PYTHONPATH"] = str(SRC)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    assert out.stdout.strip() == "True", out.stderr
