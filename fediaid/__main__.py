"""``python -m fediaid`` is the ``fediaid`` command."""

import sys

from fediaid.cli import main

sys.exit(main())
