"""``python -m tlsback``: the same as the ``tlsback`` command."""

import sys

from .cli import main

sys.exit(main())
