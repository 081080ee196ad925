"""A rule never covers more than it says, checked against the HTTP clients' own URL parsers.

For random rules and random (often hostile) URLs, the insecure decision is compared with the
host, port and scheme that urllib3 (``urllib3.util.parse_url``), httpx (``httpx.URL``), yarl
(aiohttp), urllib (``urllib.request.Request`` + ``http.client``) and a WHATWG parser (ada)
actually read: whenever tlsback says "insecure", every one of them that accepts the URL must
connect to a host the rule names, on a port and scheme the rule allows. The URLs mix IDNA
(ß, ZWJ, fullwidth, final sigma), case, trailing dots, userinfo, backslashes,
percent-encoding, odd IPv4 forms (``0x7f.1``, ``127.1``, ``2130706433``), IPv6 zones, ports
and schemes.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import urllib.request
from collections.abc import Callable
from typing import NamedTuple

import httpx
import pytest
import urllib3.util
import yarl
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from tlsback.errors import ConfigError
from tlsback.insecure import InsecureHost, InsecureHosts, parse_host

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


class Reading(NamedTuple):
    """What one client reads in a URL: where it connects, as it sends the host."""

    client: str
    scheme: str
    host: str  # as the client hands it to the socket / TLS layer
    port: int | None  # explicit and not the scheme's default, else None


def _port(scheme: str, port: int | None) -> int | None:
    return None if port == _DEFAULT_PORTS.get(scheme) else port


def read_urllib3(url: str) -> Reading | None:
    u = urllib3.util.parse_url(url)
    if not u.host or not u.scheme:
        return None
    return Reading("urllib3", u.scheme, u.host, _port(u.scheme, u.port))


def read_httpx(url: str) -> Reading | None:
    u = httpx.URL(url)
    if not u.raw_host:
        return None
    return Reading("httpx", u.scheme, u.raw_host.decode("ascii"), u.port)


def read_yarl(url: str) -> Reading | None:
    u = yarl.URL(url)
    if not u.raw_host or not u.scheme:
        return None
    return Reading("yarl", u.scheme, u.raw_host, _port(u.scheme, u.explicit_port))


def read_urllib(url: str) -> Reading | None:
    req = urllib.request.Request(url)
    if req.type not in ("http", "https") or not req.host:
        return None
    # Splits host and port as urlopen will (user information stays in the host).
    conn = (http.client.HTTPSConnection if req.type == "https" else http.client.HTTPConnection)(req.host)
    host = conn.host
    if not host.isascii():  # socket and ssl encode it with Python's IDNA 2003 codec
        host = host.encode("idna").decode("ascii")
    return Reading("urllib", req.type, host, _port(req.type, conn.port))


def read_whatwg(url: str) -> Reading | None:
    ada_url = pytest.importorskip("ada_url", reason="ada-url (a WHATWG URL parser) not installed")
    u = ada_url.URL(url)
    scheme = u.protocol.rstrip(":")
    if not u.hostname:
        return None
    return Reading("whatwg", scheme, u.hostname, _port(scheme, int(u.port) if u.port else None))


READERS: list[Callable[[str], Reading | None]] = [
    read_urllib3, read_httpx, read_yarl, read_urllib, read_whatwg,
]


def readings(url: str) -> list[Reading]:
    """Every client's reading of ``url``; a client that refuses the URL connects nowhere."""
    out = []
    for read in READERS:
        try:
            r = read(url)
        except (ValueError, urllib3.exceptions.LocationParseError, httpx.InvalidURL,
                http.client.InvalidURL, UnicodeError):
            continue
        if r is not None:
            out.append(r)
    return out


def connected_host(host: str) -> str:
    """The host a connection really goes to, for comparing with a rule's host.

    The resolver reads any inet_aton() form as an IPv4 address (``127.1``, ``0x7f.1``); IPv6
    literals compare compressed; names compare in ASCII lower case, as sent.
    """
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if ":" in bare:
        try:
            return ipaddress.IPv6Address(bare).compressed
        except ValueError:
            return bare.lower()  # a zone: never equal to a rule's host
    try:
        if bare.isascii() and bare.isprintable() and " " not in bare:
            return socket.inet_ntoa(socket.inet_aton(bare))
    except OSError:
        pass
    return bare.lower()


def reading_matches(rule: InsecureHost, r: Reading) -> bool:
    """The oracle: does ``rule`` name the host, port and scheme of this reading?"""
    if rule.is_wildcard:
        return True
    if rule.scheme is not None and rule.scheme != r.scheme:
        return False
    if rule.port is not None and rule.port != r.port:
        return False
    return connected_host(r.host) == rule.host


# --------------------------------------------------------------------------------------------
# Generators: hosts that collide on purpose, spelled in every way a parser may read differently

BASE_HOSTS = [
    "example.com", "localhost", "straße.de", "xn--strae-oqa.de", "strasse.de", "bücher.example",
    "xn--bcher-kva.example", "ΟΔΟΣ.gr", "127.0.0.1", "10.0.0.1", "::1", "fe80::1",
]
_FULLWIDTH = {c: chr(ord(c) - 0x21 + 0xFF01) for c in "abcdefghijklmnopqrstuvwxyz0123456789"}
_ODD_LOOPBACK = ["127.1", "0x7f.1", "2130706433", "0177.0.0.1", "127.0.0.1.", "0x7f000001",
                 "127.000.0.1", "127.0.1"]


@st.composite
def spelled_host(draw: st.DrawFn) -> str:
    """A base host, possibly respelled (case, dots, IDNA tricks, percent, IPv4/IPv6 forms)."""
    host = draw(st.sampled_from(BASE_HOSTS))
    how = draw(st.sampled_from([
        "same", "same", "upper", "title", "dot", "dots", "fullwidth", "zwj", "zwnj", "shy",
        "percent", "ideographic-dot", "odd-ipv4", "ipv6-form", "zone",
    ]))
    if how == "upper":
        host = host.upper()
    elif how == "title":
        host = host.title()
    elif how == "dot":
        host += "."
    elif how == "dots":
        host += ".."
    elif how == "fullwidth":
        host = "".join(_FULLWIDTH.get(c, c) for c in host)
    elif how in ("zwj", "zwnj", "shy"):
        at = draw(st.integers(0, len(host)))
        host = host[:at] + {"zwj": "\u200d", "zwnj": "\u200c", "shy": "\u00ad"}[how] + host[at:]
    elif how == "percent":
        at = draw(st.integers(0, len(host) - 1))
        host = host[:at] + "".join(f"%{b:02X}" for b in host[at].encode()) + host[at + 1:]
    elif how == "ideographic-dot":
        host = host.replace(".", "\u3002", 1)
    elif how == "odd-ipv4":
        host = draw(st.sampled_from(_ODD_LOOPBACK))
    elif how == "ipv6-form":
        host = draw(st.sampled_from(["0:0::1", "::ffff:127.0.0.1", "::FFFF:7f00:1", "FE80::1"]))
    elif how == "zone":
        host = draw(st.sampled_from(["fe80::1%25eth0", "fe80::1%eth0", "::1%251"]))
    return host


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host


@st.composite
def hostile_urls(draw: st.DrawFn) -> str:
    scheme = draw(st.sampled_from(["https", "https", "http", "HTTPS", "wss", "ws", "ftp", "foo"]))
    sep = draw(st.sampled_from(["://"] * 6 + [":/", ":\\\\", ":///", ":"]))
    userinfo = draw(st.sampled_from([
        "", "", "", "user@", "user:pw@", "a@b@", "localhost@", "example.com\\@", "127.0.0.1:1@",
        "%40@",
    ]))
    host = _bracket(draw(spelled_host()))
    port = draw(st.sampled_from(["", "", ":443", ":80", ":8443", ":08443", ":", ":99999",
                                 ":+8443", ":８443"]))
    tail = draw(st.sampled_from([
        "/", "", "/x", "?q=1", "#f", "\\@localhost:8441/", "\\.evil/", "@evil.example/",
        ".evil.example/", "\t/", " /", "/\\@x",
    ]))
    return f"{scheme}{sep}{userinfo}{host}{port}{tail}"


@st.composite
def rules(draw: st.DrawFn) -> InsecureHost | None:
    """A rule in some spelling, or None when tlsback refuses it (that is fine: never matches)."""
    if draw(st.integers(0, 9)) == 0:
        return parse_host("*", "cli")
    host = draw(spelled_host())
    port = draw(st.sampled_from([None, None, 443, 8443, 80]))
    scheme = draw(st.sampled_from([None, None, "https", "http"]))
    text = _bracket(host) if port is not None or scheme is not None else host
    if port is not None:
        text = f"{text}:{port}"
    if scheme is not None:
        text = f"{scheme}://{text}"
    value: object = text if draw(st.booleans()) else {
        k: v for k, v in (("host", host), ("port", port), ("scheme", scheme)) if v is not None}
    try:
        return parse_host(value, "cli")
    except ConfigError:
        return None


# --------------------------------------------------------------------------------------------
# The properties


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rule=rules(), url=hostile_urls())
@example(rule=parse_host("localhost", "cli"), url="https://127.0.0.1:8442\\@localhost:8441/")
@example(rule=parse_host("127.0.0.1", "cli"), url="https://127.0.0.1:8442\\@localhost:8441/")
@example(rule=parse_host("127.0.0.1", "cli"), url="https://0x7f.1/")
@example(rule=parse_host("strasse.de", "cli"), url="https://straße.de/")
@example(rule=parse_host("straße.de", "cli"), url="https://straße.de/")
@example(rule=parse_host("example.com", "cli"), url="https://ex\u200dample.com/")
@example(rule=parse_host("example.com", "cli"), url="https://exa%6Dple.com/")
@example(rule=parse_host("https://localhost:8443", "cli"), url="https://localhost:08443/")
@example(rule=parse_host("bücher.example", "cli"), url="wss://bücher.example/")  # urllib3: not encoded for wss
def test_context_for_is_insecure_only_for_the_host_every_client_connects_to(
    rule: InsecureHost | None, url: str,
) -> None:
    """`context_for(url)`: insecure only if every client that accepts the URL goes to a host,
    port and scheme the rule names."""
    if rule is None:
        event("rule refused")
        return
    if not InsecureHosts([rule]).matches(url):
        event("verified")
        return
    event("insecure")
    for r in readings(url):
        assert reading_matches(rule, r), (rule, url, r)


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rule=rules(), url=hostile_urls())
@example(rule=parse_host("strasse.de", "cli"), url="https://straße.de/")
@example(rule=parse_host("127.0.0.1", "cli"), url="https://2130706433/")
def test_adapters_decide_on_the_host_their_client_parsed(
    rule: InsecureHost | None, url: str,
) -> None:
    """The adapters' path (`matches_origin` with the host urllib3, httpx or yarl parsed):
    insecure only when the rule names that very host, port and scheme."""
    if rule is None:
        return
    hosts = InsecureHosts([rule])
    for r in readings(url):
        if r.client in ("urllib", "whatwg"):
            continue  # urllib's adapter decides on http.client's host; no adapter uses ada
        if hosts.matches_origin(r.scheme, r.host, r.port):
            event(f"insecure via {r.client}")
            assert reading_matches(rule, r), (rule, url, r)


@pytest.mark.parametrize(
    ("rule", "url"),
    [
        ("localhost", "https://localhost/"),
        ("LOCALHOST", "https://LocalHost:8443/x"),
        ("localhost:8443", "https://localhost:8443/"),
        ("https://127.0.0.1:8443", "https://127.0.0.1:8443/"),
        ("[::1]", "https://[0:0::1]:8443/"),
        ("bücher.example", "https://BÜCHER.example/"),
        ("bücher.example", "https://xn--bcher-kva.example/"),
        ("straße.de", "https://xn--strae-oqa.de/"),
        ("example.com.", "https://example.com./"),
    ],
)
def test_plain_urls_do_match_and_every_client_agrees(rule: str, url: str) -> None:
    """The property is not vacuous: well-formed URLs to the rule's host match, and every
    client reads them as that host."""
    r = parse_host(rule, "cli")
    assert InsecureHosts([r]).matches(url)
    seen = readings(url)
    assert {x.client for x in seen} >= {"urllib3", "httpx", "yarl", "urllib"}
    for reading in seen:
        assert reading_matches(r, reading), reading
