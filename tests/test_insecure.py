"""``allow-insecure-host`` parsing and matching (docs/insecure-hosts.md), unit, property tests."""

from __future__ import annotations

import ipaddress
import logging

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from tlsback.errors import ConfigError
from tlsback.insecure import InsecureHost, InsecureHosts, parse_host


def rule(value: object, origin: str = "cli") -> InsecureHost:
    return parse_host(value, origin)  # type: ignore[arg-type]


def hosts(*values: object) -> InsecureHosts:
    return InsecureHosts([rule(v) for v in values])


# --------------------------------------------------------------------------------------------
# Parsing: every accepted spelling


@pytest.mark.parametrize(
    ("value", "host", "port", "scheme"),
    [
        ("*", "*", None, None),
        ("example.com", "example.com", None, None),
        ("Example.COM", "example.com", None, None),
        ("example.com:8443", "example.com", 8443, None),
        ("https://example.com", "example.com", None, "https"),
        ("http://example.com", "example.com", None, "http"),
        ("HTTPS://example.com:8443", "example.com", 8443, "https"),
        ("https://example.com:8443/simple", "example.com", 8443, "https"),
        ("https://example.com/simple/?x=1#frag", "example.com", None, "https"),
        ("example.com/simple", "example.com", None, None),
        ("localhost", "localhost", None, None),
        ("127.0.0.1", "127.0.0.1", None, None),
        ("127.0.0.1:8080", "127.0.0.1", 8080, None),
        ("::1", "::1", None, None),
        ("[::1]", "::1", None, None),
        ("[::1]:8443", "::1", 8443, None),
        ("https://[::1]:8443/simple", "::1", 8443, "https"),
        ("[0:0:0:0:0:0:0:1]", "::1", None, None),
        ("2001:DB8::1", "2001:db8::1", None, None),
        ("example.com:0", "example.com", 0, None),
        ("example.com:65535", "example.com", 65535, None),
        ("bücher.example", "xn--bcher-kva.example", None, None),
        ("BÜCHER.example", "xn--bcher-kva.example", None, None),
        # IDNA 2008 (the clients), not Python's IDNA 2003 codec (strasse.de, another domain)
        ("straße.de", "xn--strae-oqa.de", None, None),
        ("https://straße.de:8443", "xn--strae-oqa.de", 8443, "https"),
        ("XN--STRAE-OQA.de", "xn--strae-oqa.de", None, None),
        # a trailing dot is kept, as the clients keep it
        ("example.com.", "example.com.", None, None),
        # (Python 3.13 spells IPv4-mapped addresses ::ffff:127.0.0.1, older ones ::ffff:7f00:1)
        ("::ffff:127.0.0.1", ipaddress.IPv6Address("::ffff:7f00:1").compressed, None, None),
    ],
)
def test_parse_string_spellings(value: str, host: str, port: int | None, scheme: str | None) -> None:
    """Every spelling parses to the normalised (host, port, scheme).

    The spellings: docs/insecure-hosts.md, "Spellings".
    """
    r = rule(value, "env:UV_INSECURE_HOST")
    assert (r.host, r.port, r.scheme) == (host, port, scheme)
    assert r.origin == "env:UV_INSECURE_HOST"
    assert r.value == value


@pytest.mark.parametrize(
    ("table", "host", "port", "scheme"),
    [
        ({"host": "example.com"}, "example.com", None, None),
        ({"host": "example.com", "port": 8443}, "example.com", 8443, None),
        ({"host": "Example.com", "port": 8443, "scheme": "https"}, "example.com", 8443, "https"),
        ({"host": "example.com", "scheme": "HTTP"}, "example.com", None, "http"),
        ({"host": "[::1]", "port": 8443}, "::1", 8443, None),
        ({"host": "::1"}, "::1", None, None),
        ({"host": "*"}, "*", None, None),
    ],
)
def test_parse_toml_table(table: dict[str, object], host: str, port: int | None, scheme: str | None) -> None:
    """The TOML table form `{ host, port, scheme }` parses like uv's."""
    r = rule(table, "config:/x/uv.toml")
    assert (r.host, r.port, r.scheme, r.origin) == (host, port, scheme, "config:/x/uv.toml")


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ("example.com:abc", "invalid port `abc`"),
        ("example.com:99999", "invalid port `99999`"),
        ("example.com:-1", "invalid port `-1`"),
        ("example.com:", "invalid port ``"),
        ("example.com:+80", "invalid port `+80`"),
        ("example.com:８０", "invalid port"),
        ("[::1]:x", "invalid port `x`"),
        ("https://example.com:99999/simple", "invalid port `99999`"),
        ("https://", "missing host"),
        (":8080", "missing host"),
        ("[::1", "unclosed"),
        ("[example.com]", "not an IPv6 address"),
        ("[::1]x", "unexpected"),
        ("1:2:3", "not an IPv6 address"),
        ("ftp://example.com", "unsupported scheme `ftp`"),
        ("user@example.com", "user information"),
        ("exa mple.com", "not a host name"),
        # only the bare `*` is the wildcard (uv: a host literally named `*...`, never matching)
        ("*:8443", "only the bare `*`"),
        ("*:443", "only the bare `*`"),
        ("https://*", "only the bare `*`"),
        ("http://*:1", "only the bare `*`"),
        ("*.example.com", "only the bare `*`"),
        ("example.*", "only the bare `*`"),
        ("**", "only the bare `*`"),
        ("", "missing host"),
        ("http://", "missing host"),
        # hosts the clients could not send, or would send as another name
        ("ex\u200dample.com", "not a valid internationalised host name"),
        ("ｅｘａｍｐｌｅ.com", "httpx cannot send it"),
        ("exa\u00admple.com", "httpx cannot send it"),
        ("ΟΔΟΣ.gr", "urllib3 sends `xn--pxavbm.gr`"),
        ("exa%6dple.com", "not a host name"),
        ("a..example", "empty label"),
        (".example", "empty label"),
        # IPv4 in any form but a.b.c.d, IPv6 zones
        ("127.1", "four decimal numbers"),
        ("0x7f.1", "four decimal numbers"),
        ("2130706433", "four decimal numbers"),
        ("0177.0.0.1", "four decimal numbers"),
        ("127.0.0.1.", "four decimal numbers"),
        ("256.1.1.1", "four decimal numbers"),
        ("example.0x1", "four decimal numbers"),
        ("fe80::1%eth0", "zone"),
        ("[fe80::1%25eth0]:8443", "zone"),
    ],
)
def test_parse_errors_name_the_value(value: str, needle: str) -> None:
    """A bad entry is a ConfigError naming the value, its origin and what is wrong."""
    with pytest.raises(ConfigError) as exc:
        rule(value, "env:UV_INSECURE_HOST")
    msg = str(exc.value)
    assert f"`{value}`" in msg
    assert "env:UV_INSECURE_HOST" in msg
    assert needle in msg
    assert isinstance(exc.value, ValueError)


@pytest.mark.parametrize(
    ("table", "needle"),
    [
        ({"port": 8443}, "needs a string `host`"),
        ({"host": 5}, "needs a string `host`"),
        ({"host": "example.com", "port": "8443"}, "invalid port '8443'"),
        ({"host": "example.com", "port": 70000}, "invalid port `70000`"),
        ({"host": "example.com", "port": True}, "invalid port True"),
        ({"host": "example.com", "scheme": "ftp"}, "unsupported scheme 'ftp'"),
        ({"host": "", "port": 1}, "missing host"),
        ({"host": "*", "port": 1}, "only the bare `*`"),
        ({"host": "*", "scheme": "https"}, "only the bare `*`"),
        ({"host": "*.example.com"}, "only the bare `*`"),
        ({"host": "straße.de", "port": 1}, None),
    ],
)
def test_parse_table_errors(table: dict[str, object], needle: str | None) -> None:
    """A bad TOML table is a ConfigError naming the table and the config file."""
    if needle is None:
        rule(table, "config:/p/pyproject.toml")
        return
    with pytest.raises(ConfigError) as exc:
        rule(table, "config:/p/pyproject.toml")
    assert needle in str(exc.value)
    assert "config:/p/pyproject.toml" in str(exc.value)


@pytest.mark.parametrize("value", [5, None, ["example.com"], 1.5])
def test_parse_rejects_other_types(value: object) -> None:
    """Anything but a string or a table is a ConfigError."""
    with pytest.raises(ConfigError, match="allow-insecure-host"):
        rule(value)


def test_default_port_rule_logs_that_it_never_matches(caplog: pytest.LogCaptureFixture) -> None:
    """`https://host:443` can never match (uv semantics): say so instead of staying silent."""
    with caplog.at_level(logging.WARNING, logger="tlsback.insecure"):
        r = rule("https://localhost:443")
    assert "never matches" in caplog.text
    assert "note" in r.describe()
    assert "note" not in rule("https://localhost:8443").describe()


# --------------------------------------------------------------------------------------------
# Matching


@pytest.mark.parametrize(
    ("value", "url", "expected"),
    [
        # the host must be equal: no suffix, prefix or substring match
        ("example.com", "https://example.com/simple/", True),
        ("example.com", "https://example.com:8443/", True),
        ("example.com", "http://example.com/", True),
        ("example.com", "https://evil-example.com/", False),
        ("example.com", "https://example.com.evil/", False),
        ("example.com", "https://sub.example.com/", False),
        ("example.com", "https://example.co/", False),
        ("example.com", "https://xexample.com/", False),
        ("example.com", "https://example.com@evil.com/", False),
        ("example.com", "https://evil.com/?u=https://example.com/", False),
        ("example.com", "https://evil.com/example.com", False),
        ("example.com", "https://evil.com#example.com", False),
        ("example.com", "https://example.com./", False),
        # case: tlsback ignores ASCII case on both sides (uv compares case-sensitively)
        ("LOCALHOST", "https://localhost/", True),
        ("localhost", "https://LocalHost:8443/", True),
        # ports: a rule's port must equal the URL's explicit, non-default port
        ("localhost:8443", "https://localhost:8443/", True),
        ("localhost:8443", "https://localhost:8444/", False),
        ("localhost:8443", "https://localhost/", False),
        ("localhost:443", "https://localhost/", False),
        ("localhost:443", "https://localhost:443/", False),
        ("https://localhost:443", "https://localhost:443/", False),
        ("localhost:443", "http://localhost:443/", True),
        ("localhost:80", "http://localhost/", False),
        ("localhost:80", "https://localhost:80/", True),
        # schemes
        ("https://localhost", "https://localhost:8443/", True),
        ("https://localhost", "http://localhost/", False),
        ("http://localhost", "https://localhost/", False),
        ("http://localhost:8080", "http://localhost:8080/x", True),
        # the rule's path is ignored
        ("https://localhost:8443/simple", "https://localhost:8443/other/", True),
        # IPv6
        ("::1", "https://[::1]:8443/", True),
        ("[::1]", "https://[::1]/", True),
        ("[::1]:8443", "https://[::1]:8443/", True),
        ("[::1]:8443", "https://[::1]:8444/", False),
        ("[::1]", "https://[0:0::1]/", True),
        ("::1", "https://[::2]/", False),
        ("::1", "https://localhost/", False),
        # IPv4
        ("127.0.0.1", "https://127.0.0.1:5000/", True),
        ("127.0.0.1", "https://127.0.0.10/", False),
        ("127.0.0.1", "https://localhost/", False),
        # IDNA: a Unicode rule matches the punycode URL a client sends, and the other way round
        ("bücher.example", "https://xn--bcher-kva.example/", True),
        ("xn--bcher-kva.example", "https://bücher.example/", True),
        # IDNA 2008 as the clients: straße.de is not strasse.de
        ("straße.de", "https://xn--strae-oqa.de/", True),
        ("straße.de", "https://STRASSE.de/", False),
        # ... and a URL spelling it in Unicode is read as strasse.de by urllib (IDNA 2003)
        ("straße.de", "https://straße.de/", False),
        ("bücher.example", "https://BÜCHER.example/", True),
        ("strasse.de", "https://straße.de/", False),
        ("example.com", "https://ex\u200dample.com/", False),
        ("example.com", "https://ｅｘａｍｐｌｅ.com/", False),
        # trailing dots compare as the clients send them
        ("example.com.", "https://example.com./", True),
        ("example.com.", "https://example.com/", False),
        # a host read differently by RFC 3986 and WHATWG parsers never matches
        ("localhost", "https://127.0.0.1:8442\\@localhost:8441/", False),
        ("127.0.0.1", "https://127.0.0.1:8442\\@localhost:8441/", False),
        ("localhost", "https://localhost\\.evil/", False),
        ("localhost", "https://a@b@localhost/", False),
        ("localhost", "https://user:pw@localhost:8443/", False),  # urllib: host user:pw@localhost
        ("localhost", "https:/localhost/", False),
        ("localhost", "https:///localhost/", False),
        ("localhost", "https://local\thost/", False),
        ("localhost", " https://localhost/", False),
        ("example.com", "https://exa%6Dple.com/", False),
        ("example.com", "https://example.com:+443/", False),
        ("example.com", "https://example.com:８443/", False),
        ("example.com", "https://example.com:/", True),
        ("localhost:8443", "https://localhost:08443/", True),
        # odd IPv4 forms (inet_aton reads them as 127.0.0.1) and IPv6 zones never match
        ("127.0.0.1", "https://127.1/", False),
        ("127.0.0.1", "https://0x7f.1/", False),
        ("127.0.0.1", "https://2130706433/", False),
        ("127.0.0.1", "https://0177.0.0.1/", False),
        ("127.0.0.1", "https://127.0.0.1./", False),
        ("fe80::1", "https://[fe80::1%25eth0]/", False),
        # schemes: only the web's special schemes carry a host every parser agrees on
        ("example.com", "wss://example.com/", True),
        ("example.com", "ftp://example.com/", False),
        ("example.com", "foo://example.com/", False),
        # wildcard
        ("*", "https://anything.example:1234/x", True),
        ("*", "not a url", True),
        # unusable URLs never match a named host
        ("example.com", "example.com", False),
        ("example.com", "https://example.com:99999/", False),
        ("example.com", "", False),
    ],
)
def test_matching(value: str, url: str, expected: bool) -> None:
    """Matching, including every case that must never match.

    The rules: docs/insecure-hosts.md, "Spellings" and "How hosts are compared".
    """
    assert rule(value).matches(url) is expected
    assert hosts(value).matches(url) is expected


def test_table_rule_matching() -> None:
    """A table rule matches like the equivalent string."""
    r = rule({"host": "localhost", "port": 8443, "scheme": "https"})
    assert r.matches("https://localhost:8443/")
    assert not r.matches("http://localhost:8443/")
    assert not r.matches("https://localhost/")


def test_collection_behaviour() -> None:
    """InsecureHosts: bool, len, iteration order, any-match, first match, equality."""
    empty = InsecureHosts([])
    assert not empty
    assert len(empty) == 0
    assert not empty.matches("https://localhost/")
    assert empty.matching("https://localhost/") is None
    assert empty.warning() is None
    assert empty.describe() == []

    hs = InsecureHosts([rule("a.example"), rule("localhost:8443", "env:UV_INSECURE_HOST")])
    assert hs
    assert len(hs) == 2
    assert [h.host for h in hs] == ["a.example", "localhost"]
    assert hs.matches("https://localhost:8443/")
    assert not hs.matches("https://localhost:8444/")
    match = hs.matching("https://localhost:8443/")
    assert match is not None and match.origin == "env:UV_INSECURE_HOST"
    assert hs == InsecureHosts(list(hs))
    assert hash(hs) == hash(InsecureHosts(list(hs)))


def test_describe_and_warning_for_info() -> None:
    """`tlsback info` can list the hosts whose verification is off, with their origin."""
    hs = InsecureHosts([rule("https://Example.com:8443/simple", "config:/p/uv.toml"), rule("::1")])
    desc = hs.describe()
    assert desc[0] == {
        "rule": "https://example.com:8443",
        "host": "example.com",
        "port": 8443,
        "scheme": "https",
        "origin": "config:/p/uv.toml",
        "value": "https://Example.com:8443/simple",
        "meaning": "https URLs to exactly example.com only where the URL spells port 8443 "
                   "(not its subdomains)",
    }
    assert desc[1]["rule"] == "[::1]"
    warning = hs.warning()
    assert warning is not None
    assert "verification is OFF" in warning
    assert "https://example.com:8443 (config:/p/uv.toml)" in warning
    assert "[::1] (cli)" in warning
    every = InsecureHosts([rule("*")]).warning()
    assert every is not None and "every host" in every


def test_equality_ignores_spelling_but_not_origin() -> None:
    """Rules compare on what they match and where they came from, not how they were spelled."""
    assert rule("[::1]") == rule("::1")
    assert rule("Example.com") == rule("example.com")
    assert rule("example.com", "cli") != rule("example.com", "env:UV_INSECURE_HOST")


# --------------------------------------------------------------------------------------------
# Property tests over generated hosts and URLs

_label = st.from_regex(r"\A[a-z0-9]([a-z0-9-]{0,14}[a-z0-9])?\Z")
# The last label starts with a letter: a name ending in a number is an IPv4 address (WHATWG).
_tld = st.from_regex(r"\A[a-z]([a-z0-9-]{0,14}[a-z0-9])?\Z")
dns_names = st.tuples(st.lists(_label, max_size=3), _tld).map(lambda t: ".".join([*t[0], t[1]]))
ipv4s = st.ip_addresses(v=4).map(str)
ipv6s = st.ip_addresses(v=6).map(lambda a: a.compressed)
any_hosts = st.one_of(dns_names, ipv4s, ipv6s)
ports = st.integers(min_value=1, max_value=65535)
schemes = st.sampled_from(["http", "https"])
paths = st.sampled_from(["", "/", "/simple/", "/a/b?c=d", "/x#y"])
_DEFAULT = {"http": 80, "https": 443}


def url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def make_url(scheme: str, host: str, port: int | None, path: str) -> str:
    netloc = url_host(host) if port is None else f"{url_host(host)}:{port}"
    return f"{scheme}://{netloc}{path}"


def random_case(data: st.DataObject, text: str) -> str:
    flips = data.draw(st.lists(st.booleans(), min_size=len(text), max_size=len(text)))
    return "".join(c.upper() if f else c for c, f in zip(text, flips))


@given(host=any_hosts, scheme=schemes, port=st.none() | ports, path=paths, data=st.data())
def test_prop_host_rule_matches_its_host_on_every_port_and_case(
    host: str, scheme: str, port: int | None, path: str, data: st.DataObject
) -> None:
    """A bare host rule matches every URL to that host, whatever the port, scheme or case."""
    r = rule(random_case(data, host) if ":" not in host else host)
    assert r.matches(make_url(scheme, random_case(data, host), port, path))


@given(host=any_hosts, rule_port=ports, scheme=schemes, url_port=st.none() | ports, path=paths)
def test_prop_port_rule_needs_the_explicit_non_default_port(
    host: str, rule_port: int, scheme: str, url_port: int | None, path: str
) -> None:
    """`host:port` matches exactly when the URL spells that port and it is not its default."""
    r = rule(f"{url_host(host)}:{rule_port}")
    expected = url_port == rule_port and rule_port != _DEFAULT[scheme]
    assert r.matches(make_url(scheme, host, url_port, path)) is expected


@given(host=any_hosts, rule_scheme=schemes, url_scheme=schemes, port=st.none() | ports)
def test_prop_scheme_rule_needs_that_scheme(
    host: str, rule_scheme: str, url_scheme: str, port: int | None
) -> None:
    """`https://host` matches only https URLs, `http://host` only http URLs."""
    r = rule(f"{rule_scheme}://{url_host(host)}")
    assert r.matches(make_url(url_scheme, host, port, "/")) is (rule_scheme == url_scheme)


@given(host=dns_names, other=_label, scheme=schemes, port=st.none() | ports)
@example(host="example.com", other="evil", scheme="https", port=None)
def test_prop_lookalike_hosts_never_match(host: str, other: str, scheme: str, port: int | None) -> None:
    """Subdomains, suffixes, prefixes and hyphenated lookalikes never match a host rule."""
    r = InsecureHosts([rule(host), rule(f"{host}:{port or 8443}"), rule(f"https://{host}")])
    for lookalike in (
        f"{other}.{host}",
        f"{host}.{other}",
        f"{other}-{host}",
        f"{host}-{other}",
        f"{other}{host}",
        f"{host}{other}",
    ):
        assert not r.matches(make_url(scheme, lookalike, port, "/")), lookalike
    # Nor does a URL that only mentions the host outside its authority.
    assert not r.matches(f"{scheme}://{other}.invalid/{host}")
    assert not r.matches(f"{scheme}://{other}.invalid/?next=https://{host}/")
    assert not r.matches(f"{scheme}://{host}@{other}.invalid/")


@given(rule_host=any_hosts, url_host_=any_hosts, scheme=schemes, port=st.none() | ports)
def test_prop_different_hosts_never_match(
    rule_host: str, url_host_: str, scheme: str, port: int | None
) -> None:
    """No rule but `*` matches a URL whose host differs (ignoring ASCII case)."""
    assume(rule_host.lower() != url_host_.lower())
    if ":" in rule_host and ":" in url_host_:
        assume(ipaddress.ip_address(rule_host) != ipaddress.ip_address(url_host_))
    r = InsecureHosts([rule(url_host(rule_host)), rule(f"https://{url_host(rule_host)}:{port or 1}")])
    assert not r.matches(make_url(scheme, url_host_, port, "/"))


@given(host=any_hosts, port=st.none() | ports, scheme=st.none() | schemes)
def test_prop_str_round_trips(host: str, port: int | None, scheme: str | None) -> None:
    """`str(rule)` is a spelling that parses back to the same rule."""
    text = url_host(host) if port is None else f"{url_host(host)}:{port}"
    if scheme:
        text = f"{scheme}://{text}"
    r = rule(text)
    assert rule(str(r)) == r
    assert InsecureHost(r.host, r.port, r.scheme, "cli") == r


@given(host=any_hosts, port=st.none() | ports, scheme=schemes, path=paths)
def test_prop_wildcard_matches_everything(host: str, port: int | None, scheme: str, path: str) -> None:
    """`*` matches every URL; an empty rule set matches none."""
    url = make_url(scheme, host, port, path)
    assert hosts("*").matches(url)
    assert not InsecureHosts([]).matches(url)


@given(st.text(max_size=40))
def test_prop_parse_never_crashes(text: str) -> None:
    """Any string either parses or raises ConfigError: never another exception."""
    try:
        r = rule(text)
    except ConfigError:
        return
    r.matches("https://example.com/")


@given(st.text(max_size=60))
def test_prop_match_never_crashes_and_named_rules_need_a_host(text: str) -> None:
    """Any URL string can be matched; a named host never matches a URL without that host."""
    r = hosts("example.com", "[::1]:8443")
    result = r.matches(text)
    if result:
        assert "example.com" in text.lower() or "::1" in text or "0:0" in text
