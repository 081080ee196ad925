"""Differential suite for settings: the released ``uv`` binary and tlsback read the same files.

For each layout of config files and variables, ``uv pip compile --show-settings`` prints what uv
resolved (``system_certs``, ``allow_insecure_host``); :func:`tlsback.settings.resolve` must
resolve the same backend (system certificates = ``native``) and the same insecure hosts, in
the same order. The layouts are the places where the rules are easy to get wrong: the merge of
``system-certs`` and ``native-tls`` over files, a broken ``pyproject.toml`` met on the way up,
workspaces, ``UV_CONFIG_FILE``. docs/configuration.md says the rules in words.

Run with ``pytest -m uv tests/test_uv_settings_differential.py`` (a few seconds).
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests import policy_scenarios as ps
from tlsback.settings import resolve

pytestmark = pytest.mark.uv

ROOT = '[project]\nname = "root"\nversion = "0.1"\n'

#: id -> (files relative to the test directory, variables, working directory)
LAYOUTS: dict[str, tuple[dict[str, str], dict[str, str], str]] = {
    "user system-certs beats project native-tls": (
        {"proj/uv.toml": "native-tls = false\n", "xdg/uv/uv.toml": "system-certs = true\n"}, {}, "proj"),
    "project system-certs beats user native-tls": (
        {"proj/uv.toml": "system-certs = false\n", "xdg/uv/uv.toml": "native-tls = true\n"}, {}, "proj"),
    "project and user hosts appended": (
        {"proj/uv.toml": 'allow-insecure-host = ["proj.example"]\n',
         "xdg/uv/uv.toml": 'allow-insecure-host = ["user.example", "other.example:8443"]\n'}, {}, "proj"),
    "environment before config": (
        {"proj/uv.toml": 'system-certs = false\nallow-insecure-host = ["cfg.example"]\n'},
        {"UV_NATIVE_TLS": "true", "UV_INSECURE_HOST": "env.example other.example"}, "proj"),
    "UV_SYSTEM_CERTS before UV_NATIVE_TLS": ({}, {"UV_SYSTEM_CERTS": "false", "UV_NATIVE_TLS": "1"}, "proj"),
    "broken pyproject skipped, parent uv.toml read": (
        {"proj/uv.toml": 'native-tls = true\nallow-insecure-host = ["parent.example"]\n',
         "proj/app/pyproject.toml": '[project]\ndependencies = ["uvicorn"\n'}, {}, "proj/app"),
    "tool.uv not a table skipped": (
        {"proj/uv.toml": 'allow-insecure-host = ["parent.example"]\n',
         "proj/app/pyproject.toml": "[tool]\nuv = 3\n"}, {}, "proj/app"),
    "uv.toml beside pyproject wins": (
        {"proj/uv.toml": 'allow-insecure-host = ["uvtoml.example"]\n',
         "proj/pyproject.toml": '[tool.uv]\nallow-insecure-host = ["pyproject.example"]\n'}, {}, "proj"),
    "workspace member's settings ignored": (
        {"proj/pyproject.toml": ROOT + '[tool.uv.workspace]\nmembers = ["packages/*"]\n'
                                     '[tool.uv]\nallow-insecure-host = ["root.example"]\n',
         "proj/packages/a/pyproject.toml": '[project]\nname = "a"\nversion = "0.1"\n'
                                           '[tool.uv]\nallow-insecure-host = ["member.example"]\n',
         "proj/packages/a/src/.keep": ""}, {}, "proj/packages/a/src"),
    "excluded member is its own root": (
        {"proj/pyproject.toml": ROOT + '[tool.uv.workspace]\nmembers = ["packages/*"]\n'
                                     'exclude = ["packages/a"]\n',
         "proj/packages/a/pyproject.toml": '[project]\nname = "a"\nversion = "0.1"\n'
                                           '[tool.uv]\nallow-insecure-host = ["member.example"]\n'},
        {}, "proj/packages/a"),
    "uv.toml below the project root ignored": (
        {"proj/pyproject.toml": ROOT, "proj/sub/uv.toml": 'allow-insecure-host = ["sub.example"]\n'},
        {}, "proj/sub"),
    "uv.toml below a non-project pyproject read": (
        {"proj/pyproject.toml": "[tool.black]\nline-length = 80\n",
         "proj/sub/uv.toml": 'allow-insecure-host = ["sub.example"]\n'}, {}, "proj/sub"),
    "UV_CONFIG_FILE only": (
        {"proj/uv.toml": 'allow-insecure-host = ["proj.example"]\n',
         "xdg/uv/uv.toml": 'allow-insecure-host = ["user.example"]\n',
         "elsewhere/my.toml": 'system-certs = true\nallow-insecure-host = ["named.example"]\n'},
        {"UV_CONFIG_FILE": "{tmp}/elsewhere/my.toml"}, "proj"),
    "relative XDG_CONFIG_HOME ignored": (
        {"proj/cfg/uv/uv.toml": 'allow-insecure-host = ["relative.example"]\n',
         "home/.config/uv/uv.toml": 'allow-insecure-host = ["home.example"]\n'},
        {"XDG_CONFIG_HOME": "cfg"}, "proj"),
    "UV_CONFIG_FILE read despite UV_NO_CONFIG": (
        {"proj/uv.toml": 'allow-insecure-host = ["proj.example"]\n',
         "elsewhere/my.toml": 'system-certs = true\nallow-insecure-host = ["named.example"]\n'},
        {"UV_CONFIG_FILE": "{tmp}/elsewhere/my.toml", "UV_NO_CONFIG": "1"}, "proj"),
    "UV_NO_CONFIG": (
        {"proj/uv.toml": 'system-certs = true\nallow-insecure-host = ["proj.example"]\n'},
        {"UV_NO_CONFIG": "1"}, "proj"),
}

_HOST_RE = re.compile(r'Host \{\s*scheme: (None|Some\(\s*"([^"]*)",?\s*\)),\s*host: "([^"]*)",\s*'
                      r"port: (None|Some\(\s*(\d+),?\s*\)),?\s*\}")


@pytest.fixture(scope="session")
def uv_bin(tmp_path_factory: pytest.TempPathFactory) -> str:
    found = ps.find_uv(tmp_path_factory.mktemp("uv-install"), timeout=90)
    if found is None:
        pytest.skip("uv is not installed and could not be installed from the package index")
    return found


def _uv_settings(uv: str, cwd: Path, env: dict[str, str]) -> tuple[bool, list[str]]:
    proc = subprocess.run([uv, "pip", "compile", "--show-settings", "-"], cwd=cwd, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    system = re.search(r"system_certs: (true|false)", proc.stdout)
    block = re.search(r"allow_insecure_host: \[(.*?)\],\n", proc.stdout, re.DOTALL)
    assert system and block, proc.stdout
    hosts = []
    for m in _HOST_RE.finditer(block.group(1)):
        rule = m.group(3) if m.group(5) is None else f"{m.group(3)}:{m.group(5)}"
        hosts.append(f"{m.group(2)}://{rule}" if m.group(2) else rule)
    return system.group(1) == "true", hosts


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_same_settings_as_uv(layout: str, uv_bin: str, tmp_path: Path) -> None:
    files, variables, cwd = LAYOUTS[layout]
    for name, content in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(content)
    (tmp_path / cwd).mkdir(parents=True, exist_ok=True)
    (tmp_path / "xdg-dirs").mkdir()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path / "home"),
           "XDG_CONFIG_HOME": str(tmp_path / "xdg"), "XDG_CONFIG_DIRS": str(tmp_path / "xdg-dirs"),
           "UV_CACHE_DIR": str(tmp_path / "uv-cache"), "UV_PYTHON_DOWNLOADS": "never",
           "NO_COLOR": "1", "TLSBACK_NO_CACHE": "1"}
    env.update({k: v.replace("{tmp}", str(tmp_path)) for k, v in variables.items()})
    uv_native, uv_hosts = _uv_settings(uv_bin, tmp_path / cwd, env)
    settings = resolve(env=env, cwd=tmp_path / cwd)
    assert settings.backend.value == ("native" if uv_native else "rustls")
    assert [str(h) for h in settings.insecure_hosts.value] == uv_hosts
