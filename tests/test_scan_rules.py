"""Each scanning rule, checked for both implementations (``scan_impl``).

The rules: docs/sources.md, "How PEM and DER are read" and "Bad input".
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import Any

import pytest

from tests.test_scan_support import make_cert, pem, simple_name, tlv
from tlsback._scantypes import FileStats, Problem
from tlsback.settings import resolve

A = make_cert(simple_name("Cert A"), serial=1)
B = make_cert(simple_name("Cert B"), serial=2)
C = make_cert(simple_name("Cert C"), serial=3)
KEY_BLOCK = b"-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ1h\n-----END PRIVATE KEY-----\n"


def codes(problems: list[Problem]) -> list[tuple[str, int | None]]:
    return [(p.code, p.line) for p in problems]


# --- PEM ----------------------------------------------------------------------------------


def test_single_pem_certificate(scan_impl: Any) -> None:
    """One PEM block gives its DER certificate and no problem."""
    assert scan_impl.scan_bytes("a.pem", pem(A)) == ([A], [])


def test_bundle_with_text_between_blocks(scan_impl: Any) -> None:
    """Text before, between and after blocks is ignored; order is kept; no dedupe in scan_bytes."""
    data = b"# Bundle\nsubject=Cert A\n" + pem(A) + b"\nsome words\n" + pem(B) + pem(A) + b"end"
    assert scan_impl.scan_bytes("b.pem", data) == ([A, B, A], [])


def test_crlf_and_whitespace_inside_base64(scan_impl: Any) -> None:
    """CRLF line ends, spaces/tabs inside base64 and after the boundaries are accepted."""
    text = pem(A).decode()
    lines = text.splitlines()
    lines[0] += "  \t"
    lines[-1] += " "
    lines[1] = " ".join(lines[1][i : i + 8] for i in range(0, len(lines[1]), 8)) + "\t"
    data = ("\r\n".join(lines) + "\r\n").encode()
    assert scan_impl.scan_bytes("crlf.pem", data) == ([A], [])
    joined = "".join(lines[1:-1])  # one long base64 line
    assert scan_impl.scan_bytes("long.pem", f"{lines[0]}\n{joined}\n{lines[-1]}".encode()) == (
        [A],
        [],
    )


def test_no_trailing_newline(scan_impl: Any) -> None:
    """An END line at the very end of the file, without newline, closes the block."""
    assert scan_impl.scan_bytes("a.pem", pem(A).rstrip(b"\n")) == ([A], [])


def test_cr_alone_ends_a_line(scan_impl: Any) -> None:
    """RFC 7468's eol is CRLF, CR or LF (uv reads a CR-only file too): a file saved with classic
    Mac line ends, or with mixed ones, gives its certificates; line numbers count each line end."""
    assert scan_impl.scan_bytes("cr.pem", pem(A).replace(b"\n", b"\r")) == ([A], [])
    lines = pem(B).split(b"\n")
    mixed = lines[0] + b"\r" + b"\r\n".join(lines[1:3]) + b"\n" + b"\r".join(lines[3:])
    assert scan_impl.scan_bytes("mixed.pem", b"text\r" + mixed) == ([B], [])
    broken = pem(A).split(b"-----END")[0].replace(b"\n", b"\r")
    certs, problems = scan_impl.scan_bytes("f.pem", b"x\ry\r\n\n" + broken + pem(C).replace(b"\n", b"\r"))
    assert (certs, codes(problems)) == ([C], [("missing-end", 4)])
    # A DER file is still one whose bytes hold no line starting with "-----BEGIN " (after a CR either).
    assert scan_impl.scan_bytes("a.der", A + b"\r" + pem(B)) == ([B], [])


def test_end_line_may_carry_text_after_its_dashes(scan_impl: Any) -> None:
    """As uv reads it: a line starting with "-----END CERTIFICATE-----" ends the block, whatever
    follows on it (a comment, more dashes)."""
    for tail in (b" # corp root", b"-", b"xyz"):
        data = pem(A).replace(b"-----END CERTIFICATE-----", b"-----END CERTIFICATE-----" + tail) + pem(B)
        assert scan_impl.scan_bytes("f.pem", data) == ([A, B], []), tail


def test_unpadded_base64_is_accepted(scan_impl: Any) -> None:
    """As uv reads it: the final "=" padding may be left out (2 or 3 characters in the last
    quantum); present, it must complete the quantum."""
    import base64

    for der in (make_cert(simple_name("p" * i)) for i in range(1, 4)):
        body = base64.b64encode(der).rstrip(b"=")
        data = b"-----BEGIN CERTIFICATE-----\n" + body + b"\n-----END CERTIFICATE-----\n"
        assert scan_impl.scan_bytes("f.pem", data) == ([der], [])


def test_begin_must_start_the_line(scan_impl: Any) -> None:
    """An indented BEGIN line is not a block (RFC 7468): the file has no certificate."""
    certs, problems = scan_impl.scan_bytes("indented.pem", b"  " + pem(A))
    assert certs == []
    assert codes(problems) == [("no-certificates", None)]


def test_other_labels_are_skipped_silently(scan_impl: Any) -> None:
    """TRUSTED CERTIFICATE, keys and CRLs are not trust anchors and not problems."""
    trusted = pem(B).replace(b"CERTIFICATE", b"TRUSTED CERTIFICATE")
    crl = b"-----BEGIN X509 CRL-----\nMAA=\n-----END X509 CRL-----\n"
    data = KEY_BLOCK + trusted + crl + pem(A)
    assert scan_impl.scan_bytes("mixed.pem", data) == ([A], [])


def test_only_other_labels_means_no_certificates(scan_impl: Any) -> None:
    """A key-only PEM file has no certificate: one no-certificates problem."""
    certs, problems = scan_impl.scan_bytes("key.pem", KEY_BLOCK)
    assert certs == []
    assert codes(problems) == [("no-certificates", None)]
    assert problems[0].path == "key.pem"
    assert "key.pem" not in problems[0].message


def test_missing_end_line(scan_impl: Any) -> None:
    """A block without END is reported with its BEGIN line; a following block is still read."""
    broken = pem(A).split(b"-----END")[0]
    data = b"header\n" + broken + pem(B)
    certs, problems = scan_impl.scan_bytes("f.pem", data)
    assert certs == [B]
    assert codes(problems) == [("missing-end", 2)]
    assert problems[0].message == "CERTIFICATE block at line 2 has no END CERTIFICATE line"


def test_missing_end_at_end_of_file(scan_impl: Any) -> None:
    """A BEGIN line as the last line of the file is a block without END."""
    for tail in (b"", b"\n", b"\nMIIB\n"):
        certs, problems = scan_impl.scan_bytes("f.pem", b"-----BEGIN CERTIFICATE-----" + tail)
        assert (certs, codes(problems)) == ([], [("missing-end", 1)])


def test_block_ended_by_another_boundary(scan_impl: Any) -> None:
    """An END line with another label ends the block as missing its END CERTIFICATE line."""
    data = pem(A).replace(b"END CERTIFICATE", b"END PRIVATE KEY") + pem(B)
    certs, problems = scan_impl.scan_bytes("f.pem", data)
    assert certs == [B]
    assert codes(problems) == [("missing-end", 1)]


def test_bad_base64_reports_the_line(scan_impl: Any) -> None:
    """Bad base64 is reported with the line of its BEGIN line.

    The message's form: docs/development.md, "House style".
    """
    data = b"\n" * 11 + pem(A).replace(b"M", b"!", 1)
    certs, problems = scan_impl.scan_bytes("corp.pem", data)
    assert certs == []
    assert problems == [
        Problem("corp.pem", "bad-base64", "bad base64 in CERTIFICATE block at line 12", 12)
    ]


@pytest.mark.parametrize(
    "body",
    [b"QUJD=\n", b"QUJ=D\n", b"QQ===\n", b"QQ=\n", b"Q\n", b"QUJD\x00\n", b"QUJ\xc3\xa9\n"],
    ids=["pad-then-data", "pad-inside", "3-pads", "short-pad", "one-char", "nul", "non-ascii"],
)
def test_bad_base64_shapes(scan_impl: Any, body: bytes) -> None:
    """Padding in the wrong place, wrong lengths and foreign bytes are bad base64."""
    data = b"-----BEGIN CERTIFICATE-----\n" + body + b"-----END CERTIFICATE-----\n"
    assert codes(scan_impl.scan_bytes("f.pem", data)[1]) == [("bad-base64", 1)]


def test_padding_split_by_whitespace_is_fine(scan_impl: Any) -> None:
    """Whitespace may sit anywhere, even between the two padding characters."""
    der = next(
        d for d in (make_cert(simple_name("p" * i)) for i in range(1, 4)) if len(d) % 3 == 1
    )
    lines = pem(der).split(b"\n")
    body = b"".join(lines[1:-2])
    assert body.endswith(b"==")
    split = body[:-1] + b"\n " + body[-1:]
    data = lines[0] + b"\n" + split + b"\n" + lines[-2] + b"\n"
    assert scan_impl.scan_bytes("f.pem", data) == ([der], [])


def _block(der: bytes) -> bytes:
    import base64

    return b"-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(der) + b"-----END CERTIFICATE-----\n"


def test_der_problems_inside_blocks(scan_impl: Any) -> None:
    """Truncated, trailing-data, non-X.509 and empty blocks are reported, good ones kept."""
    data = (
        _block(A[:-10])  # line 1
        + _block(A + b"\x00")
        + _block(tlv(0x30, tlv(0x02, b"\x01")))
        + _block(b"")
        + _block(B)
    )
    certs, problems = scan_impl.scan_bytes("f.pem", data)
    assert certs == [B]
    lines = [i + 1 for i, ln in enumerate(data.split(b"\n")) if ln.startswith(b"-----BEGIN")]
    assert codes(problems) == [
        ("truncated-der", lines[0]),
        ("trailing-data", lines[1]),
        ("not-x509", lines[2]),
        ("truncated-der", lines[3]),
    ]


# --- DER files ----------------------------------------------------------------------------


def test_der_file(scan_impl: Any) -> None:
    """A file that starts with a SEQUENCE and has no PEM boundary is one DER certificate."""
    assert scan_impl.scan_bytes("a.der", A) == ([A], [])


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (A[:-1], "truncated-der"),
        (A[:3], "truncated-der"),
        (b"\x30", "truncated-der"),
        (A + b"\n", "trailing-data"),
        (tlv(0x30, b"\x02\x01\x01"), "not-x509"),
        (b"\x30\x80\x00\x00", "not-x509"),  # indefinite length (BER)
        (b"\x30\x85\x01\x00\x00\x00\x00", "not-x509"),  # 5 length octets
        (b"\x30\x84\xff\xff\xff\xff" + b"\x00" * 16, "truncated-der"),  # huge length
    ],
    ids=[
        "truncated",
        "header-only",
        "tag-only",
        "trailing",
        "not-x509",
        "indefinite",
        "5-octet-length",
        "huge-length",
    ],
)
def test_der_file_problems(scan_impl: Any, data: bytes, code: str) -> None:
    """Broken DER files are reported as a whole (no line), never crash."""
    certs, problems = scan_impl.scan_bytes("x.der", data)
    assert certs == []
    assert codes(problems) == [(code, None)]


def test_not_pem_not_der(scan_impl: Any) -> None:
    """Empty files, plain text and random bytes are no-certificates."""
    for data in (b"", b"hello\n", b"\x00\x01\x02", b"-----BEGIN"):
        certs, problems = scan_impl.scan_bytes("x", data)
        assert (certs, codes(problems)) == ([], [("no-certificates", None)])


# --- many files ---------------------------------------------------------------------------


def test_scan_files_deduplicates_first_wins(scan_impl: Any) -> None:
    """Exact-DER dedupe across files: first occurrence wins, order and origins kept."""
    items = [
        ("one.pem", pem(A) + pem(B) + pem(A)),
        ("two.der", B),
        ("bad.pem", b"nothing here"),
        ("three.pem", pem(C) + pem(A)),
    ]
    r = scan_impl.scan_files(items)
    assert r.certs == [A, B, C]
    assert r.origins == ["one.pem", "one.pem", "three.pem"]
    assert r.duplicates == 3
    assert r.per_file == {
        "one.pem": FileStats(3, 2),
        "two.der": FileStats(1, 0),
        "bad.pem": FileStats(0, 0),
        "three.pem": FileStats(2, 1),
    }
    assert codes(r.problems) == [("no-certificates", None)]
    assert r.problems[0].path == "bad.pem"
    assert r.subject_hashes == [scan_impl.subject_hash(d) for d in (A, B, C)]


def test_scan_files_no_false_merges(scan_impl: Any) -> None:
    """Certificates differing in one byte stay distinct (the table compares full bytes)."""
    many = [make_cert(simple_name(f"n{i}"), serial=i) for i in range(1, 300)]
    near = bytearray(A)
    near[-1] ^= 1  # same everything, another signature byte
    r = scan_impl.scan_files([("f", b"".join(pem(d) for d in many + [A, bytes(near)] + many))])
    assert r.certs == [*many, A, bytes(near)]
    assert r.duplicates == len(many)


def test_scan_files_same_path_twice_accumulates(scan_impl: Any) -> None:
    """A path given twice adds up its counts."""
    r = scan_impl.scan_files([("f", pem(A)), ("f", pem(A) + pem(B))])
    assert r.per_file == {"f": FileStats(3, 2)}


def test_scan_files_empty_and_generator(scan_impl: Any) -> None:
    """No items give an empty result; any iterable works."""
    assert scan_impl.scan_files([]).certs == []
    r = scan_impl.scan_files((f"f{i}", pem(d)) for i, d in enumerate([A, B]))
    assert r.certs == [A, B]


def test_scan_files_large_input_crosses_chunks(scan_impl: Any) -> None:
    """Inputs larger than one chunk of the C wrapper keep order, dedupe and per-file counts."""
    certs = [make_cert(simple_name(f"chunk {i}"), serial=i) for i in range(1, 400)]
    blob = b"".join(pem(d) for d in certs)
    items = [(f"f{i}", blob) for i in range(12)]  # ~ 12 x 220 kB
    items.append(("big", blob * 30))  # one file larger than the chunk
    r = scan_impl.scan_files(items)
    assert r.certs == certs
    assert r.duplicates == len(certs) * 41
    assert r.per_file["f0"] == FileStats(len(certs), len(certs))
    assert r.per_file["big"] == FileStats(len(certs) * 30, 0)


def test_implementation_name(scan_impl: Any) -> None:
    """IMPLEMENTATION names the implementation."""
    assert scan_impl.IMPLEMENTATION in ("c", "python")


# --- selection ----------------------------------------------------------------------------


def test_select_no_extensions() -> None:
    """TLSBACK_NO_EXTENSIONS=1 selects Python, whatever is built."""
    from tlsback import _scan

    module, reason = _scan.select(resolve(env={"TLSBACK_NO_EXTENSIONS": "TRUE"}).scanner.value)
    assert module.IMPLEMENTATION == "python"
    assert reason == "TLSBACK_NO_EXTENSIONS=1"


def test_select_default_prefers_c_when_built() -> None:
    """Without switches, the extension is used when importable, else Python with the reason."""
    from tlsback import _scan

    module, reason = _scan.select(resolve(env={}).scanner.value)
    try:
        from tlsback import _scan_c
    except ImportError:
        assert module.IMPLEMENTATION == "python"
        assert reason.startswith("C extension not built: ")
    else:
        assert module is _scan_c
        assert reason == f"C extension tlsback._certscan (ABI {_scan_c.ABI})"


@pytest.mark.parametrize("value", ["", "2", "yes please", " 1"])
def test_select_bad_boolean_is_config_error(value: str) -> None:
    """Non-boolean switch values are a ConfigError naming the variable and the value."""
    from tlsback.errors import ConfigError

    for var in ("TLSBACK_NO_EXTENSIONS", "TLSBACK_REQUIRE_EXTENSIONS"):
        with pytest.raises(ConfigError) as info:
            resolve(env={var: value})
        assert var in str(info.value)


def _run(code: str) -> subprocess.CompletedProcess[str]:
    from tests.conftest import SRC

    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"},
        check=False,
    )


def test_missing_extension_required_is_an_error() -> None:
    """TLSBACK_REQUIRE_EXTENSIONS=1 with no extension raises ExtensionError saying how to rebuild;
    without it, Python is used and the reason says why."""
    proc = _run(
        """
        import sys
        sys.modules["tlsback._certscan"] = None  # as if it were not built
        from tlsback import _scan
        from tlsback.errors import ExtensionError
        mod, reason = _scan.select("auto")
        print(mod.IMPLEMENTATION, "|", reason)
        try:
            _scan.select("c")
        except ExtensionError as exc:
            print("ERR", exc)
        """
    )
    assert proc.returncode == 0, proc.stderr
    first, second = proc.stdout.splitlines()
    assert first.startswith("python | C extension not built: ")
    assert second.startswith("ERR ") and "pip install -e ." in second


def test_stale_extension_is_refused() -> None:
    """An extension with another ABI number is refused with a rebuild message."""
    proc = _run(
        """
        import sys, types
        fake = types.ModuleType("tlsback._certscan")
        class lib:
            @staticmethod
            def tb_abi_version():
                return 0
        fake.lib, fake.ffi = lib, None
        sys.modules["tlsback._certscan"] = fake
        from tlsback import _scan
        from tlsback.errors import ExtensionError
        print(_scan.select("auto")[1])
        try:
            _scan.select("c")
        except ExtensionError as exc:
            print("ERR", exc)
        """
    )
    assert proc.returncode == 0, proc.stderr
    first, second = proc.stdout.splitlines()
    assert "stale" in first and "ABI 0" in first
    assert second.startswith("ERR ") and "stale" in second and "build_ext --inplace" in second


@pytest.mark.parametrize("error", [
    "tlsback._certscan is not built (no module named tlsback._certscan)",
    "tlsback._certscan is stale: it has ABI 1, this tlsback needs ABI 9",
])
def test_required_extension_error_says_how_to_rebuild_once(monkeypatch: pytest.MonkeyPatch, error: str) -> None:
    """TLSBACK_REQUIRE_EXTENSIONS=1 with the extension missing or stale: an ExtensionError that
    gives the import's reason and the rebuild hint, once."""
    from tests.conftest import BlockImport
    from tlsback import _scan
    from tlsback._scan import REBUILD_HINT
    from tlsback.errors import ExtensionError

    message = error

    import tlsback

    monkeypatch.delitem(sys.modules, "tlsback._scan_c", raising=False)
    monkeypatch.delattr(tlsback, "_scan_c", raising=False)  # `from . import` looks there first
    monkeypatch.setattr(sys, "meta_path", [BlockImport("tlsback._scan_c", ImportError(message)), *sys.meta_path])
    with pytest.raises(ExtensionError) as info:
        _scan.select("c")
    text = str(info.value)
    assert text.startswith("TLSBACK_REQUIRE_EXTENSIONS=1 but the C extension cannot be used: " + message)
    assert text.count(REBUILD_HINT) == 1
