"""``python -m dvn_runtime``: see dvn_runtime.cli."""

import sys

from dvn_runtime.cli import main

sys.exit(main())
