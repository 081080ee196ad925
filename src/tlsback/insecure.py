"""``allow-insecure-host``: parsing the rules, and the one matcher every adapter uses.

An insecure host is a rule that turns certificate and hostname verification off for the URLs it
matches. Rules come from ``--allow-insecure-host`` / ``--trusted-host``, ``UV_INSECURE_HOST`` and
``allow-insecure-host = [...]`` in configuration files; ``settings.py`` gathers them and calls
:func:`parse_host` on each entry. This module is sans-IO: strings and mappings in, values out.
docs/insecure-hosts.md is the behaviour in full; in short:

Accepted spellings (uv's, plus the ones uv refuses)::

    *                               every host (the only wildcard)
    example.com                     any scheme, any port
    example.com:8443                any scheme, explicit port 8443
    https://example.com[:8443]      scheme https only (also http://)
    https://example.com:8443/simple the path (and query, fragment) ignored
    ::1   [::1]   [::1]:8443        IPv6 literals
    { host = "example.com", port = 8443, scheme = "https" }   TOML table

**A rule never covers more than it says.** The host must be *equal* to the host the HTTP client
connects to (no suffix or prefix matching: ``sub.example.com`` and ``evil-example.com`` never
match ``example.com``); a rule's port must equal the URL's explicit, non-default port (as
rust-url's ``Url::port()`` in uv, so ``localhost:443`` never matches an ``https`` URL); a rule's
scheme must equal the URL's. Any other ``*`` (``*:8443``, ``https://*``, ``*.example.com``) is a
configuration error: uv reads those as a host literally named ``*``, which never matches.

Hosts compare in the form the clients send (:func:`host_key`): ASCII lower case (uv compares
case-sensitively); non-ASCII names through the ``idna`` package (IDNA 2008 with the UTS 46
mapping, as requests and yarl call it; urllib3 and httpx lower-case and encode without the
mapping). A name the clients would send differently, or not at all, is refused as a rule and
never matches as a URL. Python's own ``"idna"`` codec (IDNA 2003) is never used: it sends
``straße.de`` to ``strasse.de``, another domain.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ._scantypes import shown
from .errors import ConfigError

__all__ = ["WILDCARD", "InsecureHost", "InsecureHosts", "UnusableHost", "host_key", "parse_host",
           "url_origin"]

logger = logging.getLogger(__name__)

#: The host value of the ``*`` rule.
WILDCARD = "*"

_SCHEMES = ("http", "https")
# The schemes a URL may have for a named rule to match, with their default ports (the WHATWG URL
# standard's "special" schemes the HTTP clients speak). A URL that spells its default port has no
# port as far as matching is concerned.
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
# Characters that can never be part of a host name in a URL authority: the WHATWG "forbidden
# domain code points" (C0 controls, space, DEL, ``#%/:<>?@[\]^|``) and ``*`` (only the bare ``*``
# is a wildcard; uv reads ``*.example.com`` as a host literally named so).
_FORBIDDEN_HOST_CHARS = frozenset(
    "".join(map(chr, range(0x21))) + "\x7f" + "#%/:<>?@[\\]^|*"
)
# WHATWG "ends in a number": such a host is parsed as an IPv4 address, and the resolver's
# inet_aton() reads 0x7f.1, 127.1, 2130706433 and 0177.0.0.1 as 127.0.0.1 too.
_NUMBER_LABEL_RE = re.compile(r"^(?:[0-9]+|0[xX][0-9A-Fa-f]*)$")


class UnusableHost(ValueError):
    """A host the clients would not send, or would not all send the same way; the reason."""


def host_key(host: str) -> str:
    """The host as the HTTP clients send it: the form rules and URLs are compared in.

    Args:
        host: a host name or IP address; IPv6 with or without brackets.

    Returns:
        An ASCII host: lower case, IDNA (punycode) for non-ASCII names, a trailing dot kept (the
        clients keep it), IPv6 compressed without brackets, IPv4 as dotted decimal.

    Raises:
        UnusableHost: an empty host or label, a forbidden character (``%`` included, so no
            percent-encoding), an IPv6 zone, an IPv4 address in any form but ``a.b.c.d``
            (``127.1``, ``0x7f.0.0.1``, ``2130706433``), or a non-ASCII name that the ``idna``
            package refuses or that urllib3, httpx and the UTS 46 mapping encode differently.
    """
    if host.startswith("[") and host.endswith("]"):
        inner = host[1:-1]
        if ":" not in inner:
            raise UnusableHost(f"`{host}` is not an IPv6 address")
        host = inner
    if ":" in host:
        if "%" in host:
            # The clients disagree on zones (urllib3 keeps one, httpx refuses it, uv cannot
            # parse it), and a zone names an interface, not a host.
            raise UnusableHost(f"`{host}` has an IPv6 zone; give the address without it")
        try:
            return ipaddress.IPv6Address(host).compressed
        except ValueError:
            raise UnusableHost(f"`{host}` is not an IPv6 address") from None
    if not host:
        raise UnusableHost("missing host: the value names no host (`*` alone is every host)")
    key = host.lower() if host.isascii() else _idna_key(host)
    bad = sorted(set(key) & _FORBIDDEN_HOST_CHARS)
    if bad:
        raise UnusableHost(f"`{host}` is not a host name (contains {''.join(bad)!r})")
    labels = key[:-1].split(".") if key.endswith(".") else key.split(".")
    if "" in labels:
        raise UnusableHost(f"`{host}` has an empty label")
    if _NUMBER_LABEL_RE.match(labels[-1]):
        try:
            canonical = str(ipaddress.IPv4Address(key))
        except ValueError:
            canonical = None
        if canonical != key:
            raise UnusableHost(
                f"`{host}` is read as an IPv4 address in different ways by different parsers; "
                "write it as four decimal numbers, a.b.c.d"
            )
    return key


@functools.lru_cache(maxsize=256)  # three IDNA encodings cost ~1 ms; a program meets few names
def _idna_key(host: str) -> str:
    """A non-ASCII host's IDNA form, when every client that can send it sends the same."""
    import idna  # the package urllib3, requests, httpx and yarl use (IDNA 2008)

    try:
        # requests and yarl (aiohttp): UTS 46 mapping, non-transitional (ß stays ß).
        mapped = idna.encode(host, uts46=True).decode("ascii")
    except (UnicodeError, ValueError) as exc:
        raise UnusableHost(f"`{host}` is not a valid internationalised host name ({exc})") from None
    others: dict[str, Callable[[], bytes]] = {
        # httpx (_urlparse.encode_host): the whole host lower-cased, no mapping.
        "httpx": lambda: idna.encode(host.lower()),
        # urllib3 (util/url.py _idna_encode): each label lower-cased, strict, STD3 rules.
        "urllib3": lambda: b".".join(
            label.lower().encode("ascii") if label.isascii()
            else idna.encode(label.lower(), strict=True, std3_rules=True)
            for label in host.split(".")
        ),
    }
    for client, encode in others.items():
        try:
            theirs = encode().decode("ascii")
        except (UnicodeError, ValueError):
            theirs = None
        if theirs != mapped:
            sent = "cannot send it" if theirs is None else f"sends `{theirs}`"
            raise UnusableHost(
                f"`{host}` is sent as `{mapped}` by requests and aiohttp, but {client} {sent}; "
                "write the ASCII (xn--) name of the host you mean"
            )
    return mapped


def url_origin(url: str) -> tuple[str, str, int | None] | None:
    """``(scheme, host_key, port)`` of the host a client connects to for ``url``, or None.

    The host is the one every parser agrees on: the URL must read the same by RFC 3986
    (``urllib.parse``) and by the WHATWG URL standard (which urllib3, httpx and yarl follow on
    the points that matter here), and a non-ASCII host must be sent as the same name by every
    client, urllib (IDNA 2003) included. None for anything else, so verification stays on: a
    backslash or whitespace anywhere before the path, user information (urllib would connect to
    ``user@host``), no ``//`` after the scheme, a scheme that is not http, https, ws or wss, a
    port that is not plain digits, a non-ASCII host with ``ws``/``wss`` (urllib3 does not encode
    it there), or a host that :func:`host_key` refuses. The port is None
    when it is absent or the scheme's default.
    """
    m = _SCHEME_RE.match(url)
    if m is None:
        return None
    scheme = m.group(1).lower()
    if scheme not in _DEFAULT_PORTS:
        return None
    rest = url[m.end():]
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    # WHATWG ends the authority at a backslash (special schemes), RFC 3986 does not; WHATWG
    # removes tabs and newlines anywhere and strips spaces, urllib.parse only some of them.
    if any(c in authority for c in "\\ \t\r\n") or not url.isprintable():
        return None
    if "@" in authority:
        # urllib (http.client) keeps user information in the host it connects to, and parsers
        # split several `@` differently: only the adapters, which see the client's own parse,
        # can decide on such a URL.
        return None
    if authority.startswith("["):
        end = authority.find("]")
        host, after = authority[: end + 1], authority[end + 1:]
        if end < 0 or (after and not after.startswith(":")):
            return None
        port_text = after[1:] if after else None
    else:
        host, sep, port_text_ = authority.partition(":")
        port_text = port_text_ if sep else None
    port: int | None = None
    if port_text:  # an empty port (``host:``) is no port for every parser
        if not (port_text.isascii() and port_text.isdigit()) or int(port_text) > 65535:
            return None
        port = int(port_text)
    if scheme in ("ws", "wss") and not host.isascii():
        # urllib3 IDNA-encodes hosts for http and https only: for ws/wss it hands on the
        # Unicode name as it is, so no rule (which names the encoded host) can be said to name
        # the host it connects to.
        return None
    try:
        key = host_key(host)
        if not host.isascii() and _stdlib_idna(host) != key:
            # Python's http.client (urllib) hands a non-ASCII host to socket and ssl, which
            # encode it with the IDNA 2003 codec: straße.de goes to strasse.de there.
            return None
        # The RFC 3986 reading must name the same host and port.
        parts = urlsplit(url)
        rfc_host, rfc_port = parts.hostname, parts.port
    except ValueError:  # UnusableHost, or urlsplit refusing the authority or port
        return None
    if rfc_host is None or rfc_port != port:
        return None
    if rfc_host != key:
        try:
            if host_key(rfc_host) != key:
                return None
        except UnusableHost:
            return None
    if port == _DEFAULT_PORTS[scheme]:
        port = None
    return scheme, key, port


@functools.lru_cache(maxsize=256)
def _stdlib_idna(host: str) -> str | None:
    """What ``socket``/``ssl`` send for ``host`` (only to see whether urllib would agree)."""
    try:
        return host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return None


def _origin_key(scheme: str, host: str, port: int | None) -> tuple[str, str, int | None] | None:
    """Like :func:`url_origin`, for an origin a client has already parsed (host, port apart).

    The host must be ASCII, as the client sends it: a client that hands on a non-ASCII host
    encodes it itself, in a way only it knows (urllib: IDNA 2003; urllib3 for ``wss``: not at
    all), so no rule can be said to name it.
    """
    scheme = scheme.lower()
    if scheme not in _DEFAULT_PORTS or not host.isascii():
        return None
    try:
        key = host_key(host)
    except UnusableHost:
        return None
    if port == _DEFAULT_PORTS[scheme]:
        port = None
    return scheme, key, port


@dataclass(frozen=True)
class InsecureHost:
    """One ``allow-insecure-host`` rule.

    Attributes:
        host: the host as the clients send it (:func:`host_key`), or ``"*"`` for the wildcard.
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
            URL whose host is ambiguous or unusable (:func:`url_origin`).
        """
        return self.is_wildcard or self._matches(url_origin(url))

    def _matches(self, origin: tuple[str, str, int | None] | None) -> bool:
        if self.is_wildcard:
            return True
        if origin is None:
            return False
        scheme, host, port = origin
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

    @property
    def meaning(self) -> str:
        """What the rule turns verification off for, in words (for ``tlsback info``)."""
        if self.is_wildcard:
            return "every host, every port: certificates are never verified"
        schemes = [self.scheme] if self.scheme else list(_DEFAULT_PORTS)
        live = [s for s in schemes if self.port != _DEFAULT_PORTS[s]]
        if not live:
            return "nothing (see the note below)"
        host = f"[{self.host}]" if ":" in self.host else self.host
        where = (
            "on any port" if self.port is None else f"only where the URL spells port {self.port}"
        )
        return f"{', '.join(live)} URLs to exactly {host} {where} (not its subdomains)"

    def describe(self) -> dict[str, Any]:
        """The rule as a JSON-ready mapping, for ``tlsback info``.

        Returns:
            ``{"rule", "host", "port", "scheme", "origin", "value", "meaning"}``, plus
            ``"note"`` when the rule can never match a URL of its scheme (a default port).
        """
        out: dict[str, Any] = {
            "rule": str(self),
            "host": self.host,
            "port": self.port,
            "scheme": self.scheme,
            "origin": self.origin,
            "value": self.value or str(self),
            "meaning": self.meaning,
        }
        note = _never_matches_note(self)
        if note:
            out["note"] = note
        return out


class InsecureHosts:
    """The rules in effect, in the order they were given: the one matcher of tlsback.

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
            True when at least one rule matches the host every parser reads in ``url``
            (:func:`url_origin`); False for no rules, or an ambiguous or unusable URL.
        """
        return self.matching(url) is not None

    def matches_origin(self, scheme: str, host: str, port: int | None) -> bool:
        """Whether any rule turns verification off for an origin a client has parsed.

        Adapters call this with the scheme, host and port the client will connect to, so the
        decision is made on exactly that host (not on a second parse of the URL).

        Args:
            scheme: the URL's scheme.
            host: the host the client connects to, as it sends it (ASCII; IPv6 with or
                without brackets); a non-ASCII host never matches.
            port: the port, or None for the scheme's default.

        Returns:
            True when at least one rule matches; False for no rules or an unusable host.
        """
        if not self._entries:
            return False
        if self._wildcard:
            return True
        origin = _origin_key(scheme, host, port)
        return any(e._matches(origin) for e in self._entries)

    def matching(self, url: str) -> InsecureHost | None:
        """The first rule that matches ``url`` (for a log line saying why), or None."""
        if not self._entries:
            return None
        origin = None if self._wildcard else url_origin(url)
        for entry in self._entries:
            if entry._matches(origin):
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
            e.g. ``certificate verification is OFF for: example.com (cli), ...``.
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
        ConfigError: the value has no host, a ``*`` that is not the whole value, a bad port
            (not a number from 0 to 65535), an unsupported scheme, user information, a host
            the clients would not send (:func:`host_key`), or is neither a string nor a
            table. The message names the value and its origin.
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
    return ConfigError(f"invalid `allow-insecure-host` value `{shown(value)}` (from {origin}): {reason}")


_STAR_REASON = (
    "only the bare `*` is a wildcard; uv reads any other `*` as part of a host name, which "
    "never matches. Write `*` alone for every host, or name the host"
)


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
    # The path, query and fragment are ignored (uv refuses them).
    authority = re.split(r"[/?#]", text, maxsplit=1)[0]
    if "*" in authority:
        raise _error(value, origin, _STAR_REASON)
    if "@" in authority:
        raise _error(value, origin, "user information is not allowed; give only host[:port]")
    port_text: str | None = None
    if authority.startswith("["):
        end = authority.find("]")
        if end < 0:
            raise _error(value, origin, "unclosed `[` in IPv6 address")
        host_text, rest = authority[: end + 1], authority[end + 1:]
        if rest:
            if not rest.startswith(":"):
                raise _error(value, origin, f"unexpected `{rest}` after the IPv6 address")
            port_text = rest[1:]
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
    host = _rule_host(host_text, value, origin)
    return InsecureHost(host, port, scheme, origin, value)


def _parse_table(table: Mapping[str, object], origin: str) -> InsecureHost:
    shown = "{ " + ", ".join(f"{k} = {v!r}" for k, v in table.items()) + " }"
    raw_host = table.get("host")
    if not isinstance(raw_host, str):
        raise _error(shown, origin, "the table needs a string `host`")
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
    if raw_host == WILDCARD:
        if port is not None or scheme is not None:
            raise _error(shown, origin, _STAR_REASON)
        return InsecureHost(WILDCARD, origin=origin, value=shown)
    if "*" in raw_host:
        raise _error(shown, origin, _STAR_REASON)
    return InsecureHost(_rule_host(raw_host, shown, origin), port, scheme, origin, shown)


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


def _rule_host(text: str, value: str, origin: str) -> str:
    try:
        return host_key(text)
    except UnusableHost as exc:
        raise _error(value, origin, str(exc)) from None


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
