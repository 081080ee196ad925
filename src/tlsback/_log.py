"""Loggers that import :mod:`logging` only when a message can go somewhere.

``import logging`` costs several milliseconds, more than a whole warm start of tlsback
(docs/cache.md). A message below WARNING can only be seen through a handler or a level someone
configured, and nobody can configure logging without importing it first: while ``logging`` is
not in ``sys.modules``, DEBUG and INFO messages are dropped without importing it. Warnings and
errors always go through :mod:`logging` (its last-resort handler prints them to stderr), so
nothing a user must see is lost. Once anything has imported :mod:`logging`, every call is the
real logger's.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    import logging

__all__ = ["getLogger"]


class LazyLogger:
    """The parts of :class:`logging.Logger` tlsback uses, for the logger called ``name``."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<LazyLogger {self.name}>"

    @property
    def logger(self) -> logging.Logger:
        """The real logger (imports :mod:`logging`)."""
        import logging

        return logging.getLogger(self.name)

    def debug(self, msg: object, *args: object, **kwargs: object) -> None:
        if "logging" in sys.modules:
            self.logger.debug(msg, *args, stacklevel=2, **kwargs)  # type: ignore[arg-type]

    def info(self, msg: object, *args: object, **kwargs: object) -> None:
        if "logging" in sys.modules:
            self.logger.info(msg, *args, stacklevel=2, **kwargs)  # type: ignore[arg-type]

    def warning(self, msg: object, *args: object, **kwargs: object) -> None:
        self.logger.warning(msg, *args, stacklevel=2, **kwargs)  # type: ignore[arg-type]

    def error(self, msg: object, *args: object, **kwargs: object) -> None:
        self.logger.error(msg, *args, stacklevel=2, **kwargs)  # type: ignore[arg-type]


def getLogger(name: str) -> LazyLogger:
    """A logger for ``name`` that imports :mod:`logging` only when a message can be seen."""
    return LazyLogger(name)
