"""The child side of ``tlsback run``: what its ``sitecustomize`` calls in every Python it starts.

At interpreter start only the settings are resolved (dictionary look-ups and a few stats; no
``ssl``), so a bad setting stops the program before it runs. The injection itself
(:func:`tlsback.inject_into_ssl`: the store, the verifying context, the patched clients) waits
for the program's first ``import ssl``, which every TLS client in Python makes before it can
open a connection. A child that never speaks TLS (a build backend, a test runner, a script)
pays neither ``import ssl`` nor the store: docs/run.md, "Cost".

Fail closed: when the injection fails at that point, the failure handler of the
``sitecustomize`` decides (it stops the program unless ``TLSBACK_RUN_ALLOW_UNINJECTED`` is
true); if it returns, ``ssl`` is left as the stdlib made it, and the handler has said so.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: this runs at the start of every child Python
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType
    from typing import Any

    from .settings import Settings

__all__ = ["install"]


def _inject(settings: Settings) -> None:
    from .config import TLSConfig
    from .inject import inject_into_ssl

    inject_into_ssl(TLSConfig(settings))


class _InjectAfterSSL:
    """A ``sys.meta_path`` finder for ``ssl`` alone: the real module, then the injection.

    It finds ``ssl`` through the finders after it, and wraps the loader so that the injection
    runs right after the module is executed, still inside the import: no thread can use
    ``ssl`` before the injection is done (the import lock of the module is held until then).
    It leaves ``sys.meta_path`` once the injection is done, or handled as failed.
    """

    def __init__(self, settings: Settings, on_failure: Callable[[str], None]) -> None:
        self._settings = settings
        self._on_failure = on_failure

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != "ssl":
            return None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            if finder is self or find is None:
                continue
            spec = find(name, path, target)
            if spec is not None:
                if spec.loader is None:  # nothing to follow: ssl would load uninjected
                    self._on_failure("ssl was found without a loader; the injection cannot follow it")
                    sys.meta_path.remove(self)
                    return spec
                spec.loader = _Loader(spec.loader, self)
                return spec
        return None

    def injected(self, module: ModuleType) -> None:
        """Called with the executed ``ssl`` module."""
        try:
            _inject(self._settings)
        except Exception as exc:  # any failure: the handler stops the program or says it goes on uninjected
            self._on_failure(f"{type(exc).__name__}: {' '.join(str(exc).splitlines())}")
        if self in sys.meta_path:
            sys.meta_path.remove(self)


class _Loader:
    """``ssl``'s own loader, with the injection after ``exec_module``; everything else passed on."""

    def __init__(self, loader: Any, finder: _InjectAfterSSL) -> None:
        self._loader = loader
        self._finder = finder

    def create_module(self, spec: Any) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        self._finder.injected(module)

    def __getattr__(self, name: str) -> Any:  # get_source, is_package, ...: the real loader's
        return getattr(self._loader, name)


def install(on_failure: Callable[[str], None]) -> None:
    """Resolve the settings now; inject now if ``ssl`` is loaded, else at its first import.

    Args:
        on_failure: called with a one-line cause when the deferred injection fails; it stops
            the program, or returns after saying that this Python goes on uninjected.

    Raises:
        ConfigError, BackendError: a setting is invalid, or names no registered backend (the
            ``sitecustomize`` stops the program).
        Exception: an immediate injection failed.
    """
    from .backends import BUILTINS
    from .settings import resolve

    settings = resolve()
    if settings.backend.value not in BUILTINS:
        # A plugin's name is checked now (an entry-point scan, paid only with a plugin): a typo
        # stops the program before it runs, as every other bad setting does.
        from .registry import find_entry

        find_entry(settings.backend.value)
    if "ssl" in sys.modules:
        _inject(settings)
        return
    sys.meta_path.insert(0, _InjectAfterSSL(settings, on_failure))
