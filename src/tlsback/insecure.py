"""``allow-insecure-host`` parsing and matching (SPEC §4).

An insecure host is a rule that turns certificate and hostname verification off for the URLs it
matches. Rules come from ``--allow-insecure-host`` / ``--trusted-host``, ``UV_INSECURE_HOST`` and
``allow-insecure-host = [...]`` in configuration files; ``settings.py`` gathers them and calls
:func:`parse_host` on each entry. This module is sans-IO: strings and mappings in, values out.

Accepted spellings (uv's, plus the ones uv refuses, SPEC §9)::

    *                               every host
    example.com                     any scheme, any port
    example.com:8443                any scheme, explicit port 8443
    https://example.com[:8443]      scheme https only (also http://)
    https://example.com:8443/simple the path (and query, fragment) ignored
    ::1   [::1]   [::1]:8443        IPv6 literals
    { host = "example.com", port = 8443, scheme = "https" }   TOML table

Matching follows uv's ``TrustedHost::matches`` with one deliberate difference: hosts compare
ignoring ASCII case (uv lowercases the URL's host but not the rule, so its ``LOCALHOST`` never
matches). The host must be *equal* (no suffix or prefix matching, so ``sub.example.com`` and
``evil-example.com`` never match ``example.com``); a rule's port must equal the URL's explicit,
non-default port (like rust-url's ``Url::port()``, so ``localhost:443`` never matches an ``https``
URL); a rule's scheme must equal the URL's.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from .errors import ConfigError

__all__ = ["WILDCARD", "InsecureHost", "InsecureHosts", "parse_host"]

logger = logging.getLogger(__name__)

#: The host value of the ``*`` rule.
WILDCARD = "*"

_SCHEMES = ("http", "https")
# Default ports per scheme, as the WHATWG URL standard (and rust-url) define them: a URL that
# spells its default port has no port as far as matching is concerned.
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443, "ftp": 21}
_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
# Characters that can never be part of a host name in a URL authority (RFC 3986 §3.2.2 and the
# WHATWG "forbidden host code points"): seeing one means the value is not a host.
_FORBIDDEN_HOST_CHARS = frozenset(" \t\r\n\x00#%/:<>?@[\\]^|")


@dataclass(frozen=True)
class InsecureHost:
    """One ``allow-insecure-host`` rule.

    Attributes:
        host: the normalised host: lowercase, IDNA (punycode) for non-ASCII names, IPv6 without
            brackets in compressed form, or ``"*"`` for the wildcard rule.
        port: the port the URL must spell explicitly, or None for every port.
        scheme: ``"http"`` or ``"https"`` the URL must use, or None for both.
        origin: where the rule came from (``cli``, ``env:UV_INSECURE_HOST``, ``config:FILE``).
        value: the rule as the user wrote it, for messages; not part of equality.
    """

    host: str
    port: int | None = None
    scheme: str | None = None
    origin: str = "default"
    value: str = field(default="", compare=False)

    @property
    def is_wildcard(self) -> bool:
        """True for the ``*`` rule, which matches every URL."""
        return self.host == WILDCARD

    def matches(self, url: str) -> bool:
        """Whether this rule turns verification off for ``url``.

        Args:
            url: an absolute URL (``https://host[:port]/...``).

        Returns:
            True when host, port and scheme all match (see the module docstring); False for a
            URL that cannot be parsed (verification stays on).
        """
        if self.is_wildcard:
            return True
        parsed = _parse_url(url)
        return parsed is not None and self._matches_parsed(*parsed)

    def _matches_parsed(self, scheme: str, host: str, port: int | None) -> bool:
        if self.is_wildcard:
            return True
        if self.scheme is not None and self.scheme != scheme:
            return False
        if self.port is not None and self.port != port:
            return False
        return self.host == host

    def __str__(self) -> str:
        if self.is_wildcard:
            return WILDCARD
        host = f"[{self.host}]" if ":" in self.host else self.host
        if self.port is not None:
            host = f"{host}:{self.port}"
        return f"{self.scheme}://{host}" if self.scheme else host

    def describe(self) -> dict[str, Any]:
        """The rule as a JSON-ready mapping, for ``tlsback info``.

        Returns:
            ``{"rule", "host", "port", "scheme", "origin", "value"}``, plus ``"note"`` when the
            rule can never match a URL of its scheme (a default port).
        """
        out: dict[str, Any] = {
            "rule": str(self),
            "host": self.host,
            "port": self.port,
            "scheme": self.scheme,
            "origin": self.origin,
            "value": self.value or str(self),
        }
        note = _never_matches_note(self)
        if note:
            out["note"] = note
        return out


class InsecureHosts:
    """The rules in effect, in the order they were given.

    ``bool(hosts)`` is False when there are none, so callers skip the per-request check.
    """

    __slots__ = ("_entries", "_wildcard")

    def __init__(self, entries: Sequence[InsecureHost] = ()) -> None:
        self._entries: tuple[InsecureHost, ...] = tuple(entries)
        self._wildcard = any(e.is_wildcard for e in self._entries)

    def matches(self, url: str) -> bool:
        """Whether any rule turns verification off for ``url``.

        Args:
            url: the URL of one request, or of one redirect hop.

        Returns:
            True when at least one rule matches; False for no rules or an unparsable URL.
        """
        if not self._entries:
            return False
        if self._wildcard:
            return True
        parsed = _parse_url(url)
        if parsed is None:
            return False
        return any(e._matches_parsed(*parsed) for e in self._entries)

    def matching(self, url: str) -> InsecureHost | None:
        """The first rule that matches ``url`` (for a log line saying why), or None."""
        if not self._entries:
            return None
        parsed = _parse_url(url)
        for entry in self._entries:
            if entry.is_wildcard or (parsed is not None and entry._matches_parsed(*parsed)):
                return entry
        return None

    def __bool__(self) -> bool:
        return bool(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[InsecureHost]:
        return iter(self._entries)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, InsecureHosts):
            return NotImplemented
        return self._entries == other._entries

    def __hash__(self) -> int:
        return hash(self._entries)

    def __repr__(self) -> str:
        return f"InsecureHosts({[str(e) for e in self._entries]!r})"

    def describe(self) -> list[dict[str, Any]]:
        """Every rule as :meth:`InsecureHost.describe` gives it, for ``tlsback info --json``."""
        return [e.describe() for e in self._entries]

    def warning(self) -> str | None:
        """The warning ``tlsback info`` shows while any rule is in effect, or None.

        Returns:
            e.g. ``certificate verification is OFF for: example.com (cli), *:8443 ...``.
        """
        if not self._entries:
            return None
        if self._wildcard:
            head = "certificate verification is OFF for every host (`*`)"
        else:
            head = "certificate verification is OFF for"
        listed = ", ".join(f"{e} ({e.origin})" for e in self._entries)
        return f"{head}: {listed}"


def parse_host(value: str | Mapping[str, object] | object, origin: str) -> InsecureHost:
    """Parse one ``allow-insecure-host`` entry.

    Args:
        value: a string in one of the spellings of the module docstring (already split on
            whitespace by the caller), or a TOML table ``{host, port?, scheme?}``.
        origin: where the value came from, kept on the result and named in errors.

    Returns:
        The normalised rule.

    Raises:
        ConfigError: the value has no host, a bad port (not a number from 0 to 65535), an
            unsupported scheme, user information, or is neither a string nor a table. The
            message names the value and its origin.
    """
    if isinstance(value, str):
        host = _parse_string(value, origin)
    elif isinstance(value, Mapping):
        host = _parse_table(value, origin)
    else:
        raise ConfigError(
            f"invalid `allow-insecure-host` entry {value!r} (from {origin}): expected a string "
            "such as `example.com:8443` or a table `{ host = \"example.com\", port = 8443 }`"
        )
    note = _never_matches_note(host)
    if note:
        logger.warning("allow-insecure-host `%s` (from %s) %s", host.value, origin, note)
    return host


def _error(value: str, origin: str, reason: str) -> ConfigError:
    return ConfigError(f"invalid `allow-insecure-host` value `{value}` (from {origin}): {reason}")


def _parse_string(value: str, origin: str) -> InsecureHost:
    text = value.strip()
    if text == WILDCARD:
        return InsecureHost(WILDCARD, origin=origin, value=value)
    scheme: str | None = None
    m = _SCHEME_RE.match(text)
    if m:
        scheme = m.group(1).lower()
        if scheme not in _SCHEMES:
            raise _error(value, origin, f"unsupported scheme `{m.group(1)}` (use http or https)")
        text = text[m.end():]
    # The path, query and fragment are ignored (uv refuses them, SPEC §9).
    authority = re.split(r"[/?#]", text, maxsplit=1)[0]
    if "@" in authority:
        raise _error(value, origin, "user information is not allowed; give only host[:port]")
    port_text: str | None = None
    if authority.startswith("["):
        end = authority.find("]")
        if end < 0:
            raise _error(value, origin, "unclosed `[` in IPv6 address")
        host_text, rest = authority[1:end], authority[end + 1:]
        if rest:
            if not rest.startswith(":"):
                raise _error(value, origin, f"unexpected `{rest}` after the IPv6 address")
            port_text = rest[1:]
        if not _is_ipv6(host_text):
            raise _error(value, origin, f"`[{host_text}]` is not an IPv6 address")
    elif authority.count(":") >= 2:
        # A bare IPv6 literal (``::1``) cannot carry a port: that needs brackets.
        host_text = authority
        if not _is_ipv6(host_text):
            raise _error(
                value, origin,
                f"`{host_text}` is not an IPv6 address (write `[addr]:port` to give a port)",
            )
    else:
        host_text, sep, port_text_ = authority.partition(":")
        port_text = port_text_ if sep else None
    port = None if port_text is None else _parse_port(port_text, value, origin)
    host = _normalise_host(host_text, value, origin)
    return InsecureHost(host, port, scheme, origin, value)


def _parse_table(table: Mapping[str, object], origin: str) -> InsecureHost:
    shown = "{ " + ", ".join(f"{k} = {v!r}" for k, v in table.items()) + " }"
    raw_host = table.get("host")
    if not isinstance(raw_host, str):
        raise _error(shown, origin, "the table needs a string `host`")
    if raw_host == WILDCARD:
        host = WILDCARD
    else:
        inner = raw_host[1:-1] if raw_host.startswith("[") and raw_host.endswith("]") else raw_host
        host = _normalise_host(inner, shown, origin)
    raw_port = table.get("port")
    port: int | None
    if raw_port is None:
        port = None
    elif isinstance(raw_port, int) and not isinstance(raw_port, bool):
        port = _check_port(raw_port, str(raw_port), shown, origin)
    else:
        raise _error(shown, origin, f"invalid port {raw_port!r}: expected an integer from 0 to 65535")
    raw_scheme = table.get("scheme")
    scheme: str | None
    if raw_scheme is None:
        scheme = None
    elif isinstance(raw_scheme, str) and raw_scheme.lower() in _SCHEMES:
        scheme = raw_scheme.lower()
    else:
        raise _error(shown, origin, f"unsupported scheme {raw_scheme!r} (use \"http\" or \"https\")")
    if host == WILDCARD and (port is not None or scheme is not None):
        raise _error(shown, origin, "`*` cannot be combined with a port or scheme")
    return InsecureHost(host, port, scheme, origin, shown)


def _parse_port(text: str, value: str, origin: str) -> int:
    # ASCII digits only: int() would accept "+1", " 1", "1_0" and other digits.
    if not text or not text.isascii() or not text.isdigit():
        raise _error(value, origin, f"invalid port `{text}`: expected a number from 0 to 65535")
    return _check_port(int(text), text, value, origin)


def _check_port(port: int, text: str, value: str, origin: str) -> int:
    if not 0 <= port <= 65535:
        raise _error(value, origin, f"invalid port `{text}`: expected a number from 0 to 65535")
    return port


def _is_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def _normalise_host(text: str, value: str, origin: str) -> str:
    if not text:
        raise _error(value, origin, "missing host")
    if ":" in text:
        if not _is_ipv6(text):
            raise _error(value, origin, f"`{text}` is not a host name or IP address")
        return _canonical_host(text)
    bad = sorted(set(text) & _FORBIDDEN_HOST_CHARS)
    if bad:
        raise _error(value, origin, f"`{text}` is not a host name (contains {''.join(bad)!r})")
    host = _canonical_host(text)
    if host is None:  # pragma: no cover - _canonical_host only fails on IPv6 handled above
        raise _error(value, origin, f"`{text}` is not a host name")
    return host


def _canonical_host(text: str) -> str:
    """The form both rules and URLs are compared in.

    IPv6 literals compress (``0:0::1`` -> ``::1``), and ASCII names lowercase; a non-ASCII name
    becomes its IDNA (punycode) form, as rust-url does to a URL's host, so a rule written in
    Unicode matches the URL a client sends. A name IDNA cannot encode stays lowercased (it
    then only matches the same spelling).
    """
    if ":" in text:
        try:
            return ipaddress.IPv6Address(text).compressed.lower()
        except ValueError:
            return text.lower()
    if text.isascii():
        return text.lower()
    try:
        return text.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return text.lower()


def _parse_url(url: str) -> tuple[str, str, int | None] | None:
    """(scheme, canonical host, explicit non-default port) of ``url``, or None if unusable."""
    try:
        parts = urlsplit(url)
        host = parts.hostname  # lowercased, brackets removed
        port = parts.port  # ValueError for a port out of range or not a number
    except ValueError:
        return None
    if not host:
        return None
    scheme = parts.scheme.lower()
    if port is not None and _DEFAULT_PORTS.get(scheme) == port:
        port = None
    return scheme, _canonical_host(host), port


def _never_matches_note(host: InsecureHost) -> str | None:
    if host.port is None:
        return None
    schemes = [host.scheme] if host.scheme else list(_SCHEMES)
    dead = [s for s in schemes if _DEFAULT_PORTS[s] == host.port]
    if not dead:
        return None
    if host.scheme:
        head = "never matches"
    else:
        head = f"never matches an {dead[0]} URL"
    return (
        f"{head}: {host.port} is the default port of {dead[0]}, and only a port the URL spells "
        f"explicitly and that is not its scheme's default counts (as in uv); write "
        f"`{dead[0]}://{InsecureHost(host.host)}` to allow {InsecureHost(host.host)} over {dead[0]}"
    )
