"""Settings resolved from flags, environment and config files, each with its origin.

This is the only module that reads the environment: every switch tlsback has (backend, trust
sources, store mode, scanner, cache location) becomes a :class:`Setting` here, and the modules
below receive values, never ``os.environ``.

Precedence (docs/configuration.md, "Every setting"): command line (or keyword arguments of
:func:`tlsback.load`), then the environment, then the nearest config file (project, then user,
then system), then the default.
Every value is a :class:`Setting` that remembers where it came from (``cli``,
``argument:NAME``, ``env:NAME``, ``config:FILE``, ``default``) so ``tlsback info`` can explain it.

Resolving costs a few dictionary look-ups and stats when no config file applies: no
``argparse``, ``tomllib``, ``dataclasses`` or ``typing`` is imported (docs/cache.md, start-up).
"""

from __future__ import annotations

import os

from ._config_files import discover
from ._scantypes import shown
from .errors import ConfigError

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs milliseconds at start-up
if TYPE_CHECKING:
    import argparse
    from collections.abc import Iterable, Mapping, Sequence
    from typing import Any, Generic, TypeVar

    from ._config_files import ConfigFile
    from .insecure import InsecureHost

    T = TypeVar("T")
else:
    class Generic:  # run-time stand-in for typing.Generic: Setting[str] in annotations only
        __slots__ = ()

        def __class_getitem__(cls, item: object) -> type:
            return cls

    T = None

__all__ = [
    "OPTION_NAMES",
    "Setting",
    "Settings",
    "add_arguments",
    "environment",
    "location_env",
    "parse_bool",
    "replaced",
    "resolve",
    "with_paths",
]

_TRUE = frozenset({"y", "yes", "t", "true", "on", "1"})
_FALSE = frozenset({"n", "no", "f", "false", "off", "0"})

DEFAULT_BACKEND = "rustls"
CUSTOM_CERT_MODES = ("merge", "only")
STORE_MODES = ("auto", "lazy", "eager")
#: The variables that place the trust cache and private directories (docs/cache.md).
CACHE_ENV = ("XDG_RUNTIME_DIR", "XDG_CACHE_HOME", "HOME", "LOCALAPPDATA")


class _Frozen:
    """Immutable after ``__init__`` (which sets its slots with ``object.__setattr__``)."""

    __slots__ = ()

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable; resolve the settings again")

    __delattr__ = __setattr__  # type: ignore[assignment]


class Setting(_Frozen, Generic[T]):
    """A resolved value and where it came from."""

    __slots__ = ("origin", "value")
    value: T
    origin: str

    def __init__(self, value: T, origin: str) -> None:
        object.__setattr__(self, "value", value)
        object.__setattr__(self, "origin", origin)

    def __repr__(self) -> str:
        return f"Setting(value={self.value!r}, origin={self.origin!r})"

    def __str__(self) -> str:
        return f"{self.value!r} ({self.origin})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Setting):
            return NotImplemented
        return (self.value, self.origin) == (other.value, other.origin)

    def __hash__(self) -> int:
        return hash((self.value, self.origin))


_FIELDS = ("backend", "custom_certs", "cert_file", "cert_dirs", "client_cert", "insecure_hosts",
           "cache", "cache_dir", "platform_paths", "store", "scanner", "cache_env")


class Settings(_Frozen):
    """Everything tlsback needs to build its contexts, resolved once; an immutable value.

    Attributes:
        backend: backend name (``rustls``, ``native`` or a plugin's).
        custom_certs: ``merge`` (custom certificates added to the store) or ``only`` (they replace it).
        cert_file: ``SSL_CERT_FILE``, or None when unset or empty.
        cert_dirs: the directories of ``SSL_CERT_DIR``, in order.
        client_cert: ``SSL_CLIENT_CERT``, or None.
        insecure_hosts: hosts whose certificates are not verified, each with its own origin.
        cache: whether the on-disk trust cache may be used.
        cache_dir: ``TLSBACK_CACHE_DIR``, or None for the default location.
        platform_paths: an override of the platform-store probe list
            (``TLSBACK_PLATFORM_STORE``), or None for the built-in list.
        store: how the trust store is handed to OpenSSL (``TLSBACK_STORE``): ``auto`` (lazy
            hashed directory above a measured size, else eager), ``lazy`` or ``eager``. The
            test suite runs both ways through it (docs/cache.md).
        scanner: which scanner reads certificate files: ``auto`` (the C extension when it is
            usable), ``python`` (``TLSBACK_NO_EXTENSIONS``) or ``c`` (required,
            ``TLSBACK_REQUIRE_EXTENSIONS``; an unusable extension is then an error).
        cache_env: the variables that place the trust cache and private directories
            (``XDG_RUNTIME_DIR``, ``XDG_CACHE_HOME``, ``HOME``, ``LOCALAPPDATA``), those set.
        config_files: the config files read, highest precedence first.
    """

    __slots__ = (*_FIELDS, "config_files")
    backend: Setting[str]
    custom_certs: Setting[str]
    cert_file: Setting[str | None]
    cert_dirs: Setting[tuple[str, ...]]
    client_cert: Setting[str | None]
    insecure_hosts: Setting[tuple[InsecureHost, ...]]
    cache: Setting[bool]
    cache_dir: Setting[str | None]
    platform_paths: Setting[tuple[str, ...] | None]
    store: Setting[str]
    scanner: Setting[str]
    cache_env: Setting[dict[str, str]]
    config_files: tuple[str, ...]

    def __init__(
        self,
        *,
        backend: Setting[str],
        custom_certs: Setting[str],
        cert_file: Setting[str | None],
        cert_dirs: Setting[tuple[str, ...]],
        client_cert: Setting[str | None],
        insecure_hosts: Setting[tuple[InsecureHost, ...]],
        cache: Setting[bool],
        cache_dir: Setting[str | None],
        platform_paths: Setting[tuple[str, ...] | None],
        store: Setting[str] | None = None,
        scanner: Setting[str] | None = None,
        cache_env: Setting[dict[str, str]] | None = None,
        config_files: tuple[str, ...] = (),
    ) -> None:
        values = locals()
        for name in _FIELDS:
            object.__setattr__(self, name, values[name])
        if store is None:
            object.__setattr__(self, "store", Setting("auto", "default"))
        if scanner is None:
            object.__setattr__(self, "scanner", Setting("auto", "default"))
        if cache_env is None:
            object.__setattr__(self, "cache_env", Setting({}, "default"))
        object.__setattr__(self, "config_files", tuple(config_files))

    def __repr__(self) -> str:
        return "Settings(" + ", ".join(f"{n}={getattr(self, n)}" for n in _FIELDS) + ")"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Settings):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in self.__slots__)

    __hash__ = None  # type: ignore[assignment]  # cache_env holds a dict

    def as_dict(self) -> dict[str, dict[str, Any]]:
        """Each setting as ``{"value": ..., "origin": ...}``, JSON-ready."""
        out: dict[str, dict[str, Any]] = {}
        for name in _FIELDS:
            setting = getattr(self, name)
            value = setting.value
            if name == "insecure_hosts":
                value = [h.describe() for h in value]
            elif isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, dict):
                value = dict(value)
            out[name] = {"value": value, "origin": setting.origin}
        return out


def parse_bool(name: str, value: str) -> bool:
    """Parse a boolean environment value exactly as uv does.

    Args:
        name: the variable's name, for the message.
        value: its value.

    Returns:
        True for ``y yes t true on 1``, False for ``n no f false off 0`` (ASCII case-insensitive).

    Raises:
        ConfigError: for anything else, the empty string and padded values included.
    """
    lowered = value.lower() if value.isascii() else value
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigError(
        f"Failed to parse environment variable `{name}` with invalid value `{shown(value)}`: "
        "expected a boolish value (one of y, yes, t, true, on, 1, n, no, f, false, off, 0)"
    )


#: The option names :func:`add_arguments` takes in ``include``, each with its spellings.
OPTION_NAMES = {
    "native-tls": ("--native-tls", "--system-certs", "--no-native-tls", "--no-system-certs"),
    "tls-backend": ("--tls-backend",),
    "allow-insecure-host": ("--allow-insecure-host", "--trusted-host"),
    "no-cache": ("--no-cache",),
}


def add_arguments(parser: argparse.ArgumentParser, *, suppress_defaults: bool = False,
                  include: Iterable[str] | None = None) -> None:
    """Add tlsback's global TLS options to an argparse parser.

    The options and what each one sets: docs/configuration.md, "Every setting".

    The parsed namespace can be passed to :func:`tlsback.load` as ``args``. The backend switches
    share one destination, so the last one on the command line wins.

    A host that already has some of these options picks the others with ``include``; an alias
    the parser already owns (pip's ``--trusted-host``, say) is left out, the main spelling kept.

    Args:
        parser: the host program's parser.
        suppress_defaults: leave attributes unset when an option is absent (for subcommand
            parsers that repeat the global options without overwriting them).
        include: the options to add, by name: ``native-tls`` (with ``--system-certs`` and the
            ``--no-`` forms), ``tls-backend``, ``allow-insecure-host`` (with ``--trusted-host``),
            ``no-cache``. None adds all of them.

    Raises:
        ValueError: an unknown name in ``include``.
    """
    import argparse  # here, not at import: programs that never call this do not pay for it

    wanted = set(OPTION_NAMES) if include is None else set(include)
    unknown = wanted - set(OPTION_NAMES)
    if unknown:
        raise ValueError(f"add_arguments(include=...): unknown option {min(unknown)!r}; "
                         f"choose from {', '.join(OPTION_NAMES)}")
    taken = set(getattr(parser, "_option_string_actions", {}))

    def spellings(*names: str) -> list[str]:
        return [names[0], *(n for n in names[1:] if n not in taken)]

    default: Any = argparse.SUPPRESS if suppress_defaults else None
    group = parser.add_argument_group("TLS options (tlsback)")
    if "native-tls" in wanted:
        group.add_argument(
            *spellings("--native-tls", "--system-certs"), dest="tlsback_backend", action="store_const",
            const="native", default=default,
            help="verify with the operating system's verifier and store (backend 'native')",
        )
        group.add_argument(
            *spellings("--no-native-tls", "--no-system-certs"), dest="tlsback_backend",
            action="store_const", const="rustls", default=default,
            help="use the default backend ('rustls': stdlib ssl with rustls' policy)",
        )
    if "tls-backend" in wanted:
        group.add_argument(
            "--tls-backend", dest="tlsback_backend", metavar="NAME", default=default,
            help="use the named backend (see `tlsback backends`)",
        )
    if "allow-insecure-host" in wanted:
        group.add_argument(
            *spellings("--allow-insecure-host", "--trusted-host"), dest="tlsback_insecure_hosts",
            metavar="HOST", action="append", default=argparse.SUPPRESS if suppress_defaults else None,
            help="do not verify certificates for HOST (host, host:port, https://host:port); repeatable",
        )
    if "no-cache" in wanted:
        group.add_argument(
            "--no-cache", dest="tlsback_no_cache", action="store_true",
            default=argparse.SUPPRESS if suppress_defaults else False,
            help="do not use the on-disk trust store cache",
        )


def _config_value(
    files: Sequence[ConfigFile], table: str, key: str
) -> tuple[Any, ConfigFile] | None:
    for cfg in files:
        values = cfg.uv if table == "uv" else cfg.tlsback
        if key in values:
            return values[key], cfg
    return None


def _config_bool(files: Sequence[ConfigFile], key: str) -> tuple[bool, ConfigFile] | None:
    found = _config_value(files, "uv", key)
    if found is None:
        return None
    value, cfg = found
    if not isinstance(value, bool):
        raise ConfigError(f"Failed to parse {cfg.shown}: `{key}` must be true or false, not {value!r}")
    return value, cfg


def _resolve_backend(
    cli: Setting[str] | None, env: Mapping[str, str], files: Sequence[ConfigFile]
) -> Setting[str]:
    # Every backend variable that is present is parsed, so a typo never hides behind another.
    from_env: list[Setting[str]] = []
    for name in ("UV_SYSTEM_CERTS", "UV_NATIVE_TLS"):
        raw = env.get(name)
        if raw is not None:
            from_env.append(Setting("native" if parse_bool(name, raw) else "rustls", f"env:{name}"))
    raw = env.get("TLSBACK_BACKEND")
    if raw is not None:
        if not raw.strip():
            raise ConfigError("TLSBACK_BACKEND is set but empty: name a backend (see `tlsback backends`)")
        from_env.append(Setting(raw.strip(), "env:TLSBACK_BACKEND"))
    if cli is not None:
        return cli
    if from_env:
        return from_env[0]
    # uv merges each key over the files (project, user, system) first, then prefers
    # system-certs to native-tls: a user file's system-certs beats a project's native-tls.
    found = _config_bool(files, "system-certs") or _config_bool(files, "native-tls")
    # [tool.tlsback] backend beats a uv key from a file further away, not one in its own file.
    own = next((i for i, cfg in enumerate(files) if "backend" in cfg.tlsback), None)
    if found is not None and (own is None or files.index(found[1]) <= own):
        return Setting("native" if found[0] else "rustls", found[1].origin)
    if own is not None:
        cfg = files[own]
        value = cfg.tlsback["backend"]
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"Failed to parse {cfg.shown}: `tool.tlsback.backend` must be a backend name, not {value!r}")
        return Setting(value.strip(), cfg.origin)
    return Setting(DEFAULT_BACKEND, "default")


def _resolve_custom_certs(env: Mapping[str, str], files: Sequence[ConfigFile]) -> Setting[str]:
    raw = env.get("TLSBACK_CUSTOM_CERTS")
    if raw is not None:
        if raw.lower() not in CUSTOM_CERT_MODES:
            raise ConfigError(f"TLSBACK_CUSTOM_CERTS has invalid value `{raw}`: expected `merge` or `only`")
        return Setting(raw.lower(), "env:TLSBACK_CUSTOM_CERTS")
    found = _config_value(files, "tlsback", "custom-certs")
    if found is not None:
        value, cfg = found
        if value not in CUSTOM_CERT_MODES:
            raise ConfigError(f"Failed to parse {cfg.shown}: `tool.tlsback.custom-certs` must be \"merge\" or \"only\", not {value!r}")
        return Setting(str(value), cfg.origin)
    return Setting("merge", "default")


def _resolve_insecure_hosts(
    cli: Setting[tuple[object, ...]] | None, env: Mapping[str, str], files: Sequence[ConfigFile]
) -> Setting[tuple[InsecureHost, ...]]:
    hosts: list[InsecureHost] = []
    origins: list[str] = []
    if cli is not None and cli.value:
        from .insecure import parse_host

        origins.append(cli.origin)
        for raw in cli.value:
            # A flag value that names no host (`--allow-insecure-host ''`) is refused like `""`
            # in a config file (uv accepts it and it does nothing); docs/insecure-hosts.md.
            parts = (raw.split() or [raw]) if isinstance(raw, str) else [raw]
            hosts.extend(parse_host(part, cli.origin) for part in parts)
    else:
        raw_env = env.get("UV_INSECURE_HOST")
        if raw_env and raw_env.split():  # empty or blank counts as unset, as for SSL_CERT_FILE
            from .insecure import parse_host

            origins.append("env:UV_INSECURE_HOST")
            hosts.extend(parse_host(part, "env:UV_INSECURE_HOST") for part in raw_env.split())
    for cfg in files:
        entries = cfg.uv.get("allow-insecure-host")
        if entries is None:
            continue
        if not isinstance(entries, list):
            raise ConfigError(f"Failed to parse {cfg.shown}: `allow-insecure-host` must be a list, not {entries!r}")
        from .insecure import parse_host

        origins.append(cfg.origin)
        hosts.extend(parse_host(entry, cfg.origin) for entry in entries)
    return Setting(tuple(hosts), " + ".join(origins) if origins else "default")


def _resolve_store(env: Mapping[str, str]) -> Setting[str]:
    raw = env.get("TLSBACK_STORE")
    if raw is None:
        return Setting("auto", "default")
    if raw.lower() not in STORE_MODES:
        raise ConfigError(f"TLSBACK_STORE has invalid value `{raw}`: expected `auto`, `lazy` or `eager`")
    return Setting(raw.lower(), "env:TLSBACK_STORE")


def _resolve_scanner(env: Mapping[str, str]) -> Setting[str]:
    # One switch for the fallback (TLSBACK_NO_EXTENSIONS, at build and at run time); an explicit
    # request for the extension that cannot be met is an error, never a silent downgrade. Both
    # are parsed when present, so a typo never hides; when both are true the run-time choice of
    # the pure-Python scanner wins.
    flags = {}
    for name in ("TLSBACK_NO_EXTENSIONS", "TLSBACK_REQUIRE_EXTENSIONS"):
        raw = env.get(name)
        flags[name] = raw is not None and parse_bool(name, raw)
    if flags["TLSBACK_NO_EXTENSIONS"]:
        return Setting("python", "env:TLSBACK_NO_EXTENSIONS")
    if flags["TLSBACK_REQUIRE_EXTENSIONS"]:
        return Setting("c", "env:TLSBACK_REQUIRE_EXTENSIONS")
    return Setting("auto", "default")


def location_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables of :data:`CACHE_ENV` that are set (non-empty), from ``env`` or ``os.environ``.

    For tools that place files the way tlsback does without resolving every setting
    (``tlsback bench`` keeps its generated trees in the user cache directory).
    """
    env = os.environ if env is None else env
    return {name: env[name] for name in CACHE_ENV if env.get(name)}


def _cache_env(env: Mapping[str, str]) -> Setting[dict[str, str]]:
    found = location_env(env)
    return Setting(found, " + ".join(f"env:{n}" for n in found) or "default")


def _path_setting(env: Mapping[str, str], name: str) -> Setting[str | None]:
    value = env.get(name)
    if value:  # an empty value counts as unset (docs/configuration.md, "Every setting")
        return Setting(value, f"env:{name}")
    return Setting(None, "default")


def resolve(
    args: argparse.Namespace | None = None,
    *,
    native_tls: bool | None = None,
    backend: str | None = None,
    allow_insecure_host: Iterable[object] = (),
    no_cache: bool | None = None,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
) -> Settings:
    """Resolve every setting from arguments, environment and config files.

    Args:
        args: a namespace from a parser given :func:`add_arguments` (origin ``cli``).
        native_tls: True selects ``native``, False ``rustls`` (origin ``argument:native_tls``);
            overrides ``args``.
        backend: a backend name (origin ``argument:backend``); overrides ``native_tls``.
        allow_insecure_host: insecure host entries, as on the command line: an iterable of
            strings or tables, or one string (split on spaces) or one table.
        no_cache: True disables the on-disk trust cache.
        env: the environment; defaults to ``os.environ``.
        cwd: where the config file search starts; defaults to the working directory.

    Returns:
        The resolved :class:`Settings`.

    Raises:
        ConfigError: a bad value, naming the variable, flag or file and the value.
    """
    env = os.environ if env is None else env
    if cwd is not None:
        cwd_path = os.fspath(cwd)
    else:
        try:
            cwd_path = os.getcwd()
        except OSError as exc:  # uv: "Current directory does not exist"
            raise ConfigError(f"the working directory cannot be read ({exc.strerror or exc}); the "
                              "project's configuration files are found from it: change to an "
                              "existing directory") from None
    no_config_raw = env.get("UV_NO_CONFIG")
    no_config = parse_bool("UV_NO_CONFIG", no_config_raw) if no_config_raw is not None else False

    cli_backend: Setting[str] | None = None
    cli_hosts: Setting[tuple[object, ...]] | None = None
    cli_no_cache = False
    if args is not None:
        chosen = getattr(args, "tlsback_backend", None)
        if chosen is not None:
            cli_backend = Setting(str(chosen), "cli")
        given = getattr(args, "tlsback_insecure_hosts", None)
        if given:
            cli_hosts = Setting(tuple(given), "cli")
        cli_no_cache = bool(getattr(args, "tlsback_no_cache", False))
    if native_tls is not None:
        if not isinstance(native_tls, bool):  # "false" is a true value: never guess
            raise ConfigError(f"native_tls must be True, False or None, not {native_tls!r}")
        cli_backend = Setting("native" if native_tls else "rustls", "argument:native_tls")
    if backend is not None:
        cli_backend = Setting(backend, "argument:backend")
    # One string or one table is one entry, not an iterable of characters or keys.
    single = isinstance(allow_insecure_host, str) or hasattr(allow_insecure_host, "keys")
    extra_hosts = (allow_insecure_host,) if single else tuple(allow_insecure_host)
    if extra_hosts:
        cli_hosts = Setting(extra_hosts, "argument:allow_insecure_host")

    if no_cache:
        cache = Setting(False, "argument:no_cache")
    elif cli_no_cache:
        cache = Setting(False, "cli")
    elif env.get("TLSBACK_NO_CACHE") is not None:
        cache = Setting(not parse_bool("TLSBACK_NO_CACHE", env["TLSBACK_NO_CACHE"]), "env:TLSBACK_NO_CACHE")
    else:
        cache = Setting(True, "default")
    # The config files' parsed tables are kept in the trust cache's directory, and only when
    # the trust cache is on (cache_dir comes from the environment alone, never from a file).
    cache_dir, cache_env = _path_setting(env, "TLSBACK_CACHE_DIR"), _cache_env(env)
    files = discover(cwd_path, env, no_config=no_config,
                     cache=(cache_dir.value, cache_env.value) if cache.value else None)

    platform_raw = env.get("TLSBACK_PLATFORM_STORE")
    platform: Setting[tuple[str, ...] | None] = (
        Setting(tuple(p for p in platform_raw.split(os.pathsep) if p), "env:TLSBACK_PLATFORM_STORE")
        if platform_raw is not None
        else Setting(None, "default")
    )
    dirs_raw = env.get("SSL_CERT_DIR") or ""
    cert_dirs: Setting[tuple[str, ...]] = (
        Setting(tuple(d for d in dirs_raw.split(os.pathsep) if d), "env:SSL_CERT_DIR")
        if dirs_raw
        else Setting((), "default")
    )

    return Settings(
        backend=_resolve_backend(cli_backend, env, files),
        custom_certs=_resolve_custom_certs(env, files),
        cert_file=_path_setting(env, "SSL_CERT_FILE"),
        cert_dirs=cert_dirs,
        client_cert=_path_setting(env, "SSL_CLIENT_CERT"),
        insecure_hosts=_resolve_insecure_hosts(cli_hosts, env, files),
        cache=cache,
        cache_dir=cache_dir,
        platform_paths=platform,
        store=_resolve_store(env),
        scanner=_resolve_scanner(env),
        cache_env=cache_env,
        config_files=tuple(f.path for f in files),
    )


def replaced(settings: Settings, **changes: Setting[Any]) -> Settings:
    """A copy of ``settings`` with some settings replaced (``Settings`` is immutable)."""
    values: dict[str, Any] = {name: getattr(settings, name) for name in _FIELDS}
    values.update(changes)
    return Settings(**values, config_files=settings.config_files)


def with_paths(
    settings: Settings,
    *,
    cert_file: str | os.PathLike[str] | None = None,
    cert_dirs: Iterable[str | os.PathLike[str]] | None = None,
    client_cert: str | os.PathLike[str] | None = None,
) -> Settings:
    """``settings`` with the paths a host program was given in place of the variables.

    Each given value replaces its variable's (``SSL_CERT_FILE``, ``SSL_CERT_DIR``,
    ``SSL_CLIENT_CERT``) and carries its own origin (``argument:cert_file``, ...), so
    ``tlsback info`` never attributes it to the environment.
    """
    changes: dict[str, Setting[Any]] = {}
    if cert_file is not None:
        changes["cert_file"] = Setting(os.fspath(cert_file) or None, "argument:cert_file")
    if cert_dirs is not None:
        dirs = (cert_dirs,) if isinstance(cert_dirs, (str, os.PathLike)) else tuple(cert_dirs)
        changes["cert_dirs"] = Setting(tuple(os.fspath(d) for d in dirs if os.fspath(d)),
                                       "argument:cert_dirs")
    if client_cert is not None:
        changes["client_cert"] = Setting(os.fspath(client_cert) or None, "argument:client_cert")
    return replaced(settings, **changes) if changes else settings


def environment() -> dict[str, str]:
    """A copy of the process environment, for what is not a tlsback setting: the environment
    ``tlsback run`` hands the program it starts, and the variables other programs read
    (``PYTHONPATH``, ``CURL_HOME``, proxies) that ``run``/``env``/``fetch`` must respect."""
    return dict(os.environ)
