"""Only what pyproject.toml cannot say: the optional cffi extension ``tlsback._certscan``.

* ``TLSBACK_NO_EXTENSIONS=1``: do not build it (pure-Python install).
* A compile failure is tolerated (pure-Python install, with a warning) unless
  ``TLSBACK_REQUIRE_EXTENSIONS=1``, in which case the build fails (what CI uses) with one line
  saying what to install.
* The extension uses only the stable ABI (cffi builds it against the limited API), so the wheel
  is tagged ``cp310-abi3``: one wheel for every CPython from 3.10 on.

Boolean values are parsed the uv way (``y yes t true on 1`` / ``n no f false off 0``).
"""

from __future__ import annotations

import os
import sys
import sysconfig

from setuptools import setup
from setuptools.command.build_ext import build_ext

_TRUE = {"y", "yes", "t", "true", "on", "1"}
_FALSE = {"n", "no", "f", "false", "off", "0"}


def _flag(name: str) -> bool:
    value = os.environ.get(name)
    if value is None:
        return False
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise SystemExit(f"{name}={value!r}: expected one of y yes t true on 1 / n no f false off 0")


NO_EXTENSIONS = _flag("TLSBACK_NO_EXTENSIONS")
REQUIRE_EXTENSIONS = _flag("TLSBACK_REQUIRE_EXTENSIONS")
CAN_BUILD = sys.implementation.name == "cpython"
# cffi compiles against the limited API (an ``.abi3.so``) except on debug and free-threaded
# builds, which have no stable ABI; the wheel tag must say what the extension really is.
LIMITED_API = not hasattr(sys, "gettotalrefcount") and not sysconfig.get_config_var(
    "Py_GIL_DISABLED"
)
# What a failed required build prints: pip's own error says nothing about the missing tools.
MISSING_TOOLS = (
    "tlsback: TLSBACK_REQUIRE_EXTENSIONS=1, but the C extension could not be built: install a C "
    "compiler and the Python headers (Debian/Ubuntu: apt-get install gcc python3-dev libffi-dev; "
    "Fedora: dnf install gcc python3-devel libffi-devel), or unset it for the pure-Python "
    "scanner. The error was: {exc}"
)


class optional_build_ext(build_ext):
    """build_ext that turns a compile failure into a warning unless the extension is required."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # noqa: BLE001 - any build failure: compiler, platform, cffi
            self._failed(exc)

    def build_extension(self, ext) -> None:  # type: ignore[no-untyped-def]
        try:
            super().build_extension(ext)
        except Exception as exc:  # noqa: BLE001 - any build failure: compiler, platform, cffi
            self._failed(exc)

    def _failed(self, exc: BaseException) -> None:
        if REQUIRE_EXTENSIONS:
            raise SystemExit(MISSING_TOOLS.format(exc=" ".join(str(exc).split())[:300]))
        sys.stderr.write(
            f"WARNING: the tlsback C extension could not be built ({exc}); "
            "installing the pure-Python scanner instead.\n"
        )


kwargs: dict[str, object] = {}
if NO_EXTENSIONS:
    sys.stderr.write("TLSBACK_NO_EXTENSIONS is set: not building the C extension.\n")
elif not CAN_BUILD:
    if REQUIRE_EXTENSIONS:
        raise SystemExit("TLSBACK_REQUIRE_EXTENSIONS=1, but the C extension needs CPython")
else:
    kwargs["cffi_modules"] = ["src/_native/build_certscan.py:ffibuilder"]
    kwargs["cmdclass"] = {"build_ext": optional_build_ext}
    if LIMITED_API:
        kwargs["options"] = {"bdist_wheel": {"py_limited_api": "cp310"}}

setup(**kwargs)  # type: ignore[arg-type]
