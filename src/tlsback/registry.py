"""The backend registry: built-ins and plugins share the entry-point group ``tlsback.backends``.

A backend is a class with a no-argument constructor that satisfies :class:`Backend`. Plugins
are discovered lazily, never imported until listed or asked for; a plugin that fails to import
is reported with its reason and never breaks the others. A plugin cannot take the name of a
built-in backend: trust must never change because some package happened to be installed.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from .backends import BUILTINS as _BUILTINS
from .backends import load_builtin
from .errors import BackendError

if TYPE_CHECKING:
    import ssl  # annotations only: checking a plugin's name at the start of a `tlsback run` child
    # must not import ssl (tlsback._site)

    from .loader import TrustStore

__all__ = ["ENTRY_POINT_GROUP", "Backend", "BackendEntry", "discover", "find_entry", "get_backend"]

ENTRY_POINT_GROUP = "tlsback.backends"

# The built-ins (``_BUILTINS``, as pyproject.toml registers them) are used as-is when tlsback
# runs from a source tree that was never installed (no entry points exist then).


@runtime_checkable
class Backend(Protocol):
    """What a backend provides.

    Attributes:
        name: the name it is selected by.
        description: one line for ``tlsback backends``.
        uses_platform_store: True when tlsback must load the platform store into its contexts
            (``rustls``); False when the backend consults the OS store itself (``native``) and
            only the custom certificates are handed to it.
    """

    name: str
    description: str
    uses_platform_store: bool

    def create_context(self, store: TrustStore, *, verify: bool = True) -> ssl.SSLContext:
        """Return a new client context.

        Args:
            store: the trust anchors tlsback loaded for this backend (see ``uses_platform_store``).
            verify: False for the context used with insecure hosts: no certificate or hostname
                checks, everything else (versions, ciphers, SNI) unchanged.
        """
        ...


@dataclass(frozen=True)
class BackendEntry:
    """One registered backend, not yet imported.

    Attributes:
        name: the backend's name.
        target: ``module:attribute`` of its class.
        distribution: the package that registered it (``tlsback`` for built-ins).
        conflict: why the entry is refused without importing it (a plugin reusing a built-in's name).
    """

    name: str
    target: str
    distribution: str
    conflict: str | None = None

    @property
    def builtin(self) -> bool:
        """Whether tlsback itself provides this backend."""
        return self.name in _BUILTINS and self.target == _BUILTINS[self.name]

    def load(self) -> Backend:
        """Import and instantiate the backend.

        Raises:
            BackendError: the entry conflicts, fails to import, or is not a backend.
        """
        if self.conflict:
            raise BackendError(f"backend {self.name!r} from {self.distribution}: {self.conflict}")
        module_name, _, attr = self.target.partition(":")
        try:
            obj = import_module(module_name)
            for part in attr.split("."):
                obj = getattr(obj, part)
            backend = obj()  # type: ignore[operator]
        except Exception as exc:  # a plugin may fail in any way; report it, never crash
            raise BackendError(
                f"backend {self.name!r} ({self.target}, from {self.distribution}) failed to load: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        if not isinstance(backend, Backend):
            raise BackendError(
                f"backend {self.name!r} ({self.target}) does not provide name, description, "
                "uses_platform_store and create_context()"
            )
        return backend


def discover() -> dict[str, BackendEntry]:
    """List the registered backends without importing them.

    Returns:
        Entries by name: built-ins first, then plugins in name order.
    """
    from importlib import metadata  # ~15 ms to import: only when plugins are listed

    found: dict[str, BackendEntry] = {
        name: BackendEntry(name, target, "tlsback") for name, target in _BUILTINS.items()
    }
    plugins: list[BackendEntry] = []
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist.name if ep.dist is not None else "unknown distribution"
        if ep.name in _BUILTINS:
            if ep.value == _BUILTINS[ep.name]:
                continue  # tlsback's own registration of a built-in
            plugins.append(BackendEntry(
                ep.name, ep.value, dist,
                conflict="the name is taken by a built-in backend; rename the plugin's entry point",
            ))
            continue
        plugins.append(BackendEntry(ep.name, ep.value, dist))
    for entry in sorted(plugins, key=lambda e: (e.name, e.distribution)):
        if entry.conflict:
            found.setdefault(f"{entry.name} ({entry.distribution})", entry)
        elif entry.name in found:
            first = found[entry.name]
            found[f"{entry.name} ({entry.distribution})"] = BackendEntry(
                entry.name, entry.target, entry.distribution,
                conflict=f"the name is also registered by {first.distribution}",
            )
        else:
            found[entry.name] = entry
    return found


def find_entry(name: str) -> BackendEntry:
    """The registered backend called ``name``, not imported.

    Raises:
        BackendError: no backend has that name, or the entry is refused (a conflict).
    """
    entries = discover()
    entry = entries.get(name)
    if entry is None:
        known = ", ".join(sorted(k for k, e in entries.items() if not e.conflict))
        raise BackendError(f"unknown TLS backend {name!r}; registered backends: {known}")
    if entry.conflict:  # refused now, not at its first load (a `tlsback run` child checks here)
        raise BackendError(f"backend {entry.name!r} from {entry.distribution}: {entry.conflict}")
    return entry


def get_backend(name: str) -> Backend:
    """Load the backend called ``name``.

    Raises:
        BackendError: no such backend, or it cannot be loaded.
    """
    if name in _BUILTINS:
        # A plugin can never take a built-in's name, so no entry-point scan is needed here.
        return load_builtin(name)
    return find_entry(name).load()
