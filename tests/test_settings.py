"""Settings resolution: precedence, spellings, uv's boolean parsing, config files, origins.

What they check: docs/configuration.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

import tlsback
from tlsback.errors import ConfigError
from tlsback.settings import parse_bool, resolve

TRUE = ["y", "yes", "t", "true", "on", "1", "TRUE", "Yes", "oN"]
FALSE = ["n", "no", "f", "false", "off", "0", "FALSE", "No", "oFf"]


@pytest.mark.parametrize("value", TRUE)
def test_parse_bool_true_spellings_follow_uv(value: str) -> None:
    assert parse_bool("UV_NATIVE_TLS", value) is True


@pytest.mark.parametrize("value", FALSE)
def test_parse_bool_false_spellings_follow_uv(value: str) -> None:
    assert parse_bool("UV_NATIVE_TLS", value) is False


@pytest.mark.parametrize("value", ["", "maybe", " true", "true ", "2", "yes please", "tru\u00e9", "İ"])
def test_parse_bool_rejects_anything_else_naming_variable_and_value(value: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_bool("UV_NATIVE_TLS", value)
    assert "UV_NATIVE_TLS" in str(info.value)
    assert f"`{value}`" in str(info.value)


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    tlsback.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_default_backend_is_rustls_with_origin_default() -> None:
    s = resolve(env={}, cwd=".")
    assert (s.backend.value, s.backend.origin) == ("rustls", "default")


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--native-tls"], "native"),
        (["--system-certs"], "native"),
        (["--no-native-tls"], "rustls"),
        (["--native-tls", "--no-native-tls"], "rustls"),
        (["--no-system-certs", "--native-tls"], "native"),
        (["--tls-backend", "native"], "native"),
        (["--native-tls", "--tls-backend", "rustls"], "rustls"),
    ],
)
def test_cli_switches_last_one_wins(argv: list[str], expected: str) -> None:
    s = resolve(_parse(*argv), env={"UV_NATIVE_TLS": "false" if expected == "native" else "true"})
    assert (s.backend.value, s.backend.origin) == (expected, "cli")


def test_environment_order_system_certs_then_native_tls_then_tlsback_backend() -> None:
    env = {"UV_SYSTEM_CERTS": "0", "UV_NATIVE_TLS": "1", "TLSBACK_BACKEND": "native"}
    s = resolve(env=env)
    assert (s.backend.value, s.backend.origin) == ("rustls", "env:UV_SYSTEM_CERTS")
    s = resolve(env={"UV_NATIVE_TLS": "1", "TLSBACK_BACKEND": "rustls"})
    assert (s.backend.value, s.backend.origin) == ("native", "env:UV_NATIVE_TLS")
    s = resolve(env={"TLSBACK_BACKEND": "native"})
    assert (s.backend.value, s.backend.origin) == ("native", "env:TLSBACK_BACKEND")


def test_a_bad_backend_variable_is_an_error_even_when_another_source_wins() -> None:
    with pytest.raises(ConfigError, match="UV_NATIVE_TLS.*`maybe`"):
        resolve(_parse("--native-tls"), env={"UV_NATIVE_TLS": "maybe"})
    with pytest.raises(ConfigError, match="UV_NATIVE_TLS.*``"):
        resolve(env={"UV_NATIVE_TLS": ""})


def test_keyword_arguments_override_args_and_record_their_origin() -> None:
    s = resolve(_parse("--native-tls"), native_tls=False, env={})
    assert (s.backend.value, s.backend.origin) == ("rustls", "argument:native_tls")
    s = resolve(native_tls=True, backend="rustls", env={})
    assert (s.backend.value, s.backend.origin) == ("rustls", "argument:backend")


def test_uv_toml_native_tls(tmp_path: Path) -> None:
    (tmp_path / "uv.toml").write_text("native-tls = true\n")
    s = resolve(env={}, cwd=tmp_path)
    assert s.backend.value == "native"
    assert s.backend.origin == f"config:{tmp_path / 'uv.toml'}"


def test_pyproject_tool_uv_system_certs_found_upward(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.uv]\nsystem-certs = true\n")
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    s = resolve(env={}, cwd=deep)
    assert (s.backend.value, s.backend.origin) == ("native", f"config:{tmp_path / 'pyproject.toml'}")


def test_pyproject_without_tool_uv_is_passed_over(tmp_path: Path) -> None:
    (tmp_path / "uv.toml").write_text("native-tls = true\n")
    sub = tmp_path / "pkg"
    sub.mkdir()
    (sub / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    assert resolve(env={}, cwd=sub).backend.value == "native"


def test_uv_toml_hides_pyproject_in_the_same_directory(tmp_path: Path) -> None:
    (tmp_path / "uv.toml").write_text("native-tls = false\n")
    (tmp_path / "pyproject.toml").write_text("[tool.uv]\nnative-tls = true\n")
    s = resolve(env={}, cwd=tmp_path)
    assert (s.backend.value, s.backend.origin) == ("rustls", f"config:{tmp_path / 'uv.toml'}")


def test_system_certs_wins_over_native_tls_in_one_file(tmp_path: Path) -> None:
    (tmp_path / "uv.toml").write_text("native-tls = false\nsystem-certs = true\n")
    assert resolve(env={}, cwd=tmp_path).backend.value == "native"


def test_user_config_applies_when_the_project_says_nothing(tmp_path: Path) -> None:
    xdg = tmp_path / "xdg"
    (xdg / "uv").mkdir(parents=True)
    (xdg / "uv" / "uv.toml").write_text("native-tls = true\n")
    s = resolve(env={"XDG_CONFIG_HOME": str(xdg)}, cwd=tmp_path)
    assert (s.backend.value, s.backend.origin) == ("native", f"config:{xdg / 'uv' / 'uv.toml'}")


def test_project_config_beats_user_config(tmp_path: Path) -> None:
    xdg = tmp_path / "xdg"
    (xdg / "uv").mkdir(parents=True)
    (xdg / "uv" / "uv.toml").write_text("native-tls = true\n")
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "uv.toml").write_text("native-tls = false\n")
    assert resolve(env={"XDG_CONFIG_HOME": str(xdg)}, cwd=proj).backend.value == "rustls"


@pytest.mark.parametrize(
    ("project", "user", "expected", "origin"),
    [
        # uv merges each key over the files first, then prefers system-certs to native-tls:
        # a user file's system-certs beats a project file's native-tls (uv 0.13 --show-settings).
        ("native-tls = false\n", "system-certs = true\n", "native", "user"),
        ("native-tls = true\n", "system-certs = false\n", "rustls", "user"),
        ("system-certs = false\n", "native-tls = true\n", "rustls", "project"),
        ("native-tls = false\n", "native-tls = true\n", "rustls", "project"),
    ],
)
def test_system_certs_from_any_file_beats_native_tls_as_in_uv(
        tmp_path: Path, project: str, user: str, expected: str, origin: str) -> None:
    xdg = tmp_path / "xdg"
    (xdg / "uv").mkdir(parents=True)
    (xdg / "uv" / "uv.toml").write_text(user)
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "uv.toml").write_text(project)
    s = resolve(env={"XDG_CONFIG_HOME": str(xdg)}, cwd=proj)
    where = proj / "uv.toml" if origin == "project" else xdg / "uv" / "uv.toml"
    assert (s.backend.value, s.backend.origin) == (expected, f"config:{where}")


def test_tool_tlsback_backend_of_the_project_beats_the_user_file(tmp_path: Path) -> None:
    xdg = tmp_path / "xdg"
    (xdg / "uv").mkdir(parents=True)
    (xdg / "uv" / "uv.toml").write_text("system-certs = true\n")
    (tmp_path / "pyproject.toml").write_text('[tool.tlsback]\nbackend = "rustls"\n')
    s = resolve(env={"XDG_CONFIG_HOME": str(xdg)}, cwd=tmp_path)
    assert (s.backend.value, s.backend.origin) == ("rustls", f"config:{tmp_path / 'pyproject.toml'}")


def test_environment_beats_config(tmp_path: Path) -> None:
    (tmp_path / "uv.toml").write_text("native-tls = true\n")
    s = resolve(env={"UV_NATIVE_TLS": "off"}, cwd=tmp_path)
    assert (s.backend.value, s.backend.origin) == ("rustls", "env:UV_NATIVE_TLS")


def test_uv_no_config_skips_files(tmp_path: Path) -> None:
    (tmp_path / "uv.toml").write_text("native-tls = true\n")
    assert resolve(env={"UV_NO_CONFIG": "1"}, cwd=tmp_path).backend.value == "rustls"
    with pytest.raises(ConfigError, match="UV_NO_CONFIG"):
        resolve(env={"UV_NO_CONFIG": "perhaps"}, cwd=tmp_path)


def test_uv_no_config_stops_discovery_not_the_file_uv_config_file_names(tmp_path: Path) -> None:
    """uv: --no-config avoids *discovering* files; --config-file is still read (uv 0.13)."""
    named = tmp_path / "named.toml"
    named.write_text("native-tls = true\n")
    (tmp_path / "uv.toml").write_text("native-tls = false\n")
    s = resolve(env={"UV_NO_CONFIG": "1", "UV_CONFIG_FILE": str(named)}, cwd=tmp_path)
    assert (s.backend.value, s.backend.origin) == ("native", f"config:{named}")


def test_uv_config_file_names_one_file(tmp_path: Path) -> None:
    cfg = tmp_path / "elsewhere.toml"
    cfg.write_text("system-certs = true\n")
    (tmp_path / "uv.toml").write_text("native-tls = false\n")
    s = resolve(env={"UV_CONFIG_FILE": str(cfg)}, cwd=tmp_path)
    assert (s.backend.value, s.backend.origin) == ("native", f"config:{cfg}")


def test_malformed_toml_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "uv.toml").write_text("native-tls = \n")
    with pytest.raises(ConfigError) as info:
        resolve(env={}, cwd=tmp_path)
    assert str(tmp_path / "uv.toml") in str(info.value)


def test_wrong_type_names_file_key_and_value(tmp_path: Path) -> None:
    (tmp_path / "uv.toml").write_text('native-tls = "yes"\n')
    with pytest.raises(ConfigError) as info:
        resolve(env={}, cwd=tmp_path)
    message = str(info.value)
    assert "uv.toml" in message and "native-tls" in message and "'yes'" in message


def test_tool_tlsback_backend_and_custom_certs(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.tlsback]\nbackend = "native"\ncustom-certs = "only"\n'
    )
    s = resolve(env={}, cwd=tmp_path)
    assert s.backend.value == "native"
    assert (s.custom_certs.value, s.custom_certs.origin) == ("only", f"config:{tmp_path / 'pyproject.toml'}")


def test_custom_certs_mode_from_environment_and_bad_value() -> None:
    assert resolve(env={"TLSBACK_CUSTOM_CERTS": "only"}).custom_certs.value == "only"
    with pytest.raises(ConfigError, match="TLSBACK_CUSTOM_CERTS.*`replace`"):
        resolve(env={"TLSBACK_CUSTOM_CERTS": "replace"})


def test_cert_paths_empty_values_count_as_unset(tmp_path: Path) -> None:
    s = resolve(env={"SSL_CERT_FILE": "", "SSL_CERT_DIR": "", "SSL_CLIENT_CERT": ""})
    assert s.cert_file.value is None and s.cert_dirs.value == () and s.client_cert.value is None
    s = resolve(env={"SSL_CERT_DIR": f"/a{__import__('os').pathsep}/b", "SSL_CERT_FILE": "/c.pem"})
    assert s.cert_dirs.value == ("/a", "/b")
    assert (s.cert_file.value, s.cert_file.origin) == ("/c.pem", "env:SSL_CERT_FILE")


def test_insecure_hosts_cli_replaces_env_and_config_is_appended(tmp_path: Path) -> None:
    (tmp_path / "uv.toml").write_text('allow-insecure-host = ["cfg.example"]\n')
    s = resolve(_parse("--allow-insecure-host", "a.example b.example", "--trusted-host", "c.example"),
                env={"UV_INSECURE_HOST": "env.example"}, cwd=tmp_path)
    assert [h.host for h in s.insecure_hosts.value] == ["a.example", "b.example", "c.example", "cfg.example"]
    s = resolve(env={"UV_INSECURE_HOST": "env.example other.example"}, cwd=tmp_path)
    assert [h.host for h in s.insecure_hosts.value] == ["env.example", "other.example", "cfg.example"]
    assert [h.origin for h in s.insecure_hosts.value][-1] == f"config:{tmp_path / 'uv.toml'}"


def test_no_cache_from_flag_and_environment() -> None:
    assert resolve(env={}).cache.value is True
    assert resolve(_parse("--no-cache"), env={}).cache.value is False
    assert resolve(env={"TLSBACK_NO_CACHE": "1"}).cache.origin == "env:TLSBACK_NO_CACHE"
    with pytest.raises(ConfigError, match="TLSBACK_NO_CACHE"):
        resolve(env={"TLSBACK_NO_CACHE": "sometimes"})


def test_settings_as_dict_carries_every_origin() -> None:
    d = resolve(env={"UV_NATIVE_TLS": "1", "SSL_CERT_FILE": "/x.pem"}).as_dict()
    assert d["backend"] == {"value": "native", "origin": "env:UV_NATIVE_TLS"}
    assert d["cert_file"] == {"value": "/x.pem", "origin": "env:SSL_CERT_FILE"}
    assert d["custom_certs"]["origin"] == "default"


BROKEN_PYPROJECT = [
    '[project]\nname = "app"\ndependencies = ["uvicorn"\n',  # TOML syntax error
    '[tool.uv\nnative-tls = false\n',  # unclosed table header
    "[tool]\nuv = 3\n",  # tool.uv is not a table
    b'[tool.uv]\nnative-tls = false # caf\xe9\n',  # not UTF-8
]


@pytest.mark.parametrize("content", BROKEN_PYPROJECT)
def test_a_pyproject_that_cannot_be_parsed_is_skipped_with_a_warning_as_in_uv(
        tmp_path: Path, content: str | bytes, caplog: pytest.LogCaptureFixture) -> None:
    """uv warns "Failed to parse `pyproject.toml` during settings discovery" and goes on
    upward; a broken project file must not stop every program that embeds tlsback."""
    (tmp_path / "uv.toml").write_text("native-tls = true\n")
    sub = tmp_path / "app"
    sub.mkdir()
    broken = sub / "pyproject.toml"
    if isinstance(content, bytes):
        broken.write_bytes(content)
    else:
        broken.write_text(content)
    with caplog.at_level("WARNING"):
        s = resolve(env={}, cwd=sub)
    assert (s.backend.value, s.backend.origin) == ("native", f"config:{tmp_path / 'uv.toml'}")
    assert s.config_files == (str(tmp_path / "uv.toml"),)
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    assert f"Failed to parse {broken} during settings discovery" in caplog.text


def test_a_broken_uv_toml_or_named_pyproject_is_still_an_error(tmp_path: Path) -> None:
    """uv.toml is uv's own file (uv stops on it), and UV_CONFIG_FILE names a file on purpose."""
    (tmp_path / "pyproject.toml").write_text(BROKEN_PYPROJECT[0])
    with pytest.raises(ConfigError, match="pyproject.toml"):
        resolve(env={"UV_CONFIG_FILE": str(tmp_path / "pyproject.toml")}, cwd=tmp_path)
    (tmp_path / "uv.toml").write_text("native-tls = [\n")
    with pytest.raises(ConfigError, match="uv.toml"):
        resolve(env={}, cwd=tmp_path)
    # tlsback's own table: passing over custom-certs = "only" would widen the trust.
    sub = tmp_path / "app"
    sub.mkdir()
    (sub / "pyproject.toml").write_text('[tool.tlsback]\ncustom-certs = "only"\n[')
    with pytest.raises(ConfigError, match="pyproject.toml"):
        resolve(env={}, cwd=sub)


ROOT = '[project]\nname = "root"\nversion = "0.1"\n'
MEMBER = '[project]\nname = "a"\nversion = "0.1"\n[tool.uv]\nallow-insecure-host = ["member.example"]\n'


def _hosts(cwd: Path) -> list[str]:
    return [h.host for h in resolve(env={}, cwd=cwd).insecure_hosts.value]


@pytest.mark.parametrize(
    ("root", "expected"),
    [
        # In a workspace uv searches from the workspace root and ignores the members' settings.
        (ROOT + '[tool.uv.workspace]\nmembers = ["packages/*"]\n[tool.uv]\n'
         'allow-insecure-host = ["root.example"]\n', ["root.example"]),
        (ROOT + '[tool.uv.workspace]\nmembers = ["packages/*"]\n', []),
        # Not a member (another glob, or excluded): the project is its own root.
        (ROOT + '[tool.uv.workspace]\nmembers = ["libs/*"]\n', ["member.example"]),
        (ROOT + '[tool.uv.workspace]\nmembers = ["packages/*"]\nexclude = ["packages/a"]\n',
         ["member.example"]),
        # A project above that is not a workspace root: the member is a project of its own.
        (ROOT, ["member.example"]),
    ],
)
def test_a_workspace_members_settings_are_ignored_as_in_uv(tmp_path: Path, root: str,
                                                           expected: list[str]) -> None:
    """uv 0.13 (--show-settings): "In workspaces, uv will begin its search at the workspace
    root, ignoring any configuration defined in workspace members"."""
    (tmp_path / "pyproject.toml").write_text(root)
    member = tmp_path / "packages" / "a"
    (member / "src").mkdir(parents=True)
    (member / "pyproject.toml").write_text(MEMBER)
    assert _hosts(member / "src") == expected
    assert _hosts(member) == expected


@pytest.mark.parametrize(
    ("project", "expected"),
    [
        (ROOT, []),  # a project: uv searches from its directory, above the uv.toml
        (ROOT + '[tool.uv.workspace]\nmembers = []\n', []),
        ('[tool.uv.workspace]\nmembers = []\n', []),  # a workspace root without [project]
        ('[tool.black]\nline-length = 80\n', ["sub.example"]),  # not a project
        (ROOT + "[tool.uv]\nmanaged = false\n", ["sub.example"]),  # opted out of uv's projects
        ('[project]\nname = "broken"\n[', ["sub.example"]),  # unreadable: uv searches from cwd
    ],
)
def test_a_uv_toml_below_the_project_root_is_ignored_as_in_uv(tmp_path: Path, project: str,
                                                              expected: list[str]) -> None:
    (tmp_path / "pyproject.toml").write_text(project)
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "uv.toml").write_text('allow-insecure-host = ["sub.example"]\n')
    assert _hosts(sub) == expected


def test_uv_config_file_empty_or_not_a_file_is_an_error(tmp_path: Path) -> None:
    """uv refuses an empty UV_CONFIG_FILE ("a value is required for '--config-file'") instead
    of searching for files; a directory is not a missing file."""
    (tmp_path / "uv.toml").write_text('allow-insecure-host = ["proj.example"]\n')
    with pytest.raises(ConfigError, match="UV_CONFIG_FILE is set but empty"):
        resolve(env={"UV_CONFIG_FILE": ""}, cwd=tmp_path)
    with pytest.raises(ConfigError, match="UV_CONFIG_FILE=.*: not a regular file"):
        resolve(env={"UV_CONFIG_FILE": str(tmp_path)}, cwd=tmp_path)
    with pytest.raises(ConfigError, match="UV_CONFIG_FILE=.*: no such file"):
        resolve(env={"UV_CONFIG_FILE": str(tmp_path / "missing.toml")}, cwd=tmp_path)


@pytest.mark.parametrize("key", ["custom_certs", "custom-cert", "Backend"])
def test_an_unknown_key_in_tool_tlsback_is_an_error(tmp_path: Path, key: str) -> None:
    """A misspelt `custom-certs = "only"` passed over would trust the platform store too: an
    error naming the file, the key and the keys there are (as uv does for its own tables)."""
    (tmp_path / "pyproject.toml").write_text(f'[tool.tlsback]\n{key} = "only"\n')
    with pytest.raises(ConfigError) as info:
        resolve(env={}, cwd=tmp_path)
    message = str(info.value)
    assert str(tmp_path / "pyproject.toml") in message and f"`tool.tlsback.{key}`" in message
    assert "`backend`, `custom-certs`" in message


def test_a_relative_xdg_config_home_is_ignored_as_in_uv(tmp_path: Path) -> None:
    """The XDG spec (and uv, through etcetera) ignores a relative XDG_CONFIG_HOME: it would be
    read from whatever directory the program runs in."""
    (tmp_path / "cfg" / "uv").mkdir(parents=True)
    (tmp_path / "cfg" / "uv" / "uv.toml").write_text('allow-insecure-host = ["relative.example"]\n')
    home = tmp_path / "home"
    (home / ".config" / "uv").mkdir(parents=True)
    (home / ".config" / "uv" / "uv.toml").write_text('allow-insecure-host = ["home.example"]\n')
    s = resolve(env={"XDG_CONFIG_HOME": "cfg", "HOME": str(home)}, cwd=tmp_path)
    assert [h.host for h in s.insecure_hosts.value] == ["home.example"]


def test_a_workspace_members_tool_tlsback_still_applies(tmp_path: Path) -> None:
    """The workspace root decides uv's settings only: tlsback's own table is the nearest one
    (a member's custom-certs = "only" passed over would trust the platform store too)."""
    (tmp_path / "pyproject.toml").write_text(
        ROOT + '[tool.uv.workspace]\nmembers = ["packages/*"]\n[tool.uv]\nnative-tls = true\n')
    member = tmp_path / "packages" / "a"
    member.mkdir(parents=True)
    (member / "uv.toml").write_text('allow-insecure-host = ["member.example"]\n')
    (member / "pyproject.toml").write_text(
        '[project]\nname = "a"\nversion = "0.1"\n[tool.tlsback]\ncustom-certs = "only"\n')
    s = resolve(env={}, cwd=member)
    assert (s.custom_certs.value, s.custom_certs.origin) == ("only", f"config:{member / 'pyproject.toml'}")
    assert (s.backend.value, s.backend.origin) == ("native", f"config:{tmp_path / 'pyproject.toml'}")
    assert s.insecure_hosts.value == ()


@pytest.mark.parametrize(("given", "expected"), [
    ("localhost", ["localhost"]),
    ("a.example b.example", ["a.example", "b.example"]),
    ({"host": "a.example", "port": 8443}, ["a.example:8443"]),
])
def test_allow_insecure_host_given_one_string_or_table_is_one_entry(given: object,
                                                                    expected: list[str]) -> None:
    """`load(allow_insecure_host="localhost")` made one rule per character ("l", "o", ...):
    a string (split on spaces, as on the command line) or a table is one entry."""
    s = resolve(allow_insecure_host=given, env={})  # type: ignore[arg-type]
    assert [str(h) for h in s.insecure_hosts.value] == expected


@pytest.mark.parametrize("value", ["false", "0", 0, 1])
def test_native_tls_argument_must_be_a_bool(value: object) -> None:
    """`load(native_tls="false")` chose the native backend (a non-empty string is true)."""
    with pytest.raises(ConfigError, match="native_tls"):
        resolve(native_tls=value, env={})  # type: ignore[arg-type]
