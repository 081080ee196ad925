"""Trust sources and the loader: every source shape and every bad input.

Both are listed in docs/sources.md (the bad inputs under "Bad input").

Every test runs twice, through the C extension and through the pure-Python twin (``loader_env``).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from tests.pki import Cert, issue
from tlsback.anchors import load_anchors
from tlsback.loader import MAX_FILE_SIZE, TrustStore, load_trust_store
from tlsback.settings import resolve


@pytest.fixture(scope="module")
def roots() -> list[Cert]:
    return [issue(f"loader root {i}", is_ca=True) for i in range(6)]


def load(env: dict[str, str], *, cert_file: Path | str | None = None, dirs: list[Path | str] = (),
         platform: bool = False, mode: str = "merge", platform_paths: list[str] | None = None) -> TrustStore:
    return load_trust_store(
        cert_file=str(cert_file) if cert_file else None,
        cert_dirs=[str(d) for d in dirs],
        include_platform=platform,
        mode=mode,
        platform_paths=platform_paths,
        scanner=resolve(env=env).scanner.value,
    )


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_implementation_is_the_requested_one(loader_env: dict[str, str], tmp_path: Path, roots: list[Cert]) -> None:
    store = load(loader_env, cert_file=roots[0].write_pem(tmp_path / "a.pem"))
    expected = "python" if "TLSBACK_NO_EXTENSIONS" in loader_env else "c"
    assert store.implementation == expected
    assert store.implementation_reason


def test_cert_file_bundle_with_text_between_blocks_and_crlf(loader_env: dict[str, str], tmp_path: Path, roots: list[Cert], caplog: pytest.LogCaptureFixture) -> None:
    text = b"Bundle header\n" + roots[0].pem + b"# comment\n" + roots[1].pem.replace(b"\n", b"\r\n") + b"trailer\n" + roots[2].pem
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(text)
    store = load(loader_env, cert_file=bundle)
    assert store.certs == [roots[0].der, roots[1].der, roots[2].der]
    assert store.sources[0].as_dict()["certificates"] == 3
    assert warnings_of(caplog) == []


def test_cert_file_single_der_certificate(loader_env: dict[str, str], tmp_path: Path, roots: list[Cert]) -> None:
    store = load(loader_env, cert_file=roots[0].write_der(tmp_path / "root.der"))
    assert store.certs == [roots[0].der]


def test_cert_dir_names_shapes_and_links(loader_env: dict[str, str], tmp_path: Path, roots: list[Cert], caplog: pytest.LogCaptureFixture) -> None:
    d = tmp_path / "certs"
    d.mkdir()
    roots[0].write_pem(d / "a.pem")
    roots[1].write_pem(d / "b.CRT")
    roots[2].write_der(d / "c.cer")
    roots[3].write_pem(d / roots[3].hash_name(0))
    roots[4].write_pem(d / "notes.txt")  # other names are not loaded
    roots[4].write_pem(d / "ABCDEF12.0")  # hash names are lower-case hex
    (d / "sub.pem").mkdir()  # subdirectories are skipped
    (d / "dangling.pem").symlink_to(tmp_path / "nowhere.pem")  # skipped silently
    outside = roots[5].write_pem(tmp_path / "outside.pem")
    (d / "link.pem").symlink_to(outside)  # followed
    store = load(loader_env, dirs=[d])
    assert set(store.certs) == {roots[i].der for i in (0, 1, 2, 3, 5)}
    report = store.sources[0]
    assert report.files == 5 and report.problems == []
    assert warnings_of(caplog) == []


def test_several_directories_and_dedup_first_occurrence_wins(loader_env: dict[str, str], tmp_path: Path, roots: list[Cert]) -> None:
    d1, d2 = tmp_path / "one", tmp_path / "two"
    d1.mkdir()
    d2.mkdir()
    roots[1].write_pem(d1 / "b.pem")
    roots[0].write_pem(d1 / "a.pem")
    roots[0].write_der(d2 / "a-again.cer")
    roots[2].write_pem(d2 / "c.pem")
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(roots[2].pem + roots[3].pem)
    store = load(loader_env, cert_file=bundle, dirs=[d1, d2])
    assert store.certs == [roots[2].der, roots[3].der, roots[0].der, roots[1].der]
    assert store.origins[0] == str(bundle)
    assert store.duplicates == 2
    assert [(r.certificates, r.unique) for r in store.sources] == [(2, 2), (2, 2), (2, 0)]


def test_platform_first_then_custom_and_duplicates_counted(loader_env: dict[str, str], tmp_path: Path, roots: list[Cert]) -> None:
    platform = tmp_path / "platform.pem"
    platform.write_bytes(roots[0].pem + roots[1].pem)
    custom = tmp_path / "custom.pem"
    custom.write_bytes(roots[1].pem + roots[2].pem)
    store = load(loader_env, cert_file=custom, platform=True, platform_paths=[str(platform)])
    assert store.certs == [roots[0].der, roots[1].der, roots[2].der]
    assert [(r.source.kind, r.unique, r.duplicates) for r in store.sources] == [
        ("platform", 2, 0), ("SSL_CERT_FILE", 1, 1)]


def test_the_same_file_through_two_paths_is_read_once(loader_env: dict[str, str], tmp_path: Path, roots: list[Cert]) -> None:
    d = tmp_path / "d"
    d.mkdir()
    target = roots[0].write_pem(d / "root.pem")
    (d / roots[0].hash_name()).symlink_to("root.pem")
    store = load(loader_env, cert_file=target, dirs=[d])
    assert store.certs == [roots[0].der]
    assert store.sources[1].aliases == 2 and store.sources[1].files == 0


def test_only_mode_leaves_out_the_platform_store(loader_env: dict[str, str], tmp_path: Path, roots: list[Cert]) -> None:
    platform = roots[0].write_pem(tmp_path / "platform.pem")
    custom = roots[1].write_pem(tmp_path / "custom.pem")
    store = load(loader_env, cert_file=custom, platform=True, mode="only", platform_paths=[str(platform)])
    assert store.certs == [roots[1].der]
    # with no custom source configured, `only` changes nothing
    store = load(loader_env, platform=True, mode="only", platform_paths=[str(platform)])
    assert store.certs == [roots[0].der]


def test_only_mode_with_nothing_usable_says_nothing_is_trusted(loader_env: dict[str, str], tmp_path: Path, roots: list[Cert], caplog: pytest.LogCaptureFixture) -> None:
    platform = roots[0].write_pem(tmp_path / "platform.pem")
    store = load(loader_env, cert_file=tmp_path / "missing.pem", platform=True, mode="only", platform_paths=[str(platform)])
    assert store.certs == []
    (message,) = warnings_of(caplog)
    assert message.startswith("Invalid `SSL_CERT_FILE`. Path does not exist")
    assert message.endswith("No default certificates will be trusted.")


def test_missing_cert_file_in_merge_mode_continues_with_platform(loader_env: dict[str, str], tmp_path: Path, roots: list[Cert], caplog: pytest.LogCaptureFixture) -> None:
    platform = roots[0].write_pem(tmp_path / "platform.pem")
    missing = tmp_path / "missing.pem"
    store = load(loader_env, cert_file=missing, platform=True, platform_paths=[str(platform)])
    assert store.certs == [roots[0].der]
    (message,) = warnings_of(caplog)
    assert message == f"Invalid `SSL_CERT_FILE`. Path does not exist: {missing}. Continuing with the platform store."


def test_empty_directory_is_not_a_problem(loader_env: dict[str, str], tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "empty").mkdir()
    store = load(loader_env, dirs=[tmp_path / "empty"])
    assert store.certs == [] and store.problems == []
    assert warnings_of(caplog) == []


def test_non_ascii_names_load_without_a_warning(loader_env: dict[str, str], tmp_path: Path, roots: list[Cert], caplog: pytest.LogCaptureFixture) -> None:
    # Debian's own store holds such names (NetLock_Arany_=Class_Gold=_Főtanúsítvány.pem).
    d = tmp_path / "dir"
    d.mkdir()
    roots[0].write_pem(d / "NetLock_Arany_=Class_Gold=_Főtanúsítvány.pem")
    roots[1].write_pem(d / "TÜBİTAK.crt")
    os.symlink("TÜBİTAK.crt", d / roots[1].hash_name())
    store = load(loader_env, dirs=[d])
    assert set(store.certs) == {roots[0].der, roots[1].der}
    report = store.sources[-1]
    assert (report.files, report.aliases, report.problems) == (2, 1, [])
    assert warnings_of(caplog) == []


def _codes(store: TrustStore) -> dict[str, str]:
    return {os.path.basename(p.path): p.code for p in store.problems}


def test_every_bad_input_is_one_warning_and_loading_goes_on(loader_env: dict[str, str], tmp_path: Path, roots: list[Cert], caplog: pytest.LogCaptureFixture) -> None:
    d = tmp_path / "bad"
    d.mkdir()
    good = roots[0].write_pem(d / "good.pem")
    body = roots[1].pem.decode().splitlines()
    (d / "badb64.pem").write_text("\n".join([body[0], body[1][:10] + "!!!!" + body[1][14:], *body[2:]]) + "\n")
    (d / "noend.pem").write_text("\n".join(body[:-1]) + "\n")
    (d / "trunc.cer").write_bytes(roots[2].der[:-20])
    (d / "trailing.cer").write_bytes(roots[2].der + b"junk")
    (d / "notx509.cer").write_bytes(bytes.fromhex("3006020101020102"))
    (d / "key.pem").write_bytes(roots[3].key_pem)  # another label: skipped; no certificate at all
    (d / "trusted.pem").write_text(roots[3].pem.decode().replace("CERTIFICATE", "TRUSTED CERTIFICATE"))
    (d / "notpem.crt").write_text("hello\n")
    with open(d / "huge.pem", "wb") as f:
        f.truncate(MAX_FILE_SIZE + 1)
    (d / "loop.pem").symlink_to("loop.pem")
    (d / "proc.pem").symlink_to("/proc/self/mem")  # a regular file that cannot be read, even by root
    bad_name = os.fsencode(str(d)) + b"/caf\xe9.pem"
    with open(bad_name, "wb") as f:
        f.write(roots[4].pem)
    store = load(loader_env, dirs=[d])
    assert set(store.certs) == {roots[0].der, roots[4].der}
    codes = _codes(store)
    assert codes.pop("good.pem", None) is None
    assert codes.pop("caf\\xe9.pem") == "bad-name"
    assert codes == {
        "badb64.pem": "bad-base64",
        "noend.pem": "missing-end",
        "trunc.cer": "truncated-der",
        "trailing.cer": "trailing-data",
        "notx509.cer": "not-x509",
        "key.pem": "no-certificates",
        "trusted.pem": "no-certificates",
        "notpem.crt": "no-certificates",
        "huge.pem": "too-large",
        "loop.pem": "symlink-loop",
        "proc.pem": "unreadable",
    }
    messages = warnings_of(caplog)
    assert len(messages) == len(store.problems) == 12
    assert all(f"`SSL_CERT_DIR` {d}" not in m for m in messages)
    badb64 = next(m for m in messages if "badb64.pem" in m)
    assert badb64 == (f"Ignoring {d / 'badb64.pem'} in `SSL_CERT_DIR`: bad base64 in CERTIFICATE block "
                      "at line 1. Continuing with the system store.")
    assert str(good) not in " ".join(messages)
    # Its certificate is trusted: the warning says so, and neither "Ignoring" nor what stays
    # trusted without it.
    bad = next(m for m in messages if "caf\\xe9.pem" in m)
    assert bad == (f"Loading {d}/caf\\xe9.pem in `SSL_CERT_DIR` anyway: its file name is not valid UTF-8 "
                   "(shown escaped).")


def test_a_directory_listed_twice_warns_once_per_problem(loader_env: dict[str, str], tmp_path: Path, roots: list[Cert],
                                                         caplog: pytest.LogCaptureFixture) -> None:
    """``SSL_CERT_DIR=d:d/:d``: the second and third listings are aliases of the first (nothing
    read twice), and a problem met while listing (a symlink loop, a name that is not UTF-8) is
    one warning, not one per listing."""
    d = tmp_path / "d"
    d.mkdir()
    roots[0].write_pem(d / "a.pem")
    (d / "loop.pem").symlink_to("loop.pem")
    with open(os.fsencode(str(d)) + b"/caf\xe9.pem", "wb") as f:
        f.write(roots[1].pem)
    caplog.set_level(logging.WARNING)
    store = load(loader_env, dirs=[d, f"{d}/", d])
    assert store.count == 2
    assert sorted(_codes(store).values()) == ["bad-name", "symlink-loop"]
    assert len(warnings_of(caplog)) == 2
    assert [r.aliases for r in store.sources] == [0, 2, 2]


def test_path_shape_problems(loader_env: dict[str, str], tmp_path: Path, roots: list[Cert], caplog: pytest.LogCaptureFixture) -> None:
    a_file = roots[0].write_pem(tmp_path / "root.pem")
    store = load(loader_env, cert_file=tmp_path, dirs=[a_file, tmp_path / "nodir"])
    assert [p.code for p in store.problems] == ["not-a-file", "not-a-directory", "missing"]
    messages = warnings_of(caplog)
    assert messages[0].startswith("Invalid `SSL_CERT_FILE`. Path is a directory")
    assert messages[2] == f"Invalid `SSL_CERT_DIR`. Path does not exist: {tmp_path / 'nodir'}. Continuing with the system store."


def test_no_platform_store_falls_back_to_certifi(loader_env: dict[str, str], tmp_path: Path) -> None:
    import certifi

    store = load(loader_env, platform=True, platform_paths=[str(tmp_path / "nothing-here")])
    assert store.platform_fallback
    assert [(r.source.kind, r.source.path) for r in store.sources] == [("certifi", certifi.where())]
    assert len(store.certs) > 100


def test_machine_platform_store_is_found(loader_env: dict[str, str]) -> None:
    store = load(loader_env, platform=True)
    assert not store.platform_fallback
    assert store.sources and store.sources[0].source.kind == "platform"
    assert len(store.certs) > 50
    assert len(store.subject_hashes) == len(store.certs)


def test_anchors_skip_a_certificate_openssl_refuses(loader_env: dict[str, str], roots: list[Cert], caplog: pytest.LogCaptureFixture) -> None:
    import ssl

    # Framing-valid but semantically broken for OpenSSL: a certificate whose algorithm
    # identifier is garbage. The loader reports it and still loads the others.
    broken = bytearray(roots[1].der)
    idx = broken.find(bytes.fromhex("06082a8648ce3d040302"))  # ecdsa-with-SHA256 OID in tbs
    broken[idx + 2] = 0x80  # an invalid OID encoding
    store = TrustStore(certs=[roots[0].der, bytes(broken), roots[2].der],
                       origins=["a", "broken", "c"], subject_hashes=[0, 0, 0])
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    load_anchors(ctx, store)
    assert ctx.cert_store_stats()["x509"] == 2  # the two good ones
    assert any("broken" in m for m in warnings_of(caplog))


def test_a_huge_sparse_file_is_one_warning_not_a_memory_error(loader_env: dict[str, str], tmp_path: Path,
                                                               roots: list[Cert]) -> None:
    """The C reader sizes its buffer from the listing: a 2 TB sparse file among the sources must
    not make it allocate 2 TB (a MemoryError ended the cold load); it is skipped as too large."""
    d = tmp_path / "dir"
    d.mkdir()
    roots[0].write_pem(d / "good.pem")
    with open(d / "huge.pem", "wb") as f:
        try:
            f.truncate(2 * 1024**4)
        except OSError:
            pytest.skip("this file system cannot hold a 2 TB sparse file")
    store = load(loader_env, dirs=[d])
    assert store.certs == [roots[0].der]
    assert _codes(store) == {"huge.pem": "too-large"}
