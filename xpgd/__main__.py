"""``python -m xpgd``: the ``xpgd`` command."""

import sys

from xpgd.cli import main

sys.exit(main())
