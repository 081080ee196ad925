"""``python -m tlsback`` and the ``tlsback`` command's entry point: :func:`tlsback.cli.main`.

Ctrl-C is handled from here (:mod:`tlsback._interrupt`), and the CLI is imported inside
:func:`main`, so that Ctrl-C while its modules load (argparse, the settings, the loader: tens
of milliseconds) still ends with status 130 and one line instead of a traceback. Before this
module runs, the interpreter itself is starting: a Ctrl-C there ends the process as it ends
every Python program (docs/cli.md, "Ctrl-C").
"""

from __future__ import annotations

import sys

from . import _interrupt

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs start-up time
if TYPE_CHECKING:
    from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``tlsback`` command (:func:`tlsback.cli.main`); return its exit status."""
    _interrupt.install()
    try:
        try:
            from .cli import main as cli_main
        except Exception as exc:
            if not _interrupt.is_interruption(exc):
                raise
            return _interrupt.exit_interrupted()
        except KeyboardInterrupt:
            return _interrupt.exit_interrupted()
        return cli_main(argv)
    finally:
        _interrupt.ended()


if __name__ == "__main__":
    sys.exit(main())
