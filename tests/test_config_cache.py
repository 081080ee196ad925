"""Config files' parsed tables, cached by content in the trust cache's directory.

What it should do: docs/configuration.md, "Config files" (the parser is skipped for a file
whose bytes were parsed before; an edited file is parsed again whatever its timestamps say; a
cached value that is not tlsback's own, private one is ignored).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import HermeticEnv
from tlsback import cache
from tlsback.errors import ConfigError
from tlsback.settings import resolve

PYPROJECT = """\
[project]
name = "demo"
dependencies = ["uvicorn"]

[tool.uv]
native-tls = true
allow-insecure-host = ["internal.example"]

[tool.other]
big = "not kept"
"""


def _cached(hermetic_env: HermeticEnv) -> list[Path]:
    return sorted(hermetic_env.tlsback_cache.glob("j1-*.json"))


def _settings_in_child(cwd: Path) -> list[str]:
    """Resolve in a fresh interpreter; report the values and whether tomllib was imported."""
    code = ("import sys, json; from tlsback.settings import resolve; s = resolve(); "
            "print(json.dumps([s.backend.value, s.backend.origin, [h.value for h in s.insecure_hosts.value], "
            "'tomllib' in sys.modules or 'tomli' in sys.modules]))")  # tomli: Python 3.10
    out = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=dict(os.environ), capture_output=True,
                         text=True, check=True, timeout=60).stdout
    result: list[str] = json.loads(out)
    return result


def test_a_parsed_file_is_not_parsed_again(hermetic_env: HermeticEnv) -> None:
    (hermetic_env.cwd / "pyproject.toml").write_text(PYPROJECT)
    first = _settings_in_child(hermetic_env.cwd)
    assert first[:3] == ["native", f"config:{hermetic_env.cwd / 'pyproject.toml'}", ["internal.example"]]
    assert first[3] is True  # parsed
    [entry] = _cached(hermetic_env)
    assert json.loads(entry.read_text()) == {"tool": {"uv": {"native-tls": True,
                                                               "allow-insecure-host": ["internal.example"]}},
                                             "project": True}  # whether it is a project's
    assert entry.stat().st_mode & 0o777 == 0o600
    second = _settings_in_child(hermetic_env.cwd)
    assert second == [*first[:3], False]  # the same values, without the parser


def test_an_edited_file_is_parsed_again_whatever_its_timestamps(hermetic_env: HermeticEnv) -> None:
    path = hermetic_env.cwd / "pyproject.toml"
    path.write_text(PYPROJECT)
    assert resolve(cwd=hermetic_env.cwd).backend.value == "native"
    st = path.stat()
    path.write_text(PYPROJECT.replace("native-tls = true", "native-tls = fals"))  # same size
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_size == st.st_size
    # Parsed again: not TOML now, so passed over with a warning (as uv does), not the cached value.
    assert resolve(cwd=hermetic_env.cwd).backend.value == "rustls"
    path.write_text(PYPROJECT.replace("native-tls = true", 'native-tls = "no"'))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    with pytest.raises(ConfigError, match="native-tls"):
        resolve(cwd=hermetic_env.cwd)


@pytest.mark.parametrize("damage", ["garbage", "not-an-object", "group-writable", "symlink", "fifo", "other-owner"])
def test_a_cached_value_that_is_not_ours_is_ignored(hermetic_env: HermeticEnv, tmp_path: Path, damage: str) -> None:
    """The cached value decides settings (native-tls, insecure hosts): one that could have been
    written by someone else, or is damaged, is never used; the file is parsed again."""
    path = hermetic_env.cwd / "pyproject.toml"
    path.write_text(PYPROJECT)
    resolve(cwd=hermetic_env.cwd)
    [entry] = _cached(hermetic_env)
    forged = json.dumps({"tool": {"uv": {"allow-insecure-host": ["*"]}}})
    entry.unlink()
    if damage == "garbage":
        entry.write_text("{not json")
    elif damage == "not-an-object":
        entry.write_text("[1, 2]")
    elif damage == "group-writable":
        entry.write_text(forged)
        entry.chmod(0o620)
    elif damage == "symlink":
        target = tmp_path / "elsewhere.json"
        target.write_text(forged)
        entry.symlink_to(target)
    elif damage == "fifo":
        os.mkfifo(entry, 0o600)
    elif damage == "other-owner":
        if os.geteuid() != 0:
            pytest.skip("needs root to give a file to another user")
        entry.write_text(forged)
        entry.chmod(0o600)
        os.chown(entry, 54321, 54321)
    settings = resolve(cwd=hermetic_env.cwd)
    assert [h.value for h in settings.insecure_hosts.value] == ["internal.example"]
    assert settings.backend.value == "native"


def test_no_cache_when_the_trust_cache_is_off(hermetic_env: HermeticEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    (hermetic_env.cwd / "pyproject.toml").write_text(PYPROJECT)
    monkeypatch.setenv("TLSBACK_NO_CACHE", "1")
    assert resolve(cwd=hermetic_env.cwd).backend.value == "native"
    monkeypatch.delenv("TLSBACK_NO_CACHE")
    assert resolve(cwd=hermetic_env.cwd, no_cache=True).backend.value == "native"
    assert _cached(hermetic_env) == []


def test_values_json_cannot_hold_are_parsed_every_time(hermetic_env: HermeticEnv) -> None:
    (hermetic_env.config / "uv").mkdir()
    (hermetic_env.config / "uv" / "uv.toml").write_text("native-tls = true\nwhen = 1979-05-27\n")
    assert resolve(cwd=hermetic_env.cwd).backend.value == "native"
    assert resolve(cwd=hermetic_env.cwd).backend.value == "native"
    assert _cached(hermetic_env) == []


def test_unused_cached_values_are_pruned(hermetic_env: HermeticEnv) -> None:
    (hermetic_env.cwd / "pyproject.toml").write_text(PYPROJECT)
    resolve(cwd=hermetic_env.cwd)
    [entry] = _cached(hermetic_env)
    root = cache.resolve_root(str(hermetic_env.tlsback_cache), {})
    assert cache.prune(root) == []
    old = time.time() - cache.PRUNE_AGE_S - 60
    os.utime(entry, (old, old))
    assert cache.prune(root) == [entry.name]
    assert _cached(hermetic_env) == []


def test_a_used_value_is_kept_by_pruning_without_a_write_per_read(hermetic_env: HermeticEnv) -> None:
    """A read records a use (for pruning) only when the last one recorded is old enough to
    matter: a value read an hour ago is not written again; one nearly a day old is, and
    pruning keeps it."""
    (hermetic_env.cwd / "pyproject.toml").write_text(PYPROJECT)
    resolve(cwd=hermetic_env.cwd)
    [entry] = _cached(hermetic_env)
    root = cache.resolve_root(str(hermetic_env.tlsback_cache), {})
    recent = time.time_ns() - 3600 * 10**9
    os.utime(entry, ns=(recent, recent))
    assert resolve(cwd=hermetic_env.cwd).backend.value == "native"
    assert entry.stat().st_mtime_ns == recent  # read, not written
    old = time.time() - cache.PRUNE_AGE_S + 60
    os.utime(entry, (old, old))
    assert resolve(cwd=hermetic_env.cwd).backend.value == "native"  # a use
    assert cache.prune(root, now=time.time() + 120) == []  # a day after the one before
    assert _cached(hermetic_env) == [entry]


@pytest.mark.parametrize("place", ["TLSBACK_CACHE_DIR", "XDG_RUNTIME_DIR"])
def test_the_config_cache_is_where_the_settings_put_the_trust_cache(hermetic_env: HermeticEnv,
                                                                    monkeypatch: pytest.MonkeyPatch,
                                                                    place: str) -> None:
    """The cache directory is read from the environment once, by the settings: the config
    files' cache uses the resolved ``cache_dir`` / ``cache_env``, not variables of its own."""
    from tlsback import _config_files

    (hermetic_env.cwd / "pyproject.toml").write_text(PYPROJECT)
    if place == "XDG_RUNTIME_DIR":
        monkeypatch.delenv("TLSBACK_CACHE_DIR")
    env = dict(os.environ)
    settings = resolve(cwd=hermetic_env.cwd, env=env)
    root = cache.resolve_root(settings.cache_dir.value, settings.cache_env.value).path
    expected = hermetic_env.tlsback_cache if place == "TLSBACK_CACHE_DIR" else hermetic_env.runtime / "tlsback"
    assert Path(root) == expected
    assert [p.parent for p in Path(root).glob("j1-*.json")] == [expected]
    # discover itself takes the place it is given, whatever its environment says.
    elsewhere = hermetic_env.home / "elsewhere"
    files = _config_files.discover(str(hermetic_env.cwd), env, no_config=False, cache=(str(elsewhere), {}))
    assert [f.uv.get("native-tls") for f in files] == [True]
    assert len(list(elsewhere.glob("j1-*.json"))) == 1

