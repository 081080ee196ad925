"""Insecure hosts end to end: every source (flags, UV_INSECURE_HOST, uv.toml, pyproject.toml with
TOML tables), their union, errors naming the value, and the warning in `tlsback info`."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import tlsback
from tlsback.errors import ConfigError


def load(cwd: Path, *, env: dict[str, str] | None = None, argv: list[str] | None = None) -> tlsback.TLSConfig:
    parser = argparse.ArgumentParser()
    tlsback.add_arguments(parser)
    args = parser.parse_args(argv or [])
    return tlsback.load(args, env=env or {}, cwd=cwd)


def rules(cfg: tlsback.TLSConfig) -> list[tuple[str, int | None, str | None, str]]:
    return [(h.host, h.port, h.scheme, h.origin) for h in cfg.insecure_hosts]


def test_pyproject_tables_and_strings(tmp_path: Path) -> None:
    """`[tool.uv] allow-insecure-host` takes strings and `{host, port, scheme}` tables."""
    (tmp_path / "pyproject.toml").write_text(
        "[tool.uv]\n"
        "allow-insecure-host = [\n"
        '  "example.com",\n'
        '  "https://[::1]:8443/simple",\n'
        '  { host = "Internal.Example", port = 8443, scheme = "https" },\n'
        '  { host = "plain.example" },\n'
        "]\n"
    )
    cfg = load(tmp_path)
    origin = f"config:{tmp_path / 'pyproject.toml'}"
    assert rules(cfg) == [
        ("example.com", None, None, origin),
        ("::1", 8443, "https", origin),
        ("internal.example", 8443, "https", origin),
        ("plain.example", None, None, origin),
    ]
    assert cfg.is_insecure("https://internal.example:8443/simple/")
    assert not cfg.is_insecure("https://internal.example/simple/")
    assert cfg.is_insecure("https://[::1]:8443/")
    assert not cfg.is_insecure("https://sub.example.com/")


def test_flags_or_environment_then_config_appended(tmp_path: Path) -> None:
    """Flags replace UV_INSECURE_HOST; config entries are appended to whichever is used."""
    (tmp_path / "uv.toml").write_text('allow-insecure-host = ["cfg.example:8443"]\n')
    env = {"UV_INSECURE_HOST": "env1.example  env2.example:9000"}
    from_env = load(tmp_path, env=env)
    assert [(h.host, h.port, h.origin.split(":")[0]) for h in from_env.insecure_hosts] == [
        ("env1.example", None, "env"), ("env2.example", 9000, "env"), ("cfg.example", 8443, "config"),
    ]
    from_cli = load(tmp_path, env=env, argv=["--allow-insecure-host", "a.example b.example",
                                             "--trusted-host", "c.example"])
    assert [h.host for h in from_cli.insecure_hosts] == ["a.example", "b.example", "c.example",
                                                         "cfg.example"]
    assert not from_cli.is_insecure("https://env1.example/")
    assert from_cli.is_insecure("https://cfg.example:8443/")


def test_uv_no_config_skips_config_entries(tmp_path: Path) -> None:
    """UV_NO_CONFIG=1: only flags and the environment."""
    (tmp_path / "uv.toml").write_text('allow-insecure-host = ["cfg.example"]\n')
    cfg = load(tmp_path, env={"UV_NO_CONFIG": "1", "UV_INSECURE_HOST": "env.example"})
    assert [h.host for h in cfg.insecure_hosts] == ["env.example"]


@pytest.mark.parametrize(
    ("where", "content", "needle"),
    [
        ("uv.toml", 'allow-insecure-host = ["example.com:http"]\n', "`example.com:http`"),
        ("uv.toml", 'allow-insecure-host = [{ host = "x.example", port = 99999 }]\n', "99999"),
        ("pyproject.toml", '[tool.uv]\nallow-insecure-host = ["ok.example", "bad:1:2"]\n', "`bad:1:2`"),
    ],
)
def test_bad_config_entry_names_value_and_file(tmp_path: Path, where: str, content: str,
                                               needle: str) -> None:
    """A bad entry in a config file is a ConfigError naming the value and the file."""
    (tmp_path / where).write_text(content)
    with pytest.raises(ConfigError) as exc:
        load(tmp_path)
    assert needle in str(exc.value)
    assert str(tmp_path / where) in str(exc.value)


def test_bad_environment_entry(tmp_path: Path) -> None:
    """A bad UV_INSECURE_HOST entry names the variable and the value."""
    with pytest.raises(ConfigError, match="UV_INSECURE_HOST") as exc:
        load(tmp_path, env={"UV_INSECURE_HOST": "good.example localhost:99999"})
    assert "`localhost:99999`" in str(exc.value)


def test_cli_bad_port_exits_2(run_cli: Callable[..., Any]) -> None:
    """In the CLI a bad port is a usage/configuration error: exit status 2, value named."""
    result = run_cli("--allow-insecure-host", "localhost:notaport", "info")
    assert result.returncode == 2
    assert "localhost:notaport" in result.stderr


def test_info_warns_listing_hosts_without_verification(run_cli: Callable[..., Any],
                                                       tmp_path: Path) -> None:
    """`tlsback info` warns which hosts have verification off, where each rule came from,
    and notes rules that can never match."""
    (tmp_path / "uv.toml").write_text('allow-insecure-host = ["https://cfg.example:8443"]\n')
    result = run_cli("--trusted-host", "localhost:8443 https://localhost:443", "info",
                     cwd=tmp_path, env={"UV_INSECURE_HOST": "ignored.example"})
    assert result.returncode == 0, result.stderr
    out = result.stdout
    line = next(x for x in out.splitlines() if x.startswith("insecure"))
    assert "verification is OFF" in line
    assert "localhost:8443 (cli)" in line
    assert "https://cfg.example:8443 (config:" in line
    assert "ignored.example" not in out
    assert "never matches" in out

    result = run_cli("--trusted-host", "localhost:8443", "info", "--json", cwd=tmp_path)
    data = json.loads(result.stdout)
    assert [h["rule"] for h in data["insecure_hosts"]] == ["localhost:8443", "https://cfg.example:8443"]
    assert "verification is OFF" in data["insecure_warning"]


def test_info_without_insecure_hosts(run_cli: Callable[..., Any]) -> None:
    """No rule: info says every HTTPS host is verified."""
    result = run_cli("info")
    assert result.returncode == 0, result.stderr
    assert "every HTTPS host is verified" in result.stdout


SAME_VERDICT = [
    # (string, equivalent table or None)
    ("*", {"host": "*"}),
    ("*:8443", {"host": "*", "port": 8443}),
    ("https://*", {"host": "*", "scheme": "https"}),
    ("*.example.com", {"host": "*.example.com"}),
    ("", {"host": ""}),
    ("straße.de", {"host": "straße.de"}),
    ("STRASSE.de:8443", {"host": "STRASSE.de", "port": 8443}),
    ("https://[::1]:8443", {"host": "::1", "port": 8443, "scheme": "https"}),
    ("ex\u200dample.com", {"host": "ex\u200dample.com"}),
    ("127.1", {"host": "127.1"}),
    ("fe80::1%eth0", {"host": "fe80::1%eth0"}),
]


def _verdict(make: Callable[[], tlsback.TLSConfig]) -> object:
    try:
        cfg = make()
    except ConfigError as exc:
        return ("error", str(exc).split("): ", 1)[1])
    return [(h.host, h.port, h.scheme) for h in cfg.insecure_hosts]


@pytest.mark.parametrize(("value", "table"), SAME_VERDICT)
def test_every_source_gives_the_same_verdict(value: str, table: dict[str, object],
                                             tmp_path: Path) -> None:
    """Flag, API argument, UV_INSECURE_HOST, config string and config table: the same value
    gives the same rule, or the same error (naming the value and where it came from)."""
    import json as json_

    def in_file(entry: str) -> Callable[[], tlsback.TLSConfig]:
        def make() -> tlsback.TLSConfig:
            d = tmp_path / f"d{abs(hash(entry))}"
            d.mkdir(exist_ok=True)
            (d / "uv.toml").write_text(f"allow-insecure-host = [{entry}]\n", encoding="utf-8")
            return load(d)
        return make

    toml_table = "{ " + ", ".join(f"{k} = {json_.dumps(v, ensure_ascii=False)}"
                                  for k, v in table.items()) + " }"
    verdicts = {
        "flag": _verdict(lambda: load(tmp_path, argv=["--allow-insecure-host", value])),
        "api": _verdict(lambda: tlsback.load(allow_insecure_host=[value], env={}, cwd=tmp_path)),
        "config string": _verdict(in_file(json_.dumps(value, ensure_ascii=False))),
        "config table": _verdict(in_file(toml_table)),
    }
    if value:  # an empty variable counts as unset (as SSL_CERT_FILE), not as the value ""
        verdicts["env"] = _verdict(lambda: load(tmp_path, env={"UV_INSECURE_HOST": value}))
    first = next(iter(verdicts.values()))
    if isinstance(first, tuple):  # errors: the same reason (the value is spelled per source)
        assert all(isinstance(v, tuple) for v in verdicts.values()), verdicts
        reasons = {v[1] for v in verdicts.values()}  # type: ignore[index]
        assert len(reasons) == 1, verdicts
    else:
        assert all(v == first for v in verdicts.values()), verdicts


@pytest.mark.parametrize("raw", ["", " ", "\t"])
def test_empty_uv_insecure_host_counts_as_unset(raw: str, tmp_path: Path) -> None:
    """An empty or blank UV_INSECURE_HOST is no rule (as an empty SSL_CERT_FILE is no file)."""
    assert list(load(tmp_path, env={"UV_INSECURE_HOST": raw}).insecure_hosts) == []


def test_info_says_what_each_rule_covers(run_cli: Callable[..., Any]) -> None:
    """`tlsback info` gives every rule a line saying exactly what it covers."""
    result = run_cli("--allow-insecure-host", "straße.de https://localhost:443 *", "info")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "xn--strae-oqa.de (cli, written `straße.de`): http, https, ws, wss URLs to exactly " \
           "xn--strae-oqa.de on any port" in out
    assert "https://localhost:443 (cli): nothing" in out
    assert "* (cli): every host, every port" in out
    assert "verification is OFF for every host" in out
