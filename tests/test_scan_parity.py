"""The C and Python scanners agree on every input (hypothesis property tests).

Generated inputs: valid PEM, DER, bundles with text between blocks, other labels, CRLF, missing
END lines; then mutated: truncations, bit flips, inserted and deleted bytes, random bytes.
``scan_bytes``, ``scan_files`` and ``subject_hash`` must return equal results.

Needs the extension: skipped when it is not built, failed when ``TLSBACK_REQUIRE_EXTENSIONS=1``.
More examples: ``TLSBACK_PARITY_EXAMPLES=20000 pytest tests/test_scan_parity.py``.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.test_scan_support import make_cert, simple_name

from tests.conftest import import_extension_module  # noqa: E402

_scan_c = import_extension_module("_scan_c")

from tlsback import _scan_py

EXAMPLES = int(os.environ.get("TLSBACK_PARITY_EXAMPLES", "300"))
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

CERTS = [make_cert(simple_name(f"Parity {i}  CA"), serial=i + 1) for i in range(4)]
_SYSTEM = Path("/etc/ssl/certs/ca-certificates.crt")
if _SYSTEM.is_file():
    CERTS += _scan_py.scan_bytes("sys", _SYSTEM.read_bytes())[0][:4]

CORPUS = Path(__file__).parent / "fuzz_corpus"


def assert_same_bytes(data: bytes) -> None:
    assert _scan_c.scan_bytes("f", data) == _scan_py.scan_bytes("f", data), data[:200]


def assert_same_hash(der: bytes) -> None:
    try:
        expected: Any = _scan_py.subject_hash(der)
    except ValueError:
        expected = ValueError
    try:
        got: Any = _scan_c.subject_hash(der)
    except ValueError:
        got = ValueError
    assert got == expected


# --- strategies ---------------------------------------------------------------------------

_cert = st.sampled_from(CERTS)


def _b64_lines(der: bytes, width: int) -> bytes:
    text = base64.b64encode(der)
    return b"\n".join(text[i : i + width] for i in range(0, len(text), width)) + b"\n"


@st.composite
def pem_block(draw: st.DrawFn) -> bytes:
    der = draw(_cert)
    label = draw(st.sampled_from([b"CERTIFICATE"] * 6 + [b"TRUSTED CERTIFICATE", b"X509 CRL"]))
    width = draw(st.sampled_from([64, 76, 4, 1, 10000]))
    body = _b64_lines(der, width)
    if draw(st.integers(0, 4)) == 0:  # the final padding left out, or cut short
        body = body.rstrip(b"\n").rstrip(b"=")[: draw(st.sampled_from([None, -1]))] + b"\n"
    begin = b"-----BEGIN " + label + b"-----" + draw(st.sampled_from([b"", b" ", b"\t \r", b"\r\r"]))
    end = b"-----END " + label + b"-----" + draw(st.sampled_from([b"", b" ", b"x", b" # corp\r", b"-"]))
    if draw(st.integers(0, 9)) == 0:
        end = b""  # missing END
    return begin + b"\n" + body + end + b"\n"


_junk = st.sampled_from(
    [b"", b"\n", b"# comment\n", b"subject=CN = x\n", b"   \n", b"-----\n", b"-----END X-----\n",
     b"-----BEGIN CERTIFICATE-----\n", b"-----BEGIN ", b"\x30\x82", b"\r\n", b"\r", b"x\r"]
)  # fmt: skip


@st.composite
def pem_file(draw: st.DrawFn) -> bytes:
    parts = draw(st.lists(st.one_of(pem_block(), _junk), max_size=6))
    data = b"".join(parts)
    eol = draw(st.sampled_from([b"\n", b"\r\n", b"\r", None]))  # None: each line end drawn
    if eol is None:
        lines = data.split(b"\n")
        data = b"".join(line + draw(st.sampled_from([b"\n", b"\r\n", b"\r"])) for line in lines[:-1]) + lines[-1]
    elif eol != b"\n":
        data = data.replace(b"\n", eol)
    return data


@st.composite
def der_file(draw: st.DrawFn) -> bytes:
    return draw(_cert)


@st.composite
def mutated(draw: st.DrawFn, base: st.SearchStrategy[bytes]) -> bytes:
    data = bytearray(draw(base))
    for _ in range(draw(st.integers(0, 4))):
        op = draw(st.sampled_from(["flip", "truncate", "insert", "delete", "set"]))
        if not data and op != "insert":
            continue
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "flip":
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "truncate":
            del data[pos:]
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 8))]
        else:
            data[pos] = draw(st.sampled_from([0x00, 0x30, 0x80, 0x84, 0xFF, 0x0A, 0x2D, 0x3D]))
    return bytes(data)


any_file = st.one_of(
    pem_file(),
    der_file(),
    mutated(pem_file()),
    mutated(der_file()),
    st.binary(max_size=300),
)


# --- properties ---------------------------------------------------------------------------


@SETTINGS
@given(data=any_file)
@example(data=b"")
@example(data=b"\x30\x84\xff\xff\xff\xff")
@example(data=b"-----BEGIN CERTIFICATE-----")
def test_scan_bytes_parity(data: bytes) -> None:
    """scan_bytes: same certificates (order, bytes) and same problems."""
    assert_same_bytes(data)


@SETTINGS
@given(files=st.lists(any_file, max_size=8), names=st.data())
def test_scan_files_parity(files: list[bytes], names: st.DataObject) -> None:
    """scan_files: same certs, origins, hashes, per-file counts, duplicates and problems."""
    paths = [names.draw(st.sampled_from(["a", "b", "c", f"f{i}"])) for i in range(len(files))]
    items = list(zip(paths, files))
    assert _scan_c.scan_files(items) == _scan_py.scan_files(items)


@SETTINGS
@given(der=mutated(der_file()))
def test_subject_hash_parity(der: bytes) -> None:
    """subject_hash: same hash, or both refuse."""
    assert_same_hash(der)


def test_corpus_parity() -> None:
    """Every saved fuzz corpus input gives equal results (and the corpus itself is present)."""
    files = sorted(p for p in CORPUS.glob("*") if p.is_file()) if CORPUS.is_dir() else []
    if not files:
        pytest.skip("no saved fuzz corpus under tests/fuzz_corpus")
    for path in files:
        data = path.read_bytes()
        assert_same_bytes(data)
        assert_same_hash(data)
    items = [(p.name, p.read_bytes()) for p in files]
    assert _scan_c.scan_files(items) == _scan_py.scan_files(items)


@SETTINGS
@given(st.lists(st.binary(max_size=400), max_size=20))
@example([b"", b"\x30", b"x" * 48, b"y" * 49, b"z" * 50, b"w" * 4096])
def test_pem_encode_is_identical_and_canonical(ders: list[bytes]) -> None:
    """The lazy store's PEM copies: C == Python == ssl.DER_cert_to_PEM_cert (64-column lines)."""
    import ssl

    pems = _scan_py.pem_encode(ders)
    assert _scan_c.pem_encode(ders) == pems
    for der, pem in zip(ders, pems):
        if der:
            assert pem == ssl.DER_cert_to_PEM_cert(der).encode()
