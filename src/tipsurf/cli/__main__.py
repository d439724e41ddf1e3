"""``python -m tipsurf.cli``."""

import sys

from tipsurf.cli import main

sys.exit(main())
