"""Choosing the scanner implementation: the C extension when it is usable, else pure Python.

One switch: ``TLSBACK_NO_EXTENSIONS=1`` turns the C extension off;
``TLSBACK_REQUIRE_EXTENSIONS=1`` makes an unusable extension an error instead of a silent
downgrade. When both are set, ``TLSBACK_NO_EXTENSIONS`` wins: it is the explicit run-time choice.
See docs/loader.md, "Choosing the scanner at run time", and docs/development.md, "House style".
"""

from __future__ import annotations

from . import _log
from .errors import ExtensionError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType

__all__ = ["REBUILD_HINT", "SCANNERS", "select"]

log = _log.getLogger(__name__)

#: The values of ``Settings.scanner``: ``auto`` (the extension when usable), ``python``
#: (``TLSBACK_NO_EXTENSIONS``), ``c`` (``TLSBACK_REQUIRE_EXTENSIONS``: required).
SCANNERS = ("auto", "python", "c")

#: What to do about an extension that is not built or is stale, said with its ExtensionError.
REBUILD_HINT = (
    "rebuild it with `pip install -e .` (or `python setup.py build_ext --inplace`) in the "
    "tlsback source tree, or reinstall tlsback"
)

def select(scanner: str = "auto") -> tuple[ModuleType, str]:
    """Pick the scanner implementation.

    Args:
        scanner: ``Settings.scanner``: ``auto``, ``python`` or ``c`` (the switches are read,
            and their values checked, by :mod:`tlsback.settings`).

    Returns:
        ``(module, reason)``: ``tlsback._scan_c`` or ``tlsback._scan_py``, and why, in words
        (``"C extension tlsback._certscan (ABI 1)"``, ``"TLSBACK_NO_EXTENSIONS=1"``,
        ``"C extension not built: <import error>"``).

    Raises:
        ExtensionError: the extension is required (``c``) and cannot be used.
    """
    if scanner not in SCANNERS:
        raise ValueError(f"unknown scanner {scanner!r}; expected one of {', '.join(SCANNERS)}")
    if scanner == "python":
        from . import _scan_py

        log.debug("scanner: python (TLSBACK_NO_EXTENSIONS=1)")
        return _scan_py, "TLSBACK_NO_EXTENSIONS=1"
    required = scanner == "c"
    try:
        from . import _scan_c
    except ImportError as exc:
        if required:
            raise ExtensionError(
                f"TLSBACK_REQUIRE_EXTENSIONS=1 but the C extension cannot be used: {exc}; {REBUILD_HINT}") from exc
        from . import _scan_py

        reason = f"C extension not built: {exc}"
        log.debug("scanner: python (%s)", reason)
        return _scan_py, reason
    reason = f"C extension tlsback._certscan (ABI {_scan_c.ABI})"
    log.debug("scanner: c (%s)", reason)
    return _scan_c, reason
