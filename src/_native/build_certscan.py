"""cffi build script for ``tlsback._certscan`` (API mode, out-of-line).

Used by setup.py (``cffi_modules``); also runnable on its own to build in place for development:
``python src/_native/build_certscan.py`` (writes the extension next to this file's sources; use
``python setup.py build_ext --inplace`` to put it into ``src/tlsback``).
"""

from __future__ import annotations

import os
import re
import sys

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))


def _cdef(header: str) -> str:
    """The declarations between the CDEF markers of certscan.h (cffi cannot read #include)."""
    match = re.search(r"/\* CDEF BEGIN \*/(.*)/\* CDEF END \*/", header, re.DOTALL)
    if match is None:
        raise RuntimeError("certscan.h: CDEF markers not found")
    return match.group(1)


with open(os.path.join(HERE, "certscan.h"), encoding="utf-8") as f:
    _HEADER = f.read()

ffibuilder = FFI()
ffibuilder.cdef(_cdef(_HEADER))

_extra_compile_args: list[str] = []
if sys.platform != "win32":
    _extra_compile_args = ["-std=c99"]

ffibuilder.set_source(
    "tlsback._certscan",
    '#include "certscan.h"',
    sources=[os.path.relpath(os.path.join(HERE, name)) for name in ("certscan.c", "statat.c", "fileio.c")],
    include_dirs=[os.path.relpath(HERE)],
    depends=[os.path.relpath(os.path.join(HERE, "certscan.h"))],
    extra_compile_args=_extra_compile_args,
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
