"""The C extension ``tlsback._certscan``, loaded and checked once, and its bulk ``stat``.

Apart from ``_scan_c`` (the scanner's wrapper, which imports ``typing``) so that the listing of a
large directory on a warm start can use the extension for little more than the extension's own
import. Importing this module raises ImportError when the extension is missing or stale.
"""

from __future__ import annotations

import os
from array import array

__all__ = ["ABI", "REBUILD", "ffi", "lib", "stat_at"]

#: The ABI number the wrappers were written for; must equal certscan.h's TB_ABI_VERSION.
ABI = 3

REBUILD = (
    "rebuild it with `pip install -e .` (or `python setup.py build_ext --inplace`) in the "
    "tlsback source tree, or reinstall tlsback"
)

try:
    from ._certscan import ffi, lib  # type: ignore[import-not-found]
except ImportError as exc:
    raise ImportError(f"tlsback._certscan is not built ({exc})") from exc

if lib.tb_abi_version() != ABI:
    raise ImportError(
        f"tlsback._certscan is stale: it has ABI {lib.tb_abi_version()}, this tlsback needs "
        f"ABI {ABI}; " + REBUILD
    )


def stat_at(dir_fd: int, names: list[str]) -> tuple[array[int], array[int]] | None:
    """``os.stat(name, dir_fd=dir_fd)`` (links followed) for every name, in one C call.

    Returns:
        ``(errs, ids)``: ``errs[i]`` is 0 or the errno of name ``i``; ``ids[6*i:6*i+6]`` its
        size, inode, device, mode, mtime_ns and ctime_ns, each reduced modulo 2**64 to a signed
        64-bit integer (``sources.identities`` gives the same numbers from ``os.stat``). None
        when the platform has no ``fstatat``.
    """
    n = len(names)
    blob = os.fsencode("\0".join(names) + "\0")
    errs = array("i", bytes(4 * n))
    ids = array("q", bytes(48 * n))
    rc = lib.tb_stat_at(dir_fd, blob, len(blob), n, ffi.from_buffer("int32_t[]", errs),
                        ffi.from_buffer("int64_t[]", ids))
    return (errs, ids) if rc == 0 else None
