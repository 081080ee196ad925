"""The per-user trust cache: where it lives, keys, warm starts, faults, concurrency.

What they check: docs/cache.md.

Every fault test ends with a good store: an entry that is corrupt, foreign-owned, writable by
others or half-written is ignored and rebuilt, never trusted.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import tlsback
from tests.conftest import SRC, HermeticEnv
from tests.pki import PKI, issue
from tests.tlsserver import HTTPSServer, handshake
from tlsback import _scan, _scan_py, cache, loader
from tlsback.bench import make_cert

NOBODY = 65534


@pytest.fixture
def certdir(tmp_path: Path, pki: PKI) -> Path:
    d = tmp_path / "certs"
    d.mkdir()
    pki.root.write_pem(d / "root.pem")
    for i in range(3):
        issue(f"cache filler {i}", is_ca=True).write_pem(d / f"filler{i}.pem")
    return d


def load(certdir: Path, **env: str) -> tlsback.TLSConfig:
    base = {
        "UV_NO_CONFIG": "1", "TLSBACK_STORE": "lazy", "TLSBACK_CUSTOM_CERTS": "only",
        "SSL_CERT_DIR": str(certdir), **{k: v for k, v in os.environ.items()
                                          if k in ("XDG_RUNTIME_DIR", "TLSBACK_CACHE_DIR", "HOME",
                                                   "XDG_CACHE_HOME")},
    }
    base.update(env)
    return tlsback.load(env={k: v for k, v in base.items() if v is not None}, cwd=certdir)


def entries(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.name.startswith("e")) if root.exists() else []


def verifies(cfg: tlsback.TLSConfig, port: int) -> bool:
    import ssl

    try:
        handshake(port, cfg.context)
    except ssl.SSLCertVerificationError:
        return False
    return True


# --- location ---------------------------------------------------------------------------------


def test_tlsback_cache_dir_overrides_and_is_created_private(certdir: Path, hermetic_env: HermeticEnv) -> None:
    """TLSBACK_CACHE_DIR is used as is, created 0700."""
    cfg = load(certdir)
    assert cfg.store.cache["state"] == "built"
    assert cfg.store.cache["root"] == str(hermetic_env.tlsback_cache)
    assert cfg.store.cache["root_origin"] == "env:TLSBACK_CACHE_DIR"
    assert (hermetic_env.tlsback_cache.stat().st_mode & 0o777) == 0o700
    [entry] = entries(hermetic_env.tlsback_cache)
    assert (entry.stat().st_mode & 0o777) == 0o700


def test_xdg_runtime_dir_is_the_default(certdir: Path, hermetic_env: HermeticEnv) -> None:
    """Without TLSBACK_CACHE_DIR: $XDG_RUNTIME_DIR/tlsback, mode 0700."""
    cfg = load(certdir, TLSBACK_CACHE_DIR=None)  # type: ignore[arg-type]
    root = hermetic_env.runtime / "tlsback"
    assert cfg.store.cache["root"] == str(root)
    assert cfg.store.cache["root_origin"] == "XDG_RUNTIME_DIR"
    assert (root.stat().st_mode & 0o777) == 0o700 and entries(root)


def test_dev_shm_then_user_cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     hermetic_env: HermeticEnv) -> None:
    """No XDG_RUNTIME_DIR: /dev/shm/tlsback-<uid>; if that is unusable, the user cache dir."""
    shm = tmp_path / "shm"
    shm.mkdir(mode=0o1777)
    monkeypatch.setattr(cache, "SHM_DIR", str(shm))
    env = {"HOME": str(hermetic_env.home), "XDG_CACHE_HOME": str(hermetic_env.cache)}
    root = cache.resolve_root(None, env)
    assert root.path == str(shm / f"tlsback-{os.geteuid()}") and root.origin == "/dev/shm"
    assert (Path(root.path).stat().st_mode & 0o777) == 0o700

    # Someone else created the name first (a shared, sticky directory): refused.
    os.chown(root.path, NOBODY, NOBODY)
    other = cache.resolve_root(None, env)
    assert other.origin == "user cache dir" and other.path == str(hermetic_env.cache / "tlsback")
    assert "owned by uid 65534" in other.skipped[0]

    # A symlink planted there: refused too, never followed.
    os.chown(root.path, os.geteuid(), os.getegid())
    shutil.rmtree(root.path)
    target = tmp_path / "elsewhere"
    target.mkdir(mode=0o700)
    os.symlink(target, root.path)
    assert cache.resolve_root(None, env).origin == "user cache dir"
    assert not list(target.iterdir())


def test_unsafe_xdg_runtime_dir_is_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           hermetic_env: HermeticEnv) -> None:
    """An XDG_RUNTIME_DIR readable by others is not private: the next candidate is used."""
    shm = tmp_path / "shm"
    shm.mkdir(mode=0o1777)
    monkeypatch.setattr(cache, "SHM_DIR", str(shm))
    hermetic_env.runtime.chmod(0o755)
    root = cache.resolve_root(None, {"XDG_RUNTIME_DIR": str(hermetic_env.runtime)})
    assert root.origin == "/dev/shm"
    assert "mode 0755" in root.skipped[0]


@pytest.mark.parametrize("fault", ["world-writable", "foreign-owned", "symlink"])
def test_unsafe_override_disables_the_cache_but_not_the_store(
        fault: str, certdir: Path, tmp_path: Path, pki: PKI, caplog: pytest.LogCaptureFixture,
        https_server: Callable[..., HTTPSServer]) -> None:
    """A TLSBACK_CACHE_DIR that is not private is never written to; the store still works."""
    bad = tmp_path / "bad-cache"
    if fault == "symlink":
        real = tmp_path / "real"
        real.mkdir(mode=0o700)
        bad.symlink_to(real)
    else:
        bad.mkdir(mode=0o700)
        if fault == "world-writable":
            bad.chmod(0o777)
        else:
            os.chown(bad, NOBODY, NOBODY)
    cfg = load(certdir, TLSBACK_CACHE_DIR=str(bad))
    assert cfg.store.cache["state"] == "disabled"
    assert "TLSBACK_CACHE_DIR cannot be used" in cfg.store.cache["reason"]
    assert any("trust cache is off" in r.getMessage() for r in caplog.records)
    assert not any(p.name.startswith("e") for p in Path(os.path.realpath(bad)).iterdir())
    assert verifies(cfg, https_server(pki).port)


# --- warm starts and keys ----------------------------------------------------------------------


def test_warm_start_reads_no_file_and_repeats_the_warnings(
        certdir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, pki: PKI,
        https_server: Callable[..., HTTPSServer]) -> None:
    """A hit only stats: nothing read or scanned; reports and warnings come from the entry."""
    (certdir / "broken.pem").write_text("-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n")
    cold = load(certdir)
    assert cold.store.cache["state"] == "built"
    cold_warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("broken.pem" in w for w in cold_warnings)
    caplog.clear()

    def no(*a: object, **k: object) -> None:
        raise AssertionError("a warm start must not read or scan")

    real_select = _scan.select
    monkeypatch.setattr(loader, "_read_files", no)
    monkeypatch.setattr(_scan, "select", no)
    warm = load(certdir)
    assert warm.store.cache["state"] == "hit", warm.store.cache
    assert warm.store.lazy_dir == cold.store.lazy_dir
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == cold_warnings
    monkeypatch.setattr(_scan, "select", real_select)  # diagnostics() names the installed scanner
    assert warm.diagnostics()["sources"] == cold.diagnostics()["sources"]
    assert warm.diagnostics()["store"] == cold.diagnostics()["store"]
    assert verifies(warm, https_server(pki).port)


@pytest.mark.parametrize("change", ["content", "touch", "add", "remove", "replace-inode", "chmod"])
def test_any_change_to_a_source_file_gives_a_new_key(change: str, certdir: Path, pki: PKI,
                                                      other_pki: PKI, hermetic_env: HermeticEnv,
                                                      https_server: Callable[..., HTTPSServer]) -> None:
    """Changed, touched, added, removed or replaced files: another key, a rebuilt entry."""
    first = load(certdir)
    key = first.store.cache["key"]
    target = certdir / "filler0.pem"
    if change == "content":  # same size, same mtime: only the inode check would... so keep mtime
        st = target.stat()
        target.write_bytes(other_pki.root.pem.ljust(st.st_size, b"\n")[: max(st.st_size, len(other_pki.root.pem))])
        os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + 1))
    elif change == "touch":
        st = target.stat()
        os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + 1000))
    elif change == "add":
        other_pki.root.write_pem(certdir / "added.pem")
    elif change == "remove":
        target.unlink()
    elif change == "replace-inode":
        data, st = target.read_bytes(), target.stat()
        target.unlink()
        (certdir / "spacer").write_bytes(b"")  # keep the inode from being reused at once
        target.write_bytes(data)
        os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    elif change == "chmod":
        target.chmod(0o600)
    second = load(certdir)
    assert second.store.cache["state"] == "built"
    assert second.store.cache["key"] != key
    if change == "add":
        assert verifies(second, https_server(other_pki).port)
        assert not verifies(first, https_server(other_pki).port)


def test_the_key_covers_mode_and_version(certdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another tlsback version or another merge mode never reuses an entry."""
    a = load(certdir).store.cache["key"]
    assert load(certdir).store.cache["key"] == a
    monkeypatch.setattr(cache, "__version__", "999")
    assert load(certdir).store.cache["key"] != a


# --- faults -----------------------------------------------------------------------------------


def _corrupt(entry: Path, fault: str) -> None:
    meta = entry / cache.META_NAME
    if fault == "garbage-metadata":
        meta.write_bytes(b"\x00not json")
    elif fault == "truncated-metadata":
        meta.write_bytes(meta.read_bytes()[:20])
    elif fault == "half-written":
        meta.unlink()
    elif fault == "file-removed":
        time.sleep(0.02)  # the directory mtime has coarse (jiffy) resolution
        next(p for p in entry.iterdir() if p.name[0] != "t").unlink()
    elif fault == "file-added":
        time.sleep(0.02)
        (entry / "deadbeef.0").write_text("x")
    elif fault == "world-writable":
        entry.chmod(0o777)
    elif fault == "group-writable-metadata":
        meta.chmod(0o620)
    elif fault == "foreign-owned":
        os.chown(entry, NOBODY, NOBODY)
    elif fault == "foreign-owned-metadata":
        os.chown(meta, NOBODY, NOBODY)
    elif fault == "other-key":
        m = json.loads(meta.read_text())
        m["key"] = "0" * 32
        meta.write_text(json.dumps(m))
    elif fault == "other-version":
        m = json.loads(meta.read_text())
        m["tlsback"] = "0.0.0"
        meta.write_text(json.dumps(m))
    elif fault in ("no-reports", "bad-reports"):
        m = json.loads(meta.read_text())
        if fault == "no-reports":
            del m["reports"]
        else:
            m["reports"] = [{"files": "many", "problems": [["x"]]}]
        meta.write_text(json.dumps(m))
    elif fault == "symlink":
        real = entry.with_name("elsewhere")
        entry.rename(real)
        entry.symlink_to(real)
    else:  # pragma: no cover
        raise AssertionError(fault)


FAULTS = ["garbage-metadata", "truncated-metadata", "half-written", "file-removed", "file-added",
          "world-writable", "group-writable-metadata", "foreign-owned", "foreign-owned-metadata",
          "other-key", "other-version", "no-reports", "bad-reports", "symlink"]


@pytest.mark.parametrize("fault", FAULTS)
def test_a_bad_entry_is_rebuilt_never_trusted(fault: str, certdir: Path, hermetic_env: HermeticEnv,
                                              pki: PKI, https_server: Callable[..., HTTPSServer]) -> None:
    """Corrupt, foreign-owned, writable by others, half-written: ignored, rebuilt, good again."""
    first = load(certdir)
    entry = Path(first.store.lazy_dir or "")
    del first
    _corrupt(entry, fault)
    second = load(certdir)
    assert second.store.cache["state"] == "built", second.store.cache
    assert "not trusted" in second.store.cache["reason"]
    assert verifies(second, https_server(pki).port)
    # The rebuilt entry is in place and good: the next start is a hit.
    third = load(certdir)
    assert third.store.cache["state"] == "hit"
    assert Path(third.store.lazy_dir or "") == entry and not entry.is_symlink()
    assert verifies(third, https_server(pki).port)
    assert (entry.stat().st_uid, entry.stat().st_mode & 0o777) == (os.geteuid(), 0o700)


@pytest.mark.parametrize("index", [
    b"not json", b"[]", b'[["00000000.0", "/x.pem", 0]]',  # the triples of format 3
    b'{"names": [], "origins": [], "places": []}',  # the lists of a draft of format 4
    b'{"names": "", "origins": "", "places": ""}',  # fewer than the metadata's count
    b'{"names": "../../x", "origins": "/x.pem", "places": "0"}',
    b'{"names": "00000000.0", "origins": "/x.pem", "places": "-1"}',
    b'{"names": "00000000.0", "origins": "/x.pem", "places": "0", "more": ""}',
])
def test_a_damaged_index_is_never_read_back(index: bytes, certdir: Path, hermetic_env: HermeticEnv) -> None:
    """The index is read only when a warm store's certificates are asked for: one the writer
    did not write makes that entry unused, and the certificates come from the sources."""
    assert load(certdir).store.cache["state"] == "built"
    warm = load(certdir)
    assert warm.store.cache["state"] == "hit"
    expected = load(certdir, TLSBACK_STORE="eager").store.certs
    entry = Path(warm.store.lazy_dir or "")
    count = json.loads((entry / cache.META_NAME).read_text())["count"]
    if index.startswith((b'{"names": "0', b'{"names": ".')):  # one certificate's columns: the metadata's count of them
        columns = json.loads(index)
        seps = {"names": " ", "origins": "\0", "places": " ", "more": ""}
        index = json.dumps({k: seps[k].join([v] * count) for k, v in columns.items()}).encode()
    (entry / cache.INDEX_NAME).write_bytes(index)
    assert warm.store.certs == expected
    assert warm.store.cache["state"] == "eager" and "damaged" in warm.store.cache["reason"]
    assert load(certdir).store.cache["state"] == "built"  # the entry was discarded


def test_a_planted_certificate_in_a_tampered_entry_is_not_trusted(
        certdir: Path, pki: PKI, other_pki: PKI, https_server: Callable[..., HTTPSServer]) -> None:
    """A file added to an entry after it was built changes its mtime: the entry is refused."""
    first = load(certdir)
    entry = Path(first.store.lazy_dir or "")
    del first
    time.sleep(0.02)
    other_pki.root.write_pem(entry / other_pki.root.hash_name())
    second = load(certdir)
    assert second.store.cache["state"] == "built"
    assert not verifies(second, https_server(other_pki).port)


def test_leftovers_of_a_crashed_builder_are_pruned(certdir: Path, hermetic_env: HermeticEnv) -> None:
    """A .tmp- directory nobody holds, older than the grace period, goes at the next build."""
    root = hermetic_env.tlsback_cache
    root.mkdir(mode=0o700, exist_ok=True)
    stale = root / ".tmp-0123456789ab-1-dead"
    stale.mkdir()
    (stale / "00000000.0").write_text("half")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    cfg = load(certdir)
    assert cfg.store.cache["state"] == "built", cfg.store.cache
    assert not stale.exists(), os.listdir(root)


def test_old_and_surplus_entries_are_pruned_unless_in_use(certdir: Path, hermetic_env: HermeticEnv,
                                                          pki: PKI,
                                                          https_server: Callable[..., HTTPSServer]) -> None:
    """Entries unused for a day, or beyond MAX_ENTRIES, are removed; leased ones never."""
    root = hermetic_env.tlsback_cache
    in_use = load(certdir)
    ctx = in_use.context
    used_entry = Path(in_use.store.lazy_dir or "")
    del in_use  # the context alone keeps the lease
    old_entries = []
    for i in range(cache.MAX_ENTRIES + 2):
        issue(f"prune {i}", is_ca=True).write_pem(certdir / f"prune{i}.pem")
        cfg = load(certdir)
        old_entries.append(Path(cfg.store.lazy_dir or ""))
        del cfg
    # Make the in-use one the oldest by far: still kept.
    old = time.time() - 10 * 86400
    os.utime(used_entry / cache.META_NAME, (old, old))
    removed = cache.prune(cache.CacheRoot(str(root), "test"), keep=None)
    assert used_entry.name not in removed and used_entry.exists()
    assert len(entries(root)) <= cache.MAX_ENTRIES + 1
    assert old_entries[-1].exists()
    assert handshake(https_server(pki).port, ctx)


def test_a_used_entry_is_kept_by_pruning_without_a_write_per_start(certdir: Path,
                                                                    hermetic_env: HermeticEnv) -> None:
    """A warm start records the entry's use (its metadata's mtime, for pruning) only when the
    last one recorded is old enough to matter; an entry used nearly a day ago and now is kept."""
    import gc

    cfg = load(certdir)
    meta = Path(cfg.store.lazy_dir or "") / cache.META_NAME
    del cfg
    gc.collect()
    recent = time.time_ns() - 3600 * 10**9
    os.utime(meta, ns=(recent, recent))
    cfg = load(certdir)
    assert cfg.store.cache["state"] == "hit", cfg.store.cache
    assert meta.stat().st_mtime_ns == recent  # read, not written
    del cfg
    old = time.time() - cache.PRUNE_AGE_S + 60
    os.utime(meta, (old, old))
    cfg = load(certdir)
    assert cfg.store.cache["state"] == "hit", cfg.store.cache
    del cfg
    gc.collect()  # no lease left: only the recorded use keeps it
    root = cache.CacheRoot(str(hermetic_env.tlsback_cache), "test")
    assert meta.parent.name not in cache.prune(root, now=time.time() + 120)
    assert meta.exists()


def test_an_entry_is_removed_only_when_its_last_context_is_gone(certdir: Path, hermetic_env: HermeticEnv) -> None:
    """The lease lives with the contexts: drop them all and prune may remove the entry."""
    import gc

    cfg = load(certdir)
    ctx = cfg.context
    entry = Path(cfg.store.lazy_dir or "")
    root = cache.CacheRoot(str(hermetic_env.tlsback_cache), "test")
    del cfg
    gc.collect()
    assert entry.name not in cache.prune(root, max_entries=0)
    del ctx
    gc.collect()
    assert entry.name in cache.prune(root, max_entries=0)
    assert not entry.exists()


# --- no cache ---------------------------------------------------------------------------------


def test_no_cache_builds_privately_and_removes_it_at_exit(certdir: Path, pki: PKI, hermetic_env: HermeticEnv,
                                                          run_cli: Callable[..., subprocess.CompletedProcess[str]],
                                                          ) -> None:
    """--no-cache and TLSBACK_NO_CACHE=1: a private temporary directory, gone after the process."""
    env = {"SSL_CERT_DIR": str(certdir), "TLSBACK_STORE": "lazy", "TLSBACK_CUSTOM_CERTS": "only"}
    for args, extra in ((["--no-cache"], {}), ([], {"TLSBACK_NO_CACHE": "1"})):
        r = run_cli(*args, "info", "--json", env={**env, **extra})
        assert r.returncode == 0, r.stderr
        c = json.loads(r.stdout)["cache"]
        assert c["state"] == "disabled"
        assert ("--no-cache" if args else "TLSBACK_NO_CACHE") in c["reason"]
        assert c["path"] and not os.path.exists(c["path"])
    assert not entries(hermetic_env.tlsback_cache)


def test_no_cache_directory_is_private_and_removed_with_its_last_user(certdir: Path) -> None:
    """In process: 0700, unpredictable name, removed once no store or context refers to it."""
    import gc

    cfg = load(certdir, TLSBACK_NO_CACHE="1")
    path = Path(cfg.store.lazy_dir or "")
    assert cfg.store.cache["state"] == "disabled"
    assert (path.stat().st_mode & 0o777) == 0o700 and path.name.startswith("tlsback-store-")
    del cfg
    gc.collect()
    assert not path.exists()


# --- info -------------------------------------------------------------------------------------


def test_info_shows_the_cache_state(certdir: Path, run_cli: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    """`tlsback info` prints built, then hit, with the path; --json has the details."""
    env = {"SSL_CERT_DIR": str(certdir), "TLSBACK_STORE": "lazy", "TLSBACK_CUSTOM_CERTS": "only"}
    first = run_cli("info", env=env)
    assert first.returncode == 0, first.stderr
    line = next(ln for ln in first.stdout.splitlines() if ln.startswith("cache"))
    assert "built" in line and f"e{cache.FORMAT}-" in line
    second = json.loads(run_cli("info", "--json", env=env).stdout)
    assert second["cache"]["state"] == "hit"
    assert second["cache"]["store"] == "lazy" and second["cache"]["store_origin"] == "env:TLSBACK_STORE"
    assert second["store"]["certificates"] == 4
    assert second["loader"]["reason"].startswith("not run: warm cache")


# --- concurrency ------------------------------------------------------------------------------

_WORKER = textwrap.dedent("""
    import os, sys, time, json, ssl, socket
    import tlsback
    go = sys.argv[1]
    while not os.path.exists(go):
        time.sleep(0.001)
    cfg = tlsback.load()
    ctx = cfg.context
    with socket.create_connection(("127.0.0.1", int(sys.argv[2]))) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            pass
    print(json.dumps({"state": cfg.store.cache["state"], "path": cfg.store.lazy_dir}))
""")


def test_concurrent_builders_all_end_with_a_good_store(tmp_path: Path, pki: PKI, hermetic_env: HermeticEnv,
                                                       https_server: Callable[..., HTTPSServer]) -> None:
    """Several processes building the same entry at once: every one verifies; one entry stays."""
    d = tmp_path / "many"
    d.mkdir()
    for i in range(300):
        issue(f"race {i}", is_ca=True).write_pem(d / f"c{i:03d}.pem")
    pki.root.write_pem(d / "root.pem")
    srv = https_server(pki)
    go = tmp_path / "go"
    env = {**os.environ, "SSL_CERT_DIR": str(d), "TLSBACK_STORE": "lazy", "TLSBACK_CUSTOM_CERTS": "only",
           "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    for rnd in range(3):
        go.unlink(missing_ok=True)
        shutil.rmtree(hermetic_env.tlsback_cache, ignore_errors=True)
        procs = [subprocess.Popen([sys.executable, "-c", _WORKER, str(go), str(srv.port)], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(4)]
        time.sleep(0.5)  # all imported and waiting
        go.touch()
        results = []
        for p in procs:
            out, err = p.communicate(timeout=120)
            assert p.returncode == 0, err
            results.append(json.loads(out))
        assert {r["state"] for r in results} <= {"built", "hit"}
        names = [p.name for p in hermetic_env.tlsback_cache.iterdir()]
        assert len([n for n in names if n.startswith(f"e{cache.FORMAT}-")]) == 1, names
        assert not [n for n in names if n.startswith(".tmp-")], names
        # Everyone ended on the entry in place (a loser of the race adopts the winner's).
        assert len({r["path"] for r in results}) == 1
        final = load(d)
        assert final.store.cache["state"] == "hit"
        assert final.store.count == 301


def test_an_index_replaced_by_a_link_or_a_fifo_is_damage_and_never_blocks(tmp_path: Path) -> None:
    """The index is read with the metadata's checks: a symlink in its place (to a file with the
    right content) or a FIFO is refused as damage at once, never followed or waited on."""
    import threading

    d = tmp_path / "certs"
    d.mkdir()
    for i in range(3):
        (d / f"c{i}.pem").write_bytes(b"".join(_scan_py.pem_encode([make_cert(4000 + i)])))
    root = cache.CacheRoot(str(tmp_path / "cache"), "test")
    os.makedirs(root.path, mode=0o700)
    store = loader.load_trust_store(cert_file=None, cert_dirs=[str(d)], include_platform=False,
                                    options=loader.StoreOptions(store="lazy", cache_dir=root.path))
    entry_dir = Path(store.lazy_dir)
    index = entry_dir / cache.INDEX_NAME
    assert stat.S_IMODE(index.stat().st_mode) == 0o600
    entry, _ = cache.lookup(root, store.cache["key"])
    assert entry is not None and len(entry.read_index()) == 3
    saved = tmp_path / "saved-index"
    os.rename(index, saved)
    os.symlink(saved, index)
    with pytest.raises(OSError):  # O_NOFOLLOW: ELOOP
        entry.read_index()
    os.unlink(index)
    os.mkfifo(index)
    done: list[BaseException] = []

    def read() -> None:
        try:
            entry.read_index()
        except BaseException as exc:  # noqa: BLE001 - looked at below
            done.append(exc)

    t = threading.Thread(target=read, daemon=True)
    t.start()
    t.join(10)
    assert done and isinstance(done[0], ValueError), done  # "not a regular file", not a hang
