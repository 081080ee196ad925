"""Ctrl-C in the ``tlsback`` command: exit status 130 and one line, wherever it lands.

Imports nothing but ``sys`` and ``_signal``: the command's entry point
(``tlsback.__main__.main``) imports this module before it imports the CLI, so that a Ctrl-C
while the CLI's own modules load is caught too (docs/cli.md, "Ctrl-C").
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs start-up time
if TYPE_CHECKING:
    import signal
    from typing import Any
else:
    # _signal, not signal: the same functions without the enum classes, whose import costs
    # the command's start-up milliseconds (as inject.py uses _thread, not threading).
    import _signal as signal

__all__ = ["STATUS", "ended", "exit_interrupted", "install", "is_interruption", "settled"]

#: 128 + SIGINT, what a shell reports for a program ended by Ctrl-C.
STATUS = 130

#: Seconds after Ctrl-C before its KeyboardInterrupt is raised again if the command has not
#: ended meanwhile, and between later attempts. Ending the command takes milliseconds; the
#: first interval leaves room for its clean-up (a partial ``-o`` file removed) on a busy machine.
AGAIN_AFTER = 2.0
AGAIN_EVERY = 1.0


class _State:
    pending = False  # Ctrl-C arrived and the command has not ended yet
    installed = False  # _on_sigint is SIGINT's handler, in place of Python's default one
    alarm: object = None  # SIGALRM's handler before _on_sigint set its own (restored at the end)
    unraisable: object = None  # sys.unraisablehook before install() (restored at the end)


_state = _State()


def install() -> None:
    """Make Ctrl-C raise KeyboardInterrupt, and raise it again until the command has ended.

    One KeyboardInterrupt can be lost: raised while Python runs a finalizer (``__del__``, a
    weakref callback, a generator closed by the garbage collector), it is printed as "Exception
    ignored" and dropped, and the command would go on waiting in a blocking call (a TLS
    handshake with a server that never answers: until its timeout). So after Ctrl-C a timer
    (SIGALRM) raises it again every second until :func:`settled`: the waiting system call is
    interrupted by that signal too. Without ``setitimer`` (Windows), one KeyboardInterrupt only.

    Only over Python's default handler: a SIGINT the command was started with ignored (``nohup``,
    ``cmd &`` in a script) stays ignored, and a handler an embedding program set stays its own.
    """
    _state.pending = False
    try:
        if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
            return
        signal.signal(signal.SIGINT, _on_sigint)
        _state.installed = True
    except (ValueError, OSError):  # not the main thread, or no SIGINT: Python's own handling
        return
    _state.unraisable = sys.unraisablehook
    sys.unraisablehook = _unraisable


def _unraisable(unraisable: Any) -> None:
    """A KeyboardInterrupt a finalizer dropped says nothing (the timer raises it again, and the
    command then says "interrupted" once); anything else goes to the hook that was there."""
    if _state.pending and isinstance(getattr(unraisable, "exc_value", None), KeyboardInterrupt):
        return
    previous = _state.unraisable if callable(_state.unraisable) else sys.__unraisablehook__
    previous(unraisable)


def _on_sigint(signum: int, frame: object) -> None:
    if not _state.pending and hasattr(signal, "setitimer"):
        try:
            _state.alarm = signal.signal(signal.SIGALRM, _again)
            signal.setitimer(signal.ITIMER_REAL, AGAIN_AFTER, AGAIN_EVERY)
        except (ValueError, OSError):
            pass
    _state.pending = True
    raise KeyboardInterrupt


def _again(signum: int, frame: object) -> None:
    if _state.pending:
        raise KeyboardInterrupt


def settled() -> None:
    """The command has ended (interrupted or not): no KeyboardInterrupt is raised again."""
    _state.pending = False
    if hasattr(signal, "setitimer"):
        try:
            signal.setitimer(signal.ITIMER_REAL, 0)
        except (ValueError, OSError):
            pass


def is_interruption(exc: BaseException) -> bool:
    """Whether ``exc`` is a KeyboardInterrupt, or was caused by one.

    Ctrl-C while a module is being imported can arrive wrapped: an exception raised in a class
    body's ``__set_name__`` (``functools.cached_property``) becomes a RuntimeError whose cause
    is the KeyboardInterrupt.
    """
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, KeyboardInterrupt):
            return True
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return False


def ended() -> None:
    """The command has returned its exit status: the handlers :func:`install` and Ctrl-C set are
    put back (a caller of ``main()`` in process gets its own Ctrl-C again), and Ctrl-C changes
    nothing while the interpreter exits after it."""
    settled()
    if not _state.installed:
        return
    _state.installed = False
    try:
        if signal.getsignal(signal.SIGINT) is _on_sigint:
            signal.signal(signal.SIGINT, signal.default_int_handler)
        if _state.alarm is not None and signal.getsignal(signal.SIGALRM) is _again:
            signal.signal(signal.SIGALRM, _state.alarm)  # type: ignore[arg-type]
    except (ValueError, OSError):
        pass
    _state.alarm = None
    if sys.unraisablehook is _unraisable and callable(_state.unraisable):
        sys.unraisablehook = _state.unraisable
    _state.unraisable = None
    import atexit  # a built-in module

    # The last callback registered runs first: from the start of the interpreter's exit (atexit
    # callbacks: a --no-cache directory removed, streams flushed; milliseconds), Ctrl-C is
    # ignored, where it could only show a traceback. (Registered again, it runs once.)
    atexit.unregister(_ignore_sigint)
    atexit.register(_ignore_sigint)


def _ignore_sigint() -> None:
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    except (ValueError, OSError):
        pass


def exit_interrupted() -> int:
    """Say "interrupted" on standard error and return 130, for an interruption already caught."""
    settled()
    try:
        print("\ninterrupted", file=sys.stderr)
    except (OSError, ValueError):  # no usable stderr (closed, a broken pipe): the status says it
        pass
    # CPython (3.8 to 3.13) remembers a KeyboardInterrupt that ended code run by exec() or
    # eval() of a *string* (dataclasses and namedtuple build their methods that way, so any
    # class defined by a lazy import can be where Ctrl-C lands) even after it was caught, and
    # `python -m tlsback` then ends by SIGINT once it has finished (Py_RunMain checks that
    # flag after the exit status is known): -2 instead of 130. Every string exec clears the
    # flag as it starts; this empty one does, now that the interruption is handled.
    exec("", {})  # noqa: S102 - an empty string, for the flag reset above
    return STATUS
