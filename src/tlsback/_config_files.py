"""Finding and reading the uv configuration files tlsback honours.

Discovery follows uv's documented rules:

* ``UV_CONFIG_FILE`` names one ``uv.toml`` and disables discovery; ``UV_NO_CONFIG`` (a boolean)
  disables discovery (the file ``UV_CONFIG_FILE`` names is still read, as in uv).
* Project: from the working directory upward, the first directory with a ``uv.toml`` (whole file)
  or a ``pyproject.toml`` that has a ``[tool.uv]`` table; ``uv.toml`` wins within a directory.
  Inside a project or workspace the search starts at its root (:func:`_search_start`).
* User: ``$XDG_CONFIG_HOME/uv/uv.toml``, else ``~/.config/uv/uv.toml``.
* System: ``/etc/uv/uv.toml`` (each ``$XDG_CONFIG_DIRS`` entry first, as uv does).

Project settings take precedence over user settings, and user settings over system settings.
tlsback's own table, ``[tool.tlsback]``, is read from the nearest ``pyproject.toml`` that has it.

Most runs find no file, or only a ``pyproject.toml`` that says nothing about uv: those cost a
few stats and one read, and the TOML parser is not even imported (see :func:`_may_hold_tables`).
"""

from __future__ import annotations

import os
import stat
import sys

from . import _log
from ._scantypes import shown
from .errors import ConfigError

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs milliseconds at start-up
if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from typing import Any

    CachePlace = tuple[str | None, Mapping[str, str]]  # TLSBACK_CACHE_DIR, the location variables

__all__ = ["ConfigFile", "discover"]


class ConfigFile:
    """One configuration file and the tables tlsback reads from it.

    Attributes:
        path: the file.
        level: ``project``, ``user``, ``system`` or ``explicit`` (``UV_CONFIG_FILE``).
        uv: uv's settings (the top level of ``uv.toml``, ``[tool.uv]`` of ``pyproject.toml``).
        tlsback: ``[tool.tlsback]`` of ``pyproject.toml`` (empty for ``uv.toml``).
    """

    __slots__ = ("level", "path", "tlsback", "uv")

    def __init__(self, path: str, level: str, uv: Mapping[str, Any] | None = None,
                 tlsback: Mapping[str, Any] | None = None) -> None:
        self.path = path
        self.level = level
        self.uv: Mapping[str, Any] = uv if uv is not None else {}
        self.tlsback: Mapping[str, Any] = tlsback if tlsback is not None else {}

    def __repr__(self) -> str:
        return f"ConfigFile({self.path!r}, {self.level!r})"

    @property
    def shown(self) -> str:
        """The path as messages show it: escaped when it holds a newline or a control character."""
        return shown(self.path)

    @property
    def origin(self) -> str:
        """How settings read from this file are labelled: ``config:/path/to/file`` (escaped)."""
        return f"config:{self.shown}"


#: The keys of ``[tool.tlsback]`` (docs/configuration.md, "Every setting"); any other is an error.
TLSBACK_KEYS = ("backend", "custom-certs")

#: Larger configuration files are refused (read no further): uv.toml and pyproject.toml are small.
MAX_CONFIG_SIZE = 1024 * 1024


def _read_bytes(path: str) -> bytes:
    """The bytes of a config file, read once, never hanging and never more than the cap."""
    where = shown(path)
    try:
        # O_NONBLOCK and the fstat: a FIFO or device in place of a config file never hangs.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise ConfigError(f"Failed to read {where}: not a regular file")
            with os.fdopen(os.dup(fd), "rb") as f:
                data = f.read(MAX_CONFIG_SIZE + 1)
        finally:
            os.close(fd)
    except OSError as exc:
        raise ConfigError(f"Failed to read {where}: {exc.strerror or exc}") from None
    if len(data) > MAX_CONFIG_SIZE:
        raise ConfigError(f"Failed to read {where}: the file is larger than {MAX_CONFIG_SIZE // 1024 // 1024} MiB; "
                          "a configuration file this large is a mistake")
    return data


class _ParseError(ConfigError):
    """A config file that is not TOML, or a table that is not a table: the file and why."""

    def __init__(self, path: str, reason: str) -> None:
        self.shown, self.reason = shown(path), reason
        super().__init__(f"Failed to parse {self.shown}: {reason}")


def _parse_toml(path: str, data: bytes) -> dict[str, Any]:
    # Imported only when a file needs parsing: most runs find none and skip the parser's start-up cost.
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _ParseError(path, f"not UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
                          "TOML files must be UTF-8") from None
    try:
        doc: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _ParseError(path, str(exc)) from None
    return doc


def _table(doc: Mapping[str, Any], path: str, *keys: str) -> Mapping[str, Any] | None:
    node: Any = doc
    for key in keys:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    if not isinstance(node, dict):
        raise _ParseError(path, f"`{'.'.join(keys)}` must be a table")
    return node


def _may_hold_tables(data: bytes) -> bool:
    """Whether a ``pyproject.toml`` can hold ``[tool.uv]`` or ``[tool.tlsback]`` at all.

    A TOML key is spelled with its own characters, bare or quoted, or with escapes inside a
    basic string (``"\\u0075v"``). A file with neither ``uv`` nor ``tlsback`` nor a backslash
    in its bytes has no such table: it is passed over without importing the TOML parser (about
    as costly as the rest of a warm start). Anything else is parsed.
    """
    return b"uv" in data or b"tlsback" in data or b"\\" in data


class _Reader:
    """Reads and parses config files; their parsed tables are cached by content.

    ``tomllib``'s import and parse cost a start-up about as much as everything else it does, and
    a uv project's ``pyproject.toml`` has a ``[tool.uv]`` table, so without the cache every
    start in such a project (and every Python that ``tlsback run`` starts there) would pay
    them. The cached value is named by a hash of the file's bytes (``cache.json_name``): an
    edited file is parsed again, whatever its timestamps say. Only the tables tlsback reads are
    kept (not a whole ``pyproject.toml``); a document JSON cannot hold (a TOML date) is not
    cached. No cache when the trust cache is off (``TLSBACK_NO_CACHE``, ``--no-cache``) or no
    cache directory is usable.
    """

    def __init__(self, place: CachePlace | None) -> None:
        self._place = place  # None: no cache
        self._root: Any = None
        self._resolved = place is None
        # A pyproject.toml is met twice when a project's root is looked for (_search_start):
        # read and parsed once per resolve.
        self._pyprojects: dict[str, tuple[bytes, dict[str, Any] | None]] = {}

    def _cache_root(self) -> Any:
        if not self._resolved:
            self._resolved = True
            from . import cache

            assert self._place is not None
            try:
                self._root = cache.resolve_root(*self._place)
            except OSError:  # no usable place: parse every time; the loader says why, once
                self._root = None
        return self._root

    def _parsed(self, path: str, data: bytes, kind: str) -> dict[str, Any]:
        root = self._cache_root()
        name = None
        if root is not None:
            from . import cache

            name = cache.json_name(f"config {kind} v2", data)
            cached = cache.read_json(root, name)
            if cached is not None:
                return cached
        doc = _parse_toml(path, data)
        if kind == "pyproject":
            tool = doc.get("tool")
            # What _table reads, and nothing more: tool.uv and tool.tlsback (a non-table
            # `tool` holds neither), and whether the file is a project's (_search_start).
            project = isinstance(doc.get("project"), dict)
            doc = {"tool": {k: tool[k] for k in ("uv", "tlsback") if k in tool}} if isinstance(tool, dict) else {}
            doc["project"] = project
        if name is not None:
            cache.write_json(root, name, doc)
        return doc

    def _pyproject_bytes(self, path: str) -> bytes:
        # Read once: the pre-filter and the parser see the same bytes.
        if path not in self._pyprojects:
            self._pyprojects[path] = _read_bytes(path), None
        return self._pyprojects[path][0]

    def _pyproject_doc(self, path: str) -> dict[str, Any]:
        data, doc = self._pyprojects[path]
        if doc is None:
            doc = self._parsed(path, data, "pyproject")
            self._pyprojects[path] = data, doc
        return doc

    def uv_toml(self, path: str) -> dict[str, Any]:
        return self._parsed(path, _read_bytes(path), "uv.toml")

    def pyproject(self, path: str, *, discovered: bool = True
                  ) -> tuple[Mapping[str, Any] | None, Mapping[str, Any] | None]:
        data = self._pyproject_bytes(path)
        if not _may_hold_tables(data):
            return None, None
        try:
            doc = self._pyproject_doc(path)
            uv, own = _table(doc, path, "tool", "uv"), _table(doc, path, "tool", "tlsback")
        except _ParseError as exc:
            # As uv: a pyproject.toml met on the way up that is not TOML, or whose `tool.uv` is
            # not a table, is passed over with a warning (a uv.toml stops everything). A broken
            # project file must not stop every program that embeds tlsback. Unless it may hold
            # tlsback's own table: passing over `custom-certs = "only"` would widen the trust.
            if not discovered or b"tlsback" in data:
                raise
            _log.getLogger(__name__).warning(
                "Failed to parse %s during settings discovery: %s; the file is skipped",
                exc.shown, exc.reason)
            return None, None
        unknown = sorted(set(own or ()) - set(TLSBACK_KEYS))
        if unknown:
            # A misspelt `custom-certs = "only"` passed over would trust the platform store too.
            raise ConfigError(f"Failed to parse {shown(path)}: unknown key `tool.tlsback.{unknown[0]}`; "
                              f"expected one of {', '.join(f'`{k}`' for k in TLSBACK_KEYS)}")
        return uv, own

    def project(self, path: str) -> tuple[bool, Mapping[str, Any]] | None:
        """Whether a ``pyproject.toml`` has ``[project]``, and its ``[tool.uv]``; None when
        it cannot be read or parsed (uv's workspace discovery fails on it)."""
        try:
            data = self._pyproject_bytes(path)
            if b"project" not in data and not _may_hold_tables(data):
                return False, {}
            doc = self._pyproject_doc(path)
            return bool(doc.get("project")), _table(doc, path, "tool", "uv") or {}
        except ConfigError:
            return None


def _pyproject_dir(start: str) -> str | None:
    """The nearest directory from ``start`` upward that holds a ``pyproject.toml``."""
    return next((d for d in _parents(start) if os.path.isfile(os.path.join(d, "pyproject.toml"))), None)


def _search_start(cwd: str, reader: _Reader) -> str:
    """Where uv starts looking for project settings: the workspace root when ``cwd`` is in one.

    uv: "In workspaces, uv will begin its search at the workspace root, ignoring any
    configuration defined in workspace members". Its workspace discovery: the nearest
    ``pyproject.toml`` is the project when it has ``[project]`` (and not ``tool.uv.managed =
    false``) or is a workspace root itself (``[tool.uv.workspace]``); the next ``pyproject.toml``
    above a project is its workspace root when that one's ``members`` globs include the project
    and its ``exclude`` globs do not. Anything else, or a file that cannot be parsed: ``cwd``.
    """
    project = _pyproject_dir(cwd)
    facts = None if project is None else reader.project(os.path.join(project, "pyproject.toml"))
    if project is None or facts is None or facts[1].get("managed") is False:
        return cwd
    if isinstance(facts[1].get("workspace"), dict):
        return project
    if not facts[0]:
        return cwd
    above = _pyproject_dir(os.path.dirname(project)) if os.path.dirname(project) != project else None
    if above is None:
        return project
    facts = reader.project(os.path.join(above, "pyproject.toml"))
    if facts is None:
        return cwd
    workspace = facts[1].get("workspace")
    if isinstance(workspace, dict) and _matches(project, above, workspace.get("members")) \
            and not _matches(project, above, workspace.get("exclude")):
        return above
    return project


def _matches(path: str, root: str, globs: object) -> bool:
    """Whether ``path`` matches one of ``globs`` (relative to ``root``), as uv's glob patterns."""
    import fnmatch
    import glob

    if not isinstance(globs, list):
        return False
    base = glob.escape(root)
    return any(isinstance(g, str) and fnmatch.fnmatchcase(path, os.path.join(base, g).rstrip("/"))
               for g in globs)


def _parents(directory: str) -> Iterator[str]:
    while True:
        yield directory
        parent = os.path.dirname(directory)
        if parent == directory:
            return
        directory = parent


def _project_files(cwd: str, reader: _Reader, uv_from: str | None = None) -> Iterator[ConfigFile]:
    """Yield the project's uv settings file and the nearest ``[tool.tlsback]`` holder.

    In one directory ``uv.toml`` hides ``[tool.uv]`` of ``pyproject.toml``, as in uv; a
    ``pyproject.toml`` without either table is passed over. uv's settings are looked for from
    ``uv_from`` upward (an ancestor of ``cwd``: the workspace root, :func:`_search_start`);
    tlsback's own table from ``cwd`` upward.
    """
    pending = uv_from is not None  # uv's search has not started yet
    want_uv, want_own = not pending, True
    for directory in _parents(cwd):
        if pending and directory == uv_from:
            pending, want_uv = False, True
        if not (want_uv or want_own or pending):
            return
        uv_toml = os.path.join(directory, "uv.toml")
        if want_uv and os.path.isfile(uv_toml):
            yield ConfigFile(uv_toml, "project", reader.uv_toml(uv_toml))
            want_uv = False
        pyproject = os.path.join(directory, "pyproject.toml")
        if not os.path.isfile(pyproject):
            continue
        uv, own = reader.pyproject(pyproject)
        use_uv, use_own = want_uv and uv is not None, want_own and own is not None
        if use_uv or use_own:
            yield ConfigFile(pyproject, "project", (uv if use_uv else None) or {},
                             (own if use_own else None) or {})
        want_uv, want_own = want_uv and not use_uv, want_own and not use_own


def _user_file(env: Mapping[str, str]) -> str | None:
    base = env.get("XDG_CONFIG_HOME") or ""
    if os.path.isabs(base):  # a relative one is ignored (the XDG spec; uv, through etcetera)
        root = base
    else:
        home = env.get("HOME") or os.path.expanduser("~")
        root = os.path.join(home, ".config")
    candidate = os.path.join(root, "uv", "uv.toml")
    return candidate if os.path.isfile(candidate) else None


def _system_files(env: Mapping[str, str]) -> list[str]:
    dirs = [d for d in (env.get("XDG_CONFIG_DIRS") or "").split(os.pathsep) if d]
    candidates = [os.path.join(d, "uv", "uv.toml") for d in dirs] + ["/etc/uv/uv.toml"]
    for candidate in candidates:
        if os.path.isfile(candidate):
            return [candidate]
    return []


def discover(cwd: str, env: Mapping[str, str], *, no_config: bool,
             cache: CachePlace | None = None) -> list[ConfigFile]:
    """Find the configuration files that apply, highest precedence first.

    Args:
        cwd: where the project search starts.
        env: the environment (``UV_CONFIG_FILE``, ``XDG_CONFIG_HOME``, ``HOME``).
        no_config: ``UV_NO_CONFIG`` was true: discover no file (as uv's ``--no-config``, the
            file ``UV_CONFIG_FILE`` names is still read).
        cache: where the trust cache is, as the settings resolved it (``Settings.cache_dir``
            and ``Settings.cache_env``, for ``cache.resolve_root``): parsed tables may be
            cached there. None when the trust cache is off.

    Returns:
        The files, project first, then user, then system.

    Raises:
        ConfigError: a file exists but is not valid TOML, or a table has the wrong type.
    """
    reader = _Reader(cache)
    explicit = env.get("UV_CONFIG_FILE")
    if explicit == "":  # uv: "a value is required for '--config-file'"; never a silent search
        raise ConfigError("UV_CONFIG_FILE is set but empty: name a uv.toml, or unset it")
    if explicit:
        path = explicit
        if not os.path.isfile(path):
            why = "not a regular file" if os.path.exists(path) else "no such file"
            raise ConfigError(f"UV_CONFIG_FILE={shown(explicit)}: {why}")
        if os.path.basename(path) == "pyproject.toml":
            uv, own = reader.pyproject(path, discovered=False)
            return [ConfigFile(path, "explicit", uv or {}, own or {})]
        return [ConfigFile(path, "explicit", reader.uv_toml(path))]
    if no_config:
        return []
    start = os.path.realpath(cwd)
    files = list(_project_files(start, reader))
    if files:  # a workspace root above cwd can only lose files: look for it only then
        root = _search_start(start, reader)
        if root != start:
            files = list(_project_files(start, reader, uv_from=root))
    user = _user_file(env)
    if user is not None:
        files.append(ConfigFile(user, "user", reader.uv_toml(user)))
    files.extend(ConfigFile(p, "system", reader.uv_toml(p)) for p in _system_files(env))
    return files
