"""Choosing the scanner implementation: the C extension when it is usable, else pure Python.

One switch (STYLE.md, convention 2): ``TLSBACK_NO_EXTENSIONS=1`` turns the C extension off;
``TLSBACK_REQUIRE_EXTENSIONS=1`` makes an unusable extension an error instead of a silent
downgrade. When both are set, ``TLSBACK_NO_EXTENSIONS`` wins: it is the explicit run-time choice.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from types import ModuleType

from .errors import ExtensionError

__all__ = ["REBUILD_HINT", "select"]

log = logging.getLogger(__name__)

REBUILD_HINT = (
    "rebuild it with `pip install -e .` (or `python setup.py build_ext --inplace`) "
    "in the tlsback source tree, or reinstall tlsback"
)


def _flag(env: Mapping[str, str], name: str) -> bool:
    """A boolean environment variable, parsed the uv way; unset means False."""
    value = env.get(name)
    if value is None:
        return False
    from .settings import parse_bool

    return parse_bool(name, value)


def select(env: Mapping[str, str] | None = None) -> tuple[ModuleType, str]:
    """Pick the scanner implementation.

    Args:
        env: the environment to read the switches from; ``os.environ`` by default.

    Returns:
        ``(module, reason)``: ``tlsback._scan_c`` or ``tlsback._scan_py``, and why, in words
        (``"C extension tlsback._certscan (ABI 1)"``, ``"TLSBACK_NO_EXTENSIONS=1"``,
        ``"C extension not built: <import error>"``).

    Raises:
        ConfigError: a switch holds something that is not a boolean.
        ExtensionError: ``TLSBACK_REQUIRE_EXTENSIONS`` is true and the extension cannot be used.
    """
    if env is None:
        env = os.environ
    if _flag(env, "TLSBACK_NO_EXTENSIONS"):
        from . import _scan_py

        log.debug("scanner: python (TLSBACK_NO_EXTENSIONS=1)")
        return _scan_py, "TLSBACK_NO_EXTENSIONS=1"
    required = _flag(env, "TLSBACK_REQUIRE_EXTENSIONS")
    try:
        from . import _scan_c
    except ImportError as exc:
        if required:
            raise ExtensionError(
                f"TLSBACK_REQUIRE_EXTENSIONS=1 but the C extension cannot be used: {exc}; "
                + REBUILD_HINT
            ) from exc
        from . import _scan_py

        reason = f"C extension not built: {exc}"
        log.debug("scanner: python (%s)", reason)
        return _scan_py, reason
    reason = f"C extension tlsback._certscan (ABI {_scan_c.ABI})"
    log.debug("scanner: c (%s)", reason)
    return _scan_c, reason
