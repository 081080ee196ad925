"""The built-in backends, registered under the ``tlsback.backends`` entry-point group.

:data:`BUILTINS` is what ``pyproject.toml`` registers. A plugin can never take a built-in's name
(:mod:`tlsback.registry`), so a built-in is loaded from here without scanning entry points,
which costs more than a whole warm start (docs/cache.md).
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs milliseconds at start-up
if TYPE_CHECKING:
    from ..registry import Backend

__all__ = ["BUILTINS", "load_builtin"]

BUILTINS = {
    "rustls": "tlsback.backends.rustls:RustlsBackend",
    "native": "tlsback.backends.native:NativeBackend",
}


def load_builtin(name: str) -> Backend:
    """Import and instantiate the built-in backend ``name`` (a key of :data:`BUILTINS`)."""
    module_name, _, attr = BUILTINS[name].partition(":")
    # __import__, not importlib.import_module: importlib is not loaded at start-up.
    backend: Backend = getattr(__import__(module_name, fromlist=[attr]), attr)()
    return backend
