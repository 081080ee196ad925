"""The backend registry: built-ins and plugins through one entry-point group.

What it should do: docs/configuration.md, "Backends".

The plugin tests install a tiny real distribution (a ``.dist-info`` directory with
``entry_points.txt``) on ``sys.path``, exactly as pip would lay it out.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

import tlsback
from tests.conftest import write_plugin_dist
from tests.pki import PKI
from tests.tlsserver import HTTPSServer, get
from tlsback import registry
from tlsback.errors import BackendError

PLUGIN_MODULE = '''
import ssl


class PlainBackend:
    """A third-party backend: stdlib defaults over tlsback's store."""

    name = "plain"
    description = "test plugin: stdlib defaults"
    uses_platform_store = True

    def create_context(self, store, *, verify=True):
        ctx = ssl.create_default_context()
        ctx.load_verify_locations(cadata=store.cadata())
        ctx.tlsback_plugin = True
        return ctx


class NotABackend:
    pass
'''

ENTRY_POINTS = """
[tlsback.backends]
plain = tlsback_testplugin:PlainBackend
broken = tlsback_missing_module:Backend
rustls = tlsback_testplugin:PlainBackend
bogus = tlsback_testplugin:NotABackend
"""


@pytest.fixture
def plugin_dist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    site = write_plugin_dist(tmp_path / "site", "tlsback_testplugin", textwrap.dedent(PLUGIN_MODULE), ENTRY_POINTS)
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    yield site
    sys.modules.pop("tlsback_testplugin", None)


def test_builtins_are_registered() -> None:
    entries = registry.discover()
    assert entries["rustls"].builtin and entries["native"].builtin
    assert registry.get_backend("rustls").name == "rustls"
    assert registry.get_backend("native").uses_platform_store is False


def test_unknown_backend_names_the_registered_ones() -> None:
    with pytest.raises(BackendError, match="unknown TLS backend 'nope'.*native.*rustls"):
        registry.get_backend("nope")


def test_third_party_backend_is_found_and_selectable(plugin_dist: Path, pki: PKI,
                                                     https_server: Callable[..., HTTPSServer], tmp_path: Path) -> None:
    entries = registry.discover()
    assert entries["plain"].distribution == "tlsback-testplugin"
    server = https_server(pki)
    env = {**os.environ, "TLSBACK_BACKEND": "plain", "SSL_CERT_FILE": str(pki.write_root(tmp_path / "root.pem"))}
    cfg = tlsback.load(env=env)
    assert cfg.backend_name == "plain" and cfg.settings.backend.origin == "env:TLSBACK_BACKEND"
    assert getattr(cfg.context, "tlsback_plugin", False)
    assert get(server.url, cfg.context).status == 200


def test_broken_plugin_is_reported_and_does_not_break_others(plugin_dist: Path) -> None:
    entries = registry.discover()
    with pytest.raises(BackendError, match="broken.*failed to load.*ModuleNotFoundError"):
        entries["broken"].load()
    with pytest.raises(BackendError, match="does not provide"):
        entries["bogus"].load()
    assert registry.get_backend("plain").name == "plain"
    assert registry.get_backend("rustls").name == "rustls"


def test_plugin_cannot_take_a_builtin_name(plugin_dist: Path) -> None:
    entries = registry.discover()
    assert entries["rustls"].builtin
    conflict = entries["rustls (tlsback-testplugin)"]
    assert conflict.conflict and "built-in" in conflict.conflict
    with pytest.raises(BackendError, match="built-in"):
        conflict.load()


def test_cli_backends_lists_availability_and_reasons(plugin_dist: Path, run_cli: Callable[..., object]) -> None:
    result = run_cli("backends", "--json", env={"PYTHONPATH": os.pathsep.join([str(plugin_dist), *sys.path])})
    assert result.returncode == 0, result.stderr
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert rows["rustls"]["available"] and rows["native"]["available"] and rows["plain"]["available"]
    assert not rows["broken"]["available"] and "tlsback_missing_module" in rows["broken"]["reason"]
    assert not rows["rustls (tlsback-testplugin)"]["available"]
    human = run_cli("backends", env={"PYTHONPATH": os.pathsep.join([str(plugin_dist), *sys.path])})
    assert human.returncode == 0
    assert "broken" in human.stdout and "unavailable" in human.stdout
