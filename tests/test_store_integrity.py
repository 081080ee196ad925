"""Store integrity (docs/security.md): each finding of the adversarial review as its own test.

Every test uses real files, real handshakes against servers on 127.0.0.1, both scanners (the
``loader_env`` fixture) and, where the store's form matters, both stores: the lazy store must
trust exactly what the eager one trusts and say the same, the cache is never stale or
redirected, and no input makes tlsback crash or hang.
"""

from __future__ import annotations

import contextlib
import glob
import json
import logging
import os
import random
import shutil
import ssl
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import tlsback
from tests.conftest import REPO, SRC
from tests.pki import PKI, Cert, issue, name
from tests.test_lazy_store import entry_pems
from tests.tlsserver import HTTPSServer, handshake
from tlsback import cache, loader

Run = Callable[..., subprocess.CompletedProcess[str]]
MODES = ("lazy", "eager")
ATTACKER_UID = 54_321  # a second user: root can switch to any uid, no passwd entry needed


def load(tmp_path: Path, loader_env: dict[str, str], mode: str = "lazy", **env: str) -> tlsback.TLSConfig:
    base = {"UV_NO_CONFIG": "1", "TLSBACK_STORE": mode, "TLSBACK_CUSTOM_CERTS": "only",
            "TLSBACK_CACHE_DIR": str(tmp_path / "cache"), "XDG_RUNTIME_DIR": os.environ["XDG_RUNTIME_DIR"],
            **loader_env}
    return tlsback.load(env={**base, **env}, cwd=tmp_path)


def verdict(cfg: tlsback.TLSConfig, port: int) -> str:
    try:
        handshake(port, cfg.context)
    except ssl.SSLCertVerificationError as exc:
        return f"fail:{getattr(exc, 'rustls_reason', None) or exc.verify_message}"
    return "ok"


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith("tlsback")]


def openssl_loads(der: bytes) -> bool:
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cadata=der)
    except ssl.SSLError:
        return False
    return True


def refused_by_openssl(cert: Cert) -> bytes:
    """``cert`` with its version's INTEGER tag made an OCTET STRING (``04``): framing intact,
    OpenSSL's d2i_X509 refuses it (finding 3's example)."""
    der = cert.der
    i = der.index(b"\xa0\x03\x02\x01\x02")
    bad = der[:i] + b"\xa0\x03\x04\x01\x02" + der[i + 5:]
    assert not openssl_loads(bad)
    return bad


def pem(der: bytes) -> bytes:
    return ssl.DER_cert_to_PEM_cert(der).encode()


# --- 1. never stale -------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["rewrite in place, mtime restored", "rm then cp -p"])
def test_1_a_replaced_certificate_with_mtime_restored_is_never_a_cache_hit(
        how: str, loader_env: dict[str, str], pki: PKI, other_pki: PKI, tmp_path: Path,
        https_server: Callable[..., HTTPSServer]) -> None:
    """Same size, same mtime (and, with cp -p, often the same inode): ctime still changes the key."""
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(pki.root.pem + other_pki.root.pem)
    srv = https_server(other_pki)
    first = load(tmp_path, loader_env, SSL_CERT_FILE=str(bundle))
    assert first.store.count == 2 and verdict(first, srv.port) == "ok"
    before = bundle.stat()
    filler = pki.root.pem + b"#" * (len(other_pki.root.pem) - 1) + b"\n"
    if how.startswith("rewrite"):
        with open(bundle, "r+b") as f:
            f.write(filler)
    else:
        staged = tmp_path / "staged.pem"
        staged.write_bytes(filler)
        bundle.unlink()
        shutil.copy2(staged, bundle)
    os.utime(bundle, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = bundle.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    for mode in MODES:
        cfg = load(tmp_path, loader_env, mode, SSL_CERT_FILE=str(bundle))
        assert cfg.store.cache["state"] != "hit"
        assert cfg.store.count == 1
        assert verdict(cfg, srv.port).startswith("fail:UnknownIssuer"), mode


@pytest.mark.parametrize("what", ["directory", "file"])
def test_1_a_source_switched_between_listing_and_reading_is_not_cached_under_the_listing(
        what: str, loader_env: dict[str, str], pki: PKI, other_pki: PKI, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, https_server: Callable[..., HTTPSServer]) -> None:
    """Blue/green CA directories behind a symlink (Kubernetes' ``..data`` switch, a deploy's
    ``current``), switched between the listing (the key) and the reading: the store holds
    green's CA under blue's identities. It must not be cached: switched back to blue, a later
    process would get green's CA from a warm hit, where its eager store trusts blue's."""
    blue, green = tmp_path / "blue", tmp_path / "green"
    for d, ca in ((blue, pki.root), (green, other_pki.root)):
        d.mkdir()
        ca.write_pem(d / "ca.pem")
    current = tmp_path / "current"
    current.symlink_to(blue)
    source = {"SSL_CERT_DIR": str(current)} if what == "directory" else {"SSL_CERT_FILE": str(current / "ca.pem")}

    def switch(target: Path) -> None:
        staged = tmp_path / "staged"
        staged.symlink_to(target)
        staged.replace(current)  # atomically, as a deploy does

    lookup = loader._Plan.lookup

    def lookup_then_switch(self: loader._Plan) -> object:  # after the listing, before the reading
        found = lookup(self)
        switch(green)
        return found

    with monkeypatch.context() as m:
        m.setattr(loader._Plan, "lookup", lookup_then_switch)
        raced = load(tmp_path, loader_env, **source).store  # (the store is loaded when first asked for)
    assert raced.cache["state"] != "built", raced.cache  # the store it read is green's, not the key's
    assert raced.cache["reason"].startswith(f"{current / 'ca.pem'} changed while the store was read")
    switch(blue)
    good, other = https_server(pki), https_server(other_pki)
    for mode in MODES:
        cfg = load(tmp_path, loader_env, mode, **source)
        assert (verdict(cfg, good.port), verdict(cfg, other.port)[:4]) == ("ok", "fail"), (mode, cfg.store.cache)


# A child process that loads the store as the parent's tests do and reports, as JSON, the
# handshake's verdict, the cache state and the warnings.
_CREDENTIALS_CHILD = """
import json, logging, socket, ssl, sys
import tlsback
records = []
class H(logging.Handler):
    def emit(self, r):
        records.append(r.getMessage())
logging.getLogger("tlsback").addHandler(H())
logging.getLogger("tlsback").setLevel(logging.WARNING)
cfg = tlsback.load(env=json.loads(sys.argv[1]), cwd=sys.argv[3])
try:
    with socket.create_connection(("127.0.0.1", int(sys.argv[2])), timeout=30) as s:
        cfg.context.wrap_socket(s, server_hostname="localhost").close()
    verdict = "ok"
except ssl.SSLCertVerificationError as exc:
    verdict = "fail"
print(json.dumps({"verdict": verdict, "state": cfg.store.cache["state"], "warnings": records}))
"""


@pytest.mark.parametrize("first", ["without the group", "with the group"])
def test_1_what_one_process_of_the_user_could_not_read_is_not_cached_for_another(
        first: str, loader_env: dict[str, str], pki: PKI, tmp_path: Path,
        https_server: Callable[..., HTTPSServer]) -> None:
    """Reading a file depends on the reader, not only on the file the key identifies: a CA file
    readable through a group (0640, root:corp) is read by a process of the user in that group
    and refused to one that is not (a service started with other groups, ``sg``, ``newgrp``).
    Each process trusts what it can read, and warns about what it cannot, in both stores: an
    entry built by one is never a hit for the other."""
    _as_root()
    if shutil.which("setpriv") is None or subprocess.run(
            ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--clear-groups", "true"],
            capture_output=True, timeout=30, check=False).returncode != 0:
        pytest.skip("needs setpriv (util-linux), allowed to drop capabilities and groups, to run a "
                    "process of this user with other groups")
    corp_gid = ATTACKER_UID
    source = pki.root.write_pem(tmp_path / "corp.pem")
    os.chown(source, ATTACKER_UID, corp_gid)
    source.chmod(0o640)
    srv = https_server(pki)
    env = {"UV_NO_CONFIG": "1", "TLSBACK_CUSTOM_CERTS": "only", "SSL_CERT_FILE": str(source),
           "TLSBACK_CACHE_DIR": str(tmp_path / "cache"), **loader_env}
    # uid 0 without the capabilities that pass over file permissions: a plain user of uid 0.
    drop = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]
    groups = {"with the group": ["--groups", str(corp_gid)], "without the group": ["--clear-groups"]}
    order = [first, *(g for g in groups if g != first)]

    def run(who: str, mode: str) -> dict[str, object]:
        child = subprocess.run(
            [*drop, *groups[who], sys.executable, "-c", _CREDENTIALS_CHILD,
             json.dumps({**env, "TLSBACK_STORE": mode}), str(srv.port), str(tmp_path)],
            capture_output=True, text=True, timeout=120, cwd=tmp_path,
            env={"PATH": os.environ["PATH"], "PYTHONPATH": f"{SRC}{os.pathsep}{REPO}", "HOME": str(tmp_path)})
        assert child.returncode == 0, child.stderr
        return json.loads(child.stdout)

    for who in order + order:  # each twice, in turn: a warm entry of the other one is there
        eager, lazy = run(who, "eager"), run(who, "lazy")
        assert eager["verdict"] == lazy["verdict"] == ("ok" if who == "with the group" else "fail"), (who, lazy)
        assert eager["warnings"] == lazy["warnings"], who
        assert any("permission denied" in w for w in lazy["warnings"]) == (who == "without the group"), lazy


# --- 2. canonical copies, never links ----------------------------------------------------------


def _odd_pem(der: bytes, inside: bytes) -> bytes:
    """One PEM certificate whose body holds ``inside`` (blank line, VT, FF): lax base64 (RFC
    7468) the scanners accept, and OpenSSL's own PEM reader refuses."""
    lines = ssl.DER_cert_to_PEM_cert(der).encode().splitlines(keepends=True)
    return b"".join(lines[:3]) + inside + b"".join(lines[3:])


@pytest.mark.parametrize("inside", [b"\n", b"\x0b\n", b"\x0c\n"], ids=["blank line", "VT", "FF"])
def test_2_a_pem_file_openssl_would_misread_is_trusted_the_same_both_ways(
        inside: bytes, loader_env: dict[str, str], pki: PKI, tmp_path: Path,
        https_server: Callable[..., HTTPSServer]) -> None:
    """The entry holds tlsback's canonical copy, so OpenSSL reads what the scanner read."""
    d = tmp_path / "dir"
    d.mkdir()
    odd = d / "root.pem"
    odd.write_bytes(_odd_pem(pki.root.der, inside))
    issue("filler CA", is_ca=True).write_pem(d / "filler.pem")
    srv = https_server(pki)
    for mode in MODES:
        cfg = load(tmp_path, loader_env, mode, SSL_CERT_DIR=str(d))
        assert cfg.store.count == 2 and not cfg.store.problems
        assert verdict(cfg, srv.port) == "ok", mode
        if mode == "lazy":
            copy = Path(cfg.store.lazy_dir or "") / pki.root.hash_name()
            assert not copy.is_symlink() and pem(pki.root.der) in entry_pems(copy)


def test_2_bundle_on_a_warm_cache_never_crashes_on_a_commented_file(
        loader_env: dict[str, str], run_cli: Run, pki: PKI, tmp_path: Path) -> None:
    """A comment line before BEGIN: `bundle` from the warm entry equals the cold bundle."""
    d = tmp_path / "dir"
    d.mkdir()
    (d / "commented.pem").write_bytes(b"# corporate root\n" + pki.root.pem)
    (d / "odd.pem").write_bytes(_odd_pem(pki.intermediate.der, b"\n"))
    env = {**loader_env, "SSL_CERT_DIR": str(d), "TLSBACK_CUSTOM_CERTS": "only", "TLSBACK_STORE": "lazy"}
    cold, warm = tmp_path / "cold.pem", tmp_path / "warm.pem"
    for out in (cold, warm):
        r = run_cli("bundle", "-o", out, env=env)
        assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert "cache        hit" in run_cli("info", env=env).stdout
    assert warm.read_bytes() == cold.read_bytes() == pem(pki.root.der) + pem(pki.intermediate.der)


# --- 3. only what OpenSSL loads enters the directory ------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_3_a_certificate_openssl_refuses_never_hides_a_valid_one_with_its_subject(
        mode: str, loader_env: dict[str, str], tmp_path: Path, caplog: pytest.LogCaptureFixture,
        https_server: Callable[..., HTTPSServer]) -> None:
    """Refused as HASH.0 it would hide HASH.1: it gets a warning instead, the same both ways."""
    same = name("integrity collision CA")
    decoy, real = issue(subject=same, is_ca=True), issue(subject=same, is_ca=True)
    leaf = issue("localhost", issuer=real, san=["localhost"])
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(pem(refused_by_openssl(decoy)) + real.pem)
    caplog.set_level(logging.WARNING)
    cfg = load(tmp_path, loader_env, mode, SSL_CERT_FILE=str(bundle))
    assert cfg.store.count == 1
    [problem] = cfg.store.problems
    assert problem.code == "not-x509" and problem.line == 1
    assert verdict(cfg, https_server([leaf]).port) == "ok"
    assert warnings_of(caplog) == [
        "Invalid `SSL_CERT_FILE`. CERTIFICATE block at line 1 does not hold an X.509 certificate: "
        f"{bundle}. Continuing with the other custom certificates."]


def _corpus_and_mutations() -> Iterator[bytes]:
    """Every DER certificate-shaped input of the fuzz corpus, and single-byte mutations of
    real certificates (deterministic): the inputs where framing alone used to let through
    certificates OpenSSL refuses (5.7 % of mutations on main)."""
    for path in sorted(glob.glob(str(REPO / "tests" / "fuzz_corpus" / "*"))):
        data = Path(path).read_bytes()
        yield data
        with contextlib.suppress(ValueError):
            yield ssl.PEM_cert_to_DER_cert(data.decode("ascii", "replace"))
    rnd = random.Random(11)
    bases = [issue(f"mutation base {i}", is_ca=True, key_kind=k).der
             for i, k in enumerate(("ec", "rsa2048", "ed25519"))]
    for _ in range(1500):
        der = bytearray(rnd.choice(bases))
        for _ in range(rnd.randrange(1, 3)):
            der[rnd.randrange(len(der))] = rnd.randrange(256)
        yield bytes(der)


def test_3_the_scanners_accept_only_certificates_openssl_loads(scan_impl: object) -> None:
    """On the fuzz corpus and mutations: scanner accepts => OpenSSL's d2i_X509 accepts."""
    accepted = refused_but_accepted = 0
    for data in _corpus_and_mutations():
        certs, _problems = scan_impl.scan_bytes("corpus", data)  # type: ignore[attr-defined]
        for der in certs:
            accepted += 1
            refused_but_accepted += not openssl_loads(der)
    assert accepted > 500  # the mutations keep most certificates parseable
    assert refused_but_accepted == 0


def test_3_collision_groups_are_loaded_by_openssl_too(pki: PKI) -> None:
    """Defence in depth: in a subject-hash collision, what OpenSSL refuses is dropped, reported."""
    from tlsback._scantypes import ScanResult

    same = name("integrity group CA")
    a, b = issue(subject=same, is_ca=True), issue(subject=same, is_ca=True)
    bad = refused_by_openssl(a)
    result = ScanResult()
    result.certs = [bad, b.der, pki.root.der]
    result.origins = ["x.pem", "x.pem", "r.pem"]
    result.subject_hashes = [a.subject_hash, b.subject_hash, pki.root.subject_hash]
    [problem] = loader._refused_by_openssl(result)
    assert problem.path == "x.pem" and problem.code == "openssl-refused"
    assert result.certs == [b.der, pki.root.der] and result.origins == ["x.pem", "r.pem"]


# --- 4. never redirected ---------------------------------------------------------------------


def _as_root() -> None:
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("needs root to act as a second user (setuid to another uid)")


@pytest.mark.parametrize("fault", ["writable by others", "owned by another user"])
def test_4_an_unsafe_ancestor_refuses_the_cache_with_a_warning(
        fault: str, loader_env: dict[str, str], pki: PKI, tmp_path: Path, caplog: pytest.LogCaptureFixture,
        https_server: Callable[..., HTTPSServer]) -> None:
    """Not just the last directory: any directory above the root that another user could write."""
    shared = tmp_path / "shared"
    (shared / "x").mkdir(parents=True)
    if fault == "writable by others":
        (shared / "x").chmod(0o777)
    else:
        _as_root()
        os.chown(shared / "x", ATTACKER_UID, ATTACKER_UID)
    caplog.set_level(logging.WARNING)
    cfg = load(tmp_path, loader_env, SSL_CERT_FILE=str(pki.root.write_pem(tmp_path / "r.pem")),
               TLSBACK_CACHE_DIR=str(shared / "x" / "y"))
    assert cfg.store.cache["state"] == "disabled"
    assert "above the cache" in cfg.store.cache["reason"]
    assert any("above the cache" in w for w in warnings_of(caplog))
    assert not (shared / "x" / "y").exists()
    assert verdict(cfg, https_server(pki).port) == "ok"


def test_4_a_sticky_shared_ancestor_is_accepted(loader_env: dict[str, str], pki: PKI, tmp_path: Path) -> None:
    """/tmp and /dev/shm are world-writable but sticky: others cannot rename our names there."""
    shared = tmp_path / "sticky"
    shared.mkdir()
    shared.chmod(0o1777)
    cfg = load(tmp_path, loader_env, SSL_CERT_FILE=str(pki.root.write_pem(tmp_path / "r.pem")),
               TLSBACK_CACHE_DIR=str(shared / "cache"))
    assert cfg.store.cache["state"] == "built"


# The attacker's moves, as a shell script run under their uid: rename the victim's cache
# directory aside, plant one with their own CA under the entry's name.
_ATTACK = """
mv "$1" "$1.aside" || { echo refused; exit 0; }
mkdir -p "$2" && cp "$3" "$2/$4" && echo planted
"""


def test_4_a_second_user_cannot_redirect_the_path_handed_to_openssl(
        loader_env: dict[str, str], pki: PKI, other_pki: PKI, tmp_path: Path,
        https_server: Callable[..., HTTPSServer]) -> None:
    """Finding 4 with a real second user, while the victim's process runs.

    With ``x`` owned by the attacker, ``x/y`` is refused: the store goes to a private
    directory, and the attacker's rename + planted CA changes nothing. With a safe chain the
    attacker cannot even rename the cache away.
    """
    _as_root()
    import tempfile

    # A place the second user can reach (pytest's own temporary tree is private to root).
    shared = Path(tempfile.mkdtemp(prefix="tlsback-shared-", dir="/tmp"))
    try:
        shared.chmod(0o755)
        evil_ca = other_pki.root.write_pem(shared / "evil.pem")
        evil_ca.chmod(0o644)
        good, evil = https_server(pki), https_server(other_pki)
        source = pki.root.write_pem(tmp_path / "r.pem")
        for owner in ("attacker", "root"):
            (shared / owner / "x").mkdir(parents=True)
            (shared / owner).chmod(0o755)
            (shared / owner / "x").chmod(0o755)
            root = shared / owner / "x" / "y"
            if owner == "attacker":
                os.chown(root.parent, ATTACKER_UID, ATTACKER_UID)
                root.mkdir(mode=0o700)  # the victim's cache from before x changed hands
            cfg = load(tmp_path, loader_env, SSL_CERT_FILE=str(source), TLSBACK_CACHE_DIR=str(root))
            ctx = cfg.context  # the victim's running process holds this context
            lazy = Path(cfg.store.lazy_dir or "")
            planted = root / (lazy.name if lazy.parent == root else f"e{cache.FORMAT}-{cfg.store.cache['key']}")
            attack = subprocess.run(
                ["/bin/sh", "-c", _ATTACK, "attack", str(root), str(planted), str(evil_ca),
                 other_pki.root.hash_name()],
                user=ATTACKER_UID, group=ATTACKER_UID, capture_output=True, text=True, timeout=60,
                env={"PATH": "/usr/bin:/bin"}, cwd="/")
            assert attack.returncode == 0, attack.stderr
            if owner == "attacker":
                assert cfg.store.cache["state"] == "disabled" and root not in lazy.parents
                assert attack.stdout.strip() == "planted", attack.stderr  # the attacker did all they could
                assert (planted / other_pki.root.hash_name()).exists()
            else:
                assert cfg.store.cache["state"] == "built" and lazy.parent == root
                assert attack.stdout.strip() == "refused", attack.stderr
            with pytest.raises(ssl.SSLCertVerificationError):
                handshake(evil.port, ctx)
            handshake(good.port, ctx)
            # A later process does not trust the planted entry either.
            again = load(tmp_path, loader_env, SSL_CERT_FILE=str(source), TLSBACK_CACHE_DIR=str(root))
            with pytest.raises(ssl.SSLCertVerificationError):
                handshake(evil.port, again.context)
    finally:
        shutil.rmtree(shared, ignore_errors=True)


# --- 5. never a crash: no space, read-only ----------------------------------------------------


@contextlib.contextmanager
def small_tmpfs(path: Path, size: str = "256k") -> Iterator[Path]:
    _as_root()
    path.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tlsback-test", str(path)],
                       capture_output=True, text=True, check=False)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _fill(fs: Path) -> None:
    with contextlib.suppress(OSError), open(fs / "filler", "wb") as f:
        while True:
            f.write(b"\0" * 65536)
            f.flush()


def _many_cas(d: Path, n: int) -> None:
    d.mkdir()
    for i in range(n):
        issue(f"space CA {i}", is_ca=True).write_pem(d / f"ca{i}.pem")


@pytest.mark.parametrize("fault", ["no space", "read-only"])
def test_5_a_cache_that_cannot_be_written_falls_back_with_one_warning(
        fault: str, loader_env: dict[str, str], pki: PKI, tmp_path: Path, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch, https_server: Callable[..., HTTPSServer]) -> None:
    """Every place on the failing file system: next location, then the eager store; one warning."""
    d = tmp_path / "certs"
    _many_cas(d, 40)
    pki.root.write_pem(d / "root.pem")
    srv = https_server(pki)
    with small_tmpfs(tmp_path / "fs") as fs:
        runtime = fs / "runtime"
        runtime.mkdir(mode=0o700)
        (fs / "cache").mkdir(mode=0o700)
        if fault == "no space":
            _fill(fs)
        else:
            subprocess.run(["mount", "-o", "remount,ro", str(fs)], check=True)
        # The private fallback's places are on the same file system too.
        monkeypatch.setattr(cache, "SHM_DIR", str(fs))
        monkeypatch.setattr("tempfile.tempdir", str(fs))
        caplog.set_level(logging.WARNING)
        cfg = load(tmp_path, loader_env, SSL_CERT_DIR=str(d), TLSBACK_CACHE_DIR=str(fs / "cache"),
                   XDG_RUNTIME_DIR=str(runtime))
        assert cfg.store.cache["state"] == "eager" and cfg.store.lazy_dir is None
        [warning] = warnings_of(caplog)
        assert "cannot be written anywhere" in warning and "eagerly" in warning
        assert verdict(cfg, srv.port) == "ok"


def test_5_no_space_for_the_cache_then_the_next_location(
        loader_env: dict[str, str], pki: PKI, tmp_path: Path, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch, https_server: Callable[..., HTTPSServer]) -> None:
    """A full XDG_RUNTIME_DIR: the entry is built at /dev/shm's place instead, one warning."""
    d = tmp_path / "certs"
    _many_cas(d, 40)
    pki.root.write_pem(d / "root.pem")
    shm = tmp_path / "shm"
    shm.mkdir()
    monkeypatch.setattr(cache, "SHM_DIR", str(shm))
    with small_tmpfs(tmp_path / "fs") as fs:
        runtime = fs / "runtime"
        runtime.mkdir(mode=0o700)
        _fill(fs)
        caplog.set_level(logging.WARNING)
        env = {**loader_env, "UV_NO_CONFIG": "1", "TLSBACK_STORE": "lazy", "TLSBACK_CUSTOM_CERTS": "only",
               "SSL_CERT_DIR": str(d), "XDG_RUNTIME_DIR": str(runtime)}
        cfg = tlsback.load(env=env, cwd=tmp_path)
        assert cfg.store.cache["state"] == "built" and cfg.store.cache["root_origin"] == "/dev/shm"
        [warning] = warnings_of(caplog)
        assert "cannot be written" in warning and "No space left" in warning
        assert verdict(cfg, https_server(pki).port) == "ok"


def test_5_the_cli_on_a_full_tmpfs_prints_a_warning_not_a_traceback(
        loader_env: dict[str, str], run_cli: Run, pki: PKI, tmp_path: Path) -> None:
    d = tmp_path / "certs"
    _many_cas(d, 40)
    with small_tmpfs(tmp_path / "fs") as fs:
        (fs / "cache").mkdir(mode=0o700)
        _fill(fs)
        r = run_cli("info", env={**loader_env, "SSL_CERT_DIR": str(d), "TLSBACK_STORE": "lazy",
                                 "TLSBACK_CACHE_DIR": str(fs / "cache")})
        assert r.returncode == 0, r.stderr
        assert "Traceback" not in r.stderr
        assert r.stderr.count("warning:") == 1 and "cannot be written" in r.stderr


# --- 6. hostile names and contents -------------------------------------------------------------


def test_6_names_with_newlines_are_escaped_in_messages_and_safe_in_the_index(
        loader_env: dict[str, str], run_cli: Run, pki: PKI, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A newline in a file name forges no log line and corrupts no entry (bundle, warm)."""
    d = tmp_path / "dir"
    d.mkdir()
    pki.root.write_pem(d / "a\nb.pem")
    (d / "c\x1b[31md\tx.pem").write_bytes(b"-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----\n")
    caplog.set_level(logging.WARNING)
    for mode in MODES:
        caplog.clear()
        cfg = load(tmp_path, loader_env, mode, SSL_CERT_DIR=str(d))
        assert cfg.store.count == 1 and cfg.store.origins == [str(d / "a\nb.pem")]
        [warning] = warnings_of(caplog)
        assert "\n" not in warning and "\x1b" not in warning and "\\x1b[31md\\tx.pem" in warning
    env = {**loader_env, "SSL_CERT_DIR": str(d), "TLSBACK_CUSTOM_CERTS": "only", "TLSBACK_STORE": "lazy"}
    out = tmp_path / "warm.pem"
    r = run_cli("bundle", "-o", out, env=env)
    assert r.returncode == 0 and "cache        hit" in run_cli("info", env=env).stdout, r.stderr
    r = run_cli("bundle", "-o", out, env=env)
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() == pem(pki.root.der)


_FIFO_SWAP = """
import os, sys
from tlsback import loader
items, problems = loader._read_files([sys.argv[1]])
print(problems[sys.argv[1]].code)
"""


def test_6_a_fifo_swapped_in_after_the_listing_never_hangs(tmp_path: Path) -> None:
    """The read opens with O_NONBLOCK and checks the opened file (fstat), not the listed one."""
    fifo = tmp_path / "swapped.pem"
    os.mkfifo(fifo)
    r = subprocess.run([sys.executable, "-c", _FIFO_SWAP, str(fifo)], capture_output=True, text=True,
                       timeout=30, env={**os.environ, "PYTHONPATH": str(SRC)})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "not-a-file"


@pytest.mark.parametrize("mode", MODES)
def test_6_a_flood_of_begin_lines_gives_a_bounded_number_of_warnings(
        mode: str, loader_env: dict[str, str], pki: PKI, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    flood = tmp_path / "flood.pem"
    flood.write_bytes(pki.root.pem + b"-----BEGIN CERTIFICATE-----\n" * 65536)
    caplog.set_level(logging.WARNING)
    cfg = load(tmp_path, loader_env, mode, SSL_CERT_FILE=str(flood))
    assert cfg.store.count == 1
    warnings = warnings_of(caplog)
    assert len(warnings) == loader.MAX_PROBLEMS_PER_FILE + 1
    assert "65526 more problems in this file are not shown" in warnings[-1]


@pytest.mark.parametrize("where", ["pyproject.toml", "UV_CONFIG_FILE"])
def test_6_a_config_file_that_is_not_utf8_or_too_large_is_a_configuration_error(
        where: str, run_cli: Run, tmp_path: Path) -> None:
    for content, says in ((b'[tool.tlsback]\ncustom-certs = "only"\n# \xff\xfe\n', "not UTF-8"),
                          (b"#" * (2 * 1024 * 1024), "larger than 1 MiB")):
        path = tmp_path / ("pyproject.toml" if where == "pyproject.toml" else "uv.toml")
        path.write_bytes(content)
        env = {"UV_CONFIG_FILE": str(path)} if where == "UV_CONFIG_FILE" else {}
        r = run_cli("info", env=env, cwd=tmp_path)
        assert r.returncode == 2, r.stderr
        assert "Traceback" not in r.stderr and says in r.stderr and str(path) in r.stderr


def test_6_only_mode_with_a_missing_cert_file_is_a_message_not_a_traceback(
        run_cli: Run, pki: PKI, https_server: Callable[..., HTTPSServer]) -> None:
    srv = https_server(pki)
    r = run_cli("fetch", f"https://localhost:{srv.port}/",
                env={"TLSBACK_CUSTOM_CERTS": "only", "SSL_CERT_FILE": "/missing"})
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    assert "/missing" in r.stderr and "No default certificates will be trusted" in r.stderr


def test_6_a_cache_location_refused_for_safety_is_a_warning(
        loader_env: dict[str, str], pki: PKI, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    runtime.chmod(0o777)
    caplog.set_level(logging.WARNING)
    env = {**loader_env, "UV_NO_CONFIG": "1", "TLSBACK_STORE": "lazy", "TLSBACK_CUSTOM_CERTS": "only",
           "SSL_CERT_FILE": str(pki.root.write_pem(tmp_path / "r.pem")), "XDG_RUNTIME_DIR": str(runtime),
           "HOME": os.environ["HOME"], "XDG_CACHE_HOME": os.environ["XDG_CACHE_HOME"]}
    cfg = tlsback.load(env=env, cwd=tmp_path)
    assert cfg.store.cache["state"] == "built" and cfg.store.cache["root_skipped"]
    [warning] = warnings_of(caplog)
    assert warning.startswith("Trust cache location not used: XDG_RUNTIME_DIR") and "0777" in warning


# --- 7. info: the installed scanner -------------------------------------------------------------


def test_7_info_names_the_installed_scanner_apart_from_the_entry_builder(
        run_cli: Run, pki: PKI, tmp_path: Path) -> None:
    env = {"SSL_CERT_FILE": str(pki.root.write_pem(tmp_path / "r.pem")), "TLSBACK_STORE": "lazy",
           "TLSBACK_CUSTOM_CERTS": "only"}
    assert run_cli("info", env={**env, "TLSBACK_REQUIRE_EXTENSIONS": "1"}).returncode == 0  # built by c
    r = run_cli("info", env={**env, "TLSBACK_NO_EXTENSIONS": "1"})
    assert "cache        hit" in r.stdout
    assert "(the entry was built by the c scanner)" in r.stdout
    assert "installed    python scanner  (TLSBACK_NO_EXTENSIONS=1)" in r.stdout


# --- 8. a damaged HASH.N file in a warm entry ----------------------------------------------------


DAMAGE = ["truncated", "garbage", "another certificate", "one more certificate", "removed", "made a directory"]


def _damage(path: Path, how: str, other: Cert) -> None:
    if how == "truncated":
        data = path.read_bytes()
        with open(path, "r+b") as f:
            f.truncate(len(data) // 2)
    elif how == "garbage":
        path.write_bytes(os.urandom(len(path.read_bytes())))
    elif how == "another certificate":
        path.write_bytes(pem(other.der))  # well-formed, but not the certificate named HASH.N
    elif how == "one more certificate":  # OpenSSL would load it with the file's own
        path.write_bytes(path.read_bytes() + pem(other.der))
    elif how == "removed":
        path.unlink()
    elif how == "made a directory":
        path.unlink()
        path.mkdir()
    else:  # pragma: no cover
        raise AssertionError(how)


@pytest.mark.parametrize("how", DAMAGE)
def test_8_a_damaged_certificate_file_in_a_warm_entry_is_never_read_back(
        how: str, loader_env: dict[str, str], run_cli: Run, pki: PKI, other_pki: PKI,
        tmp_path: Path) -> None:
    """A warm start only checks the entry's metadata and directory (the files are OpenSSL's to read
    lazily); with the directory's mtime restored, damage inside a HASH.N file is found when the
    certificates are read back (`bundle`): one warning, the entry discarded, the certificates read
    from the sources again: the same bundle, exit 0, no traceback. The next start rebuilds it."""
    d = tmp_path / "dir"
    d.mkdir()
    pki.root.write_pem(d / "a.pem")
    other_pki.root.write_pem(d / "b.pem")
    issue("filler CA", is_ca=True).write_pem(d / "c.pem")
    env = {**loader_env, "SSL_CERT_DIR": str(d), "TLSBACK_CUSTOM_CERTS": "only", "TLSBACK_STORE": "lazy"}
    cold = tmp_path / "cold.der"
    r = run_cli("bundle", "--format", "der", "-o", cold, env=env)
    assert r.returncode == 0, r.stderr
    (entry,) = Path(os.environ["TLSBACK_CACHE_DIR"]).glob(cache._PREFIX + "*")
    before = entry.stat()
    # The file may hold another certificate too (its other name a hard link): the warning names
    # whichever of the file's names comes first in the index.
    ino = (entry / pki.root.hash_name()).stat().st_ino
    names = [p.name for p in entry.iterdir() if p.stat().st_ino == ino]
    _damage(entry / pki.root.hash_name(), how, other_pki.intermediate)
    os.utime(entry, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert "cache        hit" in run_cli("info", env=env).stdout  # the metadata still says "good"

    for fmt in ("der", "pem"):
        out = tmp_path / f"warm.{fmt}"
        r = run_cli("bundle", "--format", fmt, "-o", out, env=env)
        assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
        if fmt == "der":
            assert "is damaged (" in r.stderr and str(entry) in r.stderr
            assert any(f"({name}: " in r.stderr for name in names), (names, r.stderr)
            assert len(r.stderr.splitlines()) == 2  # the warning, "wrote 3 certificates"
            assert out.read_bytes() == cold.read_bytes()
            # The next start rebuilds it and says what was wrong with the discarded one.
            shown = run_cli("info", env=env).stdout
            assert any(f"not trusted (entry was found damaged and discarded: {name}: " in shown
                       for name in names), shown
        else:
            assert out.read_bytes() == b"".join(pem(der) for der in loader.load_trust_store(
                cert_file=None, cert_dirs=[str(d)], include_platform=False).certs)
    info = run_cli("info", env=env)
    assert "cache        hit" in info.stdout, info.stdout  # rebuilt by the run after the damage
    assert pem(pki.root.der) in entry_pems(entry / pki.root.hash_name())
    r = run_cli("bundle", "--format", "der", "-o", tmp_path / "again.der", env=env)
    assert r.returncode == 0 and "is damaged (" not in r.stderr, r.stderr
    assert (tmp_path / "again.der").read_bytes() == cold.read_bytes()


@pytest.mark.parametrize("how", ["truncated", "another certificate"])
def test_8_a_store_read_back_from_a_damaged_entry_trusts_the_sources(
        how: str, loader_env: dict[str, str], pki: PKI, other_pki: PKI, tmp_path: Path,
        https_server: Callable[..., HTTPSServer], caplog: pytest.LogCaptureFixture) -> None:
    """Through the API: ``store.certs`` on a damaged hit gives the sources' certificates, and
    a context built after that trusts them (eagerly), not the damaged directory."""
    d = tmp_path / "dir"
    d.mkdir()
    pki.root.write_pem(d / "a.pem")
    issue("filler CA", is_ca=True).write_pem(d / "c.pem")
    first = load(tmp_path, loader_env, SSL_CERT_DIR=str(d))
    expected = first.store.certs
    entry = Path(first.store.lazy_dir or "")
    del first
    before = entry.stat()
    _damage(entry / pki.root.hash_name(), how, other_pki.root)
    os.utime(entry, ns=(before.st_atime_ns, before.st_mtime_ns))
    cfg = load(tmp_path, loader_env, SSL_CERT_DIR=str(d))
    assert cfg.store.cache["state"] == "hit"
    with caplog.at_level(logging.WARNING):
        assert cfg.store.certs == expected
    assert any("is damaged (" in w for w in warnings_of(caplog))
    assert cfg.store.lazy_dir is None and cfg.store.cache["state"] == "eager"
    assert verdict(cfg, https_server(pki).port) == "ok"
    assert verdict(cfg, https_server(other_pki).port).startswith("fail:")
    assert load(tmp_path, loader_env, SSL_CERT_DIR=str(d)).store.cache["state"] == "built"


@pytest.mark.parametrize("how", ["removed", "made a directory"])
def test_8_a_file_removed_from_a_warm_entry_is_caught_at_the_lookup(
        how: str, loader_env: dict[str, str], run_cli: Run, pki: PKI, other_pki: PKI,
        tmp_path: Path) -> None:
    """Removing a HASH.N file (or putting a directory in its place) changes the entry's mtime:
    the next start does not use the entry at all and rebuilds it; `bundle` is the same."""
    d = tmp_path / "dir"
    d.mkdir()
    pki.root.write_pem(d / "a.pem")
    other_pki.root.write_pem(d / "b.pem")
    env = {**loader_env, "SSL_CERT_DIR": str(d), "TLSBACK_CUSTOM_CERTS": "only", "TLSBACK_STORE": "lazy"}
    cold, warm = tmp_path / "cold.der", tmp_path / "warm.der"
    assert run_cli("bundle", "--format", "der", "-o", cold, env=env).returncode == 0
    (entry,) = Path(os.environ["TLSBACK_CACHE_DIR"]).glob(cache._PREFIX + "*")
    _damage(entry / pki.root.hash_name(), how, other_pki.intermediate)
    info = run_cli("info", env=env)
    assert "existing entry not trusted (entry was modified after it was built)" in info.stdout, info.stdout
    r = run_cli("bundle", "--format", "der", "-o", warm, env=env)
    assert r.returncode == 0 and "Traceback" not in r.stderr and "is damaged (" not in r.stderr, r.stderr
    assert warm.read_bytes() == cold.read_bytes()
    assert pem(pki.root.der) in entry_pems(entry / pki.root.hash_name())


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_NOFILE is POSIX")
def test_8_no_descriptor_left_is_not_damage(loader_env: dict[str, str], pki: PKI, tmp_path: Path) -> None:
    """Reading a warm entry back with no file descriptor left (EMFILE): the error is raised to
    the caller, and the entry, which is sound, stays in use (it is not discarded as damaged)."""
    import errno
    import resource

    d = tmp_path / "dir"
    d.mkdir()
    pki.root.write_pem(d / "a.pem")
    issue("filler CA", is_ca=True).write_pem(d / "b.pem")
    env = {**loader_env, "SSL_CERT_DIR": str(d), "TLSBACK_CUSTOM_CERTS": "only", "TLSBACK_STORE": "lazy",
           "TLSBACK_CACHE_DIR": str(tmp_path / "cache")}
    built = tlsback.load(env=env).store
    assert built.cache["state"] == "built"
    warm = tlsback.load(env=env).store
    assert warm.cache["state"] == "hit"
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    lowest_free = os.open(os.devnull, os.O_RDONLY)
    os.close(lowest_free)
    resource.setrlimit(resource.RLIMIT_NOFILE, (lowest_free, hard))  # the next open: EMFILE
    try:
        with pytest.raises(OSError) as info:
            warm.certs  # noqa: B018
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert info.value.errno == errno.EMFILE
    again = tlsback.load(env=env).store
    assert again.cache["state"] == "hit", again.cache  # not discarded
    assert again.certs == built.certs
